//! Harness for end-to-end tests over real processes: free ports, Redis
//! servers, the auth-server binary and an HTTP client that speaks its API.
//! Every test starts its own processes on fresh ports and stops them on drop,
//! so tests are independent of order and never touch a Redis they did not
//! start. The one exception is the Redis Cluster of
//! [`StoreKind::Cluster`]: the tests of one process share it, each under its
//! own key prefix, and it stops when the process exits.

#![forbid(unsafe_code)]

pub mod client;
pub mod cookie;
pub mod example;
pub mod jwt;
pub mod protection;
pub mod redis;
pub mod server;
pub mod shared_cluster;
pub mod stack;
pub mod traffic;

use std::io::Read;
use std::net::TcpListener;

pub use client::{Api, BrowserSession, Reply, Tokens};
pub use server::{AuthServer, ServerOptions, Store};
pub use stack::{Stack, StoreKind};

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
///
/// The port is released before it is returned, so another process could take
/// it first; callers that start a server on it retry on a bind failure.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener
        .local_addr()
        .expect("read the bound address")
        .port()
}

/// Returns the workspace's root directory.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// Returns `bytes` random bytes from the operating system, hex-encoded.
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut buffer))
        .expect("read /dev/urandom");
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

/// Returns a username no other test uses, such as `alice-3f9a0c12`.
pub fn unique_username(prefix: &str) -> String {
    format!("{prefix}-{}", random_hex(4))
}

/// Returns a password that is long, random and therefore not a common one.
pub fn strong_password() -> String {
    format!("Pw-{}-x", random_hex(12))
}

/// Words that only internal error text contains: store, framework and
/// parser messages, panics, source paths. No client-facing body may carry
/// any of them (compared in lowercase).
pub const INTERNAL_TEXT: &[&str] = &[
    "redis",
    "deadpool",
    "panick",
    "error(",
    "backtrace",
    ".rs:",
    "/src/",
    "/work/",
    "/root/",
    "/home/",
    "/usr/",
    "actix",
    "serde",
    "tokio",
    "line 1 column",
    "os error",
    "thread '",
];

/// Asserts that `reply` is an RFC 6749 error body with no internal text in
/// it and a status below 500 (or 503), and returns its `error` code.
pub fn assert_clean_error(reply: &Reply) -> String {
    let unavailable = reply.status == 503;
    assert!(
        reply.status < 500 || unavailable,
        "server error: {}",
        reply.describe()
    );
    let lowered = reply.body.to_lowercase();
    for word in INTERNAL_TEXT {
        assert!(
            !lowered.contains(word),
            "body contains {word:?}: {}",
            reply.describe()
        );
    }
    reply
        .error()
        .unwrap_or_else(|| panic!("not an RFC 6749 error body: {}", reply.describe()))
}

/// Defines, for each scenario `async fn name(kind: StoreKind)`, a module
/// `name` with the tests `name::memory`, `name::redis` and `name::cluster`.
#[macro_export]
macro_rules! on_each_store {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::$scenario($crate::StoreKind::Memory).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                super::$scenario($crate::StoreKind::Redis).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cluster() {
                super::$scenario($crate::StoreKind::Cluster).await;
            }
        }
    )+};
}
