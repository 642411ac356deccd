//! [`AnyStore`]: the store chosen at start-up, dispatched without boxing.

use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::store::*;

/// Either store implementation. Only one exists per process, so the size
/// difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum AnyStore {
    /// In-process maps (quickstart).
    Memory(MemoryStore),
    /// Redis.
    Redis(RedisStore),
}

macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Memory($store) => $call.await,
            AnyStore::Redis($store) => $call.await,
        }
    };
}

impl Store for AnyStore {
    async fn ping(&self) -> StoreResult<()> {
        dispatch!(self, s => s.ping())
    }

    async fn create_user(&self, user: &UserRecord) -> StoreResult<bool> {
        dispatch!(self, s => s.create_user(user))
    }

    async fn find_user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        dispatch!(self, s => s.find_user_by_name(username))
    }

    async fn get_user(&self, user: &UserId) -> StoreResult<Option<UserRecord>> {
        dispatch!(self, s => s.get_user(user))
    }

    async fn grant_scope(&self, user: &UserId, scope: &str) -> StoreResult<bool> {
        dispatch!(self, s => s.grant_scope(user, scope))
    }

    async fn set_password(
        &self,
        user: &UserId,
        password_hash: &str,
        keep: Option<&SessionId>,
        now_ms: i64,
    ) -> StoreResult<Option<u32>> {
        dispatch!(self, s => s.set_password(user, password_hash, keep, now_ms))
    }

    async fn create_session(&self, session: &NewSession) -> StoreResult<bool> {
        dispatch!(self, s => s.create_session(session))
    }

    async fn rotate(&self, request: &RotateRequest) -> StoreResult<RotateOutcome> {
        dispatch!(self, s => s.rotate(request))
    }

    async fn get_session(
        &self,
        user: &UserId,
        session: &SessionId,
        now_ms: i64,
    ) -> StoreResult<Option<SessionInfo>> {
        dispatch!(self, s => s.get_session(user, session, now_ms))
    }

    async fn revoke_session(&self, user: &UserId, session: &SessionId) -> StoreResult<bool> {
        dispatch!(self, s => s.revoke_session(user, session))
    }

    async fn revoke_all(&self, user: &UserId, now_ms: i64) -> StoreResult<u32> {
        dispatch!(self, s => s.revoke_all(user, now_ms))
    }

    async fn list_sessions(&self, user: &UserId, now_ms: i64) -> StoreResult<Vec<SessionInfo>> {
        dispatch!(self, s => s.list_sessions(user, now_ms))
    }

    async fn load_keys(&self) -> StoreResult<Vec<StoredKey>> {
        dispatch!(self, s => s.load_keys())
    }

    async fn put_key(&self, key: &StoredKey) -> StoreResult<bool> {
        dispatch!(self, s => s.put_key(key))
    }

    async fn update_key(&self, key: &StoredKey) -> StoreResult<bool> {
        dispatch!(self, s => s.update_key(key))
    }
}
