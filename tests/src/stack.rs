//! A server and, for the Redis stores, the Redis it uses: what most tests
//! start first.

use crate::client::Api;
use crate::redis::RedisServer;
use crate::server::{AuthServer, ServerOptions, Store};
use crate::shared_cluster::{shared_cluster, unique_key_prefix};

/// Environment variable that moves [`StoreKind::Redis`] stacks onto the
/// shared cluster (see [`Stack::start_with_args`]).
pub const REDIS_AS_CLUSTER: &str = "AUTH_TESTS_REDIS_AS_CLUSTER";

fn redis_as_cluster() -> bool {
    std::env::var(REDIS_AS_CLUSTER).is_ok_and(|value| value == "1")
}

/// Which store a [`Stack`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The in-memory store.
    Memory,
    /// A fresh `redis-server` on a free port.
    Redis,
    /// The Redis Cluster of the test process (three masters with one
    /// replica each, see [`shared_cluster`]), under a key prefix of the
    /// stack's own.
    Cluster,
}

/// An auth server with its own store. Fields drop in order, so the server
/// stops before its Redis.
#[derive(Debug)]
pub struct Stack {
    /// The auth server.
    pub server: AuthServer,
    /// The Redis the server uses, for [`StoreKind::Redis`].
    pub redis: Option<RedisServer>,
    /// The prefix of every key the server writes to the shared cluster, for
    /// [`StoreKind::Cluster`].
    pub key_prefix: Option<String>,
}

impl Stack {
    /// Starts a store of `kind` and a server with default settings on it.
    pub fn start(kind: StoreKind) -> Self {
        Self::start_with(kind, &[])
    }

    /// Starts a store of `kind` and a server with the extra settings `env`.
    pub fn start_with(kind: StoreKind, env: &[(&str, &str)]) -> Self {
        Self::start_with_args(kind, env, &[])
    }

    /// Starts a store of `kind` and a server with the extra settings `env`
    /// and the command-line arguments `args`.
    ///
    /// With the environment variable [`REDIS_AS_CLUSTER`] set to `1`,
    /// [`StoreKind::Redis`] runs on the cluster too. Test files written for
    /// one Redis can so run again on the cluster as a whole, which
    /// `scripts/test-all.sh` does for the files that do not touch the Redis
    /// process itself.
    pub fn start_with_args(kind: StoreKind, env: &[(&str, &str)], args: &[&str]) -> Self {
        let kind = match kind {
            StoreKind::Redis if redis_as_cluster() => StoreKind::Cluster,
            other => other,
        };
        let redis = (kind == StoreKind::Redis).then(RedisServer::start);
        let key_prefix = (kind == StoreKind::Cluster).then(unique_key_prefix);
        let store = match (&redis, &key_prefix) {
            (Some(redis), _) => Store::Redis(redis),
            (None, Some(key_prefix)) => Store::Cluster {
                cluster: shared_cluster(),
                key_prefix,
            },
            (None, None) => Store::Memory,
        };
        let mut options = ServerOptions::new(store);
        for (key, value) in env {
            options = options.env(key, value);
        }
        for arg in args {
            options = options.arg(arg);
        }
        let server = AuthServer::start(options);
        Stack {
            server,
            redis,
            key_prefix,
        }
    }

    /// Returns a client for the server.
    pub fn api(&self) -> Api {
        Api::new(&self.server)
    }

    /// Returns the Redis server, or panics unless the stack runs on
    /// [`StoreKind::Redis`].
    pub fn redis_mut(&mut self) -> &mut RedisServer {
        self.redis.as_mut().expect("this stack runs on Redis")
    }

    /// Returns how many keys the server has stored: every key of its Redis,
    /// or every key under its prefix on the shared cluster. Returns `None`
    /// for the memory store.
    pub fn stored_key_count(&self) -> Option<usize> {
        if let Some(redis) = &self.redis {
            let reply = redis.cli(&["DBSIZE"]).expect("DBSIZE");
            let count = reply.trim().parse();
            return Some(count.unwrap_or_else(|_| panic!("DBSIZE returned {reply:?}")));
        }
        let prefix = self.key_prefix.as_deref()?;
        Some(shared_cluster().count_keys(prefix))
    }
}
