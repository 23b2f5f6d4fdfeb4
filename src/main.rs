//! The `strata` command line.

fn main() {
    println!("strata {}", env!("CARGO_PKG_VERSION"));
}
