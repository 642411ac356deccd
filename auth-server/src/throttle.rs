//! Login and sign-up throttling, kept in the store so that every instance
//! shares the counts.
//!
//! Built so that it can neither lock someone out of their account nor tell
//! which accounts exist:
//! - hard limits count attempts per (username, client IP) and per client
//!   IP, and return 429 with `Retry-After` until the window ends. A
//!   successful login takes its attempt back, so the limits bind failures
//!   and a flood from one address blocks only that address;
//! - failures per username alone add a growing delay (capped) instead of a
//!   lock, so an attacker spread over many addresses slows guessing while
//!   the owner can still log in;
//! - counters key on the normalized username whether or not it exists;
//! - a successful login resets its (username, IP) counter.
//!
//! Counter names carry a SHA-256 prefix of the username, never the name.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use crate::backend::AnyStore;
use crate::config::Settings;
use crate::store::StoreError;

/// A request over a hard limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Seconds until the window ends.
    pub retry_after_secs: u64,
}

/// Throttle limits, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Window of every login counter, in milliseconds.
    pub window_ms: i64,
    /// Failures allowed per (username, IP) in a window.
    pub per_user_ip: u64,
    /// Failures allowed per IP in a window.
    pub per_ip: u64,
    /// Failures per username in a window before delays start.
    pub user_free: u64,
    /// Maximum delay per username.
    pub user_max_delay: Duration,
    /// Sign-ups allowed per IP in a sign-up window.
    pub signups_per_ip: u64,
    /// Window of the sign-up counter, in milliseconds.
    pub signup_window_ms: i64,
}

impl Limits {
    /// Reads the limits from the settings.
    pub fn from_settings(settings: &Settings) -> Self {
        settings.throttle
    }
}

fn digest(parts: &[&str]) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        context.update(part.as_bytes());
        context.update(&[0]);
    }
    context.finish().as_ref()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn retry_after(ttl_ms: i64) -> Limited {
    Limited {
        retry_after_secs: (ttl_ms.max(1000) as u64).div_ceil(1000),
    }
}

/// Progressive delay after `failures` failures for one username:
/// nothing up to `free`, then 250 ms doubling per failure, capped.
pub fn user_delay(failures: u64, limits: &Limits) -> Duration {
    if failures <= limits.user_free {
        return Duration::ZERO;
    }
    let steps = (failures - limits.user_free - 1).min(16) as u32;
    Duration::from_millis(250u64.saturating_mul(1 << steps)).min(limits.user_max_delay)
}

/// Returns the address a counter keys on: an IPv4 address, or the /64
/// network of an IPv6 address. One IPv6 client usually has a whole /64 and
/// could otherwise take a fresh address for every guess.
fn client_key(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                format!("{}/64", Ipv6Addr::from(segments))
            }
        },
        _ => ip.to_owned(),
    }
}

fn ip_counter(ip: &str) -> String {
    format!("ip:{}", digest(&[&client_key(ip)]))
}

fn pair_counter(username: &str, ip: &str) -> String {
    format!("uip:{}", digest(&[username, &client_key(ip)]))
}

fn user_counter(username: &str) -> String {
    format!("u:{}", digest(&[username]))
}

/// Counts a password attempt against the hard limits before the password
/// is checked, and returns the delay to apply for the username.
///
/// The attempt is counted first, atomically, so guesses sent in parallel
/// cannot all pass a check that reads the counters before any of them is
/// added. A refused attempt takes its count back at once, and a success in
/// [`login_succeeded`], so the counters count the password checks that
/// failed or are still running.
pub async fn before_login(
    store: &AnyStore,
    limits: &Limits,
    username: &str,
    ip: &str,
) -> Result<Result<Duration, Limited>, StoreError> {
    let window = limits.window_ms;
    let (ip_count, ip_ttl) = store.add_counter(&ip_counter(ip), 1, window).await?;
    if ip_count > limits.per_ip {
        // A refused attempt checks no password, so it gives its count back:
        // otherwise refusals (retries, parallel logins) would pile up and
        // keep the address locked although nothing was guessed.
        store.add_counter(&ip_counter(ip), -1, window).await?;
        return Ok(Err(retry_after(ip_ttl)));
    }
    let (pair_count, pair_ttl) = store
        .add_counter(&pair_counter(username, ip), 1, window)
        .await?;
    if pair_count > limits.per_user_ip {
        release_attempt(store, limits, username, ip).await?;
        return Ok(Err(retry_after(pair_ttl)));
    }
    let (user_count, _) = store.peek_counter(&user_counter(username)).await?;
    Ok(Ok(user_delay(user_count, limits)))
}

/// Takes back an attempt that never reached a password check, such as one
/// shed because the hashing queue was full.
pub async fn release_attempt(
    store: &AnyStore,
    limits: &Limits,
    username: &str,
    ip: &str,
) -> Result<(), StoreError> {
    let window = limits.window_ms;
    store
        .add_counter(&pair_counter(username, ip), -1, window)
        .await?;
    store.add_counter(&ip_counter(ip), -1, window).await?;
    Ok(())
}

/// Counts a failed login for the username alone; the address counters
/// already hold the attempt.
pub async fn login_failed(
    store: &AnyStore,
    limits: &Limits,
    username: &str,
) -> Result<(), StoreError> {
    store
        .add_counter(&user_counter(username), 1, limits.window_ms)
        .await?;
    Ok(())
}

/// After a successful login: resets the (username, IP) counter and takes
/// the attempt back from the IP counter.
pub async fn login_succeeded(
    store: &AnyStore,
    limits: &Limits,
    username: &str,
    ip: &str,
) -> Result<(), StoreError> {
    store.reset_counter(&pair_counter(username, ip)).await?;
    store
        .add_counter(&ip_counter(ip), -1, limits.window_ms)
        .await?;
    Ok(())
}

/// Counts a sign-up attempt from `ip`; over the limit, it is refused.
pub async fn sign_up(
    store: &AnyStore,
    limits: &Limits,
    ip: &str,
) -> Result<Result<(), Limited>, StoreError> {
    let key = format!("su:{}", digest(&[&client_key(ip)]));
    let (count, ttl) = store.add_counter(&key, 1, limits.signup_window_ms).await?;
    if count > limits.signups_per_ip {
        return Ok(Err(retry_after(ttl)));
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            window_ms: 900_000,
            per_user_ip: 5,
            per_ip: 50,
            user_free: 5,
            user_max_delay: Duration::from_secs(4),
            signups_per_ip: 20,
            signup_window_ms: 3_600_000,
        }
    }

    #[test]
    fn delay_grows_then_caps() {
        let limits = limits();
        assert_eq!(user_delay(5, &limits), Duration::ZERO);
        assert_eq!(user_delay(6, &limits), Duration::from_millis(250));
        assert_eq!(user_delay(7, &limits), Duration::from_millis(500));
        assert_eq!(user_delay(1000, &limits), Duration::from_secs(4));
    }

    #[test]
    fn ipv6_addresses_of_one_network_share_a_key() {
        assert_eq!(
            client_key("2001:db8:1:2::1"),
            client_key("2001:db8:1:2::99")
        );
        assert_ne!(client_key("2001:db8:1:2::1"), client_key("2001:db8:1:3::1"));
        assert_eq!(client_key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(client_key("192.0.2.1"), "192.0.2.1");
    }

    #[test]
    fn counter_names_hide_the_username() {
        let name = digest(&["alice", "127.0.0.1"]);
        assert!(!name.contains("alice"));
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
    }
}
