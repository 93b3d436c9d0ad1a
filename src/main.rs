#![forbid(unsafe_code)]
//! The `sharebridge` binary: everything lives in the library; see `sharebridge::cli`.

fn main() -> std::process::ExitCode {
    sharebridge::cli::main()
}
