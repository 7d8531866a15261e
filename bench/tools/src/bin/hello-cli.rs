//! The floor for a command-line tool's start: a small Rust binary that
//! prints one line and exits (what `strato --version` is compared with).

fn main() {
    println!("hello-cli 0.1.0");
}
