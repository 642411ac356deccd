//! Faults under refresh traffic: Redis killed with SIGKILL and restarted
//! from its append-only file, the server killed with SIGKILL and restarted,
//! and a Redis that stops responding for a while (`CLIENT PAUSE`,
//! `DEBUG SLEEP`). Sessions must come through each of them usable and never
//! revoked as reuse.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tests::client::CLI;
use tests::cookie::REFRESH_COOKIE;
use tests::protection::{events_named, live_session_ids};
use tests::redis::{RedisOptions, RedisServer};
use tests::traffic::{RefreshChain, Traffic, TrafficLimits};
use tests::{
    Api, AuthServer, Reply, ServerOptions, Store, assert_clean_error, strong_password,
    unique_username,
};

/// Sessions driven by refresh traffic in the crash tests.
const SESSIONS: usize = 16;

/// The maximum grace window, in seconds. A retried refresh counts as a
/// replay only inside it, and a restart on a busy machine must not turn the
/// retry of a request lost in the crash into reuse.
const GRACE: (&str, &str) = ("AUTH__TOKENS__REUSE_GRACE_SECS", "60");

/// The rule under test: with `appendfsync everysec`, every rotation
/// acknowledged more than this long before Redis crashes survives the crash.
const DURABLE_AFTER: Duration = Duration::from_secs(1);

/// How long the quiet half of the sessions sends nothing before Redis is
/// killed, so they fall clearly outside the last second.
const QUIET_BEFORE_KILL: Duration = Duration::from_millis(1_500);

/// Maximum wait for refresh tasks to end, and for a restarted Redis or
/// server to be ready.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Store timeout of the slow-Redis tests, in milliseconds.
const STORE_TIMEOUT_MS: u64 = 500;

/// How long Redis stops responding in the slow-Redis tests. It is eight
/// store timeouts, so every response is due well before Redis resumes. It
/// is also twice [`STALL_GRACE_SECS`]. A rotation sent during the stall
/// runs when Redis resumes, and the client's retry must replay it although
/// the request was sent longer ago than the grace window.
const STALL: Duration = Duration::from_secs(4);

/// Grace window of the slow-Redis tests, shorter than [`STALL`].
const STALL_GRACE_SECS: &str = "2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crash_keeps_older_rotations() {
    let started = Instant::now();
    let mut redis = RedisServer::start_with(RedisOptions {
        appendonly: true,
        ..RedisOptions::default()
    });
    let mut server =
        AuthServer::start(ServerOptions::new(Store::Redis(&redis)).env(GRACE.0, GRACE.1));
    let pid = server.pid().expect("the server runs");
    let api = Api::new(&server);
    let (user, _) = api.new_native_user().await;
    let mut chains = RefreshChain::log_in_many(&api, &user, SESSIONS).await;
    let busy = chains.split_off(SESSIONS / 2);
    let quiet = Traffic::start(&api, chains, TrafficLimits::default());
    let busy = Traffic::start(&api, busy, TrafficLimits::default());

    // Both halves rotate for a while, then the quiet half stops well before
    // the kill and the busy half keeps going up to it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    quiet.stop();
    let quiet = quiet.join(SETTLE_TIMEOUT).await;
    tokio::time::sleep(QUIET_BEFORE_KILL).await;
    let killed_at = Instant::now();
    redis.kill();
    let busy = busy.join(SETTLE_TIMEOUT).await;

    for chain in &quiet {
        assert!(chain.rotations > 0, "session {} never rotated", chain.index);
        assert!(
            chain.failure.is_none(),
            "session {} failed before the kill: {:?}",
            chain.index,
            chain.failure
        );
        assert!(
            killed_at.duration_since(chain.acknowledged_at) > DURABLE_AFTER,
            "session {} was quiet for less than {DURABLE_AFTER:?} before the kill",
            chain.index
        );
    }
    for chain in &busy {
        let status = chain.failure.as_ref().and_then(|f| f.status);
        assert_eq!(
            status,
            Some(503),
            "session {}: the request that met the dead Redis: {:?}",
            chain.index,
            chain.failure
        );
    }

    redis.restart();
    wait_until_ready(&api).await;

    let mut lost = 0;
    for chain in quiet.iter().chain(&busy) {
        if check_after_redis_crash(&api, &redis, chain, killed_at).await {
            lost += 1;
        }
    }

    let log = server.log_text();
    assert_no_reuse_or_panic(&log);
    assert_eq!(server.pid(), Some(pid), "the server restarted or exited");
    let rotations: u32 = quiet.iter().chain(&busy).map(|c| c.rotations).sum();
    eprintln!(
        "{SESSIONS} sessions, {rotations} rotations before the kill, {lost} latest \
         rotation(s) lost, {} grace replay(s); took {:?}",
        events_named(&log, "refresh_replayed").len(),
        started.elapsed()
    );
}

/// Checks one session after Redis came back from its append-only file, and
/// returns whether Redis lost its latest rotation.
///
/// The session must refresh with the newest token its client received. Only a
/// rotation acknowledged within [`DURABLE_AFTER`] of the kill may be lost.
/// Then the newest token is `invalid_grant` (it is newer than what Redis
/// stores), but the session must still be live, not revoked as reuse.
///
/// NOTE: SIGKILL ends Redis but not the operating system, whose page cache
/// keeps every AOF write Redis made. Redis writes the AOF before it replies,
/// unless a background fsync is still running, in which case it postpones
/// the write for up to 2 s (`flushAppendOnlyFile` in Redis's `src/aof.c`).
/// So the branch for a lost rotation seldom runs here. Losing the page cache
/// too would take a crash of the whole machine.
async fn check_after_redis_crash(
    api: &Api,
    redis: &RedisServer,
    chain: &RefreshChain,
    killed_at: Instant,
) -> bool {
    let age = killed_at.saturating_duration_since(chain.acknowledged_at);
    let reply = api.refresh_native(&chain.latest).await;
    if reply.status == 200 {
        let next = api.refresh_native(&reply.tokens().refresh()).await;
        assert_eq!(
            next.status,
            200,
            "session {}: the chain broke one step after the crash: {}",
            chain.index,
            next.describe()
        );
        return false;
    }

    assert!(
        age <= DURABLE_AFTER,
        "session {}: a rotation acknowledged {age:?} before the kill was lost: {}\n\
         Redis log lines about fsync:\n{}",
        chain.index,
        reply.describe(),
        fsync_lines(redis)
    );
    assert_eq!(
        assert_clean_error(&reply),
        "invalid_grant",
        "session {}",
        chain.index
    );
    let live = live_session_ids(api, &chain.access_token).await;
    assert!(
        live.contains(&chain.session_id),
        "session {} was revoked after Redis lost its latest rotation",
        chain.index
    );
    // Redis stores an older generation, so the previous token may rotate
    // normally. Short of a new login, it is the client's only way back.
    if let Some(previous) = &chain.previous {
        let reply = api.refresh_native(previous).await;
        eprintln!(
            "session {}: previous token after the lost rotation: status {}",
            chain.index, reply.status
        );
    }
    true
}

/// Returns the lines of the Redis log that report a slow fsync, the one
/// documented way for `everysec` to lose more than a second of writes.
fn fsync_lines(redis: &RedisServer) -> String {
    redis
        .log_text()
        .lines()
        .filter(|line| line.to_lowercase().contains("fsync"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_crash_leaves_sessions_usable() {
    let started = Instant::now();
    let redis = RedisServer::start();
    let mut server =
        AuthServer::start(ServerOptions::new(Store::Redis(&redis)).env(GRACE.0, GRACE.1));
    let api = Api::new(&server);
    let (user, _) = api.new_native_user().await;
    let chains = RefreshChain::log_in_many(&api, &user, SESSIONS).await;
    let traffic = Traffic::start(&api, chains, TrafficLimits::default());

    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let old_pid = server.pid().expect("the server runs");
    server.kill();
    traffic.stop();
    let chains = traffic.join(SETTLE_TIMEOUT).await;
    for chain in &chains {
        assert!(chain.rotations > 0, "session {} never rotated", chain.index);
        if let Some(failure) = &chain.failure {
            assert_eq!(
                failure.status, None,
                "session {}: a response other than 200 before the kill: {}",
                chain.index, failure.description
            );
        }
    }

    server.restart();
    assert_ne!(server.pid(), Some(old_pid), "the old process still runs");
    wait_until_ready(&api).await;

    // A request in flight at the kill may have rotated the session in Redis
    // without the client hearing of it. Sending the same token again is
    // then a grace replay, which returns the successor Redis stored.
    for chain in &chains {
        let context = if chain.lost_a_response() {
            "its last request got no response"
        } else {
            "it had no request in flight"
        };
        let reply = api.refresh_native(&chain.latest).await;
        assert_eq!(
            reply.status,
            200,
            "session {} ({context}): the newest token the client received does not refresh \
             after the restart: {}",
            chain.index,
            reply.describe()
        );
        let next = api.refresh_native(&reply.tokens().refresh()).await;
        assert_eq!(
            next.status,
            200,
            "session {} ({context}): the chain broke one step after the restart: {}",
            chain.index,
            next.describe()
        );
    }

    let log = server.log_text();
    assert_no_reuse_or_panic(&log);
    let without_response = chains.iter().filter(|c| c.lost_a_response()).count();
    let rotations: u32 = chains.iter().map(|c| c.rotations).sum();
    eprintln!(
        "{SESSIONS} sessions, {rotations} rotations before the kill, {without_response} request(s) \
         without a response, {} grace replay(s) after the restart; took {:?}",
        events_named(&log, "refresh_replayed").len(),
        started.elapsed()
    );
}

/// How a test makes Redis stop responding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stall {
    /// `CLIENT PAUSE ms ALL`: Redis delays every client command until the
    /// pause ends.
    ClientPause,
    /// `DEBUG SLEEP seconds`: Redis blocks its event loop entirely.
    DebugSleep,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_redis_gets_503_then_recovers() {
    slow_redis_gets_503_then_recovers(Stall::ClientPause).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeping_redis_gets_503_then_recovers() {
    slow_redis_gets_503_then_recovers(Stall::DebugSleep).await;
}

/// A response to a request sent while Redis was stalled.
struct StalledResponse {
    case: &'static str,
    reply: Reply,
    /// Whether Redis had resumed when the response arrived.
    after_resume: bool,
    waited: Duration,
}

async fn slow_redis_gets_503_then_recovers(stall: Stall) {
    let started = Instant::now();
    let redis = Arc::new(RedisServer::start_with(RedisOptions {
        enable_debug: stall == Stall::DebugSleep,
        ..RedisOptions::default()
    }));
    let timeout = STORE_TIMEOUT_MS.to_string();
    let options = ServerOptions::new(Store::Redis(&redis))
        .env("AUTH__STORE__TIMEOUT_MS", &timeout)
        .env(GRACE.0, STALL_GRACE_SECS);
    let mut server = AuthServer::start(options);
    let pid = server.pid().expect("the server runs");
    let api = Api::new(&server);
    let (user, tokens) = api.new_native_user().await;
    let (_, mut browser) = api.new_browser_user().await;
    // One rotation each before the stall, so Redis has the rotation script
    // cached and can run a rotation that was sent during the stall.
    let warm_up = api.refresh_native(&tokens.refresh()).await;
    assert_eq!(warm_up.status, 200, "{}", warm_up.describe());
    let native = warm_up.tokens().refresh();
    let warm_up = api.refresh_browser(&browser).await;
    assert_eq!(warm_up.status, 200, "{}", warm_up.describe());
    browser.update(&warm_up);

    let (new_name, new_password) = (unique_username("stall"), strong_password());

    let resumed = Arc::new(AtomicBool::new(false));
    let witness = start_stall(&redis, stall, Arc::clone(&resumed));
    let (refresh, browser_refresh, login, signup) = tokio::join!(
        send_during_stall(&resumed, "refresh", api.refresh_native(&native)),
        send_during_stall(&resumed, "browser refresh", api.refresh_browser(&browser)),
        send_during_stall(
            &resumed,
            "login",
            api.password_login(CLI, &user.username, &user.password, None)
        ),
        send_during_stall(
            &resumed,
            "sign-up",
            api.signup(CLI, &new_name, &new_password)
        ),
    );
    for response in [&refresh, &browser_refresh, &login, &signup] {
        assert_unavailable_before_resume(response, stall);
    }
    let resumed_reply = tokio::time::timeout(SETTLE_TIMEOUT, witness)
        .await
        .unwrap_or_else(|_| panic!("{stall:?}: Redis did not resume within {SETTLE_TIMEOUT:?}"))
        .expect("the stall task");
    if let Err(error) = resumed_reply {
        panic!("{stall:?}: redis-cli failed: {error}");
    }

    // The same server, without a restart, serves every request again, and
    // retrying a refresh that timed out continues the chain (as a replay
    // when Redis ran the rotation after it resumed).
    wait_until_ready(&api).await;
    let retry = api.refresh_native(&native).await;
    assert_eq!(
        retry.status,
        200,
        "{stall:?}: retrying the refresh that timed out: {}",
        retry.describe()
    );
    let next = api.refresh_native(&retry.tokens().refresh()).await;
    assert_eq!(
        next.status,
        200,
        "{stall:?}: the chain after the retry: {}",
        next.describe()
    );
    let browser_retry = api.refresh_browser(&browser).await;
    assert_eq!(
        browser_retry.status,
        200,
        "{stall:?}: retrying the browser refresh that timed out: {}",
        browser_retry.describe()
    );
    let relogin = api
        .password_login(CLI, &user.username, &user.password, None)
        .await;
    assert_eq!(
        relogin.status,
        200,
        "{stall:?}: login after the stall: {}",
        relogin.describe()
    );
    api.new_native_user().await;

    assert_eq!(server.pid(), Some(pid), "the server restarted or exited");
    let log = server.log_text();
    assert_no_reuse_or_panic(&log);
    eprintln!(
        "{stall:?}: 503 after {:?} (refresh), {:?} (browser refresh), {:?} (login), \
         {:?} (sign-up) with a {STORE_TIMEOUT_MS} ms store timeout and a {STALL:?} stall; \
         {} grace replay(s) on retry; took {:?}",
        refresh.waited,
        browser_refresh.waited,
        login.waited,
        signup.waited,
        events_named(&log, "refresh_replayed").len(),
        started.elapsed()
    );
}

/// Makes Redis stop responding for [`STALL`] and returns once it has. The
/// returned task ends when Redis responds again, and sets `resumed` then.
fn start_stall(
    redis: &Arc<RedisServer>,
    stall: Stall,
    resumed: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Result<String, String>> {
    let args: Vec<String> = match stall {
        // The pause starts before CLIENT PAUSE returns, so the PING after it
        // waits for the pause to end.
        Stall::ClientPause => {
            let pause_ms = STALL.as_millis().to_string();
            redis
                .cli(&["CLIENT", "PAUSE", &pause_ms, "ALL"])
                .expect("CLIENT PAUSE");
            vec!["PING".into()]
        }
        // DEBUG SLEEP itself returns when Redis wakes up.
        Stall::DebugSleep => {
            let seconds = format!("{:.3}", STALL.as_secs_f64());
            vec!["DEBUG".into(), "SLEEP".into(), seconds]
        }
    };
    let witness_redis = Arc::clone(redis);
    let witness = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let reply = witness_redis.cli(&args);
        resumed.store(true, Ordering::SeqCst);
        reply
    });

    let deadline = Instant::now() + Duration::from_secs(5);
    while redis.replies_to_ping_within(Duration::from_millis(200)) {
        assert!(
            Instant::now() < deadline,
            "{stall:?}: Redis still replied to PING 5 s after the stall began"
        );
    }
    witness
}

/// Sends `request` and notes whether Redis had resumed when the response
/// arrived.
async fn send_during_stall(
    resumed: &AtomicBool,
    case: &'static str,
    request: impl Future<Output = Reply>,
) -> StalledResponse {
    let sent = Instant::now();
    let reply = request.await;
    StalledResponse {
        case,
        after_resume: resumed.load(Ordering::SeqCst),
        waited: sent.elapsed(),
        reply,
    }
}

fn assert_unavailable_before_resume(response: &StalledResponse, stall: Stall) {
    let (case, reply) = (response.case, &response.reply);
    assert_eq!(reply.status, 503, "{stall:?}, {case}: {}", reply.describe());
    assert_eq!(
        assert_clean_error(reply),
        "temporarily_unavailable",
        "{stall:?}, {case}"
    );
    let retry_after = reply.header("retry-after").unwrap_or_default();
    let seconds: u64 = retry_after.parse().unwrap_or_else(|_| {
        panic!("{stall:?}, {case}: Retry-After is not a number of seconds: {retry_after:?}")
    });
    assert!(seconds > 0, "{stall:?}, {case}: Retry-After {seconds}");
    assert!(
        !response.after_resume,
        "{stall:?}, {case}: the 503 came only after Redis resumed ({:?} after the request), \
         not at the store timeout",
        response.waited
    );
    let deleted = reply.set_cookies().iter().any(|c| c.name == REFRESH_COOKIE);
    assert!(
        !deleted,
        "{stall:?}, {case}: a stalled store touched the refresh cookie"
    );
}

/// Waits until `/readyz` returns 200, which needs a working store
/// connection. Panics after [`SETTLE_TIMEOUT`].
async fn wait_until_ready(api: &Api) {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let reply = api.try_send(api.get("/readyz")).await;
        match reply {
            Ok(reply) if reply.status == 200 => return,
            Ok(reply) if Instant::now() > deadline => {
                panic!("not ready within {SETTLE_TIMEOUT:?}: {}", reply.describe())
            }
            Err(error) if Instant::now() > deadline => {
                panic!("not ready within {SETTLE_TIMEOUT:?}: {error}")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Asserts that the server log shows no session revoked as reuse and no
/// panic.
fn assert_no_reuse_or_panic(log: &str) {
    let reuse = events_named(log, "refresh_reuse");
    assert!(reuse.is_empty(), "sessions revoked as reuse: {reuse:?}");
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
}
