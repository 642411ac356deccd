//! A server and, for the Redis store, the Redis it uses: what most tests
//! start first.

use crate::client::Api;
use crate::redis::RedisServer;
use crate::server::{AuthServer, ServerOptions, Store};

/// Which store a [`Stack`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The in-memory store.
    Memory,
    /// A fresh `redis-server` on a free port.
    Redis,
}

/// An auth server with its own store. Fields drop in order, so the server
/// stops before its Redis.
#[derive(Debug)]
pub struct Stack {
    /// The auth server.
    pub server: AuthServer,
    /// The Redis the server uses, for [`StoreKind::Redis`].
    pub redis: Option<RedisServer>,
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
    pub fn start_with_args(kind: StoreKind, env: &[(&str, &str)], args: &[&str]) -> Self {
        let redis = match kind {
            StoreKind::Memory => None,
            StoreKind::Redis => Some(RedisServer::start()),
        };
        let store = match &redis {
            Some(redis) => Store::Redis(redis),
            None => Store::Memory,
        };
        let mut options = ServerOptions::new(store);
        for (key, value) in env {
            options = options.env(key, value);
        }
        for arg in args {
            options = options.arg(arg);
        }
        let server = AuthServer::start(options);
        Stack { server, redis }
    }

    /// Returns a client for the server.
    pub fn api(&self) -> Api {
        Api::new(&self.server)
    }

    /// Returns the Redis server, or panics for the memory store.
    pub fn redis_mut(&mut self) -> &mut RedisServer {
        self.redis.as_mut().expect("this stack runs on Redis")
    }
}
