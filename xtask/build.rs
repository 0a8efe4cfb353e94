//! Embeds the hash of the assembly code (src/code_hash.rs) for the image cache key.

#[path = "src/code_hash.rs"]
mod code_hash;

fn main() {
    let manifest = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest.parent().expect("xtask is inside the workspace");
    for input in code_hash::INPUTS {
        println!("cargo:rerun-if-changed=../{input}");
    }
    println!("cargo:rustc-env=OXWRT_ASSEMBLY_CODE={}", code_hash::hash(workspace));
}
