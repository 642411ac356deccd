//! [`AnyStore`]: the store chosen at start-up, dispatched without boxing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::metrics::Metrics;
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::store::*;

/// Either store implementation, timing every call into the metrics.
pub struct AnyStore {
    inner: Inner,
    metrics: Arc<Metrics>,
    counters: MemoryCounters,
}

/// Throttle counters of the memory store: name to (count, window end in ms).
#[derive(Default)]
struct MemoryCounters(Mutex<HashMap<String, (u64, i64)>>);

impl MemoryCounters {
    fn now_ms() -> i64 {
        crate::clock::Clock::System.now_ms()
    }

    fn add(&self, name: &str, delta: i64, window_ms: i64) -> (u64, i64) {
        let now = Self::now_ms();
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Expired windows are dropped on the way, so the map stays bounded
        // by the counters of one window.
        if map.len() > 10_000 {
            map.retain(|_, (_, end)| *end > now);
        }
        let entry = map.entry(name.to_owned()).or_insert((0, now + window_ms));
        if entry.1 <= now {
            *entry = (0, now + window_ms);
        }
        entry.0 = entry.0.saturating_add_signed(delta);
        (entry.0, entry.1 - now)
    }

    fn peek(&self, name: &str) -> (u64, i64) {
        let now = Self::now_ms();
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(name) {
            Some((count, end)) if *end > now => (*count, end - now),
            _ => (0, -2),
        }
    }

    fn reset(&self, name: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }
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
        let counters = MemoryCounters::default();
        Self {
            inner: Inner::Memory(store),
            metrics,
            counters,
        }
    }

    /// Wraps the Redis store.
    pub fn redis(store: RedisStore, metrics: Arc<Metrics>) -> Self {
        let counters = MemoryCounters::default();
        Self {
            inner: Inner::Redis(store),
            metrics,
            counters,
        }
    }

    /// Adds `delta` to throttle counter `name` (never below 0) and returns
    /// the count and the milliseconds left in its window.
    pub async fn add_counter(
        &self,
        name: &str,
        delta: i64,
        window_ms: i64,
    ) -> StoreResult<(u64, i64)> {
        match &self.inner {
            Inner::Memory(_) => Ok(self.counters.add(name, delta, window_ms)),
            Inner::Redis(store) => store.add_counter(name, delta, window_ms).await,
        }
    }

    /// Reads throttle counter `name` as (count, milliseconds left).
    pub async fn peek_counter(&self, name: &str) -> StoreResult<(u64, i64)> {
        match &self.inner {
            Inner::Memory(_) => Ok(self.counters.peek(name)),
            Inner::Redis(store) => store.peek_counter(name).await,
        }
    }

    /// Deletes throttle counter `name`.
    pub async fn reset_counter(&self, name: &str) -> StoreResult<()> {
        match &self.inner {
            Inner::Memory(_) => {
                self.counters.reset(name);
                Ok(())
            }
            Inner::Redis(store) => store.reset_counter(name).await,
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
