//! Runs the `protected_api` example as its own process against a JWKS
//! served by this test on 127.0.0.1, with tokens this test signs.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::server::JwksServer;
use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Returns the example's path, next to this test's own binary. A plain
/// `cargo test` builds examples with the tests. When only this test was
/// built, the example is built here.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let path = profile_dir.join("examples").join("protected_api");
    if path.exists() {
        return path;
    }
    let mut build = std::process::Command::new(env!("CARGO"));
    build.args([
        "build",
        "-p",
        "resource-guard",
        "--example",
        "protected_api",
    ]);
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    assert!(build.status().unwrap().success(), "example failed to build");
    path
}

async fn start_example(issuer: &str) -> (Child, String) {
    let mut child = Command::new(example_binary())
        .args([
            "--issuer",
            issuer,
            "--audience",
            AUDIENCE,
            "--bind",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("example did not start in time")
        .unwrap()
        .unwrap();
    let base = line.strip_prefix("listening on ").unwrap().to_owned();
    (child, base)
}

#[tokio::test]
async fn protected_api_guards_whoami_and_admin() {
    let key = TestKey::ed25519("k1");
    let jwks_server = JwksServer::start(&jwks(&[&key])).await;
    let issuer = jwks_server.issuer();
    let (mut child, base) = start_example(&issuer).await;

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let token = |scope: &str| {
        let mut c = claims();
        c["iss"] = json!(issuer);
        c["exp"] = json!(now + 300);
        c["iat"] = json!(now);
        c["scope"] = json!(scope);
        key.token(&c)
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let get = |path: &str, token: Option<String>| {
        let mut req = client.get(format!("{base}{path}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };

    let res = get("/whoami", Some(token("orders:read"))).await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"sub": "user-1", "scope": "orders:read", "sid": "session-1"})
    );

    let res = get("/admin", Some(token("orders:read"))).await.unwrap();
    assert_eq!(res.status(), 403);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert!(challenge.contains("scope=\"admin\""), "{challenge}");

    assert_eq!(
        get("/admin", Some(token("admin"))).await.unwrap().status(),
        200
    );
    let res = get("/whoami", None).await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let stranger = TestKey::ed25519("k1");
    let mut c = claims();
    c["iss"] = json!(issuer);
    c["exp"] = json!(now + 300);
    c["iat"] = json!(now);
    assert_eq!(
        get("/whoami", Some(stranger.token(&c)))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(get("/healthz", None).await.unwrap().status(), 200);

    child.kill().await.unwrap();
}
