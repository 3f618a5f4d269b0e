//! Generates the ccx.v1 messages and services from `proto/` at build time.
//! `protoc` comes from the vendored crate, so no system package is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files =
        ["event.proto", "collector.proto", "control.proto"].map(|f| root.join("ccx/v1").join(f));
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    tonic_build::configure().compile_protos(&files, &[root])?;
    Ok(())
}
