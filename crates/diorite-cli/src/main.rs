//! The `diorite` command-line tool.
fn main() {
    println!("diorite {}", env!("CARGO_PKG_VERSION"));
}
