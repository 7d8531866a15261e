//! Links the `strato` binary as a position-dependent executable.
//!
//! A position-independent `strato` carries ~97,000 relative relocations
//! (vtables and tables of pointers in wasmtime, cranelift and the rest), so
//! every start wrote ~2 MiB of `.data.rel.ro` and took ~500 copy-on-write
//! page faults: ~5 ms of kernel time on this VM before `main`, which every
//! CLI command paid. Linked at a fixed address those pointers are resolved
//! at link time. The cost is that the executable's own code is not placed
//! at a random address (shared libraries, stack and heap still are).
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
