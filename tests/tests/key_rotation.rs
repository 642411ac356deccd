//! Key rotation under load: two server instances on one Redis and a
//! guard-protected example service. Keys are rotated while logins,
//! refreshes and API calls keep flowing, and no request may fail.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tests::client::Api;
use tests::example::ProtectedApi;
use tests::random_hex;
use tests::redis::RedisServer;
use tests::server::{AuthServer, ServerOptions, Store, run_to_exit};

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().expect("a JWT has a header");
    let bytes = URL_SAFE_NO_PAD.decode(header).expect("base64url header");
    let header: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON header");
    header["kid"].as_str().expect("kid").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_under_load_rejects_nothing() {
    let redis = RedisServer::start();
    // Both instances share the store, the secrets and the issuer (the
    // first one's URL), as in a real deployment behind one name.
    let shared = [
        ("AUTH__SECURITY__REFRESH_PEPPER", random_hex(32)),
        ("AUTH__SECURITY__KEY_ENCRYPTION_KEY", random_hex(32)),
        ("AUTH__KEYS__JWKS_MAX_AGE_SECS", "1".to_owned()),
        // The example's guard has the default 30 s refetch cooldown, so a
        // new key waits 1 + 30 s before it signs.
        ("AUTH__KEYS__GUARD_COOLDOWN_SECS", "30".to_owned()),
        ("AUTH__KEYS__RELOAD_INTERVAL_SECS", "1".to_owned()),
        ("AUTH__THROTTLE__SIGNUPS_PER_IP", "1000".to_owned()),
    ];
    let options = || {
        let mut options = ServerOptions::new(Store::Redis(&redis));
        for (key, value) in &shared {
            options = options.env(key, value);
        }
        options
    };
    let first = AuthServer::start(options());
    let issuer = first.url();
    let second = AuthServer::start(options().env("AUTH__ISSUER", &issuer));
    let guard = ProtectedApi::start(&issuer);
    let apis = [Api::new(&first), Api::new(&second)];
    let http = reqwest::Client::new();

    let signup = apis[0].signup("cli", "rotor", "quartz-lantern-417").await;
    assert_eq!(signup.status, 201, "{}", signup.describe());
    let old_kid = kid_of(&signup.tokens().access_token);

    let started = Instant::now();
    let mut rotated_at = None;
    let mut requests = 0u32;
    let mut kids = std::collections::BTreeSet::new();
    let mut refresh = signup.tokens().refresh();
    let mut round = 0usize;
    while started.elapsed() < Duration::from_secs(45) {
        if rotated_at.is_none() && started.elapsed() > Duration::from_secs(3) {
            let output = run_to_exit(&["keys", "rotate"], first.env(), Duration::from_secs(30));
            assert_eq!(
                output.code,
                Some(0),
                "keys rotate failed: {}",
                output.output
            );
            rotated_at = Some(Instant::now());
        }
        let issuing = &apis[round % 2];
        let checking = &apis[(round + 1) % 2];
        round += 1;

        let login = issuing
            .password_login("cli", "rotor", "quartz-lantern-417", None)
            .await;
        assert_eq!(login.status, 200, "login {round}: {}", login.describe());
        let refreshed = checking.refresh_native(&refresh).await;
        assert_eq!(
            refreshed.status,
            200,
            "refresh {round}: {}",
            refreshed.describe()
        );
        refresh = refreshed.tokens().refresh();

        for token in [login.tokens().access_token, refreshed.tokens().access_token] {
            kids.insert(kid_of(&token));
            let whoami = http
                .get(format!("{}/whoami", guard.url))
                .bearer_auth(&token)
                .send()
                .await
                .expect("the example service answers");
            assert_eq!(
                whoami.status().as_u16(),
                200,
                "guard rejected a token in round {round}"
            );
            // Each instance accepts the other's tokens too.
            let sessions = checking
                .http()
                .get(checking.url("/sessions"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("the server answers");
            assert_eq!(
                sessions.status().as_u16(),
                200,
                "/sessions rejected a token in round {round}"
            );
            requests += 2;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let rotated_at = rotated_at.expect("the rotation ran");
    assert!(
        rotated_at.elapsed() > Duration::from_secs(35),
        "the new key had time to sign"
    );
    let final_login = apis[1]
        .password_login("cli", "rotor", "quartz-lantern-417", None)
        .await;
    let new_kid = kid_of(&final_login.tokens().access_token);
    assert_ne!(
        new_kid, old_kid,
        "the new key signs after the publish delay"
    );
    assert!(
        kids.contains(&old_kid),
        "tokens of the old key were checked"
    );
    assert!(
        kids.contains(&new_kid),
        "tokens of the new key were checked"
    );
    assert!(requests > 50, "the load ran: {requests} checks");
}
