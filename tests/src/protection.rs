//! Helpers for the account-protection tests: audit events in the server's
//! log, second client addresses, the password-change and session endpoints,
//! and throttling responses.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use crate::client::{Api, Reply};
use crate::server::AuthServer;

/// A second loopback address: a client bound to it is another IP address
/// to the server.
pub const OTHER_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Maximum wait for an audit event to reach the log file.
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Returns the loopback address `127.0.0.{last}`.
pub fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// Returns every audit event in `log`: the JSON lines whose `target` is `audit`.
pub fn audit_events(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|value| value.get("target").and_then(Value::as_str) == Some("audit"))
        .collect()
}

/// Returns the audit events in `log` whose `event` is `name`, in log order.
pub fn events_named(log: &str, name: &str) -> Vec<Value> {
    audit_events(log)
        .into_iter()
        .filter(|event| event.get("event").and_then(Value::as_str) == Some(name))
        .collect()
}

/// Waits until the server's log contains at least `count` audit events
/// named `name`, and returns them all. Panics with the log after 5 s.
pub async fn wait_for_events(server: &AuthServer, name: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        let events = events_named(&server.log_text(), name);
        if events.len() >= count {
            return events;
        }
        if Instant::now() > deadline {
            panic!(
                "{} audit event(s) {name:?} in the log, expected {count}:\n{}",
                events.len(),
                server.log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits for one more audit event named `name` than `before` and returns
/// the newest.
pub async fn wait_for_next_event(server: &AuthServer, name: &str, before: usize) -> Value {
    let events = wait_for_events(server, name, before + 1).await;
    events.last().cloned().unwrap_or(Value::Null)
}

/// Returns the string field `field` of an audit event, or `""`.
pub fn field<'a>(event: &'a Value, field: &str) -> &'a str {
    event.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// Decodes the payload of a JWT without checking the signature, which is
/// enough to read `sub` and `sid` of a token the test just received.
pub fn unverified_claims(token: &str) -> Value {
    let payload = token
        .split('.')
        .nth(1)
        .unwrap_or_else(|| panic!("not a JWT: {} characters", token.len()));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("a base64url JWT payload");
    serde_json::from_slice(&bytes).expect("a JSON JWT payload")
}

/// `POST /password` with the bearer token `access` and a JSON body.
pub async fn change_password(api: &Api, access: &str, current: &str, new: &str) -> Reply {
    api.remember(current);
    api.remember(new);
    let body = serde_json::json!({ "current_password": current, "new_password": new });
    let request = api.post("/password").bearer_auth(access).json(&body);
    api.send(request).await
}

/// `GET /sessions` with the bearer token `access`.
pub async fn list_sessions(api: &Api, access: &str) -> Reply {
    api.send(api.get("/sessions").bearer_auth(access)).await
}

/// Returns the ids of the live sessions `GET /sessions` lists for `access`'s user.
pub async fn live_session_ids(api: &Api, access: &str) -> Vec<String> {
    let reply = list_sessions(api, access).await;
    assert_eq!(reply.status, 200, "GET /sessions: {}", reply.describe());
    reply.json()["sessions"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|s| s["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts that `reply` is a 429 `too_many_requests` with a numeric
/// `Retry-After` of at least one second, and returns that number.
pub fn assert_too_many_requests(reply: &Reply) -> u64 {
    assert_eq!(reply.status, 429, "expected 429: {}", reply.describe());
    assert_eq!(
        reply.error().as_deref(),
        Some("too_many_requests"),
        "{}",
        reply.describe()
    );
    let retry_after = reply
        .header("retry-after")
        .unwrap_or_else(|| panic!("a 429 without Retry-After: {}", reply.describe()));
    let seconds: u64 = retry_after
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is not a number of seconds: {retry_after:?}"));
    assert!(seconds >= 1, "Retry-After is {seconds}");
    seconds
}

/// Returns the median of `samples` (the upper one of an even count).
pub fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}
