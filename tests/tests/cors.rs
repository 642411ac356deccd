//! CORS: configured origins get credentialed CORS responses and preflights;
//! every other origin gets no `Access-Control-*` header at all. Every
//! response varies on `Origin`.

use reqwest::Method;
use tests::client::WEB;
use tests::{Api, Reply, Stack, StoreKind, random_hex, strong_password};

const APP: &str = "http://localhost:5173";
const SECOND_APP: &str = "http://127.0.0.1:5174";
const ORIGINS: &str = "http://localhost:5173,http://127.0.0.1:5174";

/// Origins that must not match the allowed list: other hosts, ports,
/// schemes and spellings.
const FOREIGN: &[&str] = &[
    "http://evil.example",
    "http://localhost:5174",
    "https://localhost:5173",
    "http://localhost:51730",
    "http://localhost:517",
    "http://LOCALHOST:5173",
    "http://localhost:5173/",
    "http://localhost:5173.evil.example",
    "null",
];

fn start() -> Stack {
    Stack::start_with(
        StoreKind::Redis,
        &[("AUTH__HTTP__ALLOWED_ORIGINS", ORIGINS)],
    )
}

async fn get_jwks(api: &Api, origin: Option<&str>) -> Reply {
    let mut request = api.get(shared::JWKS_PATH);
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    api.send(request).await
}

async fn preflight(api: &Api, path: &str, method: &str, headers: &str, origin: &str) -> Reply {
    let request = api
        .http()
        .request(Method::OPTIONS, api.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", headers);
    api.send(request).await
}

async fn web_login(api: &Api, origin: &str, username: &str, password: &str) -> Reply {
    api.remember(password);
    let request = api.post("/token").header("Origin", origin).form(&[
        ("grant_type", "password"),
        ("username", username),
        ("password", password),
        ("client_id", WEB),
    ]);
    api.send(request).await
}

/// Returns all values of header `name`, joined with commas and lowercased.
fn joined(reply: &Reply, name: &str) -> String {
    let values: Vec<&str> = reply
        .headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    values.join(",").to_ascii_lowercase()
}

fn list_contains(reply: &Reply, name: &str, item: &str) -> bool {
    joined(reply, name)
        .split(',')
        .any(|entry| entry.trim() == item)
}

fn assert_varies_on_origin(reply: &Reply) {
    assert!(
        list_contains(reply, "vary", "origin"),
        "no Vary: Origin: {:?}",
        reply.headers
    );
}

fn assert_credentialed_cors(reply: &Reply, origin: &str) {
    let allowed: Vec<_> = reply
        .headers
        .get_all("access-control-allow-origin")
        .iter()
        .collect();
    assert_eq!(allowed, vec![origin], "Access-Control-Allow-Origin");
    assert_eq!(
        reply.header("access-control-allow-credentials").as_deref(),
        Some("true"),
        "{:?}",
        reply.headers
    );
    assert_varies_on_origin(reply);
}

fn assert_no_cors(reply: &Reply) {
    let cors: Vec<&str> = reply
        .headers
        .keys()
        .map(|name| name.as_str())
        .filter(|name| name.starts_with("access-control-"))
        .collect();
    assert!(
        cors.is_empty(),
        "CORS headers {cors:?}: {:?}",
        reply.headers
    );
    assert_varies_on_origin(reply);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_origin_gets_credentialed_cors() {
    let stack = start();
    let api = stack.api();

    let reply = get_jwks(&api, Some(APP)).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    assert_credentialed_cors(&reply, APP);

    let reply = get_jwks(&api, Some(SECOND_APP)).await;
    assert_credentialed_cors(&reply, SECOND_APP);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_origin_reads_login_response() {
    let stack = start();
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    let reply = web_login(&api, APP, &user.username, &user.password).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    assert_credentialed_cors(&reply, APP);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_responses_carry_cors_headers() {
    let stack = start();
    let api = stack.api();
    let (user, _) = api.new_native_user().await;

    let mut last = None;
    for _ in 0..6 {
        let wrong = format!("Wrong-{}", random_hex(8));
        let reply = web_login(&api, APP, &user.username, &wrong).await;
        assert_credentialed_cors(&reply, APP);
        last = Some(reply);
    }
    let throttled = last.expect("six responses");
    assert_eq!(throttled.status, 429, "{}", throttled.describe());
    assert!(
        list_contains(&throttled, "access-control-expose-headers", "retry-after"),
        "a page cannot read Retry-After: {:?}",
        throttled.headers
    );

    let missing = api
        .send(api.get("/no-such-path").header("Origin", APP))
        .await;
    assert_eq!(missing.status, 404, "{}", missing.describe());
    assert_credentialed_cors(&missing, APP);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_preflight_gets_204() {
    let stack = start();
    let api = stack.api();
    let cases = [
        ("/token", "POST", "content-type"),
        ("/refresh", "POST", "content-type,x-csrf-token"),
        ("/logout", "POST", "x-csrf-token"),
        ("/csrf", "GET", "x-request-id"),
        ("/password", "POST", "authorization,content-type"),
        ("/sessions/abc", "DELETE", "authorization"),
    ];

    for (path, method, headers) in cases {
        let reply = preflight(&api, path, method, headers, APP).await;
        assert_eq!(reply.status, 204, "{method} {path}: {}", reply.describe());
        assert_credentialed_cors(&reply, APP);
        assert!(
            list_contains(
                &reply,
                "access-control-allow-methods",
                &method.to_ascii_lowercase()
            ),
            "{method} {path}: {:?}",
            reply.headers
        );
        for header in headers.split(',') {
            assert!(
                list_contains(&reply, "access-control-allow-headers", header),
                "{method} {path}: {header} not allowed: {:?}",
                reply.headers
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_origins_get_no_cors_headers() {
    let stack = start();
    let api = stack.api();

    for origin in FOREIGN {
        let reply = get_jwks(&api, Some(origin)).await;
        assert_eq!(reply.status, 200, "{origin}: {}", reply.describe());
        assert_no_cors(&reply);

        let reply = preflight(&api, "/refresh", "POST", "x-csrf-token", origin).await;
        assert_no_cors(&reply);

        let reply = web_login(&api, origin, "nobody-here", &strong_password()).await;
        assert_ne!(reply.status, 200, "{origin}: {}", reply.describe());
        assert_no_cors(&reply);
        assert!(
            reply.set_cookies().is_empty(),
            "{origin} got cookies: {:?}",
            reply.headers
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_without_origin_gets_no_cors() {
    let stack = start();
    let api = stack.api();

    let reply = get_jwks(&api, None).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    assert_no_cors(&reply);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_allowed_origin_is_the_issuer() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let own = api.origin().to_owned();

    let reply = get_jwks(&api, Some(&own)).await;
    assert_credentialed_cors(&reply, &own);
    let reply = get_jwks(&api, Some(APP)).await;
    assert_no_cors(&reply);
}
