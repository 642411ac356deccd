//! Start-up settings: a bad value stops the server with a message naming
//! the key, and the in-memory store warns and stays on loopback.

use std::time::Duration;

use tests::server::{RunOutput, run_to_exit};
use tests::{Stack, StoreKind, free_port, random_hex};

const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs the server with `extra` on top of a loopback bind and the memory
/// store, expecting it to refuse to start.
fn run_refused(extra: &[(&str, &str)]) -> RunOutput {
    let mut env = vec![
        (
            "AUTH__HTTP__BIND".to_owned(),
            format!("127.0.0.1:{}", free_port()),
        ),
        ("AUTH__STORE__URL".to_owned(), "memory://".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let run = run_to_exit(&[], &env, EXIT_TIMEOUT);
    assert!(
        run.code.is_some(),
        "the server did not stop:\n{}",
        run.output
    );
    assert_ne!(
        run.code,
        Some(0),
        "the server exited successfully:\n{}",
        run.output
    );
    run
}

#[test]
fn out_of_range_setting_names_its_key() {
    let run = run_refused(&[("AUTH__TOKENS__ACCESS_TTL_SECS", "30")]);
    assert!(
        run.output.contains("access_ttl_secs"),
        "no key in:\n{}",
        run.output
    );
}

#[test]
fn redis_store_requires_refresh_pepper() {
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    let kek = random_hex(32);
    let run = run_refused(&[
        ("AUTH__STORE__URL", &url),
        ("AUTH__SECURITY__KEY_ENCRYPTION_KEY", &kek),
    ]);
    assert!(
        run.output.contains("refresh_pepper"),
        "no key in:\n{}",
        run.output
    );
}

#[test]
fn plain_http_issuer_must_be_loopback() {
    let run = run_refused(&[("AUTH__ISSUER", "http://auth.example.com")]);
    assert!(run.output.contains("issuer"), "no key in:\n{}", run.output);
}

#[test]
fn memory_store_refuses_public_bind() {
    let bind = format!("0.0.0.0:{}", free_port());
    let issuer = "https://auth.example.com";
    let run = run_refused(&[("AUTH__HTTP__BIND", &bind), ("AUTH__ISSUER", issuer)]);
    assert!(
        run.output.contains("unsafe"),
        "no unsafe setting named in:\n{}",
        run.output
    );
}

#[test]
fn memory_store_warns_once_about_restarts() {
    let stack = Stack::start(StoreKind::Memory);
    let log = stack.server.log_text();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("WARN") && line.to_lowercase().contains("restart"))
        .collect();
    assert_eq!(warnings.len(), 1, "expected one restart warning in:\n{log}");
}
