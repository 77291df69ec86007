//! The `memtree` binary: a thin frontend over the library (see `cli`).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
