//! What the Redis store holds: no token or password that could be replayed,
//! expiry on sessions, and a Redis password that never reaches the log.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tests::redis::{RedisOptions, RedisServer};
use tests::{Api, AuthServer, BrowserSession, ServerOptions, Stack, Store, StoreKind, random_hex};

#[tokio::test]
async fn redis_holds_no_replayable_secret() {
    // Without compression, every string sits verbatim in the RDB file.
    let options = RedisOptions {
        extra_args: vec!["--rdbcompression".into(), "no".into()],
        ..RedisOptions::default()
    };
    let redis = RedisServer::start_with(options);
    let server = AuthServer::start(ServerOptions::new(Store::Redis(&redis)));
    let api = Api::new(&server);

    let (user, tokens) = api.new_native_user().await;
    let a = tokens.refresh();
    let b = api.refresh_native(&a).await.tokens().refresh();
    let (_, session) = api.new_browser_user().await;
    let login = api.login_native(&user).await;

    redis.cli(&["SAVE"]).expect("SAVE");
    let dump = std::fs::read(redis.dir().join("dump.rdb")).expect("read dump.rdb");
    assert!(dump.len() > 100, "the RDB file is nearly empty");

    assert!(
        !contains(&dump, user.password.as_bytes()),
        "a password is stored in clear"
    );
    for token in [&a, &b, &session.refresh, &login.refresh()] {
        assert!(
            !contains(&dump, token.as_bytes()),
            "a refresh token is stored in clear"
        );
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .expect("a base64url refresh token");
        // Past its first 33 bytes (version, user and session ids) a token
        // holds its generation, random secret and tag. No 16-byte piece of
        // that part may be stored.
        for window in bytes.get(33..).unwrap_or_default().windows(16) {
            assert!(
                !contains(&dump, window),
                "part of a refresh token is stored raw"
            );
        }
    }
    for token in [&tokens.access_token, &login.access_token] {
        assert!(
            !contains(&dump, token.as_bytes()),
            "an access token is stored"
        );
    }
}

#[tokio::test]
async fn redis_expires_every_session() {
    let env = [
        ("AUTH__TOKENS__REFRESH_IDLE_TTL_SECS", "3600"),
        ("AUTH__TOKENS__SESSION_MAX_TTL_SECS", "7200"),
    ];
    let stack = Stack::start_with(StoreKind::Redis, &env);
    let api = stack.api();
    let mut sessions = 0;
    for _ in 0..3 {
        let (user, _) = api.new_native_user().await;
        let _ = api.login_native(&user).await;
        sessions += 2;
    }
    let redis = stack.redis.as_ref().expect("Redis");
    // Keys hold binary ids, so the TTLs are read inside Redis.
    let script = "local t = {} for _, k in ipairs(redis.call('KEYS', '*')) do \
                  t[#t + 1] = redis.call('TTL', k) end return t";
    let ttls = redis.cli(&["EVAL", script, "0"]).expect("EVAL");
    let mut expiring = 0;
    for ttl in ttls.lines().filter(|line| !line.is_empty()) {
        let ttl: i64 = ttl.trim().parse().expect("a TTL");
        assert!(
            ttl == -1 || (0..=7200).contains(&ttl),
            "a key has TTL {ttl}"
        );
        if ttl > 0 {
            expiring += 1;
        }
    }
    assert!(
        expiring >= sessions,
        "{expiring} expiring keys for {sessions} sessions"
    );
}

#[tokio::test]
async fn redis_password_never_reaches_log() {
    let password = format!("redis-pw-{}", random_hex(12));
    // A second ACL user next to the password-less default one, which the
    // harness keeps using for its own checks.
    let secret = format!(">{password}");
    let acl = ["app", "on", &secret, "~*", "&*", "+@all"];
    let mut extra_args = vec!["--user".to_owned()];
    extra_args.extend(acl.iter().map(|word| word.to_string()));
    let options = RedisOptions {
        extra_args,
        ..RedisOptions::default()
    };
    let redis = RedisServer::start_with(options);
    let url = format!("redis://app:{password}@127.0.0.1:{}/0", redis.port());
    let server =
        AuthServer::start(ServerOptions::new(Store::Redis(&redis)).env("AUTH__STORE__URL", &url));
    let api = Api::new(&server);
    let (_, session): (_, BrowserSession) = api.new_browser_user().await;
    let reply = api.refresh_browser(&session).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());

    let clients = redis.cli(&["CLIENT", "LIST"]).expect("CLIENT LIST");
    assert!(
        clients.contains("user=app"),
        "the server did not log in as app:\n{clients}"
    );
    let log = server.log_text();
    assert!(!log.contains(&password), "the Redis password is in the log");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}
