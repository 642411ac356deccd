//! One behaviour suite for every [`Store`]: each test below runs against the
//! in-memory store and against a Redis store on its own `redis-server`
//! (see the `conformance!` list at the end). Redis-only checks (expiry on
//! the server, round trips, outages) follow the suite.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use auth_server::store::memory::MemoryStore;
use auth_server::store::{
    MAX_SESSIONS_PER_USER, RotateOutcome, RotatedSession, SessionId, Store, StoreError, StoredKey,
    UserId,
};
use futures_util::future::join_all;

use common::store::*;

/// What a conformance test needs from a backend.
trait Backend {
    type S: Store;
    fn store(&self) -> &Self::S;
    /// The Redis fixture, for checks of what lands on the server.
    fn redis(&self) -> Option<&RedisFixture> {
        None
    }
}

struct MemoryBackend(MemoryStore);

impl Backend for MemoryBackend {
    type S = MemoryStore;
    fn store(&self) -> &MemoryStore {
        &self.0
    }
}

impl Backend for ClusterFixture {
    type S = auth_server::store::redis::RedisStore;
    fn store(&self) -> &Self::S {
        &self.store
    }
}

impl Backend for RedisFixture {
    type S = auth_server::store::redis::RedisStore;
    fn store(&self) -> &Self::S {
        &self.store
    }
    fn redis(&self) -> Option<&RedisFixture> {
        Some(self)
    }
}

async fn add_user<S: Store>(store: &S, name: &str, now: i64) -> auth_server::store::UserRecord {
    let user = user(name, now);
    assert!(expect_ok(store.create_user(&user).await), "create {name}");
    user
}

async fn login<S: Store>(store: &S, s: &auth_server::store::NewSession) {
    assert!(expect_ok(store.create_session(s).await), "create session");
}

fn rotated(outcome: RotateOutcome) -> RotatedSession {
    match outcome {
        RotateOutcome::Rotated(session) => session,
        other => panic!("expected Rotated, got {other:?}"),
    }
}

async fn is_live<S: Store>(store: &S, s: &auth_server::store::NewSession, now: i64) -> bool {
    expect_ok(store.get_session(&s.user, &s.id, now).await).is_some()
}

// ---------------------------------------------------------------- users

async fn users_are_created_found_and_unique<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;

    let mut twin = user("alice", now);
    twin.password_hash = "other".into();
    assert!(
        !expect_ok(store.create_user(&twin).await),
        "duplicate username is refused"
    );
    assert_eq!(
        expect_ok(store.get_user(&twin.id).await),
        None,
        "loser leaves nothing"
    );

    assert_eq!(
        expect_ok(store.find_user_by_name("alice").await),
        Some(alice.clone())
    );
    assert_eq!(expect_ok(store.get_user(&alice.id).await), Some(alice));
    assert_eq!(expect_ok(store.find_user_by_name("bob").await), None);
    assert_eq!(expect_ok(store.get_user(&UserId::random()).await), None);
}

async fn user_without_scopes_round_trips<B: Backend>(b: &B) {
    let store = b.store();
    let mut carol = user("carol", wall_ms());
    carol.scopes.clear();
    carol.revoked_before_ms = 5;
    assert!(expect_ok(store.create_user(&carol).await));
    assert_eq!(expect_ok(store.get_user(&carol.id).await), Some(carol));
}

async fn granting_a_scope_adds_it_once<B: Backend>(b: &B) {
    let store = b.store();
    let alice = add_user(store, "alice", wall_ms()).await;
    assert!(expect_ok(store.grant_scope(&alice.id, "admin").await));
    assert!(expect_ok(store.grant_scope(&alice.id, "admin").await));
    assert!(expect_ok(store.grant_scope(&alice.id, "api").await));
    let stored = expect_ok(store.get_user(&alice.id).await).expect("user");
    assert_eq!(stored.scopes, ["api", "admin"]);
    assert!(!expect_ok(
        store.grant_scope(&UserId::random(), "admin").await
    ));
}

// ---------------------------------------------------------------- sessions

async fn sessions_are_created_read_listed_and_revoked<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;
    let first = session(&alice, now);
    let mut second = session(&alice, now + 1);
    second.client_id = "cli".into();
    second.context = ctx("2001:db8::7", "curl/8.0");
    login(store, &first).await;
    login(store, &second).await;

    let info = expect_ok(store.get_session(&alice.id, &first.id, now).await).expect("live");
    assert_eq!(info.id, first.id);
    assert_eq!(info.user, alice.id);
    assert_eq!(info.client_id, "web");
    assert_eq!(info.scope, "api");
    assert_eq!(info.generation, 1);
    assert_eq!(info.created_ms, now);
    assert_eq!(info.last_used_ms, now);
    assert_eq!(info.created_context, login_ctx());
    assert_eq!(info.last_context, login_ctx());
    assert_eq!(info.absolute_expiry_ms, first.absolute_expiry_ms);

    let listed = expect_ok(store.list_sessions(&alice.id, now + 2).await);
    let ids: Vec<SessionId> = listed.iter().map(|s| s.id).collect();
    assert_eq!(ids, [first.id, second.id], "listed oldest first");
    assert_eq!(listed[1].created_context, second.context);

    assert!(expect_ok(store.revoke_session(&alice.id, &first.id).await));
    assert!(
        !expect_ok(store.revoke_session(&alice.id, &first.id).await),
        "already gone"
    );
    assert!(!is_live(store, &first, now + 2).await);
    let listed = expect_ok(store.list_sessions(&alice.id, now + 2).await);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, second.id);
    assert_eq!(
        expect_ok(store.get_session(&UserId::random(), &second.id, now).await),
        None
    );
}

async fn sessions_are_refused_for_unknown_users_and_born_dead<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let ghost = user("ghost", now);
    assert!(!expect_ok(
        store.create_session(&session(&ghost, now)).await
    ));

    let alice = add_user(store, "alice", now).await;
    let mut dead = session(&alice, now);
    dead.absolute_expiry_ms = now;
    assert!(
        !expect_ok(store.create_session(&dead).await),
        "absolute expiry in the past"
    );
    assert!(expect_ok(store.list_sessions(&alice.id, now).await).is_empty());
}

async fn revoke_all_deletes_sessions_and_blocks_racing_logins<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;
    let bob = add_user(store, "bob", now).await;
    let sessions = [
        session(&alice, now),
        session(&alice, now),
        session(&alice, now + 5),
    ];
    for s in &sessions {
        login(store, s).await;
    }
    let bobs = session(&bob, now);
    login(store, &bobs).await;

    assert_eq!(expect_ok(store.revoke_all(&alice.id, now + 10).await), 3);
    assert!(expect_ok(store.list_sessions(&alice.id, now + 10).await).is_empty());
    let outcome = expect_ok(
        store
            .rotate(&rotation(&sessions[0], 1, now + 11, login_ctx()))
            .await,
    );
    assert_eq!(outcome, RotateOutcome::Invalid);
    assert!(
        is_live(store, &bobs, now + 11).await,
        "other users keep their sessions"
    );

    let racing = session(&alice, now + 10);
    assert!(
        !expect_ok(store.create_session(&racing).await),
        "login from before the revocation"
    );
    let later = session(&alice, now + 11);
    assert!(expect_ok(store.create_session(&later).await));
    let stored = expect_ok(store.get_user(&alice.id).await).expect("user");
    assert_eq!(stored.revoked_before_ms, now + 10);

    assert_eq!(expect_ok(store.revoke_all(&UserId::random(), now).await), 0);
}

async fn sessions_beyond_the_cap_evict_the_first_to_expire<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;
    let mut sessions = Vec::new();
    for n in 0..MAX_SESSIONS_PER_USER {
        let s = session(&alice, now + i64::try_from(n).expect("small"));
        login(store, &s).await;
        sessions.push(s);
    }
    let cap = i64::try_from(MAX_SESSIONS_PER_USER).expect("small");
    let later = session(&alice, now + cap);
    login(store, &later).await;
    assert!(
        !is_live(store, &sessions[0], now + cap).await,
        "first to expire"
    );
    assert!(is_live(store, &sessions[1], now + cap).await);
    assert!(is_live(store, &later, now + cap).await);

    // A new session that expires first is kept; the next in line goes.
    let mut short = session(&alice, now + cap + 1);
    short.absolute_expiry_ms = now + cap + HOUR;
    login(store, &short).await;
    assert!(is_live(store, &short, now + cap + 1).await);
    assert!(!is_live(store, &sessions[1], now + cap + 1).await);
    let listed = expect_ok(store.list_sessions(&alice.id, now + cap + 1).await);
    assert_eq!(listed.len(), MAX_SESSIONS_PER_USER);
}

// ---------------------------------------------------------------- rotation

async fn current_token_rotates<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;
    let s = session(&alice, now);
    login(store, &s).await;
    let phone = ctx("198.51.100.9", "phone");

    let first = rotated(expect_ok(
        store
            .rotate(&rotation(&s, 1, now + 100, phone.clone()))
            .await,
    ));
    assert_eq!(first.generation, 2);
    assert_eq!(first.scope, "api");
    assert_eq!(first.absolute_expiry_ms, s.absolute_expiry_ms);
    assert_eq!(first.previous_context, login_ctx());

    let info = expect_ok(store.get_session(&alice.id, &s.id, now + 100).await).expect("live");
    assert_eq!(info.generation, 2);
    assert_eq!(info.last_used_ms, now + 100);
    assert_eq!(info.last_context, phone);
    assert_eq!(info.created_context, login_ctx());

    let second = rotated(expect_ok(
        store.rotate(&rotation(&s, 2, now + 200, login_ctx())).await,
    ));
    assert_eq!(second.generation, 3);
    assert_eq!(second.previous_context, phone);
    let info = expect_ok(store.get_session(&alice.id, &s.id, now + 200).await).expect("live");
    assert_eq!(info.last_context, login_ctx(), "back to the login context");
}

/// Logs in, rotates generation 1 to 2 from `by` at `now`, returns the session.
async fn rotated_once<S: Store>(
    store: &S,
    now: i64,
    by: &auth_server::store::ClientContext,
) -> auth_server::store::NewSession {
    let alice = add_user(store, "alice", now).await;
    let s = session(&alice, now);
    login(store, &s).await;
    rotated(expect_ok(
        store.rotate(&rotation(&s, 1, now, by.clone())).await,
    ));
    s
}

async fn previous_token_in_grace_from_same_context_replays<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let tab = ctx("203.0.113.5", "browser tab");
    let s = rotated_once(store, now, &tab).await;

    // A second request with the same token, made before the response to the
    // first arrived, carries its own successor but gets the stored one.
    let mut again = rotation(&s, 1, now + 9 * SECOND, tab.clone());
    again.new_hash = hash(99);
    again.sealed_successor = sealed(99);
    match expect_ok(store.rotate(&again).await) {
        RotateOutcome::Replayed {
            session,
            sealed_successor,
            successor_hash,
        } => {
            assert_eq!(sealed_successor, sealed(2));
            assert_eq!(successor_hash, hash(2), "the current hash comes back");
            assert_eq!(session.generation, 2);
            assert_eq!(session.scope, "api");
            assert_eq!(session.previous_context, tab);
        }
        other => panic!("expected Replayed, got {other:?}"),
    }
    let info = expect_ok(store.get_session(&s.user, &s.id, now + 9 * SECOND).await).expect("live");
    assert_eq!(info.generation, 2, "a replay does not rotate");
    rotated(expect_ok(
        store.rotate(&rotation(&s, 2, now + 10 * SECOND, tab)).await,
    ));
}

async fn expect_reused<S: Store>(
    store: &S,
    s: &auth_server::store::NewSession,
    request: auth_server::store::RotateRequest,
    rotated_by: &auth_server::store::ClientContext,
) {
    let now = request.now_ms;
    let outcome = expect_ok(store.rotate(&request).await);
    let expected = RotateOutcome::Reused {
        rotated_by: rotated_by.clone(),
        client_id: "web".into(),
    };
    assert_eq!(outcome, expected);
    assert!(!is_live(store, s, now).await, "the session is revoked");
    let current = rotation(s, 2, now, rotated_by.clone());
    assert_eq!(
        expect_ok(store.rotate(&current).await),
        RotateOutcome::Invalid
    );
}

async fn previous_token_from_another_ip_is_reuse<B: Backend>(b: &B) {
    let now = wall_ms();
    let tab = ctx("203.0.113.5", "browser tab");
    let s = rotated_once(b.store(), now, &tab).await;
    let thief = ctx("203.0.113.66", "browser tab");
    expect_reused(b.store(), &s, rotation(&s, 1, now + SECOND, thief), &tab).await;
}

async fn previous_token_from_another_user_agent_is_reuse<B: Backend>(b: &B) {
    let now = wall_ms();
    let tab = ctx("203.0.113.5", "browser tab");
    let s = rotated_once(b.store(), now, &tab).await;
    let thief = ctx("203.0.113.5", "python-requests/2.32");
    expect_reused(b.store(), &s, rotation(&s, 1, now + SECOND, thief), &tab).await;
}

async fn previous_token_after_grace_is_reuse<B: Backend>(b: &B) {
    // Redis dates a rotation by its own clock when that is later than the
    // request's time, so the simulated times here lie ahead of the real one.
    let now = wall_ms() + 60 * SECOND;
    let tab = ctx("203.0.113.5", "browser tab");
    let s = rotated_once(b.store(), now, &tab).await;
    expect_reused(
        b.store(),
        &s,
        rotation(&s, 1, now + 10 * SECOND, tab.clone()),
        &tab,
    )
    .await;
}

async fn zero_grace_disables_replays<B: Backend>(b: &B) {
    let now = wall_ms();
    let tab = ctx("203.0.113.5", "browser tab");
    let s = rotated_once(b.store(), now, &tab).await;
    let mut request = rotation(&s, 1, now, tab.clone());
    request.grace_ms = 0;
    expect_reused(b.store(), &s, request, &tab).await;
}

async fn older_generation_is_reuse<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let tab = ctx("203.0.113.5", "browser tab");
    let s = rotated_once(store, now, &tab).await;
    rotated(expect_ok(
        store.rotate(&rotation(&s, 2, now + 1, tab.clone())).await,
    ));
    let outcome = expect_ok(store.rotate(&rotation(&s, 1, now + 2, tab.clone())).await);
    let expected = RotateOutcome::Reused {
        rotated_by: tab,
        client_id: "web".into(),
    };
    assert_eq!(outcome, expected);
    assert!(!is_live(store, &s, now + 2).await);
}

async fn replays_past_the_cap_are_invalid_and_keep_the_session<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let tab = ctx("203.0.113.5", "browser tab");
    let s = rotated_once(store, now, &tab).await;
    let mut replay = rotation(&s, 1, now + 1, tab.clone());
    replay.max_replays = 2;
    for _ in 0..2 {
        let outcome = expect_ok(store.rotate(&replay).await);
        assert!(
            matches!(outcome, RotateOutcome::Replayed { .. }),
            "got {outcome:?}"
        );
    }
    assert_eq!(
        expect_ok(store.rotate(&replay).await),
        RotateOutcome::Invalid
    );
    assert!(is_live(store, &s, now + 1).await);
    rotated(expect_ok(
        store.rotate(&rotation(&s, 2, now + 2, tab)).await,
    ));
}

async fn newer_generation_is_invalid_and_keeps_the_session<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let tab = ctx("203.0.113.5", "browser tab");
    let s = rotated_once(store, now, &tab).await;
    let outcome = expect_ok(store.rotate(&rotation(&s, 3, now + 1, tab.clone())).await);
    assert_eq!(outcome, RotateOutcome::Invalid);
    assert!(is_live(store, &s, now + 1).await);
    rotated(expect_ok(
        store.rotate(&rotation(&s, 2, now + 2, tab)).await,
    ));
}

async fn wrong_hash_is_invalid_and_keeps_the_session<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let tab = ctx("203.0.113.5", "browser tab");
    let s = rotated_once(store, now, &tab).await;

    let mut forged = rotation(&s, 2, now + 1, tab.clone());
    forged.presented_hash[31] ^= 1;
    assert_eq!(
        expect_ok(store.rotate(&forged).await),
        RotateOutcome::Invalid
    );

    let mut forged_previous = rotation(&s, 1, now + 1, ctx("198.51.100.1", "forger"));
    forged_previous.presented_hash[0] ^= 0x80;
    assert_eq!(
        expect_ok(store.rotate(&forged_previous).await),
        RotateOutcome::Invalid
    );

    assert!(is_live(store, &s, now + 1).await);
    rotated(expect_ok(
        store.rotate(&rotation(&s, 2, now + 2, tab)).await,
    ));
}

async fn another_client_changes_nothing<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;
    let s = session(&alice, now);
    login(store, &s).await;
    let mut request = rotation(&s, 1, now + 1, login_ctx());
    request.client_id = "cli".into();
    assert_eq!(
        expect_ok(store.rotate(&request).await),
        RotateOutcome::WrongClient
    );
    let info = expect_ok(store.get_session(&alice.id, &s.id, now + 1).await).expect("live");
    assert_eq!(info.generation, 1);
    rotated(expect_ok(
        store.rotate(&rotation(&s, 1, now + 2, login_ctx())).await,
    ));
}

async fn unknown_session_is_invalid<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;
    let never_stored = session(&alice, now);
    let outcome = expect_ok(
        store
            .rotate(&rotation(&never_stored, 1, now, login_ctx()))
            .await,
    );
    assert_eq!(outcome, RotateOutcome::Invalid);
    let ghost = session(&user("ghost", now), now);
    let outcome = expect_ok(store.rotate(&rotation(&ghost, 1, now, login_ctx())).await);
    assert_eq!(outcome, RotateOutcome::Invalid);
}

async fn absolute_expiry_ends_the_session<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;
    let mut s = session(&alice, now);
    s.absolute_expiry_ms = now + HOUR;
    login(store, &s).await;
    assert!(is_live(store, &s, now + HOUR - 1).await);
    assert!(!is_live(store, &s, now + HOUR).await);
    assert!(expect_ok(store.list_sessions(&alice.id, now + HOUR).await).is_empty());
    let outcome = expect_ok(
        store
            .rotate(&rotation(&s, 1, now + HOUR, login_ctx()))
            .await,
    );
    assert_eq!(outcome, RotateOutcome::Invalid);
    assert!(
        !is_live(store, &s, now).await,
        "an expired session is deleted on use"
    );
}

async fn revoked_before_time_invalidates_older_sessions<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;
    let s = session(&alice, now);
    login(store, &s).await;
    expect_ok(store.revoke_all(&alice.id, now).await);
    let outcome = expect_ok(store.rotate(&rotation(&s, 1, now + 1, login_ctx())).await);
    assert_eq!(outcome, RotateOutcome::Invalid);
    assert!(!expect_ok(
        store.create_session(&session(&alice, now)).await
    ));
}

async fn idle_expiry_slides_but_never_past_absolute<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;
    let idle = 10 * SECOND;
    let mut idle_only = session(&alice, now);
    idle_only.idle_ttl_ms = idle;
    idle_only.absolute_expiry_ms = now + 25 * SECOND;
    let mut sliding = idle_only.clone();
    sliding.id = SessionId::random();
    login(store, &idle_only).await;
    login(store, &sliding).await;
    let redis = b.redis();
    if let Some(redis) = redis {
        let pttl = redis.pttl(&redis.session_key(&alice.id, &sliding.id)).await;
        assert!((idle - 2 * SECOND..=idle).contains(&pttl), "PTTL {pttl}");
    }

    assert!(is_live(store, &idle_only, now + idle - 1).await);
    assert!(
        !is_live(store, &idle_only, now + idle).await,
        "idle expiry without a refresh"
    );

    let mut request = rotation(&sliding, 1, now + 8 * SECOND, login_ctx());
    request.idle_ttl_ms = idle;
    rotated(expect_ok(store.rotate(&request).await));
    assert!(
        is_live(store, &sliding, now + 17 * SECOND).await,
        "the refresh slid the expiry"
    );
    if let Some(redis) = redis {
        let pttl = redis.pttl(&redis.session_key(&alice.id, &sliding.id)).await;
        assert!(
            (idle - 2 * SECOND..=idle).contains(&pttl),
            "slid PTTL {pttl}"
        );
    }

    let mut request = rotation(&sliding, 2, now + 16 * SECOND, login_ctx());
    request.idle_ttl_ms = idle;
    rotated(expect_ok(store.rotate(&request).await));
    assert!(is_live(store, &sliding, now + 25 * SECOND - 1).await);
    assert!(
        !is_live(store, &sliding, now + 25 * SECOND).await,
        "capped at absolute expiry"
    );
    if let Some(redis) = redis {
        // Relative to the request's clock the absolute expiry is 9 s away,
        // less than the 10 s idle lifetime.
        let pttl = redis.pttl(&redis.session_key(&alice.id, &sliding.id)).await;
        assert!(
            (7 * SECOND..=9 * SECOND).contains(&pttl),
            "capped PTTL {pttl}"
        );
    }
}

async fn concurrent_rotations_of_one_token_yield_one_successor<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;
    let s = session(&alice, now);
    login(store, &s).await;

    let requests: Vec<_> = (0..100u8)
        .map(|n| {
            let mut request = rotation(&s, 1, now + 1, login_ctx());
            request.new_hash = hash(100 + n);
            request.sealed_successor = sealed(100 + n);
            request
        })
        .collect();
    let outcomes = join_all(requests.iter().map(|r| store.rotate(r))).await;

    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut successors = Vec::new();
    for outcome in outcomes {
        let kind = match expect_ok(outcome) {
            RotateOutcome::Rotated(_) => "rotated",
            RotateOutcome::Replayed {
                sealed_successor, ..
            } => {
                successors.push(sealed_successor);
                "replayed"
            }
            RotateOutcome::Invalid => "invalid",
            other => panic!("unexpected {other:?}"),
        };
        *counts.entry(kind).or_default() += 1;
    }
    assert_eq!(counts.get("rotated"), Some(&1), "{counts:?}");
    assert_eq!(
        counts.get("replayed"),
        Some(&3),
        "capped replays: {counts:?}"
    );
    successors.dedup();
    assert_eq!(
        successors.len(),
        1,
        "every replay returns the same successor"
    );

    let winner = successors[0][0];
    let info = expect_ok(store.get_session(&alice.id, &s.id, now + 2).await).expect("live");
    assert_eq!(info.generation, 2);
    let mut next = rotation(&s, 2, now + 2, login_ctx());
    next.presented_hash = hash(winner);
    rotated(expect_ok(store.rotate(&next).await));
}

async fn set_password_keeps_only_the_named_session<B: Backend>(b: &B) {
    let store = b.store();
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;
    let sessions = [
        session(&alice, now),
        session(&alice, now),
        session(&alice, now),
    ];
    for s in &sessions {
        login(store, s).await;
    }
    let kept = &sessions[1];
    let revoked = expect_ok(
        store
            .set_password(&alice.id, "new-hash", Some(&kept.id), now)
            .await,
    );
    assert_eq!(revoked, Some(2));

    let stored = expect_ok(store.get_user(&alice.id).await).expect("user");
    assert_eq!(stored.password_hash, "new-hash");
    let listed = expect_ok(store.list_sessions(&alice.id, now + 1).await);
    assert_eq!(listed.iter().map(|s| s.id).collect::<Vec<_>>(), [kept.id]);
    rotated(expect_ok(
        store.rotate(&rotation(kept, 1, now + 1, login_ctx())).await,
    ));
    let outcome = expect_ok(
        store
            .rotate(&rotation(&sessions[0], 1, now + 1, login_ctx()))
            .await,
    );
    assert_eq!(outcome, RotateOutcome::Invalid);
    assert!(
        !expect_ok(store.create_session(&session(&alice, now)).await),
        "racing login"
    );

    let none = expect_ok(store.set_password(&alice.id, "third", None, now + 2).await);
    assert_eq!(none, Some(1));
    assert!(expect_ok(store.list_sessions(&alice.id, now + 2).await).is_empty());
    assert_eq!(
        expect_ok(store.set_password(&UserId::random(), "x", None, now).await),
        None
    );
}

// ---------------------------------------------------------------- keys

fn signing_key(kid: &str) -> StoredKey {
    StoredKey {
        kid: kid.into(),
        alg: "EdDSA".into(),
        sealed_private: vec![0, 10, 13, 32, 255, b'\n', 7],
        created_ms: 1_700_000_000_000,
        activates_ms: 1_700_000_060_000,
        retired_ms: None,
        removes_ms: None,
    }
}

async fn signing_keys_are_put_loaded_and_updated<B: Backend>(b: &B) {
    let store = b.store();
    assert!(expect_ok(store.load_keys().await).is_empty());
    let first = signing_key("k-2024");
    let second = signing_key("k-2025");
    assert!(expect_ok(store.put_key(&first).await));
    assert!(expect_ok(store.put_key(&second).await));
    let mut clash = signing_key("k-2024");
    clash.sealed_private = vec![1, 2, 3];
    assert!(
        !expect_ok(store.put_key(&clash).await),
        "an existing kid is kept"
    );
    assert_eq!(
        expect_ok(store.load_keys().await),
        [first.clone(), second.clone()]
    );

    let mut retired = first.clone();
    retired.activates_ms += 1;
    retired.retired_ms = Some(1_700_000_100_000);
    retired.removes_ms = Some(1_700_000_200_000);
    retired.sealed_private = vec![9];
    assert!(expect_ok(store.update_key(&retired).await));
    let loaded = expect_ok(store.load_keys().await);
    assert_eq!(loaded[0].retired_ms, retired.retired_ms);
    assert_eq!(loaded[0].removes_ms, retired.removes_ms);
    assert_eq!(loaded[0].activates_ms, retired.activates_ms);
    assert_eq!(
        loaded[0].sealed_private, first.sealed_private,
        "only times change"
    );
    assert_eq!(loaded[1], second);
    assert!(!expect_ok(store.update_key(&signing_key("missing")).await));
}

async fn ping_answers<B: Backend>(b: &B) {
    expect_ok(b.store().ping().await);
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test]
                async fn $name() {
                    let backend = super::MemoryBackend(super::MemoryStore::new());
                    super::$name(&backend).await;
                }
            )*
        }

        mod redis_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = super::RedisFixture::start(stringify!($name)).await;
                    super::$name(&backend).await;
                }
            )*
        }

        /// One cluster (six processes) for the whole suite, run in order,
        /// each test under its own key prefix.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn cluster_store_passes_the_suite() {
            let cluster = tests::redis::RedisCluster::start();
            $(
                eprintln!("cluster: {}", stringify!($name));
                $name(&ClusterFixture::connect(&cluster, stringify!($name)).await).await;
            )*
        }
    };
}

conformance!(
    users_are_created_found_and_unique,
    user_without_scopes_round_trips,
    granting_a_scope_adds_it_once,
    sessions_are_created_read_listed_and_revoked,
    sessions_are_refused_for_unknown_users_and_born_dead,
    revoke_all_deletes_sessions_and_blocks_racing_logins,
    sessions_beyond_the_cap_evict_the_first_to_expire,
    current_token_rotates,
    previous_token_in_grace_from_same_context_replays,
    previous_token_from_another_ip_is_reuse,
    previous_token_from_another_user_agent_is_reuse,
    previous_token_after_grace_is_reuse,
    zero_grace_disables_replays,
    older_generation_is_reuse,
    replays_past_the_cap_are_invalid_and_keep_the_session,
    newer_generation_is_invalid_and_keeps_the_session,
    wrong_hash_is_invalid_and_keeps_the_session,
    another_client_changes_nothing,
    unknown_session_is_invalid,
    absolute_expiry_ends_the_session,
    revoked_before_time_invalidates_older_sessions,
    idle_expiry_slides_but_never_past_absolute,
    concurrent_rotations_of_one_token_yield_one_successor,
    set_password_keeps_only_the_named_session,
    signing_keys_are_put_loaded_and_updated,
    ping_answers,
);

// ---------------------------------------------------------------- Redis only

/// Parses `INFO commandstats` into command name → calls.
fn parse_command_calls(info: &str) -> HashMap<String, u64> {
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest.strip_prefix("calls=")?.split(',').next()?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

/// Reads the command counts of the fixture's server.
fn command_calls(fixture: &RedisFixture) -> HashMap<String, u64> {
    let info = fixture.server.cli(&["INFO", "commandstats"]).expect("INFO");
    parse_command_calls(&info)
}

/// Commands the rotation script runs inside Redis, which count in
/// `INFO commandstats` too.
const INSIDE_ROTATION: [&str; 6] = ["hmget", "hget", "hset", "hdel", "pexpire", "time"];

/// Returns the commands whose counts grew, other than `INFO`, replicas'
/// `REPLCONF` acknowledgements and the commands the rotation script runs.
fn sent_commands(
    before: &HashMap<String, u64>,
    after: &HashMap<String, u64>,
) -> Vec<(String, u64)> {
    let mut sent: Vec<(String, u64)> = after
        .iter()
        .filter_map(|(name, calls)| {
            let delta = calls - before.get(name).copied().unwrap_or(0);
            (delta > 0).then(|| (name.clone(), delta))
        })
        .filter(|(name, _)| name != "info" && name != "replconf")
        .filter(|(name, _)| !INSIDE_ROTATION.contains(&name.as_str()))
        .collect();
    sent.sort();
    sent
}

/// A rotation that waited in a stalled Redis runs long after the server
/// sent it, and its caller, which got a timeout, retries with the same
/// token. The grace window counts from when Redis ran the rotation, so the
/// retry replays it instead of revoking the session as reuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_late_rotation_opens_grace_window() {
    let fixture = RedisFixture::start("late_rotation").await;
    let store = &fixture.store;
    let now = wall_ms();
    let alice = add_user(store, "alice", now - 60 * SECOND).await;
    let mut s = session(&alice, now - 60 * SECOND);
    s.now_ms = now - 30 * SECOND;
    login(store, &s).await;

    // Sent 20 s ago, run now: longer ago than the 10 s grace window.
    rotated(expect_ok(
        store
            .rotate(&rotation(&s, 1, now - 20 * SECOND, login_ctx()))
            .await,
    ));
    let retry = expect_ok(store.rotate(&rotation(&s, 1, wall_ms(), login_ctx())).await);
    assert!(
        matches!(retry, RotateOutcome::Replayed { .. }),
        "got {retry:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_rotation_is_one_round_trip() {
    let fixture = RedisFixture::start("one_round_trip").await;
    let store = &fixture.store;
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;
    let s = session(&alice, now);
    login(store, &s).await;
    // Warm up: the first call of a script may load it (NOSCRIPT fallback).
    rotated(expect_ok(
        store.rotate(&rotation(&s, 1, now, login_ctx())).await,
    ));

    let before = command_calls(&fixture);
    rotated(expect_ok(
        store.rotate(&rotation(&s, 2, now + 1, login_ctx())).await,
    ));
    let after = command_calls(&fixture);

    let sent = sent_commands(&before, &after);
    assert_eq!(
        sent,
        [("evalsha".to_owned(), 1)],
        "commands of one rotation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_gives_unavailable_and_recovers_after_restart() {
    let mut fixture = RedisFixture::start("outage").await;
    let now = wall_ms();
    let alice = add_user(&fixture.store, "alice", now).await;
    let s = session(&alice, now);
    login(&fixture.store, &s).await;

    fixture.server.stop();
    let started = Instant::now();
    let outcome = fixture
        .store
        .rotate(&rotation(&s, 1, now + 1, login_ctx()))
        .await;
    assert!(
        matches!(outcome, Err(StoreError::Unavailable(_))),
        "got {outcome:?}"
    );
    assert!(matches!(
        fixture.store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(
        started.elapsed() < TIMEOUT * 3,
        "errors come within the timeout"
    );

    // Data is gone with the restart (no persistence here); what matters is
    // that the same store object works again.
    fixture.server.restart();
    let restarted = Instant::now();
    loop {
        if fixture.store.ping().await.is_ok() {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(2),
            "not back within two seconds"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let outcome = expect_ok(
        fixture
            .store
            .rotate(&rotation(&s, 1, now + 2, login_ctx()))
            .await,
    );
    assert_eq!(
        outcome,
        RotateOutcome::Invalid,
        "a script runs again after the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_slow_server_times_out_as_unavailable() {
    let fixture = RedisFixture::start("slow").await;
    expect_ok(fixture.store.ping().await);
    let pause_ms = 1_500;
    fixture
        .server
        .cli(&["CLIENT", "PAUSE", &pause_ms.to_string(), "ALL"])
        .expect("pause");

    let started = Instant::now();
    let result = fixture.store.get_user(&UserId::random()).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "got {result:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= TIMEOUT && waited < TIMEOUT * 2,
        "waited {waited:?}"
    );

    tokio::time::sleep(Duration::from_millis(pause_ms) - waited + TIMEOUT).await;
    expect_ok(fixture.store.ping().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keys_follow_the_documented_layout() {
    let fixture = RedisFixture::start("layout").await;
    let store = &fixture.store;
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;
    let s = session(&alice, now);
    login(store, &s).await;
    assert!(expect_ok(store.put_key(&signing_key("k1")).await));

    let mut probe = fixture.probe().await;
    let mut keys: Vec<Vec<u8>> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut probe)
        .await
        .expect("KEYS");
    keys.sort();
    let p = &fixture.prefix;
    let uid = alice.id;
    let mut expected = vec![
        fixture.session_key(&uid, &s.id),
        format!("{p}{{{uid}}}:u").into_bytes(),
        format!("{p}keys").into_bytes(),
        format!("{p}n:alice").into_bytes(),
    ];
    expected.sort();
    assert_eq!(keys, expected);

    let user_pttl = fixture.pttl(format!("{p}{{{uid}}}:u").as_bytes()).await;
    assert_eq!(user_pttl, -1, "user records do not expire");
}

/// The memory target: at most 512 bytes of Redis memory per session with a
/// 110-byte user agent, counting the session's own key and its entry in its
/// user's index. Each user has one session, the worst case for the index,
/// and each session is rotated once, so it contains the previous hash and a
/// sealed successor as it does for the rest of its life.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_session_memory_stays_within_budget() {
    let fixture = RedisFixture::start("m").await;
    let store = &fixture.store;
    let now = wall_ms();
    let users = 5000;
    let per_user = 1;
    let agent = format!(
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0 {}",
        "x".repeat(54)
    );
    assert_eq!(agent.len(), 110);

    // The user agent and the token hashes are longer than Redis's default
    // 64-byte listpack limit. Without this setting each session hash becomes
    // a hash table at about twice the memory (`deploy/redis.conf` sets it).
    fixture
        .server
        .cli(&["CONFIG", "SET", "hash-max-listpack-value", "256"])
        .expect("CONFIG");
    // Users as the server writes them: an email address and an argon2id
    // hash in PHC form (the user record's size decides how much its session
    // list adds).
    let phc = format!(
        "$argon2id$v=19$m=19456,t=2,p=1${}${}",
        "s".repeat(22),
        "h".repeat(43)
    );
    let mut owners = Vec::new();
    for n in 0..users {
        let mut owner = user(&format!("user{n:06}@example.com"), now);
        owner.password_hash = phc.clone();
        assert!(
            expect_ok(store.create_user(&owner).await),
            "create user {n}"
        );
        owners.push(owner);
    }
    let used = |fixture: &RedisFixture| {
        let info = fixture.server.cli(&["INFO", "memory"]).expect("INFO");
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .expect("used_memory")
    };
    // Load the scripts and let the connection's buffers settle before the
    // first reading.
    let warm = add_user(store, "warm-up", now).await;
    let mut s = session(&warm, now);
    s.context = ctx("203.0.113.200", &agent);
    login(store, &s).await;
    rotated(expect_ok(
        store
            .rotate(&rotation(&s, 1, now + 1, s.context.clone()))
            .await,
    ));
    let before = used(&fixture);
    for owner in &owners {
        for _ in 0..per_user {
            let mut s = session(owner, now);
            s.context = ctx("203.0.113.200", &agent);
            login(store, &s).await;
            // One rotation from the same place stores the previous hash
            // and a sealed successor, the steady state of a session.
            let request = rotation(&s, 1, now + 1, s.context.clone());
            rotated(expect_ok(store.rotate(&request).await));
        }
    }
    let after = used(&fixture);
    let per_session = (after - before) / (users * per_user);
    eprintln!("Redis memory per session: {per_session} bytes");
    assert!(per_session <= 512, "{per_session} bytes per session");
}

/// Refreshes like a client that retries on `Unavailable`, presenting
/// `generation` until the store responds. A replay hands over the successor
/// of an earlier try, which counts as success unless `need_rotated`, in
/// which case the successor is presented next. Returns the generation the
/// session is at and how many answers were `Unavailable`. Anything but
/// `Rotated`, `Replayed` or `Unavailable` fails the test.
async fn refresh_until<S: Store>(
    store: &S,
    s: &auth_server::store::NewSession,
    mut generation: u32,
    need_rotated: bool,
) -> (u32, u32) {
    let patience = Duration::from_secs(20);
    let started = Instant::now();
    let mut unavailable = 0;
    loop {
        assert!(
            started.elapsed() < patience,
            "no rotation within {patience:?}"
        );
        let now = wall_ms();
        match store
            .rotate(&rotation(s, generation, now, login_ctx()))
            .await
        {
            Ok(RotateOutcome::Rotated(session)) => {
                assert_eq!(session.generation, generation + 1);
                return (session.generation, unavailable);
            }
            Ok(RotateOutcome::Replayed {
                session,
                sealed_successor,
                ..
            }) => {
                // An earlier try rotated; its successor is the new token.
                assert_eq!(
                    sealed_successor,
                    sealed(u8::try_from(session.generation).unwrap_or(0))
                );
                generation = session.generation;
                if !need_rotated {
                    return (generation, unavailable);
                }
                continue;
            }
            Err(StoreError::Unavailable(_)) => unavailable += 1,
            other => panic!("generation {generation}: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Killing the master that serves a user's slot: until its replica takes
/// over, calls fail as unavailable (never as an invalid token, never as
/// reuse), and then the same store object refreshes again. The promoted
/// replica has no replica of its own, so its rotations do not wait for one
/// (a rotation that raced the store's view of the cluster may be reported
/// unavailable, and the client's retry replays it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_failover_gives_unavailable_then_recovers() {
    let mut cluster = tests::redis::RedisCluster::start();
    let fixture = ClusterFixture::connect(&cluster, "failover").await;
    let store = &fixture.store;
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;
    let s = session(&alice, now);
    login(store, &s).await;
    rotated(expect_ok(
        store.rotate(&rotation(&s, 1, now + 1, login_ctx())).await,
    ));

    let master = cluster
        .master_of(&format!("{{{}}}", alice.id))
        .expect("slot owner");
    cluster.nodes_mut()[master].kill();
    let (generation, unavailable) = refresh_until(store, &s, 2, false).await;
    assert!(unavailable > 0, "the kill was noticed");

    cluster.nodes_mut()[master].restart();
    let (generation, _) = refresh_until(store, &s, generation, true).await;
    // The old master rejoining as a replica can make a call time out while
    // the cluster settles, so the read is retried like the rotations.
    let started = Instant::now();
    let info = loop {
        match store.get_session(&alice.id, &s.id, wall_ms()).await {
            Ok(info) => break info.expect("live"),
            Err(StoreError::Unavailable(e)) if started.elapsed() < Duration::from_secs(20) => {
                eprintln!("read after failover: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("read after failover: {e}"),
        }
    };
    assert_eq!(info.generation, generation);
}

/// On a cluster with replicas a rotation counts only once a replica has it,
/// through a `WAIT` in the same pipeline. With the shard's replica down the
/// rotation is reported unavailable. The client's retry with the same token
/// replays it once the replica is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_rotation_needs_a_replica_acknowledgement() {
    let mut cluster = tests::redis::RedisCluster::start();
    let fixture = ClusterFixture::connect(&cluster, "replica_ack").await;
    let store = &fixture.store;
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;
    let s = session(&alice, now);
    login(store, &s).await;
    rotated(expect_ok(
        store.rotate(&rotation(&s, 1, now + 1, login_ctx())).await,
    ));

    let replica = cluster
        .replica_of(&format!("{{{}}}", alice.id))
        .expect("replica");
    cluster.nodes_mut()[replica].stop();
    let result = store.rotate(&rotation(&s, 2, now + 2, login_ctx())).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "got {result:?}"
    );

    cluster.nodes_mut()[replica].restart();
    let started = Instant::now();
    loop {
        match store.rotate(&rotation(&s, 2, now + 3, login_ctx())).await {
            Ok(RotateOutcome::Replayed {
                sealed_successor,
                session,
                ..
            }) => {
                assert_eq!(sealed_successor, sealed(3));
                assert_eq!(session.generation, 3);
                break;
            }
            Err(StoreError::Unavailable(_)) => {}
            other => panic!("after the replica returned: {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "replica never acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// With replica acknowledgements on, a rotation sends the script and one
/// `WAIT`, pipelined, to the master of the user's slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_rotation_sends_script_and_wait() {
    let cluster = tests::redis::RedisCluster::start();
    let fixture = ClusterFixture::connect(&cluster, "cluster_round_trip").await;
    let store = &fixture.store;
    let now = wall_ms();
    let alice = add_user(store, "alice", now).await;
    let s = session(&alice, now);
    login(store, &s).await;
    rotated(expect_ok(
        store.rotate(&rotation(&s, 1, now, login_ctx())).await,
    ));

    let master = cluster
        .master_of(&format!("{{{}}}", alice.id))
        .expect("slot owner");
    let node = &cluster.nodes()[master];
    let before = parse_command_calls(&node.cli(&["INFO", "commandstats"]).expect("INFO"));
    rotated(expect_ok(
        store.rotate(&rotation(&s, 2, now + 1, login_ctx())).await,
    ));
    let after = parse_command_calls(&node.cli(&["INFO", "commandstats"]).expect("INFO"));

    let expected = [("evalsha".to_owned(), 1), ("wait".to_owned(), 1)];
    assert_eq!(sent_commands(&before, &after), expected);
}

/// The Redis password in the store URL appears in no error and no `Debug`
/// output: not on success, not with a wrong password, not in a malformed
/// URL and not in an unreachable cluster URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_password_stays_out_of_messages() {
    use auth_server::store::redis::RedisStore;
    use tests::redis::{RedisOptions, RedisServer};

    let password = "pa55-Word-for-redis";
    let server = RedisServer::start_with(RedisOptions {
        password: Some(password.into()),
        ..RedisOptions::default()
    });
    let store = RedisStore::connect(&server.url(), "pw:", TIMEOUT).await;
    let store = store.expect("connects with the password");
    expect_ok(store.ping().await);
    assert!(!format!("{store:?}").contains(password));

    let port = server.port();
    let urls = [
        format!("redis://:wrong-{password}@127.0.0.1:{port}/0"),
        format!("redis://:{password}@127.0.0.1:{port}"),
        format!("redis://:{password}@127.0.0.1:not-a-port/0"),
        format!("redis+cluster://:{password}@127.0.0.1:{port}"),
        format!("rediss+x://:{password}@127.0.0.1:{port}"),
    ];
    for url in urls {
        match RedisStore::connect(&url, "pw:", TIMEOUT).await {
            Err(StoreError::Unavailable(message)) => {
                assert!(!message.contains(password), "{url}: {message}");
                assert!(!message.contains("pa55"), "{url}: {message}");
            }
            Ok(_) if url.ends_with(&format!("{port}")) => {}
            other => panic!("{url}: unexpected {other:?}"),
        }
    }
}
