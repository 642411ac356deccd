//! JWKS cache behaviour against a real HTTP server on 127.0.0.1 that the
//! test controls: start-up fetch, unknown-kid refetch and its cooldown,
//! outages with stale keys, timeouts, oversized bodies and rotation.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::JwksServer;
use common::*;
use resource_guard::jwks::FetchFailure;
use resource_guard::{ConfigError, ErrorKind, JwksCache, KeySource, ManualClock, Validator};
use serde_json::json;

struct Fixture {
    server: JwksServer,
    clock: Arc<ManualClock>,
    cache: Arc<JwksCache>,
    validator: Validator,
}

async fn fixture(
    keys: &[&TestKey],
    tune: impl FnOnce(resource_guard::JwksCacheBuilder) -> resource_guard::JwksCacheBuilder,
) -> Fixture {
    let server = JwksServer::start(&jwks(keys)).await;
    let clock = Arc::new(ManualClock::new(NOW));
    let cache = tune(JwksCache::builder(server.url()).clock(clock.clone()))
        .start()
        .unwrap();
    let validator = Validator::builder(ISSUER)
        .audience(AUDIENCE)
        .key_source(cache.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    Fixture {
        server,
        clock,
        cache,
        validator,
    }
}

fn token_at(key: &TestKey, clock: &ManualClock) -> String {
    use resource_guard::Clock;
    let now = clock.now_secs();
    key.token(&json!({
        "iss": ISSUER, "sub": "u", "aud": AUDIENCE, "exp": now + 600, "iat": now,
        "jti": "j", "client_id": "c", "scope": "s",
    }))
}

#[tokio::test]
async fn keys_are_fetched_at_start_up() {
    let k1 = TestKey::ed25519("k1");
    let f = fixture(&[&k1], |b| b).await;
    assert!(f.cache.wait_until_loaded(Duration::from_secs(5)).await);
    assert_eq!(f.server.hits(), 1);
    f.validator.validate(&token_at(&k1, &f.clock)).unwrap();
    let stats = f.cache.stats();
    assert_eq!((stats.fetches, stats.failures, stats.key_count), (1, 0, 1));
}

#[tokio::test]
async fn default_source_uses_the_issuers_well_known_jwks() {
    let k1 = TestKey::ed25519("k1");
    let server = JwksServer::start(&jwks(&[&k1])).await;
    let issuer = server.issuer();
    let validator = Validator::builder(&issuer)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let now = resource_guard::Clock::now_secs(&resource_guard::SystemClock);
    let mut c = claims();
    c["iss"] = json!(issuer);
    c["exp"] = json!(now + 60);
    c["iat"] = json!(now);
    let token = k1.token(&c);
    // Until the first fetch completes the error is "no keys", never a 401.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match validator.validate(&token) {
            Ok(claims) => break assert_eq!(claims.sub, "user-1"),
            Err(e) if e.kind() == ErrorKind::KeysUnavailable && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn unknown_kid_refetches_once_and_then_validates() {
    let k1 = TestKey::ed25519("k1");
    let k2 = TestKey::es256("k2");
    let f = fixture(&[&k1], |b| b).await;
    assert!(f.cache.wait_until_loaded(Duration::from_secs(5)).await);
    f.server.set_jwks(&jwks(&[&k1, &k2]));
    f.clock.advance(Duration::from_secs(31));

    let claims = f
        .validator
        .validate_async(&token_at(&k2, &f.clock))
        .await
        .unwrap();
    assert_eq!(claims.sub, "u");
    assert_eq!(f.server.hits(), 2);
    assert_eq!(f.cache.stats().unknown_kid_fetches, 1);
}

#[tokio::test]
async fn random_kid_flood_fetches_once_per_cooldown() {
    let k1 = TestKey::ed25519("k1");
    let f = fixture(&[&k1], |b| b).await;
    assert!(f.cache.wait_until_loaded(Duration::from_secs(5)).await);
    let strangers: Vec<String> = (0..200)
        .map(|i| TestKey::ed25519(&format!("random-{i}")))
        .map(|k| token_at(&k, &f.clock))
        .collect();

    // Within the cooldown of the start-up fetch: no fetch at all.
    flood(&f.validator, &strangers).await;
    assert_eq!(f.server.hits(), 1);

    // After the cooldown: the flood shares exactly one fetch.
    f.clock.advance(Duration::from_secs(31));
    flood(&f.validator, &strangers).await;
    assert_eq!(f.server.hits(), 2);
    f.clock.advance(Duration::from_secs(20));
    flood(&f.validator, &strangers).await;
    assert_eq!(f.server.hits(), 2);
    f.clock.advance(Duration::from_secs(11));
    flood(&f.validator, &strangers).await;
    assert_eq!(f.server.hits(), 3);
    assert_eq!(f.cache.stats().unknown_kid_fetches, 2);
}

async fn flood(validator: &Validator, tokens: &[String]) {
    let tasks: Vec<_> = tokens
        .iter()
        .cloned()
        .map(|t| {
            let v = validator.clone();
            tokio::spawn(async move { v.validate_async(&t).await.unwrap_err().kind() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), ErrorKind::UnknownKey);
    }
    for t in tokens {
        assert_eq!(
            validator.validate(t).unwrap_err().kind(),
            ErrorKind::UnknownKey
        );
    }
    // Let any fetch the flood started finish before counting.
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn outage_keeps_stale_keys_until_max_staleness() {
    let k1 = TestKey::ed25519("k1");
    let f = fixture(&[&k1], |b| b.max_staleness(Duration::from_secs(3600))).await;
    assert!(f.cache.wait_until_loaded(Duration::from_secs(5)).await);

    f.server.set(|b| b.status = 500);
    f.clock.advance(Duration::from_secs(1800));
    f.cache.refresh_now().await;
    let stats = f.cache.stats();
    assert_eq!((stats.failures, stats.consecutive_failures), (1, 1));
    assert_eq!(stats.last_failure, Some(FetchFailure::Status));
    f.validator.validate(&token_at(&k1, &f.clock)).unwrap();

    f.clock.advance(Duration::from_secs(1801));
    let err = f.validator.validate(&token_at(&k1, &f.clock)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeysUnavailable);
    assert!(err.retry_after().is_some());

    f.server.set(|b| b.status = 200);
    f.cache.refresh_now().await;
    f.validator.validate(&token_at(&k1, &f.clock)).unwrap();
    assert_eq!(f.cache.stats().consecutive_failures, 0);
}

#[tokio::test]
async fn bad_bodies_keep_the_last_good_keys() {
    let k1 = TestKey::ed25519("k1");
    let f = fixture(&[&k1], |b| b).await;
    assert!(f.cache.wait_until_loaded(Duration::from_secs(5)).await);
    let oct = json!({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]});
    let bodies = [
        (b"not json".to_vec(), FetchFailure::InvalidJson),
        (oct.to_string().into_bytes(), FetchFailure::NoUsableKeys),
        (b"{\"keys\": []}".to_vec(), FetchFailure::NoUsableKeys),
    ];
    for (body, failure) in bodies {
        f.server.set(|b| b.body = body);
        f.cache.refresh_now().await;
        assert_eq!(f.cache.stats().last_failure, Some(failure));
        f.validator.validate(&token_at(&k1, &f.clock)).unwrap();
    }
}

#[tokio::test]
async fn slow_server_hits_timeout() {
    let k1 = TestKey::ed25519("k1");
    let f = fixture(&[&k1], |b| b.timeout(Duration::from_millis(500))).await;
    assert!(f.cache.wait_until_loaded(Duration::from_secs(5)).await);
    f.server.set(|b| b.delay = Duration::from_secs(5));

    let started = Instant::now();
    f.cache.refresh_now().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(f.cache.stats().last_failure, Some(FetchFailure::Timeout));
    f.validator.validate(&token_at(&k1, &f.clock)).unwrap();
}

#[tokio::test]
async fn slow_first_fetch_leaves_no_keys() {
    let k1 = TestKey::ed25519("k1");
    let server = JwksServer::start(&jwks(&[&k1])).await;
    server.set(|b| b.delay = Duration::from_secs(5));
    let cache = JwksCache::builder(server.url())
        .timeout(Duration::from_millis(300))
        .start()
        .unwrap();
    assert!(!cache.wait_until_loaded(Duration::from_secs(2)).await);
    assert_eq!(cache.stats().last_failure, Some(FetchFailure::Timeout));
    assert_eq!(
        cache.key_set().unwrap_err().kind(),
        ErrorKind::KeysUnavailable
    );
}

#[tokio::test]
async fn oversized_body_rejected_with_or_without_length() {
    let k1 = TestKey::ed25519("k1");
    let f = fixture(&[&k1], |b| b.max_body_bytes(64 * 1024)).await;
    assert!(f.cache.wait_until_loaded(Duration::from_secs(5)).await);
    // A valid JWKS padded with whitespace past the cap.
    let mut big = serde_json::to_vec(&jwks(&[&k1])).unwrap();
    big.resize(32 * 1024 * 1024, b' ');
    for content_length in [true, false] {
        f.server.set(|b| {
            b.body = big.clone();
            b.content_length = content_length;
        });
        let started = Instant::now();
        f.cache.refresh_now().await;
        assert_eq!(f.cache.stats().last_failure, Some(FetchFailure::TooLarge));
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    let stats = f.cache.stats();
    assert_eq!(stats.failures, 2);
    f.validator.validate(&token_at(&k1, &f.clock)).unwrap();
}

#[tokio::test]
async fn rotation_adds_new_and_drops_removed_keys() {
    let old = TestKey::ed25519("old");
    let new = TestKey::ed25519("new");
    let f = fixture(&[&old], |b| {
        b.refresh_interval(
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_secs(2),
        )
    })
    .await;
    f.server.set(|b| b.max_age = Some(1));
    assert!(f.cache.wait_until_loaded(Duration::from_secs(5)).await);
    let old_token = token_at(&old, &f.clock);
    f.validator.validate(&old_token).unwrap();

    f.server.set_jwks(&jwks(&[&new]));
    let new_token = token_at(&new, &f.clock);
    let deadline = Instant::now() + Duration::from_secs(8);
    while f.validator.validate(&new_token).is_err() {
        assert!(Instant::now() < deadline, "rotation not picked up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let removed = f.validator.validate(&old_token).unwrap_err();
    assert_eq!(removed.kind(), ErrorKind::UnknownKey);
    assert_invalid_token_response(&removed);
}

#[tokio::test]
async fn unsafe_settings_rejected() {
    let plain = JwksCache::builder("http://keys.example.com/jwks.json").start();
    assert_eq!(plain.unwrap_err(), ConfigError::InvalidUrl("JWKS"));
    let creds = JwksCache::builder("https://u:p@keys.example.com/jwks.json").start();
    assert_eq!(creds.unwrap_err(), ConfigError::InvalidUrl("JWKS"));
    let zero = JwksCache::builder("https://keys.example.com/j")
        .timeout(Duration::ZERO)
        .start();
    assert!(matches!(zero.unwrap_err(), ConfigError::OutOfRange(_)));

    let keys = Arc::new(resource_guard::InProcessKeys::new());
    let no_aud = Validator::builder(ISSUER).key_source(keys.clone()).build();
    assert_eq!(no_aud.unwrap_err(), ConfigError::NoAudience);
    let leeway = Validator::builder(ISSUER)
        .audience("a")
        .leeway(Duration::from_secs(301))
        .key_source(keys.clone())
        .build();
    assert_eq!(leeway.unwrap_err(), ConfigError::LeewayTooLarge);
    let issuer = Validator::builder("ftp://auth.example.com")
        .audience("a")
        .key_source(keys.clone())
        .build();
    assert_eq!(issuer.unwrap_err(), ConfigError::InvalidUrl("issuer"));

    // The issuer is only compared with `iss`, so plain http is fine with an
    // explicit key source; a JWKS URL derived from it is fetched, so it is not.
    let in_process = Validator::builder("http://auth.internal")
        .audience("a")
        .key_source(keys)
        .build();
    assert!(in_process.is_ok());
    let derived = Validator::builder("http://auth.example.com")
        .audience("a")
        .build();
    assert_eq!(derived.unwrap_err(), ConfigError::InvalidUrl("JWKS"));
}

#[test]
fn jwks_cache_start_needs_runtime() {
    let outside = JwksCache::builder("https://keys.example.com/jwks.json").start();
    assert_eq!(outside.unwrap_err(), ConfigError::NoRuntime);
}
