//! Redis store: standalone or Cluster.
//!
//! Every step that must be atomic is one Lua script on the keys of one user,
//! which share a hash tag (see [`codec`] for the key layout). A refresh is
//! one `EVALSHA` (followed by `WAIT` in the same pipeline when replicas must
//! acknowledge it) on one connection: one round trip. Every call is bounded
//! by the timeout given to [`RedisStore::connect`]; a timeout or a
//! connection error gives [`StoreError::Unavailable`].
//!
//! The store URL may carry a password; it is never logged, stored or put in
//! an error.
//!
//! Memory: a session is one small hash with one- or two-letter fields:
//! binary token hashes, the successor's sealed 32-byte secret, the IP
//! address in binary and the user agent stored once while it does not
//! change. The user record lists its sessions' 16-byte ids, so there is no
//! index key per user. With 110-byte user agents a rotated session takes
//! about 495 bytes of Redis memory, its entry in the user record included,
//! when `hash-max-listpack-value` is 256 (`deploy/redis.conf`). At Redis's
//! default of 64 each session becomes a hash table of about 1,150 bytes
//! (measured in `docs/benchmarks.md`).

mod codec;
mod conn;
mod counters;
mod replicas;

use std::sync::Arc;
use std::time::Duration;

use redis::{Script, ServerErrorKind, Value};

use self::codec::{Fields, KeySpace};
use self::conn::{Conn, Retry};
use self::replicas::ReplicaMap;
use super::{
    NewSession, RotateOutcome, RotateRequest, RotatedSession, SessionId, SessionInfo, Store,
    StoreError, StoreResult, StoredKey, UserId, UserRecord,
};

/// The Lua scripts, each prefixed with the shared helpers.
struct Scripts {
    create_user: Script,
    grant_scope: Script,
    set_password: Script,
    create_session: Script,
    rotate: Script,
    read_session: Script,
    list_sessions: Script,
    revoke_session: Script,
    revoke_all: Script,
    update_key: Script,
}

impl Scripts {
    fn new() -> Self {
        let prelude = include_str!("lua/prelude.lua");
        let script = |body: &str| Script::new(&format!("{prelude}\n{body}"));
        Self {
            create_user: script(include_str!("lua/create_user.lua")),
            grant_scope: script(include_str!("lua/grant_scope.lua")),
            set_password: script(include_str!("lua/set_password.lua")),
            create_session: script(include_str!("lua/create_session.lua")),
            rotate: script(include_str!("lua/rotate.lua")),
            read_session: script(include_str!("lua/read_session.lua")),
            list_sessions: script(include_str!("lua/list_sessions.lua")),
            revoke_session: script(include_str!("lua/revoke_session.lua")),
            revoke_all: script(include_str!("lua/revoke_all.lua")),
            update_key: script(include_str!("lua/update_key.lua")),
        }
    }
}

/// A [`Store`] on Redis or Redis Cluster.
pub struct RedisStore {
    conn: Conn,
    keys: KeySpace,
    scripts: Scripts,
    counter_scripts: counters::CounterScripts,
    timeout: Duration,
    /// Replicas that must acknowledge a rotation (0: no `WAIT`).
    replica_acks: u32,
    /// On a cluster, the slots whose master has a replica to wait for.
    replica_map: Option<Arc<ReplicaMap>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.conn {
            Conn::Single(_) => "standalone",
            Conn::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("mode", &mode)
            .field("keys", &self.keys)
            .field("timeout", &self.timeout)
            .field("replica_acks", &self.replica_acks)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` and checks that Redis responds to `PING`.
    ///
    /// `url` is `redis://[[user]:password@]host:port[/db]` for a standalone
    /// Redis (6.2 or newer) or `redis+cluster://[[user]:password@]host:port,host:port`
    /// for a cluster. Every key starts with `key_prefix`, which must not
    /// contain `{` or `}` (they would change the cluster hash tags).
    /// `timeout` bounds every call, connecting included.
    ///
    /// On a cluster whose masters have replicas, rotations wait for one
    /// replica (see [`RedisStore::with_replica_acks`]).
    pub async fn connect(url: &str, key_prefix: &str, timeout: Duration) -> StoreResult<Self> {
        if key_prefix.contains(['{', '}']) {
            return Err(StoreError::Unavailable(
                "the key prefix must not contain { or }".into(),
            ));
        }
        let conn = conn::open(url, timeout).await?;
        let mut store = Self {
            conn,
            keys: KeySpace::new(key_prefix),
            scripts: Scripts::new(),
            counter_scripts: counters::CounterScripts::new(),
            timeout,
            replica_acks: 0,
            replica_map: None,
        };
        store.ping().await?;
        if matches!(store.conn, Conn::Cluster(_)) {
            let nodes = replicas::cluster_nodes(&store.conn, timeout).await?;
            let map = Arc::new(ReplicaMap::new(&nodes));
            if map.any() {
                store.replica_acks = 1;
            }
            ReplicaMap::keep_current(&map, store.conn.clone(), timeout);
            store.replica_map = Some(map);
        }
        store.warn_about_listpack_limit().await;
        Ok(store)
    }

    /// Logs a warning when Redis stores session hashes as hash tables,
    /// which takes about twice the memory. Sessions contain values of up to
    /// a few hundred bytes (user agent, sealed successor), and Redis keeps a
    /// hash compact only while every value fits `hash-max-listpack-value`
    /// (64 by default; `hash-max-ziplist-value` before Redis 7). Servers
    /// that forbid `CONFIG` are not checked.
    async fn warn_about_listpack_limit(&self) {
        const RECOMMENDED: i64 = 256;
        let reply: StoreResult<Vec<String>> = self
            .run(|mut conn| async move {
                redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("hash-max-ziplist-value")
                    .query_async(&mut conn)
                    .await
            })
            .await;
        let limit = reply.ok().and_then(|pair| pair.get(1)?.parse::<i64>().ok());
        if let Some(limit) = limit.filter(|limit| *limit < RECOMMENDED) {
            tracing::warn!(
                hash_max_listpack_value = limit,
                recommended = RECOMMENDED,
                "Redis hash-max-listpack-value is below the recommended value, \
                 so each session takes about twice the memory; raise it in redis.conf"
            );
        }
    }

    /// Sets how many replicas must acknowledge a rotation before it counts
    /// (0 turns the wait off). The script and a `WAIT` travel in one
    /// pipeline, so a refresh stays one round trip. `WAIT` gives up after
    /// half the store timeout. A rotation that too few replicas
    /// acknowledged is reported as [`StoreError::Unavailable`], so a
    /// failover cannot lose a successor the client already has. On a
    /// cluster, slots whose master has no connected replica (as `CLUSTER
    /// NODES` reported within the last second) do not wait, so that a
    /// promoted replica serves rotations before a new replica joins it.
    pub fn with_replica_acks(mut self, replicas: u32) -> Self {
        self.replica_acks = replicas;
        self
    }

    async fn run<T, F, Fut>(&self, op: F) -> StoreResult<T>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        conn::run(&self.conn, self.timeout, Retry::OnConnectionError, op).await
    }
}

fn rotated_session(fields: &mut Fields) -> StoreResult<RotatedSession> {
    Ok(RotatedSession {
        scope: fields.text()?,
        absolute_expiry_ms: fields.int()?,
        generation: fields.u32()?,
        previous_context: fields.context()?,
    })
}

fn rotate_outcome(reply: Value) -> StoreResult<RotateOutcome> {
    let mut fields = Fields::new(reply)?;
    let outcome = match fields.int()? {
        0 => RotateOutcome::Invalid,
        1 => RotateOutcome::WrongClient,
        2 => RotateOutcome::Rotated(rotated_session(&mut fields)?),
        3 => RotateOutcome::Replayed {
            session: rotated_session(&mut fields)?,
            sealed_successor: fields.bytes()?,
            successor_hash: fields.hash()?,
        },
        4 => RotateOutcome::Reused {
            rotated_by: fields.context()?,
            client_id: fields.text()?,
        },
        other => {
            return Err(StoreError::Corrupt(format!(
                "unknown rotation outcome {other}"
            )));
        }
    };
    Ok(outcome)
}

fn session_id(bytes: &[u8]) -> StoreResult<SessionId> {
    let id = <[u8; 16]>::try_from(bytes)
        .map_err(|_| StoreError::Corrupt("malformed session id in an index".into()))?;
    Ok(SessionId(id))
}

impl Store for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        self.run(|mut conn| async move { redis::cmd("PING").query_async::<()>(&mut conn).await })
            .await
    }

    async fn create_user(&self, user: &UserRecord) -> StoreResult<bool> {
        let user_key = self.keys.user(&user.id);
        let scopes = user.scopes.join(" ");
        let written: i64 = self
            .run(|mut conn| {
                let mut call = self.scripts.create_user.key(&user_key);
                call.arg(&user.username)
                    .arg(&user.password_hash)
                    .arg(&scopes)
                    .arg(user.created_ms)
                    .arg(user.revoked_before_ms);
                async move { call.invoke_async(&mut conn).await }
            })
            .await?;
        if written == 0 {
            return Ok(false);
        }

        // The username index is its own key (its own slot), so it is
        // claimed after the record exists: a crash in between leaves an
        // unreachable record, never a name that points nowhere.
        let name_key = &self.keys.username(&user.username);
        let id = &user.id.to_string();
        let claimed: bool = self
            .run(|mut conn| {
                let mut cmd = redis::cmd("SET");
                cmd.arg(name_key).arg(id).arg("NX");
                async move {
                    let reply: Option<String> = cmd.query_async(&mut conn).await?;
                    if reply.is_some() {
                        return Ok(true);
                    }
                    // An earlier try may have set it already.
                    let owner: Option<String> = redis::cmd("GET")
                        .arg(name_key)
                        .query_async(&mut conn)
                        .await?;
                    Ok(owner.as_deref() == Some(id.as_str()))
                }
            })
            .await?;
        if !claimed {
            self.run(|mut conn| {
                let cmd = redis::cmd("DEL").arg(&user_key).to_owned();
                async move { cmd.query_async::<()>(&mut conn).await }
            })
            .await?;
        }
        Ok(claimed)
    }

    async fn find_user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let name_key = self.keys.username(username);
        let id: Option<String> = self
            .run(|mut conn| {
                let cmd = redis::cmd("GET").arg(&name_key).to_owned();
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        let id = UserId::parse(&id)
            .ok_or_else(|| StoreError::Corrupt("malformed user id in the username index".into()))?;
        self.get_user(&id).await
    }

    async fn get_user(&self, user: &UserId) -> StoreResult<Option<UserRecord>> {
        let user_key = self.keys.user(user);
        let reply: Value = self
            .run(|mut conn| {
                let cmd = redis::cmd("HMGET")
                    .arg(&user_key)
                    .arg(&["n", "p", "s", "c", "r"])
                    .to_owned();
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        codec::user_record(*user, reply)
    }

    async fn grant_scope(&self, user: &UserId, scope: &str) -> StoreResult<bool> {
        let user_key = self.keys.user(user);
        let granted: i64 = self
            .run(|mut conn| {
                let mut call = self.scripts.grant_scope.key(&user_key);
                call.arg(scope);
                async move { call.invoke_async(&mut conn).await }
            })
            .await?;
        Ok(granted == 1)
    }

    async fn set_password(
        &self,
        user: &UserId,
        password_hash: &str,
        keep: Option<&SessionId>,
        now_ms: i64,
    ) -> StoreResult<Option<u32>> {
        let user_key = self.keys.user(user);
        let session_prefix = self.keys.session_prefix(user);
        let keep: &[u8] = keep.map_or(&[], |id| &id.0[..]);
        let revoked: i64 = self
            .run(|mut conn| {
                let mut call = self.scripts.set_password.key(&user_key);
                call.arg(password_hash)
                    .arg(now_ms)
                    .arg(&session_prefix)
                    .arg(keep);
                async move { call.invoke_async(&mut conn).await }
            })
            .await?;
        Ok(u32::try_from(revoked).ok())
    }

    async fn create_session(&self, session: &NewSession) -> StoreResult<bool> {
        let user_key = self.keys.user(&session.user);
        let session_key = self.keys.session(&session.user, &session.id);
        let session_prefix = self.keys.session_prefix(&session.user);
        let created: i64 = self
            .run(|mut conn| {
                let mut call = self.scripts.create_session.key(&user_key);
                call.key(&session_key)
                    .arg(&session.id.0[..])
                    .arg(&session.client_id)
                    .arg(&session.scope)
                    .arg(&session.token_hash[..])
                    .arg(session.now_ms)
                    .arg(session.absolute_expiry_ms)
                    .arg(session.idle_ttl_ms)
                    .arg(codec::encode_ip(&session.context.ip))
                    .arg(&session.context.user_agent)
                    .arg(super::MAX_SESSIONS_PER_USER)
                    .arg(&session_prefix);
                async move { call.invoke_async(&mut conn).await }
            })
            .await?;
        Ok(created == 1)
    }

    async fn rotate(&self, req: &RotateRequest) -> StoreResult<RotateOutcome> {
        let user_key = self.keys.user(&req.user);
        let mut eval = redis::cmd("EVALSHA");
        eval.arg(self.scripts.rotate.get_hash())
            .arg(2)
            .arg(&user_key)
            .arg(self.keys.session(&req.user, &req.session))
            .arg(&req.session.0[..])
            .arg(&req.client_id)
            .arg(req.presented_generation)
            .arg(&req.presented_hash[..])
            .arg(&req.new_hash[..])
            .arg(&req.sealed_successor)
            .arg(req.now_ms)
            .arg(codec::encode_ip(&req.context.ip))
            .arg(&req.context.user_agent)
            .arg(req.grace_ms)
            .arg(req.idle_ttl_ms)
            .arg(req.max_replays);
        let mut call = redis::pipe();
        call.add_command(eval);
        let wait = self.replica_acks > 0
            && self
                .replica_map
                .as_ref()
                .is_none_or(|map| map.has_replica(user_key.as_bytes()));
        if wait {
            let wait_ms = u64::try_from(self.timeout.as_millis() / 2).unwrap_or(u64::MAX);
            call.cmd("WAIT").arg(self.replica_acks).arg(wait_ms.max(1));
        }

        let script = &self.scripts.rotate;
        let call = &call;
        let replies: Vec<Value> = conn::run(
            &self.conn,
            self.timeout,
            Retry::IfNotSent,
            |mut conn| async move {
                match call.query_async(&mut conn).await {
                    Err(e) if e.kind() == redis::ErrorKind::Server(ServerErrorKind::NoScript) => {
                        script.load_async(&mut conn).await?;
                        call.query_async(&mut conn).await
                    }
                    result => result,
                }
            },
        )
        .await?;
        let mut replies = replies.into_iter();
        let reply = replies
            .next()
            .ok_or_else(|| StoreError::Corrupt("empty reply to a rotation".into()))?;
        let outcome = rotate_outcome(reply)?;
        let acked = match replies.next() {
            Some(Value::Int(acked)) => acked,
            _ => 0,
        };
        if wait
            && acked < i64::from(self.replica_acks)
            && matches!(outcome, RotateOutcome::Rotated(_))
        {
            // The successor might be lost in a failover; the client retries
            // with the same token, which then replays this rotation.
            return Err(StoreError::Unavailable(format!(
                "rotation acknowledged by {acked} of {} replicas",
                self.replica_acks
            )));
        }
        Ok(outcome)
    }

    async fn get_session(
        &self,
        user: &UserId,
        session: &SessionId,
        now_ms: i64,
    ) -> StoreResult<Option<SessionInfo>> {
        let user_key = self.keys.user(user);
        let session_key = self.keys.session(user, session);
        let reply: Value = self
            .run(|mut conn| {
                let mut call = self.scripts.read_session.key(&user_key);
                call.key(&session_key).arg(now_ms);
                async move { call.invoke_async(&mut conn).await }
            })
            .await?;
        if reply == Value::Nil {
            return Ok(None);
        }
        Fields::new(reply)?.session_info(*session, *user).map(Some)
    }

    async fn revoke_session(&self, user: &UserId, session: &SessionId) -> StoreResult<bool> {
        let user_key = self.keys.user(user);
        let session_key = self.keys.session(user, session);
        let existed: i64 = self
            .run(|mut conn| {
                let mut call = self.scripts.revoke_session.key(&user_key);
                call.key(&session_key).arg(&session.0[..]);
                async move { call.invoke_async(&mut conn).await }
            })
            .await?;
        Ok(existed == 1)
    }

    async fn revoke_all(&self, user: &UserId, now_ms: i64) -> StoreResult<u32> {
        let user_key = self.keys.user(user);
        let session_prefix = self.keys.session_prefix(user);
        let count: u32 = self
            .run(|mut conn| {
                let mut call = self.scripts.revoke_all.key(&user_key);
                call.arg(now_ms).arg(&session_prefix);
                async move { call.invoke_async(&mut conn).await }
            })
            .await?;
        Ok(count)
    }

    async fn list_sessions(&self, user: &UserId, now_ms: i64) -> StoreResult<Vec<SessionInfo>> {
        let user_key = self.keys.user(user);
        let session_prefix = self.keys.session_prefix(user);
        let reply: Vec<Value> = self
            .run(|mut conn| {
                let mut call = self.scripts.list_sessions.key(&user_key);
                call.arg(now_ms).arg(&session_prefix);
                async move { call.invoke_async(&mut conn).await }
            })
            .await?;
        let mut sessions = Vec::with_capacity(reply.len());
        for item in reply {
            let mut fields = Fields::new(item)?;
            let id = session_id(&fields.bytes()?)?;
            sessions.push(fields.session_info(id, *user)?);
        }
        sessions.sort_by_key(|s| (s.created_ms, s.id));
        Ok(sessions)
    }

    async fn load_keys(&self) -> StoreResult<Vec<StoredKey>> {
        let keys_key = self.keys.signing_keys();
        let records: Vec<(String, Vec<u8>)> = self
            .run(|mut conn| {
                let cmd = redis::cmd("HGETALL").arg(&keys_key).to_owned();
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        let mut keys = records
            .into_iter()
            .map(|(kid, record)| codec::decode_key(kid, &record))
            .collect::<StoreResult<Vec<_>>>()?;
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        Ok(keys)
    }

    async fn put_key(&self, key: &StoredKey) -> StoreResult<bool> {
        let keys_key = &self.keys.signing_keys();
        let record = &codec::encode_key(key);
        self.run(|mut conn| {
            let mut cmd = redis::cmd("HSETNX");
            cmd.arg(keys_key).arg(&key.kid).arg(record);
            async move {
                if cmd.query_async::<i64>(&mut conn).await? == 1 {
                    return Ok(true);
                }
                // An earlier try may have written exactly this record.
                let stored: Option<Vec<u8>> = redis::cmd("HGET")
                    .arg(keys_key)
                    .arg(&key.kid)
                    .query_async(&mut conn)
                    .await?;
                Ok(stored.as_deref() == Some(record.as_slice()))
            }
        })
        .await
    }

    async fn update_key(&self, key: &StoredKey) -> StoreResult<bool> {
        let keys_key = self.keys.signing_keys();
        let lifecycle = codec::lifecycle_line(key);
        let updated: i64 = self
            .run(|mut conn| {
                let mut call = self.scripts.update_key.key(&keys_key);
                call.arg(&key.kid).arg(&lifecycle);
                async move { call.invoke_async(&mut conn).await }
            })
            .await?;
        Ok(updated == 1)
    }
}
