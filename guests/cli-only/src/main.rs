//! A `wasi:cli/command` component with no HTTP handler: the "wrong world"
//! case Strato must refuse at deploy with a clear error.
fn main() {
    println!("I am a command, not an HTTP handler");
}
