//! `auth-server`: the command line over the `auth_server` library.

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    auth_server::cli::main()
}
