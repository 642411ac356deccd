//! In-memory store for the quickstart. Everything is lost on restart.
//!
//! One mutex guards all state, so every method is trivially atomic. Time
//! comes only from the `now_ms` arguments: dead sessions are invisible from
//! their expiry on and are swept on later writes, without a background task.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use subtle::ConstantTimeEq;

use super::{
    ClientContext, MAX_SESSIONS_PER_USER, NewSession, RotateOutcome, RotateRequest, RotatedSession,
    SessionId, SessionInfo, Store, StoreResult, StoredKey, UserId, UserRecord,
};

/// Sweep every user's dead sessions after this many session creations.
const SWEEP_EVERY: u32 = 1024;

/// A [`Store`] that keeps everything in process memory.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Inner {
    users: HashMap<UserId, UserEntry>,
    names: HashMap<String, UserId>,
    keys: BTreeMap<String, StoredKey>,
    creates_since_sweep: u32,
}

struct UserEntry {
    record: UserRecord,
    sessions: HashMap<SessionId, Session>,
}

struct Session {
    client_id: String,
    scope: String,
    generation: u32,
    hash: [u8; 32],
    previous_hash: Option<[u8; 32]>,
    replays: u32,
    sealed_successor: Vec<u8>,
    created_ms: i64,
    /// Set on the session a password change keeps: it counts as created
    /// at this time for the revoked-before check.
    valid_from_ms: i64,
    created_context: ClientContext,
    /// Time of the creation or of the last rotation.
    last_used_ms: i64,
    last_context: ClientContext,
    absolute_expiry_ms: i64,
    idle_expiry_ms: i64,
}

impl Session {
    fn is_live(&self, revoked_before_ms: i64, now_ms: i64) -> bool {
        self.created_ms.max(self.valid_from_ms) > revoked_before_ms
            && now_ms < self.absolute_expiry_ms
            && now_ms < self.idle_expiry_ms
    }

    fn info(&self, id: SessionId, user: UserId) -> SessionInfo {
        SessionInfo {
            id,
            user,
            client_id: self.client_id.clone(),
            scope: self.scope.clone(),
            generation: self.generation,
            created_ms: self.created_ms,
            created_context: self.created_context.clone(),
            last_used_ms: self.last_used_ms,
            last_context: self.last_context.clone(),
            absolute_expiry_ms: self.absolute_expiry_ms,
        }
    }

    fn rotated(&self) -> RotatedSession {
        RotatedSession {
            scope: self.scope.clone(),
            absolute_expiry_ms: self.absolute_expiry_ms,
            generation: self.generation,
            previous_context: self.last_context.clone(),
        }
    }
}

impl UserEntry {
    fn sweep(&mut self, now_ms: i64) {
        let revoked_before = self.record.revoked_before_ms;
        self.sessions
            .retain(|_, s| s.is_live(revoked_before, now_ms));
    }

    /// Deletes the sessions that expire first, never `newest`, until at most
    /// `max` remain.
    fn evict_beyond(&mut self, max: usize, newest: &SessionId) {
        let excess = self.sessions.len().saturating_sub(max);
        if excess == 0 {
            return;
        }
        let mut by_expiry: Vec<(i64, SessionId)> = self
            .sessions
            .iter()
            .filter(|(id, _)| *id != newest)
            .map(|(id, s)| (s.idle_expiry_ms, *id))
            .collect();
        by_expiry.sort_unstable();
        for (_, id) in by_expiry.into_iter().take(excess) {
            self.sessions.remove(&id);
        }
    }

    /// Deletes every live session except `keep`; returns how many.
    fn revoke_live(&mut self, keep: Option<&SessionId>, now_ms: i64) -> u32 {
        let revoked_before = self.record.revoked_before_ms;
        let mut count = 0;
        self.sessions.retain(|id, s| {
            if Some(id) == keep {
                return true;
            }
            count += u32::from(s.is_live(revoked_before, now_ms));
            false
        });
        count
    }
}

impl MemoryStore {
    /// Creates an empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied
        // change behind (every method validates before it writes), so the
        // data is still consistent: keep serving it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn hashes_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    bool::from(a.ct_eq(b))
}

fn rotate_locked(entry: &mut UserEntry, req: &RotateRequest) -> RotateOutcome {
    let revoked_before = entry.record.revoked_before_ms;
    let Some(session) = entry.sessions.get_mut(&req.session) else {
        return RotateOutcome::Invalid;
    };
    if !session.is_live(revoked_before, req.now_ms) {
        entry.sessions.remove(&req.session);
        return RotateOutcome::Invalid;
    }
    if session.client_id != req.client_id {
        return RotateOutcome::WrongClient;
    }

    let current = session.generation;
    let presented = req.presented_generation;
    if presented == current {
        if !hashes_equal(&req.presented_hash, &session.hash) {
            return RotateOutcome::Invalid;
        }
        let previous_context = std::mem::replace(&mut session.last_context, req.context.clone());
        session.previous_hash = Some(session.hash);
        session.hash = req.new_hash;
        session.generation = current.saturating_add(1);
        session.replays = 0;
        session.sealed_successor = req.sealed_successor.clone();
        session.last_used_ms = req.now_ms;
        session.idle_expiry_ms = req
            .now_ms
            .saturating_add(req.idle_ttl_ms)
            .min(session.absolute_expiry_ms);
        let mut rotated = session.rotated();
        rotated.previous_context = previous_context;
        return RotateOutcome::Rotated(rotated);
    }

    if presented.checked_add(1) == Some(current) {
        let matches = session
            .previous_hash
            .as_ref()
            .is_some_and(|previous| hashes_equal(&req.presented_hash, previous));
        if !matches {
            return RotateOutcome::Invalid;
        }
        let in_window = req.grace_ms > 0
            && req.now_ms - session.last_used_ms < req.grace_ms
            && req.context == session.last_context;
        if in_window {
            if session.replays >= req.max_replays {
                return RotateOutcome::Invalid;
            }
            session.replays += 1;
            return RotateOutcome::Replayed {
                session: session.rotated(),
                sealed_successor: session.sealed_successor.clone(),
                successor_hash: session.hash,
            };
        }
    } else if presented > current {
        return RotateOutcome::Invalid;
    }

    let rotated_by = session.last_context.clone();
    let client_id = session.client_id.clone();
    entry.sessions.remove(&req.session);
    RotateOutcome::Reused {
        rotated_by,
        client_id,
    }
}

impl Store for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn create_user(&self, user: &UserRecord) -> StoreResult<bool> {
        let mut inner = self.lock();
        if inner.names.contains_key(&user.username) || inner.users.contains_key(&user.id) {
            return Ok(false);
        }
        inner.names.insert(user.username.clone(), user.id);
        let entry = UserEntry {
            record: user.clone(),
            sessions: HashMap::new(),
        };
        inner.users.insert(user.id, entry);
        Ok(true)
    }

    async fn find_user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let inner = self.lock();
        let Some(id) = inner.names.get(username) else {
            return Ok(None);
        };
        Ok(inner.users.get(id).map(|entry| entry.record.clone()))
    }

    async fn get_user(&self, user: &UserId) -> StoreResult<Option<UserRecord>> {
        Ok(self
            .lock()
            .users
            .get(user)
            .map(|entry| entry.record.clone()))
    }

    async fn grant_scope(&self, user: &UserId, scope: &str) -> StoreResult<bool> {
        let mut inner = self.lock();
        let Some(entry) = inner.users.get_mut(user) else {
            return Ok(false);
        };
        if !entry.record.scopes.iter().any(|s| s == scope) {
            entry.record.scopes.push(scope.to_owned());
        }
        Ok(true)
    }

    async fn set_password(
        &self,
        user: &UserId,
        password_hash: &str,
        keep: Option<&SessionId>,
        now_ms: i64,
    ) -> StoreResult<Option<u32>> {
        let mut inner = self.lock();
        let Some(entry) = inner.users.get_mut(user) else {
            return Ok(None);
        };
        entry.record.password_hash = password_hash.to_owned();

        let old_revoked_before = entry.record.revoked_before_ms;
        if let Some(kept) = keep.and_then(|id| entry.sessions.get_mut(id))
            && kept.is_live(old_revoked_before, now_ms)
        {
            kept.valid_from_ms = now_ms.saturating_add(1);
        }
        let count = entry.revoke_live(keep, now_ms);
        entry.record.revoked_before_ms = old_revoked_before.max(now_ms);
        entry.sweep(now_ms);
        Ok(Some(count))
    }

    async fn create_session(&self, session: &NewSession) -> StoreResult<bool> {
        let mut inner = self.lock();
        inner.creates_since_sweep += 1;
        if inner.creates_since_sweep >= SWEEP_EVERY {
            inner.creates_since_sweep = 0;
            inner
                .users
                .values_mut()
                .for_each(|entry| entry.sweep(session.now_ms));
        }

        let Some(entry) = inner.users.get_mut(&session.user) else {
            return Ok(false);
        };
        let now = session.now_ms;
        let idle_expiry = now
            .saturating_add(session.idle_ttl_ms)
            .min(session.absolute_expiry_ms);
        if now <= entry.record.revoked_before_ms || idle_expiry <= now {
            return Ok(false);
        }
        entry.sweep(now);
        let stored = Session {
            client_id: session.client_id.clone(),
            scope: session.scope.clone(),
            generation: 1,
            hash: session.token_hash,
            previous_hash: None,
            replays: 0,
            sealed_successor: Vec::new(),
            created_ms: now,
            valid_from_ms: 0,
            created_context: session.context.clone(),
            last_used_ms: now,
            last_context: session.context.clone(),
            absolute_expiry_ms: session.absolute_expiry_ms,
            idle_expiry_ms: idle_expiry,
        };
        entry.sessions.insert(session.id, stored);
        entry.evict_beyond(MAX_SESSIONS_PER_USER, &session.id);
        Ok(true)
    }

    async fn rotate(&self, request: &RotateRequest) -> StoreResult<RotateOutcome> {
        let mut inner = self.lock();
        let Some(entry) = inner.users.get_mut(&request.user) else {
            return Ok(RotateOutcome::Invalid);
        };
        Ok(rotate_locked(entry, request))
    }

    async fn get_session(
        &self,
        user: &UserId,
        session: &SessionId,
        now_ms: i64,
    ) -> StoreResult<Option<SessionInfo>> {
        let inner = self.lock();
        let Some(entry) = inner.users.get(user) else {
            return Ok(None);
        };
        let revoked_before = entry.record.revoked_before_ms;
        Ok(entry
            .sessions
            .get(session)
            .filter(|s| s.is_live(revoked_before, now_ms))
            .map(|s| s.info(*session, *user)))
    }

    async fn revoke_session(&self, user: &UserId, session: &SessionId) -> StoreResult<bool> {
        let mut inner = self.lock();
        let removed = inner
            .users
            .get_mut(user)
            .and_then(|entry| entry.sessions.remove(session));
        Ok(removed.is_some())
    }

    async fn revoke_all(&self, user: &UserId, now_ms: i64) -> StoreResult<u32> {
        let mut inner = self.lock();
        let Some(entry) = inner.users.get_mut(user) else {
            return Ok(0);
        };
        let count = entry.revoke_live(None, now_ms);
        entry.record.revoked_before_ms = entry.record.revoked_before_ms.max(now_ms);
        Ok(count)
    }

    async fn list_sessions(&self, user: &UserId, now_ms: i64) -> StoreResult<Vec<SessionInfo>> {
        let inner = self.lock();
        let Some(entry) = inner.users.get(user) else {
            return Ok(Vec::new());
        };
        let revoked_before = entry.record.revoked_before_ms;
        let mut sessions: Vec<SessionInfo> = entry
            .sessions
            .iter()
            .filter(|(_, s)| s.is_live(revoked_before, now_ms))
            .map(|(id, s)| s.info(*id, *user))
            .collect();
        sessions.sort_by_key(|s| (s.created_ms, s.id));
        Ok(sessions)
    }

    async fn load_keys(&self) -> StoreResult<Vec<StoredKey>> {
        Ok(self.lock().keys.values().cloned().collect())
    }

    async fn put_key(&self, key: &StoredKey) -> StoreResult<bool> {
        let mut inner = self.lock();
        if inner.keys.contains_key(&key.kid) {
            return Ok(false);
        }
        inner.keys.insert(key.kid.clone(), key.clone());
        Ok(true)
    }

    async fn update_key(&self, key: &StoredKey) -> StoreResult<bool> {
        let mut inner = self.lock();
        let Some(stored) = inner.keys.get_mut(&key.kid) else {
            return Ok(false);
        };
        stored.activates_ms = key.activates_ms;
        stored.retired_ms = key.retired_ms;
        stored.removes_ms = key.removes_ms;
        Ok(true)
    }
}
