//! The connection to Redis: one multiplexed connection shared by every
//! request (standalone) or the cluster client's per-node connections.
//!
//! The store uses no pool. A deadpool-redis 0.23 checkout validates the
//! connection with `UNWATCH` and `PING`, which costs a round trip of its
//! own. The store never uses connection state (`WATCH`, `MULTI`, `SELECT`
//! after connect, blocking commands), so pipelining every request over one
//! connection is both correct and faster.

use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use tokio::time::Instant;

use crate::store::{StoreError, StoreResult};

/// URL scheme of a Redis Cluster: `redis+cluster://[[user]:password@]host:port,host:port`.
pub(super) const CLUSTER_SCHEME: &str = "redis+cluster://";

/// A connection to a standalone Redis or to a cluster, cheap to clone.
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(conn) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
        }
    }
}

/// Builds the connection for `url` without logging or returning any part
/// of it (it may hold a password).
pub(super) async fn open(url: &str, timeout: Duration) -> StoreResult<Conn> {
    match url.strip_prefix(CLUSTER_SCHEME) {
        Some(rest) => open_cluster(rest, timeout).await,
        None => open_single(url, timeout),
    }
}

fn open_single(url: &str, timeout: Duration) -> StoreResult<Conn> {
    if !url.starts_with("redis://") && !url.starts_with("rediss://") {
        return Err(invalid_url(
            "expected redis://, rediss:// or redis+cluster://",
        ));
    }
    let client = redis::Client::open(url).map_err(|e| invalid_url(e.category()))?;
    // A lost connection is replaced with one retry after 10-200 ms, and
    // after that the next request tries again. `run` bounds every request
    // by `timeout`, so an outage gives fast errors and a restarted Redis is
    // used again from the next request on.
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(10))
        .set_max_delay(Duration::from_millis(200));
    let manager = ConnectionManager::new_lazy_with_config(client, config)
        .map_err(|e| invalid_url(e.category()))?;
    Ok(Conn::Single(manager))
}

async fn open_cluster(rest: &str, timeout: Duration) -> StoreResult<Conn> {
    let rest = rest.trim_end_matches('/');
    let (userinfo, hosts) = match rest.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, rest),
    };
    let nodes: Vec<String> = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|host| match userinfo {
            Some(userinfo) => format!("redis://{userinfo}@{host}"),
            None => format!("redis://{host}"),
        })
        .collect();
    if nodes.is_empty() {
        return Err(invalid_url("a cluster URL needs at least one host:port"));
    }
    let client = ClusterClient::builder(nodes)
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .retries(2)
        .min_retry_wait(10)
        .max_retry_wait(200)
        .build()
        .map_err(|e| invalid_url(e.category()))?;
    let connect = client.get_async_connection();
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(conn)) => Ok(Conn::Cluster(conn)),
        Ok(Err(e)) => Err(unavailable(&e)),
        Err(_) => Err(StoreError::Unavailable(
            "connecting to the cluster timed out".into(),
        )),
    }
}

fn invalid_url(reason: &str) -> StoreError {
    StoreError::Unavailable(format!("invalid store URL: {reason}"))
}

/// Maps a Redis error to a store error. The text comes from the error kind
/// and the server's reply, never from the connection's address or secret.
pub(super) fn unavailable(error: &RedisError) -> StoreError {
    match error.kind() {
        redis::ErrorKind::UnexpectedReturnType | redis::ErrorKind::Parse => {
            StoreError::Corrupt(format!("unexpected reply from Redis: {}", error.category()))
        }
        _ => StoreError::Unavailable(format!("redis: {error}")),
    }
}

/// When [`run`] may send a request a second time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// After any connection-level error. Only for operations that are
    /// idempotent or that check what an earlier try wrote.
    OnConnectionError,
    /// Only when connecting failed, so the first try was never sent. A
    /// rotation that ran but whose reply was lost must not run again,
    /// because without a grace window the repeat would count as reuse.
    IfNotSent,
}

impl Retry {
    fn allows(self, error: &RedisError) -> bool {
        match self {
            Retry::IfNotSent => error.is_connection_refusal(),
            Retry::OnConnectionError => {
                error.is_io_error()
                    || error.is_connection_dropped()
                    || error.is_connection_refusal()
                    || error.is_unrecoverable_error()
            }
        }
    }
}

/// Runs `op` on a clone of `conn`, bounded by `timeout` in total, and
/// retries it once as `retry` allows while time remains.
pub(super) async fn run<T, F, Fut>(
    conn: &Conn,
    timeout: Duration,
    retry: Retry,
    op: F,
) -> StoreResult<T>
where
    F: Fn(Conn) -> Fut,
    Fut: Future<Output = RedisResult<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut tries = 0;
    loop {
        tries += 1;
        match tokio::time::timeout_at(deadline, op(conn.clone())).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) if tries < 2 && retry.allows(&error) => {
                tracing::debug!(error = %error.category(), "retrying a Redis call");
            }
            Ok(Err(error)) => return Err(unavailable(&error)),
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "Redis call timed out after {} ms",
                    timeout.as_millis()
                )));
            }
        }
    }
}
