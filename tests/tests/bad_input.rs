//! Hostile and malformed requests on every endpoint: each gets the right
//! status and an RFC 6749 error body without internal text, and the server
//! never panics.

use futures_util::stream;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use tests::client::{CLI, WEB};
use tests::{Api, Reply, Stack, StoreKind, assert_clean_error};

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";
const BODY_LIMIT: usize = 64 * 1024;
const POST_ENDPOINTS: [&str; 4] = ["/signup", "/token", "/refresh", "/logout"];

#[tokio::test]
async fn empty_bodies_get_clean_errors() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();

    for path in ["/signup", "/token"] {
        for content_type in [Some(FORM), Some(JSON), None] {
            let reply = post_raw(&api, path, content_type, Vec::new()).await;
            let case = format!("{path} with {content_type:?}");
            assert_eq!(reply.status, 400, "{case}: {}", reply.describe());
            assert_eq!(assert_clean_error(&reply), "invalid_request", "{case}");
        }
    }
    let refresh = post_raw(&api, "/refresh", Some(FORM), Vec::new()).await;
    assert_eq!(refresh.status, 401, "{}", refresh.describe());
    assert_eq!(assert_clean_error(&refresh), "invalid_grant");
    let logout = post_raw(&api, "/logout", Some(FORM), Vec::new()).await;
    assert_logout_is_harmless(&logout);
    assert_still_healthy(&stack, &api).await;
}

#[tokio::test]
async fn malformed_forms_get_bad_request() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let bodies: [&[u8]; 6] = [
        b"%zz",
        b"grant_type",
        b"=&=&&&==",
        b"grant_type=password&username=%FF%FE&password=%zz&client_id=cli",
        b"grant_type=pass%00word&client_id=cli",
        b"\x00\x01\xff\xfe binary \x80",
    ];
    for body in bodies {
        let case = String::from_utf8_lossy(body).into_owned();
        for path in ["/token", "/signup"] {
            let reply = post_raw(&api, path, Some(FORM), body.to_vec()).await;
            assert_eq!(reply.status, 400, "{path} {case:?}: {}", reply.describe());
            assert_clean_error(&reply);
        }
        let logout = post_raw(&api, "/logout", Some(FORM), body.to_vec()).await;
        assert_logout_is_harmless(&logout);
    }
    assert_still_healthy(&stack, &api).await;
}

#[tokio::test]
async fn json_on_token_endpoint_is_invalid_request() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (user, tokens) = api.new_native_user().await;

    let login = serde_json::json!({
        "grant_type": "password",
        "username": user.username,
        "password": user.password,
        "client_id": CLI,
    });
    let reply = api.send(api.post("/token").json(&login)).await;
    assert_eq!(reply.status, 400, "{}", reply.describe());
    assert_eq!(assert_clean_error(&reply), "invalid_request");
    assert!(
        reply.json().get("access_token").is_none(),
        "JSON login issued a token"
    );

    let refresh = serde_json::json!({
        "grant_type": "refresh_token",
        "refresh_token": tokens.refresh(),
        "client_id": CLI,
    });
    let reply = api.send(api.post("/token").json(&refresh)).await;
    assert_eq!(reply.status, 400, "{}", reply.describe());
    assert_eq!(assert_clean_error(&reply), "invalid_request");

    let logout = serde_json::json!({ "refresh_token": tokens.refresh() });
    let reply = api.send(api.post("/logout").json(&logout)).await;
    assert_logout_is_harmless(&reply);
    assert_still_healthy(&stack, &api).await;
}

#[tokio::test]
async fn malformed_json_signup_is_invalid_request() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let bodies = [
        r#"{"username":"#,
        r#"[1, 2, 3]"#,
        r#""just a string""#,
        r#"{"username": 5, "password": "Long-enough-pw-1", "client_id": "cli"}"#,
        r#"{"username": "abcdef", "client_id": "cli"}"#,
        r#"{"username": null, "password": "Long-enough-pw-1", "client_id": "cli"}"#,
        "{\"username\": \"a\u{0}b\", \"password\": \"x\"",
    ];
    for body in bodies {
        let reply = post_raw(&api, "/signup", Some(JSON), body.as_bytes().to_vec()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.describe());
        assert_eq!(assert_clean_error(&reply), "invalid_request", "{body}");
    }
    assert_still_healthy(&stack, &api).await;
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let mut body = b"grant_type=password&client_id=cli&username=".to_vec();
    body.resize(BODY_LIMIT + 1024, b'a');

    for path in POST_ENDPOINTS {
        for content_type in [FORM, JSON] {
            let request = api
                .post(path)
                .header(CONTENT_TYPE, content_type)
                .header("Origin", api.origin())
                .body(body.clone());
            let reply = api.send(request).await;
            assert_eq!(
                reply.status,
                413,
                "{path} as {content_type}: {}",
                reply.describe()
            );
            assert_clean_error(&reply);
        }
    }
    assert_still_healthy(&stack, &api).await;
}

#[tokio::test]
async fn oversized_chunked_body_gets_413() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let chunk = vec![b'a'; 8 * 1024];
    let chunks = (0..10).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    let body = reqwest::Body::wrap_stream(stream::iter(chunks));
    let request = api.post("/token").header(CONTENT_TYPE, FORM).body(body);
    let reply = api.send(request).await;
    assert_eq!(reply.status, 413, "{}", reply.describe());
    assert_clean_error(&reply);
    assert_still_healthy(&stack, &api).await;
}

#[tokio::test]
async fn body_of_exactly_64_kib_is_accepted() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let mut body = b"grant_type=password&client_id=cli&password=x&username=".to_vec();
    body.resize(BODY_LIMIT, b'a');
    let reply = post_raw(&api, "/token", Some(FORM), body).await;
    assert_eq!(reply.status, 400, "a 64 KiB body: {}", reply.describe());
    assert_clean_error(&reply);
}

#[tokio::test]
async fn unknown_grant_type_is_unsupported() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    for grant in ["magic", "urn:example:grant-type:unknown", "PASSWORD"] {
        let reply = api
            .post_form("/token", &[("grant_type", grant), ("client_id", CLI)])
            .await;
        assert_eq!(reply.status, 400, "{grant}: {}", reply.describe());
        assert_eq!(
            assert_clean_error(&reply),
            "unsupported_grant_type",
            "{grant}"
        );
    }

    let missing = api
        .post_form("/token", &[("client_id", CLI), ("username", "x")])
        .await;
    assert_eq!(missing.status, 400, "{}", missing.describe());
    assert_eq!(assert_clean_error(&missing), "invalid_request");
}

#[tokio::test]
async fn repeated_parameter_is_invalid_request() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;
    let body = format!(
        "grant_type=password&grant_type=password&username={}&password={}&client_id=cli",
        user.username, user.password
    );
    let reply = post_raw(&api, "/token", Some(FORM), body.into_bytes()).await;
    assert_eq!(reply.status, 400, "{}", reply.describe());
    assert_eq!(assert_clean_error(&reply), "invalid_request");

    // Two Authorization headers: neither is chosen over the other.
    let request = api
        .http()
        .post(api.url("/token"))
        .header("authorization", "Basic Y2xpOg==")
        .header("authorization", "Basic Y2xpOng=")
        .header("content-type", FORM)
        .body("grant_type=client_credentials");
    let reply = api.send(request).await;
    assert_eq!(reply.status, 400, "{}", reply.describe());
    assert_eq!(assert_clean_error(&reply), "invalid_request");
}

#[tokio::test]
async fn unknown_client_is_invalid_client() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (user, tokens) = api.new_native_user().await;
    let (name, password) = (user.username.as_str(), user.password.as_str());
    let refresh = tokens.refresh();
    let new_name = tests::unique_username("nobody");
    let new_password = tests::strong_password();

    let cases: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "/token",
            vec![
                ("grant_type", "password"),
                ("username", name),
                ("password", password),
            ],
        ),
        (
            "/token",
            vec![("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        ),
        (
            "/signup",
            vec![("username", &new_name), ("password", &new_password)],
        ),
    ];
    for (path, mut fields) in cases {
        fields.push(("client_id", "no-such-client"));
        let reply = api.post_form(path, &fields).await;
        assert_eq!(reply.status, 401, "{path}: {}", reply.describe());
        assert_eq!(assert_clean_error(&reply), "invalid_client", "{path}");
    }

    let created = api.signup(CLI, &new_name, &new_password).await;
    assert_eq!(created.status, 201, "an unknown client created the account");
}

#[tokio::test]
async fn missing_client_id_is_rejected() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (user, _) = api.new_native_user().await;
    let fields = [
        ("grant_type", "password"),
        ("username", user.username.as_str()),
        ("password", user.password.as_str()),
    ];
    let reply = api.post_form("/token", &fields).await;
    let error = assert_clean_error(&reply);
    let expected = [(400, "invalid_request"), (401, "invalid_client")];
    assert!(
        expected.contains(&(reply.status, error.as_str())),
        "{}",
        reply.describe()
    );
}

#[tokio::test]
async fn refresh_token_of_other_client_is_invalid_grant() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let (_, session) = api.new_browser_user().await;
    let reply = api.refresh_native(&session.refresh).await;
    assert_eq!(
        reply.status,
        400,
        "web's token as cli: {}",
        reply.describe()
    );
    assert_eq!(assert_clean_error(&reply), "invalid_grant");

    // `web` is a browser client, so it may also be refused the refresh
    // grant on `/token` outright (it refreshes through `/refresh`).
    let (_, tokens) = api.new_native_user().await;
    let fields = [
        ("grant_type", "refresh_token"),
        ("refresh_token", &tokens.refresh()),
        ("client_id", WEB),
    ];
    let reply = api.post_form_from_origin("/token", &fields).await;
    assert_eq!(
        reply.status,
        400,
        "cli's token as web: {}",
        reply.describe()
    );
    let error = assert_clean_error(&reply);
    assert!(
        ["invalid_grant", "unauthorized_client"].contains(&error.as_str()),
        "{error}"
    );
    assert!(
        reply.set_cookies().iter().all(|c| c.is_deletion()),
        "another client got cookies"
    );
}

#[tokio::test]
async fn garbage_tokens_and_headers_get_clean_errors() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let long = "A".repeat(8 * 1024);
    for token in [
        "",
        "x",
        "a.b.c",
        "..",
        "%00",
        long.as_str(),
        "\u{1F600}\u{0}\u{202E}",
    ] {
        let reply = api.refresh_native(token).await;
        assert_eq!(
            reply.status,
            400,
            "refresh_token {token:.20?}: {}",
            reply.describe()
        );
        let error = assert_clean_error(&reply);
        assert!(
            ["invalid_grant", "invalid_request"].contains(&error.as_str()),
            "{error}"
        );
        let logout = api.logout_native(token).await;
        assert_logout_is_harmless(&logout);
    }

    let cookies = [
        format!("__Host-refresh_token={long}"),
        "__Host-refresh_token=".to_owned(),
        "__Host-refresh_token=a.b; __Host-refresh_token=c.d".to_owned(),
        "garbage".to_owned(),
    ];
    for cookie in cookies {
        let request = api
            .post("/refresh")
            .header("Cookie", cookie.clone())
            .header("Origin", api.origin())
            .header("X-CSRF-Token", "x");
        let reply = api.send(request).await;
        assert!(
            [401, 403].contains(&reply.status),
            "cookie {cookie:.40}: {}",
            reply.describe()
        );
        assert_clean_error(&reply);

        let request = api
            .get("/csrf")
            .header("Cookie", cookie.clone())
            .header("Origin", api.origin());
        let reply = api.send(request).await;
        assert!(
            [400, 401, 403].contains(&reply.status),
            "/csrf {cookie:.40}: {}",
            reply.describe()
        );
        assert_clean_error(&reply);
    }

    let (_, session) = api.new_browser_user().await;
    let binary = HeaderValue::from_bytes(b"\xff\xfe\x80csrf").expect("obs-text header value");
    let request = api
        .post("/refresh")
        .header("Cookie", session.cookie_header())
        .header("Origin", api.origin())
        .header("X-CSRF-Token", binary);
    let reply = api.send(request).await;
    assert_eq!(reply.status, 403, "{}", reply.describe());
    assert_clean_error(&reply);
    assert_still_healthy(&stack, &api).await;
}

#[tokio::test]
async fn wrong_method_or_path_leaks_nothing() {
    let stack = Stack::start(StoreKind::Redis);
    let api = stack.api();
    let mut replies = Vec::new();
    for path in POST_ENDPOINTS {
        replies.push((format!("GET {path}"), api.send(api.get(path)).await));
    }
    replies.push((
        "POST jwks".to_owned(),
        api.send(api.post(shared::JWKS_PATH)).await,
    ));
    replies.push(("GET /nope".to_owned(), api.send(api.get("/nope")).await));
    replies.push((
        "GET /%ff/..%2f".to_owned(),
        api.send(api.get("/%ff/..%2f")).await,
    ));
    for (case, reply) in replies {
        assert!(
            [404, 405].contains(&reply.status),
            "{case}: {}",
            reply.describe()
        );
        let lowered = reply.body.to_lowercase();
        for word in tests::INTERNAL_TEXT {
            assert!(!lowered.contains(word), "{case}: body contains {word:?}");
        }
    }
}

async fn post_raw(api: &Api, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Reply {
    let mut request = api.post(path).body(body);
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    api.send(request).await
}

/// Asserts that a logout without a usable token either succeeds with nothing
/// to do (204) or reports a bad request (400), never a server error.
fn assert_logout_is_harmless(reply: &Reply) {
    assert!(
        [204, 400].contains(&reply.status),
        "logout: {}",
        reply.describe()
    );
    if reply.status == 400 {
        assert_clean_error(reply);
    }
}

async fn assert_still_healthy(stack: &Stack, api: &Api) {
    let health = api.send(api.get("/healthz")).await;
    assert_eq!(health.status, 200, "{}", health.describe());
    let log = stack.server.log_text();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
}
