//! Builds `native/pod_address.c` as a shared library, which the process runtime preloads into
//! the programs it runs for pods of mapped images (see `simulation/process/network.rs`).

use std::path::PathBuf;

fn main() {
    let source = "native/pod_address.c";
    println!("cargo:rerun-if-changed={source}");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let library = out.join("libpod_address.so");
    let compiler = cc::Build::new().get_compiler();
    let status = compiler
        .to_command()
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&library)
        .arg(source)
        .arg("-ldl")
        .status()
        .expect("running the C compiler");
    assert!(status.success(), "compiling {source}");
}
