//! tonic stubs for proto/arkouda.proto, compiled with protox (no system protoc).

fn main() {
    println!("cargo:rerun-if-changed=../../proto/arkouda.proto");
    let fds = protox::compile(["arkouda.proto"], ["../../proto"])
        .unwrap_or_else(|e| panic!("proto/arkouda.proto does not compile: {e}"));
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)
        .unwrap_or_else(|e| panic!("tonic codegen failed: {e}"));
}
