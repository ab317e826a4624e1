//! A supervisor program for this crate's tests (the `ferry` binary has its own).

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        std::process::exit(2);
    };
    std::process::exit(ferry_backend::local::supervisor::supervise(
        std::path::Path::new(&dir),
    ));
}
