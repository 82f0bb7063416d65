//! Names the shared library for its ABI: `libarkwire.so.0` as its SONAME on
//! Linux (see the ABI rule in bindings/README.md).

fn main() {
    let target = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target == "linux" || target == "android" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libarkwire.so.0");
    }
}
