"""The wheel carries libarkwire.so, so it is tagged for this platform, not
pure Python; everything else is in pyproject.toml."""
from setuptools import setup
from setuptools.dist import Distribution

try:
    from wheel.bdist_wheel import bdist_wheel

    class PlatformWheel(bdist_wheel):
        def finalize_options(self):
            super().finalize_options()
            self.root_is_pure = False

        def get_tag(self):
            # Loaded with ctypes, not imported: any CPython 3 on this platform.
            _, _, plat = super().get_tag()
            return "py3", "none", plat

    cmdclass = {"bdist_wheel": PlatformWheel}
except ImportError:
    cmdclass = {}


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True


setup(distclass=BinaryDistribution, cmdclass=cmdclass)
