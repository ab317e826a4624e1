//! The supervisor as its own program, for tests and for hosts where the `ferry` binary is
//! not on hand. `ferry __supervise DIR` does the same.

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: ferry-supervise JOB_DIR");
        std::process::exit(2);
    };
    std::process::exit(ferry_backend::local::supervisor::supervise(
        std::path::Path::new(&dir),
    ));
}
