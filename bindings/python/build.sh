#!/usr/bin/env bash
# Builds libarkwire.so, puts it inside the `arkwire` package, builds the wheel
# into dist/ and installs it:  bash bindings/python/build.sh [--no-install]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cargo build --release -p arkwire-capi --manifest-path "$ROOT/Cargo.toml"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cp "$TARGET/release/libarkwire.so" "$HERE/arkwire/libarkwire.so"
cd "$HERE"
rm -rf build dist ./*.egg-info
python3 -m pip wheel --quiet --no-deps --no-build-isolation -w dist .
rm -rf build ./*.egg-info
ls dist/*.whl
if [ "${1:-}" != "--no-install" ]; then
    python3 -m pip install --quiet --force-reinstall --no-deps dist/arkwire-*.whl
    python3 -c 'import arkwire; print("arkwire", arkwire.version(), "installed")'
fi
