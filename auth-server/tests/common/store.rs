//! Fixtures for the store conformance suite: stores on fresh backends and
//! builders for users, sessions and rotation requests.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_server::store::redis::RedisStore;
use auth_server::store::{
    ClientContext, NewSession, RotateRequest, SessionId, StoreResult, UserId, UserRecord,
};
use tests::redis::{RedisCluster, RedisServer};

/// Timeout of every Redis call in the suite.
pub const TIMEOUT: Duration = Duration::from_millis(500);
pub const SECOND: i64 = 1_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// Wall-clock milliseconds: Redis expiry runs on real time, so test times
/// start from it and move forward only through `now_ms` arguments.
pub fn wall_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("time fits i64")
}

/// Returns a key prefix no other test uses.
pub fn unique_prefix(test: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("t{}:{test}:", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A Redis store on its own server; the server stops when this drops.
pub struct RedisFixture {
    pub server: RedisServer,
    pub store: RedisStore,
    pub prefix: String,
}

impl RedisFixture {
    pub async fn start(test: &str) -> Self {
        let server = RedisServer::start();
        let prefix = unique_prefix(test);
        let store = RedisStore::connect(&server.url(), &prefix, TIMEOUT)
            .await
            .expect("connect to the test Redis");
        Self {
            server,
            store,
            prefix,
        }
    }

    /// Opens a direct connection for inspecting what the store wrote.
    pub async fn probe(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.server.url()).expect("client");
        client
            .get_multiplexed_async_connection()
            .await
            .expect("probe connection")
    }

    pub fn session_key(&self, user: &UserId, session: &SessionId) -> Vec<u8> {
        let mut key = format!("{}{{{user}}}:s:", self.prefix).into_bytes();
        key.extend_from_slice(&session.0);
        key
    }

    pub async fn pttl(&self, key: &[u8]) -> i64 {
        let mut probe = self.probe().await;
        redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut probe)
            .await
            .expect("PTTL")
    }
}

/// A Redis store on a cluster shared by several tests, each with its own
/// key prefix.
pub struct ClusterFixture {
    pub store: RedisStore,
}

impl ClusterFixture {
    pub async fn connect(cluster: &RedisCluster, test: &str) -> Self {
        let store = RedisStore::connect(&cluster.url(), &unique_prefix(test), TIMEOUT)
            .await
            .expect("connect to the test cluster");
        Self { store }
    }
}

/// Builds a fresh user record.
pub fn user(name: &str, now: i64) -> UserRecord {
    UserRecord {
        id: UserId::random(),
        username: name.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        scopes: vec!["api".into()],
        created_ms: now,
        revoked_before_ms: 0,
    }
}

pub fn ctx(ip: &str, user_agent: &str) -> ClientContext {
    ClientContext {
        ip: ip.into(),
        user_agent: user_agent.into(),
    }
}

/// Returns the login context of sessions built by [`session`].
pub fn login_ctx() -> ClientContext {
    ctx("192.0.2.1", "Mozilla/5.0 (X11; Linux x86_64) test-login")
}

/// Builds a token hash that differs for each `n`.
pub fn hash(n: u8) -> [u8; 32] {
    let mut h = [n; 32];
    h[0] = 0xa5;
    h
}

/// Builds a session of client `web` with token hash `hash(1)`, 30 days absolute
/// and 14 days idle lifetime.
pub fn session(user: &UserRecord, now: i64) -> NewSession {
    NewSession {
        user: user.id,
        id: SessionId::random(),
        client_id: "web".into(),
        scope: "api".into(),
        token_hash: hash(1),
        now_ms: now,
        absolute_expiry_ms: now + 30 * DAY,
        idle_ttl_ms: 14 * DAY,
        context: login_ctx(),
    }
}

/// Builds a request presenting generation `generation` with hash `hash(generation)`
/// and asking for `hash(generation + 1)`, from `context`.
pub fn rotation(
    s: &NewSession,
    generation: u32,
    now: i64,
    context: ClientContext,
) -> RotateRequest {
    let gen_byte = u8::try_from(generation).expect("small generation");
    RotateRequest {
        user: s.user,
        session: s.id,
        client_id: s.client_id.clone(),
        presented_generation: generation,
        presented_hash: hash(gen_byte),
        new_hash: hash(gen_byte + 1),
        sealed_successor: sealed(gen_byte + 1),
        now_ms: now,
        context,
        grace_ms: 10 * SECOND,
        idle_ttl_ms: 14 * DAY,
        max_replays: 3,
    }
}

/// Builds what a rotation to generation `generation` stores as sealed
/// successor (32 bytes, like the server's).
pub fn sealed(generation: u8) -> Vec<u8> {
    let mut bytes = vec![generation; 32];
    bytes[1] = 0;
    bytes
}

pub fn expect_ok<T>(result: StoreResult<T>) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("store call failed: {error}"),
    }
}
