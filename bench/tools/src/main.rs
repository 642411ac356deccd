//! Helpers for `bench/run.sh` that link the auth server as a library, so
//! that what they write and time is exactly what the server writes and
//! runs.
//!
//! - `memory`: fills a Redis through the server's own `RedisStore` (users,
//!   one session each, then one rotation each) and reports Redis memory per
//!   session for each `hash-max-listpack-value` asked for.
//! - `hash-time`: times password verifications on a one-thread hashing pool.
//!
//! Only a loopback Redis on a port other than 6379 is accepted: `memory`
//! runs `FLUSHALL` on it.

#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use auth_server::crypto::TokenKeys;
use auth_server::password::PasswordHasherPool;
use auth_server::refresh_token::RefreshToken;
use auth_server::secret::SecretBytes;
use auth_server::store::redis::RedisStore;
use auth_server::store::{
    ClientContext, NewSession, RotateOutcome, RotateRequest, SessionId, Store, UserId, UserRecord,
};
use clap::Parser;
use zeroize::Zeroizing;

const DAY_MS: i64 = 86_400_000;
const PREFIX: &str = "auth:";

#[derive(Parser)]
#[command(name = "bench-tools")]
enum Cli {
    /// Seeds a scratch Redis and reports memory per session.
    Memory(MemoryArgs),
    /// Times password verifications on a one-thread pool.
    HashTime(HashArgs),
}

#[derive(clap::Args)]
struct MemoryArgs {
    /// Scratch Redis, `redis://127.0.0.1:PORT` (emptied with FLUSHALL).
    #[arg(long)]
    redis_url: String,
    /// Sessions to create, one per user.
    #[arg(long, default_value_t = 100_000)]
    sessions: usize,
    /// Length of the user agent stored on each session, in bytes.
    #[arg(long, default_value_t = 110)]
    user_agent_len: usize,
    /// `hash-max-listpack-value` settings to measure, comma-separated.
    #[arg(long, default_value = "64,256")]
    listpack_values: String,
    /// Store calls in flight at once.
    #[arg(long, default_value_t = 64)]
    parallel: usize,
}

#[derive(clap::Args)]
struct HashArgs {
    /// Verifications to time.
    #[arg(long, default_value_t = 40)]
    count: usize,
}

type Result<T> = std::result::Result<T, String>;

fn random_secret() -> Zeroizing<[u8; 32]> {
    Zeroizing::new(auth_server::crypto::random_array::<32>())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn check_scratch_url(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("redis://127.0.0.1:")
        .ok_or("the Redis URL must be redis://127.0.0.1:PORT")?;
    let port: u16 = rest
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or("bad port in the Redis URL")?;
    if port == 6379 {
        return Err("refusing port 6379: use a scratch Redis".into());
    }
    Ok(())
}

/// Builds a browser-like user agent of exactly `len` bytes.
fn user_agent(len: usize) -> String {
    let mut ua = String::from(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
    );
    while ua.len() < len {
        ua.push('x');
    }
    ua.truncate(len);
    ua
}

/// One seeded session and the token that rotates it.
struct Seeded {
    user: UserId,
    session: SessionId,
    token: RefreshToken,
}

struct Seeder {
    store: RedisStore,
    keys: TokenKeys,
    context: ClientContext,
    password_hash: String,
}

impl Seeder {
    async fn user(&self, index: usize) -> Result<UserId> {
        let user = UserRecord {
            id: UserId::random(),
            username: format!("user{index:06}@example.com"),
            password_hash: self.password_hash.clone(),
            scopes: vec!["api".into()],
            created_ms: now_ms(),
            revoked_before_ms: 0,
        };
        match self.store.create_user(&user).await {
            Ok(true) => Ok(user.id),
            Ok(false) => Err("username taken".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn session(&self, user: UserId) -> Result<Seeded> {
        let now = now_ms();
        let session = SessionId::random();
        let token = RefreshToken::mint(&self.keys, user, session, 1);
        let new = NewSession {
            user,
            id: session,
            client_id: "cli".into(),
            scope: "api".into(),
            token_hash: token.hash(&self.keys),
            now_ms: now,
            absolute_expiry_ms: now + 30 * DAY_MS,
            idle_ttl_ms: 14 * DAY_MS,
            context: self.context.clone(),
        };
        match self.store.create_session(&new).await {
            Ok(true) => Ok(Seeded {
                user,
                session,
                token,
            }),
            Ok(false) => Err("session refused".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn rotate(&self, seeded: &Seeded) -> Result<()> {
        let token = &seeded.token;
        let secret = random_secret();
        let successor =
            RefreshToken::from_secret(&self.keys, seeded.user, seeded.session, 2, &secret);
        let request = RotateRequest {
            user: seeded.user,
            session: seeded.session,
            client_id: "cli".into(),
            presented_generation: 1,
            presented_hash: token.hash(&self.keys),
            new_hash: successor.hash(&self.keys),
            sealed_successor: self
                .keys
                .seal_successor(token.expose().as_bytes(), &secret)
                .to_vec(),
            now_ms: now_ms(),
            context: self.context.clone(),
            grace_ms: 10_000,
            idle_ttl_ms: 14 * DAY_MS,
            max_replays: 5,
        };
        match self.store.rotate(&request).await {
            Ok(RotateOutcome::Rotated(_)) => Ok(()),
            Ok(other) => Err(format!("rotation gave {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> Result<i64> {
    // Let the append-only file's buffer drain (appendfsync everysec).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(conn)
        .await
        .map_err(|e| e.to_string())?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "no used_memory in INFO".into())
}

async fn memory_usage(conn: &mut redis::aio::MultiplexedConnection, key: &[u8]) -> Result<i64> {
    redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(key)
        .arg("SAMPLES")
        .arg(0)
        .query_async(conn)
        .await
        .map_err(|e| e.to_string())
}

/// Runs `work(i)` for every `i < count`, `parallel` at a time.
async fn each<T, F, Fut>(
    seeder: &Arc<Seeder>,
    count: usize,
    parallel: usize,
    work: F,
) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(Arc<Seeder>, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<T>> + Send,
{
    let mut lanes = Vec::new();
    for lane in 0..parallel {
        let seeder = seeder.clone();
        let work = work.clone();
        lanes.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for index in (lane..count).step_by(parallel) {
                out.push((index, work(seeder.clone(), index).await?));
            }
            Ok::<_, String>(out)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for lane in lanes {
        all.extend(lane.await.map_err(|e| e.to_string())??);
    }
    all.sort_by_key(|(index, _)| *index);
    Ok(all.into_iter().map(|(_, value)| value).collect())
}

fn session_key(user: &UserId, session: &SessionId) -> Vec<u8> {
    let mut key = format!("{PREFIX}{{{user}}}:s:").into_bytes();
    key.extend_from_slice(&session.0);
    key
}

async fn measure(args: &MemoryArgs, listpack_value: u32, password_hash: &str) -> Result<()> {
    let client = redis::Client::open(args.redis_url.as_str()).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    // FLUSHALL of a large data set takes longer than the client's default
    // response timeout (500 ms).
    conn.set_response_timeout(Duration::from_secs(60));
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("hash-max-listpack-value")
        .arg(listpack_value)
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let store = RedisStore::connect(&args.redis_url, PREFIX, Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    let pepper = SecretBytes::random(32);
    let seeder = Arc::new(Seeder {
        store,
        keys: TokenKeys::derive(&pepper),
        context: ClientContext {
            ip: "198.51.100.23".into(),
            user_agent: user_agent(args.user_agent_len),
        },
        password_hash: password_hash.to_owned(),
    });
    let n = args.sessions;
    let parallel = args.parallel.max(1);
    let started = Instant::now();
    let empty = used_memory(&mut conn).await?;
    let users = Arc::new(each(&seeder, n, parallel, |s, i| async move { s.user(i).await }).await?);
    let with_users = used_memory(&mut conn).await?;
    let ids = users.clone();
    let seeded = Arc::new(
        each(&seeder, n, parallel, move |s, i| {
            let user = ids[i];
            async move { s.session(user).await }
        })
        .await?,
    );
    let fresh = used_memory(&mut conn).await?;
    let list = seeded.clone();
    each(&seeder, n, parallel, move |s, i| {
        let list = list.clone();
        async move { s.rotate(&list[i]).await }
    })
    .await?;
    let rotated = used_memory(&mut conn).await?;

    let first = &seeded[0];
    let session_key = session_key(&first.user, &first.session);
    let sample_session = memory_usage(&mut conn, &session_key).await?;
    let user_key = format!("{PREFIX}{{{}}}:u", first.user);
    let sample_user = memory_usage(&mut conn, user_key.as_bytes()).await?;
    let encoding: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(&session_key)
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let keys: i64 = redis::cmd("DBSIZE")
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;

    let per = |bytes: i64| bytes as f64 / n as f64;
    println!(
        "{{\"hash_max_listpack_value\":{listpack_value},\"sessions\":{n},\"user_agent_len\":{},\
         \"keys\":{keys},\"used_memory\":{{\"empty\":{empty},\"users\":{with_users},\
         \"sessions_fresh\":{fresh},\"sessions_rotated\":{rotated}}},\
         \"per_session_bytes\":{{\"fresh\":{:.0},\"rotated\":{:.0},\
         \"rotated_incl_user\":{:.0},\"user_only\":{:.0}}},\
         \"memory_usage_sample\":{{\"session\":{sample_session},\
         \"user\":{sample_user},\"session_encoding\":\"{encoding}\"}},\"seconds\":{:.1}}}",
        args.user_agent_len,
        per(fresh - with_users),
        per(rotated - with_users),
        per(rotated - empty),
        per(with_users - empty),
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}

async fn memory(args: MemoryArgs) -> Result<()> {
    check_scratch_url(&args.redis_url)?;
    if !(1..=1_000_000).contains(&args.sessions) {
        return Err("--sessions must be 1 to 1000000".into());
    }
    // One real argon2id PHC string, so user records have their real size.
    let pool = PasswordHasherPool::new(1, 4).map_err(|e| e.to_string())?;
    let password_hash = pool
        .hash(Zeroizing::new("bench-password-for-size".to_owned()))
        .await
        .map_err(|e| e.to_string())?;
    for value in args.listpack_values.split(',') {
        let value: u32 = value
            .trim()
            .parse()
            .map_err(|_| "bad --listpack-values".to_owned())?;
        measure(&args, value, &password_hash).await?;
    }
    Ok(())
}

async fn hash_time(args: HashArgs) -> Result<()> {
    let count = args.count.clamp(1, 1000);
    let pool = PasswordHasherPool::new(1, 4).map_err(|e| e.to_string())?;
    let password = "bench-password-for-timing";
    let phc = pool
        .hash(Zeroizing::new(password.to_owned()))
        .await
        .map_err(|e| e.to_string())?;
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let ok = pool
            .verify(Zeroizing::new(password.to_owned()), Some(phc.clone()))
            .await
            .map_err(|e| e.to_string())?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        if !ok {
            return Err("verification failed".into());
        }
    }
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "{{\"count\":{count},\"mean_ms\":{mean:.2},\"median_ms\":{:.2},\"min_ms\":{:.2},\
         \"max_ms\":{:.2},\"rate_per_thread\":{:.1}}}",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        1000.0 / mean
    );
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let result = match Cli::parse() {
        Cli::Memory(args) => memory(args).await,
        Cli::HashTime(args) => hash_time(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench-tools: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
