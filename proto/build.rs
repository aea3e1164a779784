//! Compiles `regfed.proto` with protox, a pure-Rust protobuf compiler, so that no machine
//! needs `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["regfed.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    let descriptors = protox::compile(files, ["."])?;
    tonic_prost_build::configure()
        // Written by hand over the standard's record fields (src/wire.rs).
        .extern_path(".regfed.v1.UpRecord", "crate::wire::UpRecord")
        .extern_path(".regfed.v1.RecordIn", "crate::wire::RecordIn")
        // A Raft append's entries are sent from the bytes the leader's log keeps, shared,
        // not copied once per follower.
        .bytes(".regfed.v1.RaftPayload.entries")
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
