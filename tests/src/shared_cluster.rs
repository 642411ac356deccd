//! The Redis Cluster that every [`StoreKind::Cluster`](crate::StoreKind)
//! stack of one test process shares.
//!
//! Starting a cluster of six nodes takes seconds, so a process starts at
//! most one, on the first request, and each stack keeps its keys under a
//! prefix of its own. The cluster lives in a static, which Rust
//! never drops, so a watchdog process stops the nodes after the test
//! process has exited, whether it returned, panicked or was killed.

use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::redis::{RedisCluster, RedisServer};

/// Run by `sh -c` with the nodes' data directories as arguments and their
/// process ids in `NODE_PIDS`. `cat` returns at the end of file on standard
/// input, which comes when the test process exits, because the test process
/// has the only write end of the pipe (Rust opens pipes close-on-exec, so
/// no other child inherits it). Then the script kills the nodes and removes
/// their directories.
const WATCHDOG_SCRIPT: &str = r#"cat >/dev/null; kill -9 $NODE_PIDS 2>/dev/null; rm -rf -- "$@""#;

struct SharedCluster {
    cluster: RedisCluster,
    /// Never dropped, so the write end of its standard input stays open
    /// until the process exits.
    _watchdog: Child,
}

static SHARED: LazyLock<SharedCluster> = LazyLock::new(|| {
    let cluster = RedisCluster::start();
    let watchdog = spawn_watchdog(&cluster);
    SharedCluster {
        cluster,
        _watchdog: watchdog,
    }
});

/// Returns the cluster of this test process, starting it on the first call.
///
/// Callers get a shared reference only, so no test can stop or kill a node:
/// the process ids that the watchdog kills stay those of the nodes.
pub fn shared_cluster() -> &'static RedisCluster {
    &SHARED.cluster
}

/// Returns a key prefix that no other stack of this process uses, such as
/// `e2e-7:`. It contains no braces, which would change the hash slots, and
/// no glob characters.
pub fn unique_key_prefix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("e2e-{}:", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Starts the `sh` process that stops the nodes of `cluster` once the test
/// process has exited (see [`WATCHDOG_SCRIPT`]).
fn spawn_watchdog(cluster: &RedisCluster) -> Child {
    let pids: Vec<String> = cluster
        .nodes()
        .iter()
        .filter_map(RedisServer::pid)
        .map(|pid| pid.to_string())
        .collect();
    Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG_SCRIPT)
        .arg("sh")
        .args(cluster.nodes().iter().map(RedisServer::dir))
        .env("NODE_PIDS", pids.join(" "))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the watchdog of the shared cluster (sh)")
}
