//! Generates the prost message types from `proto/arkouda.proto`, and with the
//! `ffi` feature the C header `$OUT_DIR/arkwire.h` (committed as
//! `include/arkwire.h`; `tests/ffi_header.rs` keeps the two equal).
//!
//! The schema is compiled with protox (a protobuf compiler written in Rust) so a
//! machine without `protoc` builds the crate.

fn main() {
    println!("cargo:rerun-if-changed=proto/arkouda.proto");
    let descriptors = protox::compile(["arkouda.proto"], ["proto"])
        .unwrap_or_else(|e| panic!("proto/arkouda.proto does not compile: {e}"));
    reflection(&descriptors);
    prost_build::Config::new()
        // `alloc::` paths so the generated code also builds under #![no_std] + alloc.
        .btree_map(["."])
        .compile_fds(descriptors)
        .unwrap_or_else(|e| panic!("prost codegen failed: {e}"));
    #[cfg(feature = "ffi")]
    if std::env::var_os("CARGO_FEATURE_FFI").is_some() {
        header();
    }
}

/// Writes `$OUT_DIR/reflection.rs`: the serialized descriptor of
/// `arkouda.proto` and the fully qualified symbols it defines, for the
/// reflection service (`src/ops/reflection.rs`).
fn reflection(descriptors: &prost_types::FileDescriptorSet) {
    use prost::Message;
    let file = descriptors
        .file
        .iter()
        .find(|f| f.name() == "arkouda.proto")
        .expect("arkouda.proto in its own descriptor set");
    let package = file.package();
    let mut symbols = Vec::new();
    for service in &file.service {
        symbols.push(format!("{package}.{}", service.name()));
        for method in &service.method {
            symbols.push(format!("{package}.{}.{}", service.name(), method.name()));
        }
    }
    for message in &file.message_type {
        symbols.push(format!("{package}.{}", message.name()));
    }
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    let text = format!(
        "/// `arkouda.proto` as a serialized `FileDescriptorProto`.\n\
         pub const ARKOUDA_DESCRIPTOR: &[u8] = &{:?};\n\
         /// The file's name, as reflection clients ask for it.\n\
         pub const ARKOUDA_FILE: &str = {:?};\n\
         /// The fully qualified names the file defines.\n\
         pub const ARKOUDA_SYMBOLS: &[&str] = &{:?};\n",
        file.encode_to_vec(),
        file.name(),
        symbols,
    );
    std::fs::write(format!("{out}/reflection.rs"), text).expect("write reflection.rs");
}

/// Writes `$OUT_DIR/arkwire.h` from `src/ffi` and `cbindgen.toml`.
#[cfg(feature = "ffi")]
fn header() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    let mut config = cbindgen::Config::from_file(format!("{dir}/cbindgen.toml"))
        .unwrap_or_else(|e| panic!("cbindgen.toml: {e}"));
    let version = env!("CARGO_PKG_VERSION");
    let number = |key: &str| std::env::var(key).expect("version part");
    config.after_includes = Some(format!(
        "\n/* The version of this header; arkwire_version() gives the library's. */\n\
         #define ARKWIRE_VERSION_MAJOR {}\n\
         #define ARKWIRE_VERSION_MINOR {}\n\
         #define ARKWIRE_VERSION_PATCH {}\n\
         #define ARKWIRE_VERSION_STRING \"{version}\"\n",
        number("CARGO_PKG_VERSION_MAJOR"),
        number("CARGO_PKG_VERSION_MINOR"),
        number("CARGO_PKG_VERSION_PATCH"),
    ));
    let mut header = Vec::new();
    // Only the C ABI module: the rest of the crate has no C items. cbindgen
    // follows `mod conn;` and its siblings from mod.rs by itself; naming
    // their files too would declare each of their items twice.
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(format!("{dir}/src/ffi/mod.rs"))
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen: {e}"))
        .write(&mut header);
    let header = String::from_utf8(header).expect("cbindgen writes UTF-8");
    std::fs::write(format!("{out}/arkwire.h"), c89_comments(&header))
        .unwrap_or_else(|e| panic!("write arkwire.h: {e}"));
}

/// cbindgen labels its own `#endif` and `}` lines with `//` comments, which
/// C89 does not have; the documentation comments are `/* */` already
/// (`documentation_style = "c"`). Turns the labels into block comments.
#[cfg(feature = "ffi")]
fn c89_comments(header: &str) -> String {
    let mut fixed = String::with_capacity(header.len());
    for line in header.lines() {
        let code = line.trim_start();
        match line.split_once("//") {
            Some((before, label)) if code.starts_with('#') || code.starts_with('}') => {
                fixed.push_str(before);
                fixed.push_str("/* ");
                fixed.push_str(label.trim());
                fixed.push_str(" */");
            }
            _ => fixed.push_str(line),
        }
        fixed.push('\n');
    }
    fixed
}
