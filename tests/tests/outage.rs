//! A Redis outage: clients get 503 `temporarily_unavailable` with
//! `Retry-After`, never 401 or 400, and every session survives it.

use std::time::{Duration, Instant};

use tests::client::CLI;
use tests::cookie::REFRESH_COOKIE;
use tests::{Reply, Stack, StoreKind, assert_clean_error, strong_password, unique_username};

#[tokio::test]
async fn store_outage_gets_503_and_keeps_sessions() {
    let mut stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (user, tokens) = api.new_native_user().await;
    let (_, browser) = api.new_browser_user().await;
    let native = tokens.refresh();

    // Persist the data set, then take Redis away without warning.
    stack.redis_mut().cli(&["SAVE"]).expect("SAVE");
    stack.redis_mut().kill();

    let started = Instant::now();
    let mut replies: Vec<(&str, Reply)> = Vec::new();
    replies.push(("refresh", api.refresh_native(&native).await));
    replies.push(("browser refresh", api.refresh_browser(&browser).await));
    let login = api
        .password_login(CLI, &user.username, &user.password, None)
        .await;
    replies.push(("login", login));
    let signup = api
        .signup(CLI, &unique_username("outage"), &strong_password())
        .await;
    replies.push(("sign-up", signup));
    replies.push(("logout", api.logout_native(&native).await));
    for (case, reply) in &replies {
        assert_eq!(reply.status, 503, "{case}: {}", reply.describe());
        assert_eq!(
            assert_clean_error(reply),
            "temporarily_unavailable",
            "{case}"
        );
        let retry_after = reply.header("retry-after").unwrap_or_default();
        let seconds: u64 = retry_after
            .parse()
            .unwrap_or_else(|_| panic!("{case}: Retry-After {retry_after:?}"));
        assert!(seconds > 0, "{case}: Retry-After {seconds}");
        let deleted = reply.set_cookies().iter().any(|c| c.name == REFRESH_COOKIE);
        assert!(!deleted, "{case}: an outage touched the refresh cookie");
    }
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "503s took {:?}",
        started.elapsed()
    );
    let health = api.send(api.get("/healthz")).await;
    assert_eq!(
        health.status,
        200,
        "/healthz during the outage: {}",
        health.describe()
    );

    stack.redis_mut().restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let login = api
            .password_login(CLI, &user.username, &user.password, None)
            .await;
        if login.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery after Redis came back: {}",
            login.describe()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let refresh = api.refresh_native(&native).await;
    assert_eq!(
        refresh.status,
        200,
        "the outage ended a native session: {}",
        refresh.describe()
    );
    let browser_refresh = api.refresh_browser(&browser).await;
    assert_eq!(
        browser_refresh.status, 200,
        "the outage ended a browser session"
    );
}
