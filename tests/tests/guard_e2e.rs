//! The resource-guard example service against the real server and Redis:
//! it accepts the server's tokens offline and enforces scopes.

use std::time::Duration;

use tests::client::Api;
use tests::example::ProtectedApi;
use tests::redis::RedisServer;
use tests::server::{AuthServer, ServerOptions, Store, run_to_exit};

const CONFIG: &str = r#"
[[clients]]
id = "cli"
kind = "native"
grants = ["password", "refresh_token"]
scopes = ["api", "admin"]
default_scopes = ["api"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_service_checks_tokens_and_scopes() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("a config directory");
    let config = dir.path().join("auth.toml");
    std::fs::write(&config, CONFIG).expect("write the config");
    let config = config.to_str().expect("a UTF-8 path");
    let server = AuthServer::start(
        ServerOptions::new(Store::Redis(&redis))
            .arg("--config")
            .arg(config),
    );
    let service = ProtectedApi::start(&server.url());
    let api = Api::new(&server);
    let http = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut request = http.get(format!("{}{path}", service.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    let signup = api.signup("cli", "guarded", "quartz-lantern-417").await;
    assert_eq!(signup.status, 201, "{}", signup.describe());
    let access = signup.tokens().access_token;

    let whoami = get("/whoami", Some(&access)).await.expect("whoami answers");
    assert_eq!(whoami.status().as_u16(), 200);
    let body: serde_json::Value = whoami.json().await.expect("JSON body");
    let jwks = http
        .get(format!("{}/.well-known/jwks.json", server.url()))
        .send()
        .await
        .expect("JWKS answers")
        .text()
        .await
        .expect("JWKS body");
    let claims = tests::jwt::verify_access_token(&access, &jwks, &server.url(), "api")
        .expect("the token verifies")
        .claims;
    assert_eq!(body["sub"], claims.sub);
    assert_eq!(body["sid"].as_str(), claims.sid.as_deref());
    assert_eq!(body["scope"], "api");

    let admin = get("/admin", Some(&access)).await.expect("admin answers");
    assert_eq!(
        admin.status().as_u16(),
        403,
        "an api-only token is not admin"
    );
    let challenge = admin.headers()["www-authenticate"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");

    let missing = get("/whoami", None).await.expect("whoami answers");
    assert_eq!(missing.status().as_u16(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");

    let mut forged = access.clone();
    forged.pop();
    forged.push(if access.ends_with('A') { 'B' } else { 'A' });
    let rejected = get("/whoami", Some(&forged)).await.expect("whoami answers");
    assert_eq!(rejected.status().as_u16(), 401);

    let asked = api
        .password_login("cli", "guarded", "quartz-lantern-417", Some("api admin"))
        .await;
    assert_eq!(
        asked.error().as_deref(),
        Some("invalid_scope"),
        "{}",
        asked.describe()
    );

    let args = ["--config", config, "users", "grant", "guarded", "admin"];
    let granted = run_to_exit(&args, server.env(), Duration::from_secs(30));
    assert_eq!(
        granted.code,
        Some(0),
        "users grant failed: {}",
        granted.output
    );

    let login = api
        .password_login("cli", "guarded", "quartz-lantern-417", Some("api admin"))
        .await;
    assert_eq!(login.status, 200, "{}", login.describe());
    let admin_token = login.tokens().access_token;
    let admin = get("/admin", Some(&admin_token))
        .await
        .expect("admin answers");
    assert_eq!(admin.status().as_u16(), 200);
}
