//! [`AnyStore`]: the store chosen at start-up, dispatched without boxing.

use std::sync::Arc;

use crate::metrics::Metrics;
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::store::*;

/// Either store implementation, timing every call into the metrics.
pub struct AnyStore {
    inner: Inner,
    metrics: Arc<Metrics>,
}

/// Only one store exists per process, so the size difference between the
/// variants costs nothing.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl AnyStore {
    /// Wraps the in-memory store.
    pub fn memory(store: MemoryStore, metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Inner::Memory(store),
            metrics,
        }
    }

    /// Wraps the Redis store.
    pub fn redis(store: RedisStore, metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Inner::Redis(store),
            metrics,
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $operation:literal, $store:ident => $call:expr) => {{
        let started = std::time::Instant::now();
        let result = match &$self.inner {
            Inner::Memory($store) => $call.await,
            Inner::Redis($store) => $call.await,
        };
        let seconds = started.elapsed().as_secs_f64();
        $self
            .metrics
            .store_call($operation, seconds, result.is_err());
        result
    }};
}

impl Store for AnyStore {
    async fn ping(&self) -> StoreResult<()> {
        dispatch!(self, "ping", s => s.ping())
    }

    async fn create_user(&self, user: &UserRecord) -> StoreResult<bool> {
        dispatch!(self, "create_user", s => s.create_user(user))
    }

    async fn find_user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        dispatch!(self, "find_user_by_name", s => s.find_user_by_name(username))
    }

    async fn get_user(&self, user: &UserId) -> StoreResult<Option<UserRecord>> {
        dispatch!(self, "get_user", s => s.get_user(user))
    }

    async fn grant_scope(&self, user: &UserId, scope: &str) -> StoreResult<bool> {
        dispatch!(self, "grant_scope", s => s.grant_scope(user, scope))
    }

    async fn set_password(
        &self,
        user: &UserId,
        password_hash: &str,
        keep: Option<&SessionId>,
        now_ms: i64,
    ) -> StoreResult<Option<u32>> {
        dispatch!(self, "set_password", s => s.set_password(user, password_hash, keep, now_ms))
    }

    async fn create_session(&self, session: &NewSession) -> StoreResult<bool> {
        dispatch!(self, "create_session", s => s.create_session(session))
    }

    async fn rotate(&self, request: &RotateRequest) -> StoreResult<RotateOutcome> {
        dispatch!(self, "rotate", s => s.rotate(request))
    }

    async fn get_session(
        &self,
        user: &UserId,
        session: &SessionId,
        now_ms: i64,
    ) -> StoreResult<Option<SessionInfo>> {
        dispatch!(self, "get_session", s => s.get_session(user, session, now_ms))
    }

    async fn revoke_session(&self, user: &UserId, session: &SessionId) -> StoreResult<bool> {
        dispatch!(self, "revoke_session", s => s.revoke_session(user, session))
    }

    async fn revoke_all(&self, user: &UserId, now_ms: i64) -> StoreResult<u32> {
        dispatch!(self, "revoke_all", s => s.revoke_all(user, now_ms))
    }

    async fn list_sessions(&self, user: &UserId, now_ms: i64) -> StoreResult<Vec<SessionInfo>> {
        dispatch!(self, "list_sessions", s => s.list_sessions(user, now_ms))
    }

    async fn load_keys(&self) -> StoreResult<Vec<StoredKey>> {
        dispatch!(self, "load_keys", s => s.load_keys())
    }

    async fn put_key(&self, key: &StoredKey) -> StoreResult<bool> {
        dispatch!(self, "put_key", s => s.put_key(key))
    }

    async fn update_key(&self, key: &StoredKey) -> StoreResult<bool> {
        dispatch!(self, "update_key", s => s.update_key(key))
    }
}
