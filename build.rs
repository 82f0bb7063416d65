//! Generates the prost message types from `proto/arkouda.proto`.
//!
//! The schema is compiled with protox (a protobuf compiler written in Rust) so a
//! machine without `protoc` builds the crate.

fn main() {
    println!("cargo:rerun-if-changed=proto/arkouda.proto");
    let descriptors = protox::compile(["arkouda.proto"], ["proto"])
        .unwrap_or_else(|e| panic!("proto/arkouda.proto does not compile: {e}"));
    prost_build::Config::new()
        // `alloc::` paths so the generated code also builds under #![no_std] + alloc.
        .btree_map(["."])
        .compile_fds(descriptors)
        .unwrap_or_else(|e| panic!("prost codegen failed: {e}"));
}
