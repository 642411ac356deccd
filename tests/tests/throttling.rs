//! Login and sign-up throttling: hard limits per (username, IP) and per IP
//! that reject with 429 and `Retry-After`, a growing delay per username instead
//! of a lock, `X-Forwarded-For` believed only from trusted proxies, and a
//! bounded password-hashing pool that sheds logins but not refreshes.

use std::time::{Duration, Instant};

use tests::client::{CLI, User};
use tests::protection::{
    OTHER_ADDRESS, assert_too_many_requests, field, loopback, wait_for_next_event,
};
use tests::{Api, Reply, Stack, StoreKind, on_each_store, random_hex, strong_password};

on_each_store!(
    sixth_failure_gets_429,
    blocked_address_rejects_right_password,
    other_address_logs_in_while_blocked,
    success_resets_address_counter,
    unknown_username_is_blocked_too,
    counters_use_normalized_username,
    address_limit_blocks_all_usernames,
    block_ends_with_window,
    excess_sign_ups_get_429,
    parallel_logins_leave_address_open,
);

/// Sends a login with a password that is certainly wrong.
async fn fail_login(api: &Api, username: &str) -> Reply {
    let wrong = format!("Wrong-{}", random_hex(8));
    api.password_login(CLI, username, &wrong, None).await
}

/// Sends `count` failed logins for `username` and checks each is a plain 400.
async fn fail_logins(api: &Api, username: &str, count: usize) {
    for attempt in 1..=count {
        let reply = fail_login(api, username).await;
        assert_eq!(
            reply.status,
            400,
            "failed login {attempt} of {count}: {}",
            reply.describe()
        );
    }
}

async fn log_in(api: &Api, user: &User) -> Reply {
    api.password_login(CLI, &user.username, &user.password, None)
        .await
}

async fn sixth_failure_gets_429(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    fail_logins(&api, &user.username, 5).await;
    let reply = fail_login(&api, &user.username).await;
    let retry_after = assert_too_many_requests(&reply);
    assert!(
        retry_after <= 900,
        "Retry-After {retry_after} exceeds the 900 s window"
    );
    assert_eq!(
        reply.header("cache-control").as_deref(),
        Some("no-store"),
        "{:?}",
        reply.headers
    );
}

async fn blocked_address_rejects_right_password(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    fail_logins(&api, &user.username, 5).await;
    let reply = log_in(&api, &user).await;
    assert_too_many_requests(&reply);
    assert!(
        reply.json().get("access_token").is_none(),
        "a blocked login got tokens: {}",
        reply.describe()
    );
}

async fn other_address_logs_in_while_blocked(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    fail_logins(&api, &user.username, 5).await;
    assert_too_many_requests(&log_in(&api, &user).await);

    let owner = api.from_address(OTHER_ADDRESS);
    let reply = log_in(&owner, &user).await;
    assert_eq!(
        reply.status,
        200,
        "the owner at another address: {}",
        reply.describe()
    );
    assert_too_many_requests(&log_in(&api, &user).await);
}

async fn success_resets_address_counter(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    fail_logins(&api, &user.username, 4).await;
    let reply = log_in(&api, &user).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());

    // Without the reset, these would be failures 5 to 8 and the next
    // request would be refused.
    fail_logins(&api, &user.username, 4).await;
    let reply = log_in(&api, &user).await;
    assert_eq!(
        reply.status,
        200,
        "the counter was not reset: {}",
        reply.describe()
    );
}

/// Correct logins sent in parallel can exceed the (username, IP) limit
/// while in flight, and the excess gets 429. Those refusals check no
/// password, so they must not pile up on the address counter: afterwards
/// every user from the address still logs in.
async fn parallel_logins_leave_address_open(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (busy, _) = api.new_native_user().await;
    let (other, _) = api.new_native_user().await;

    for batch in 0..6 {
        let replies = futures_util::future::join_all((0..16).map(|_| log_in(&api, &busy))).await;
        for reply in &replies {
            assert!(
                reply.status == 200 || reply.status == 429,
                "batch {batch}: {}",
                reply.describe()
            );
        }
    }

    let reply = log_in(&api, &busy).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    let reply = log_in(&api, &other).await;
    assert_eq!(
        reply.status,
        200,
        "another user from the address: {}",
        reply.describe()
    );
}

async fn unknown_username_is_blocked_too(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let ghost = tests::unique_username("ghost");

    fail_logins(&api, &ghost, 5).await;
    assert_too_many_requests(&fail_login(&api, &ghost).await);
}

async fn counters_use_normalized_username(kind: StoreKind) {
    let stack = Stack::start(kind);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;
    let name = user.username.clone();
    let variants = [
        name.to_uppercase(),
        format!(" {name} "),
        name.clone(),
        // Fullwidth letters fold to ASCII under NFKC.
        fullwidth(&name),
        format!("{}\t", name.to_uppercase()),
    ];

    for variant in &variants {
        let reply = fail_login(&api, variant).await;
        assert_eq!(reply.status, 400, "{variant:?}: {}", reply.describe());
    }
    assert_too_many_requests(&log_in(&api, &user).await);
}

/// `name` with ASCII letters and digits replaced by their fullwidth forms.
fn fullwidth(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

async fn address_limit_blocks_all_usernames(kind: StoreKind) {
    let stack = Stack::start_with(kind, &[("AUTH__THROTTLE__MAX_FAILURES_PER_IP", "3")]);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    for _ in 0..3 {
        let reply = fail_login(&api, &tests::unique_username("spray")).await;
        assert_eq!(reply.status, 400, "{}", reply.describe());
    }
    assert_too_many_requests(&log_in(&api, &user).await);
    assert_too_many_requests(&fail_login(&api, &tests::unique_username("spray")).await);

    let reply = log_in(&api.from_address(OTHER_ADDRESS), &user).await;
    assert_eq!(
        reply.status,
        200,
        "another address is not blocked: {}",
        reply.describe()
    );
}

async fn block_ends_with_window(kind: StoreKind) {
    let stack = Stack::start_with(kind, &[("AUTH__THROTTLE__WINDOW_SECS", "2")]);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    fail_logins(&api, &user.username, 5).await;
    let retry_after = assert_too_many_requests(&log_in(&api, &user).await);
    assert!(
        retry_after <= 2,
        "Retry-After {retry_after} exceeds the window"
    );

    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(300)).await;
    let reply = log_in(&api, &user).await;
    assert_eq!(
        reply.status,
        200,
        "still blocked after Retry-After: {}",
        reply.describe()
    );
}

async fn excess_sign_ups_get_429(kind: StoreKind) {
    let stack = Stack::start_with(kind, &[("AUTH__THROTTLE__SIGNUPS_PER_IP", "3")]);
    let api = stack.api();
    for _ in 0..3 {
        api.new_native_user().await;
    }

    let name = tests::unique_username("late");
    let reply = api.signup(CLI, &name, &strong_password()).await;
    let retry_after = assert_too_many_requests(&reply);
    assert!(retry_after <= 3600, "Retry-After {retry_after}");

    let other = api.from_address(OTHER_ADDRESS);
    let reply = other.signup(CLI, &name, &strong_password()).await;
    assert_eq!(
        reply.status,
        201,
        "another address may sign up: {}",
        reply.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_failures_delay_not_lock() {
    let stack = Stack::start_with(
        StoreKind::Redis,
        &[
            ("AUTH__THROTTLE__USER_FAILURES_BEFORE_DELAY", "2"),
            ("AUTH__THROTTLE__USER_MAX_DELAY_MS", "1000"),
        ],
    );
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    // Failures spread over addresses, two each: no hard limit is reached,
    // but the username collects eight failures.
    for last in 3..=6 {
        fail_logins(&api.from_address(loopback(last)), &user.username, 2).await;
    }

    let owner = api.from_address(loopback(7));
    let started = Instant::now();
    let reply = log_in(&owner, &user).await;
    let elapsed = started.elapsed();
    assert_eq!(
        reply.status,
        200,
        "the owner is locked out: {}",
        reply.describe()
    );
    assert!(
        elapsed >= Duration::from_millis(1000),
        "no delay after eight failures for the username: {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_ignored_by_default() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    fail_logins(&api, &user.username, 5).await;
    for last in 1..=3 {
        let claimed = format!("203.0.113.{last}");
        let request = api
            .post("/token")
            .header("X-Forwarded-For", claimed)
            .form(&[
                ("grant_type", "password"),
                ("username", user.username.as_str()),
                ("password", user.password.as_str()),
                ("client_id", CLI),
            ]);
        assert_too_many_requests(&api.send(request).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxy_forwards_client_address() {
    let stack = Stack::start_with(
        StoreKind::Redis,
        &[("AUTH__HTTP__TRUSTED_PROXIES", "127.0.0.1/32,::1")],
    );
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    for _ in 0..5 {
        let reply = login_via(&api, "198.51.100.7", &user.username, "Wrong-pw-0000").await;
        assert_eq!(reply.status, 400, "{}", reply.describe());
    }
    let blocked = login_via(&api, "198.51.100.7", &user.username, &user.password).await;
    assert_too_many_requests(&blocked);
    let event = wait_for_next_event(&stack.server, "login_throttled", 0).await;
    assert_eq!(field(&event, "ip"), "198.51.100.7", "{event}");

    let other = login_via(&api, "198.51.100.8", &user.username, &user.password).await;
    assert_eq!(
        other.status,
        200,
        "another forwarded client: {}",
        other.describe()
    );

    // Only the right-most untrusted hop counts: a client cannot escape by
    // writing another address to its left.
    let spoofed = login_via(
        &api,
        "192.0.2.99, 198.51.100.7",
        &user.username,
        &user.password,
    )
    .await;
    assert_too_many_requests(&spoofed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_peer_forwarded_for_ignored() {
    let stack = Stack::start_with(
        StoreKind::Redis,
        &[("AUTH__HTTP__TRUSTED_PROXIES", "127.0.0.1")],
    );
    let api = stack.api();
    let (user, _) = api.new_native_user().await;
    let untrusted = api.from_address(OTHER_ADDRESS);

    for last in 1..=5 {
        let claimed = format!("198.51.100.{last}");
        let reply = login_via(&untrusted, &claimed, &user.username, "Wrong-pw-0000").await;
        assert_eq!(reply.status, 400, "{}", reply.describe());
    }
    let reply = login_via(&untrusted, "198.51.100.9", &user.username, &user.password).await;
    assert_too_many_requests(&reply);
}

/// Sends a `cli` login that claims, through `X-Forwarded-For`, to come
/// from `forwarded_for`.
async fn login_via(api: &Api, forwarded_for: &str, username: &str, password: &str) -> Reply {
    api.remember(password);
    let request = api
        .post("/token")
        .header("X-Forwarded-For", forwarded_for)
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
            ("client_id", CLI),
        ]);
    api.send(request).await
}

/// With one hashing thread and a queue of one, a flood of logins gets some
/// 503s, and refreshes sent during the flood still succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn login_flood_spares_refreshes() {
    let stack = Stack::start_with(
        StoreKind::Redis,
        &[
            ("AUTH__SECURITY__PASSWORD_HASH_THREADS", "1"),
            ("AUTH__SECURITY__PASSWORD_HASH_QUEUE", "1"),
            // Attempts in flight count against the throttle, so the limits
            // are raised to let this test reach the hashing pool.
            ("AUTH__THROTTLE__MAX_FAILURES_PER_USER_IP", "10000"),
            ("AUTH__THROTTLE__MAX_FAILURES_PER_IP", "100000"),
        ],
    );
    let api = stack.api();
    let (user, tokens) = api.new_native_user().await;

    let deadline = Instant::now() + Duration::from_secs(3);
    let flood: Vec<_> = (0..20)
        .map(|_| {
            let api = api.clone();
            let user = user.clone();
            tokio::spawn(async move { flood_logins(&api, &user, deadline).await })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut refresh = tokens.refresh();
    let mut refreshes = 0;
    while Instant::now() + Duration::from_millis(500) < deadline && refreshes < 10 {
        let reply = api.refresh_native(&refresh).await;
        assert_eq!(
            reply.status,
            200,
            "a refresh during the flood: {}",
            reply.describe()
        );
        refresh = reply.tokens().refresh();
        refreshes += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut statuses = Vec::new();
    for task in flood {
        statuses.extend(task.await.expect("a flood task"));
    }
    let shed: Vec<&Reply> = statuses.iter().filter(|r| r.status == 503).collect();
    assert!(
        refreshes >= 3,
        "only {refreshes} refreshes during the flood"
    );
    assert!(
        !shed.is_empty(),
        "no 503 among {} logins with one hashing thread",
        statuses.len()
    );
    for reply in &shed {
        assert_eq!(
            reply.error().as_deref(),
            Some("temporarily_unavailable"),
            "{}",
            reply.describe()
        );
        assert!(
            reply.header("retry-after").is_some(),
            "a 503 without Retry-After"
        );
    }
    let unexpected: Vec<String> = statuses
        .iter()
        .filter(|r| r.status != 200 && r.status != 503)
        .map(Reply::describe)
        .collect();
    assert!(unexpected.is_empty(), "other responses: {unexpected:?}");
}

/// Logs `user` in over and over until `deadline` (at most 40 times) and
/// returns every response.
async fn flood_logins(api: &Api, user: &User, deadline: Instant) -> Vec<Reply> {
    let mut replies = Vec::new();
    while Instant::now() < deadline && replies.len() < 40 {
        replies.push(log_in(api, user).await);
    }
    replies
}

/// Guesses sent at the same moment must not slip past the limit: a limit
/// that holds only for requests in sequence does not slow an attacker who
/// sends in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_respect_limit() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    let guesses: Vec<_> = (0..30)
        .map(|_| {
            let api = api.clone();
            let username = user.username.clone();
            tokio::spawn(async move { fail_login(&api, &username).await })
        })
        .collect();
    let mut checked = 0;
    for guess in guesses {
        let reply = guess.await.expect("a guess task");
        match reply.status {
            400 => checked += 1,
            429 => {}
            _ => panic!("unexpected response: {}", reply.describe()),
        }
    }
    assert!(
        checked <= 5,
        "{checked} of 30 parallel wrong passwords were checked; the limit is 5"
    );
}

/// One IPv6 client usually holds a whole /64, so a limit per single IPv6
/// address does not slow an attacker: addresses of one /64 must share the counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_network_shares_one_limit() {
    let stack = Stack::start_with(
        StoreKind::Redis,
        &[("AUTH__HTTP__TRUSTED_PROXIES", "127.0.0.1")],
    );
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    for last in 1..=5 {
        let client = format!("2001:db8:1:2::{last:x}");
        let reply = login_via(&api, &client, &user.username, "Wrong-pw-0000").await;
        assert_eq!(reply.status, 400, "{}", reply.describe());
    }
    let reply = login_via(&api, "2001:db8:1:2::99", &user.username, &user.password).await;
    assert_too_many_requests(&reply);
}
