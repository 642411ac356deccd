//! Persistence of users, sessions and signing keys.
//!
//! [`Store`] is implemented by [`redis::RedisStore`] (production, standalone
//! or Cluster) and [`memory::MemoryStore`] (quickstart only). Both pass the
//! same conformance suite, so the server behaves the same on either.
//!
//! Everything that belongs to one user (its record, its sessions and its
//! session index) shares one Redis hash tag, so that every operation that
//! must be atomic runs as one server-side script on one hash slot.

pub mod memory;
pub mod redis;
mod types;

pub use types::*;

use std::future::Future;

/// Errors a store returns. Callers turn [`StoreError::Unavailable`] into
/// 503 `temporarily_unavailable`, never into 401: an outage must not log
/// anyone out.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or did not answer in time.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A record in the store could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

/// Live sessions one user may have. Creating one more deletes the sessions
/// that would expire first, so one account cannot fill the store, and the
/// scripts that walk a user's sessions stay short.
pub const MAX_SESSIONS_PER_USER: usize = 100;

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// The storage operations the server needs. Each method is one atomic step.
pub trait Store: Send + Sync + 'static {
    /// Checks that the backend answers.
    fn ping(&self) -> impl Future<Output = StoreResult<()>> + Send;

    /// Creates a user. Returns `Ok(false)` when the normalized username is
    /// already taken, in which case nothing is written.
    fn create_user(&self, user: &UserRecord) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Looks a user up by normalized username.
    fn find_user_by_name(
        &self,
        username: &str,
    ) -> impl Future<Output = StoreResult<Option<UserRecord>>> + Send;

    /// Looks a user up by id.
    fn get_user(
        &self,
        user: &UserId,
    ) -> impl Future<Output = StoreResult<Option<UserRecord>>> + Send;

    /// Adds `scope` (one scope token, no spaces) to the user's allowed
    /// scopes; granting a scope the user has changes nothing. Returns
    /// `Ok(false)` when the user does not exist.
    fn grant_scope(
        &self,
        user: &UserId,
        scope: &str,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Replaces the password hash and revokes every session of the user
    /// except `keep`, atomically with respect to refreshes. Like
    /// [`Store::revoke_all`] it also moves the user's revoked-before time to
    /// `now_ms`, so a login that checked the old password and creates its
    /// session afterwards gets a dead session. `keep` is exempted. Returns
    /// the number of live sessions revoked, or `None` when the user does not
    /// exist.
    fn set_password(
        &self,
        user: &UserId,
        password_hash: &str,
        keep: Option<&SessionId>,
        now_ms: i64,
    ) -> impl Future<Output = StoreResult<Option<u32>>> + Send;

    /// Stores a new session (generation 1) and adds it to the user's index.
    /// Returns `Ok(false)`, writing nothing, when the user does not exist,
    /// when `session.now_ms` is at or before the user's revoked-before time
    /// (a login racing "log out everywhere"), or when the session would be
    /// born expired. When the user then has more than
    /// [`MAX_SESSIONS_PER_USER`] live sessions, the ones with the earliest
    /// expiry (ties broken by session id) are deleted, never the new one.
    fn create_session(
        &self,
        session: &NewSession,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Rotates a session's refresh token: the one atomic step of every
    /// refresh. See [`RotateRequest`] for the rules.
    fn rotate(
        &self,
        request: &RotateRequest,
    ) -> impl Future<Output = StoreResult<RotateOutcome>> + Send;

    /// Reads a session, or `None` when it does not exist, has expired or was
    /// revoked.
    fn get_session(
        &self,
        user: &UserId,
        session: &SessionId,
        now_ms: i64,
    ) -> impl Future<Output = StoreResult<Option<SessionInfo>>> + Send;

    /// Deletes one session. Returns whether it existed.
    fn revoke_session(
        &self,
        user: &UserId,
        session: &SessionId,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Revokes every session of the user, and every session created at or
    /// before `now_ms` that a racing request might still create. Returns the
    /// number of live sessions deleted (0 when the user does not exist).
    fn revoke_all(
        &self,
        user: &UserId,
        now_ms: i64,
    ) -> impl Future<Output = StoreResult<u32>> + Send;

    /// Lists the user's live sessions.
    fn list_sessions(
        &self,
        user: &UserId,
        now_ms: i64,
    ) -> impl Future<Output = StoreResult<Vec<SessionInfo>>> + Send;

    /// Returns every stored signing key.
    fn load_keys(&self) -> impl Future<Output = StoreResult<Vec<StoredKey>>> + Send;

    /// Stores `key` unless a key with the same id exists. Returns whether it
    /// was written.
    fn put_key(&self, key: &StoredKey) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Replaces a stored key's lifecycle times. Returns whether it existed.
    fn update_key(&self, key: &StoredKey) -> impl Future<Output = StoreResult<bool>> + Send;
}
