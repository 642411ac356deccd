//! `auth-server`: the command line over the `auth_server` library.

#![forbid(unsafe_code)]

use std::process::ExitCode;

/// mimalloc gives freed memory back to the system: with glibc's allocator
/// the 19 MiB blocks of each password hash stayed mapped after use, and the
/// process grew to hundreds of megabytes under a login load. It is also
/// faster for the many small allocations of a request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    auth_server::cli::main()
}
