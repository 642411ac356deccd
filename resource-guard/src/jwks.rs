//! The remote key source: a JWKS document fetched over HTTPS and cached.
//!
//! - Fetched at start-up, then refreshed in the background after the
//!   response's `max-age` (clamped to the refresh bounds).
//! - An unknown `kid` starts a refetch only when none is running (single
//!   flight) and none started within the cooldown.
//! - A failed refresh keeps the last good keys up to the maximum staleness;
//!   failures are logged and counted ([`JwksCache::stats`]).
//! - Each fetch has a timeout and a body size cap, enforced while the body
//!   streams in; no lock is held while a fetch runs.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use reqwest::header::{ACCEPT, CACHE_CONTROL, HeaderMap};
use shared::{Jwk, JwkSet};
use tokio::runtime::Handle;
use tokio::sync::watch;
use url::Url;

use crate::clock::{Clock, SystemClock};
use crate::error::{ConfigError, ValidationError};
use crate::keys::KeySet;
use crate::source::{KeySource, Refetch};
use crate::validator::check_url;

/// Default fetch timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default cap on a JWKS body, in bytes.
pub const DEFAULT_MAX_BODY: usize = 256 * 1024;
/// Default longest time the last good keys stay in use after refreshes fail.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(24 * 3600);
/// Default shortest time between two fetches started by unknown `kid`s.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
/// Default refresh interval when the response has no `max-age`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// Default lower bound on the refresh interval.
pub const DEFAULT_MIN_REFRESH: Duration = Duration::from_secs(60);
/// Default upper bound on the refresh interval.
pub const DEFAULT_MAX_REFRESH: Duration = Duration::from_secs(3600);

/// The reason a JWKS fetch failed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FetchFailure {
    /// The fetch took longer than the timeout.
    #[error("timed out")]
    Timeout,
    /// The connection or HTTP exchange failed.
    #[error("HTTP request failed")]
    Http,
    /// The server responded with a status other than 200.
    #[error("unexpected HTTP status")]
    Status,
    /// The body exceeded the size cap.
    #[error("body over the size cap")]
    TooLarge,
    /// The body is not a JWK Set.
    #[error("body is not a JWK Set")]
    InvalidJson,
    /// The set contains no key that can verify tokens.
    #[error("no usable key in the set")]
    NoUsableKeys,
}

/// Counters and state of a [`JwksCache`], for metrics and health checks.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwksStats {
    /// Fetches started, of any cause.
    pub fetches: u64,
    /// Fetches that failed.
    pub failures: u64,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// Fetches started because of an unknown `kid`.
    pub unknown_kid_fetches: u64,
    /// The reason the last failed fetch failed.
    pub last_failure: Option<FetchFailure>,
    /// When keys were last loaded, in ms since the Unix epoch.
    pub loaded_at_ms: Option<i64>,
    /// Usable keys in the current set.
    pub key_count: usize,
}

/// Configures a [`JwksCache`].
pub struct JwksCacheBuilder {
    url: String,
    timeout: Duration,
    max_body: usize,
    max_staleness: Duration,
    cooldown: Duration,
    default_refresh: Duration,
    min_refresh: Duration,
    max_refresh: Duration,
    allow_http: bool,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for JwksCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksCacheBuilder")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl JwksCacheBuilder {
    /// Time allowed for one fetch, connection to last byte. Default 5 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Largest JWKS body accepted, in bytes; reading stops at the cap.
    /// Default 256 KiB.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Sets how long the last good keys stay in use while refreshes fail.
    /// After that, validations fail with `KeysUnavailable` (HTTP 503).
    /// Default 24 h.
    pub fn max_staleness(mut self, staleness: Duration) -> Self {
        self.max_staleness = staleness;
        self
    }

    /// Shortest time between fetches caused by unknown `kid`s, and the
    /// retry delay after a failed fetch. Default 30 s.
    pub fn refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Bounds for the background refresh interval taken from `max-age`,
    /// and the interval used without one. Defaults 1 min, 1 h and 5 min.
    pub fn refresh_interval(mut self, min: Duration, default: Duration, max: Duration) -> Self {
        self.min_refresh = min;
        self.default_refresh = default;
        self.max_refresh = max;
        self
    }

    /// Allows a plain-`http` JWKS URL on any host, for a private network
    /// where TLS ends in front of the issuer. Without TLS, anyone on the
    /// path can substitute keys and so forge tokens. Default: `https`
    /// only, except on loopback hosts.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Clock for key age and cooldown. Default: the system clock.
    pub fn clock<C: Clock>(mut self, clock: Arc<C>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the settings, starts the first fetch and the background
    /// refresh on the current Tokio runtime, and returns at once. Until the
    /// first fetch succeeds, validations fail with `KeysUnavailable`.
    pub fn start(self) -> Result<Arc<JwksCache>, ConfigError> {
        let url = check_url(&self.url, "JWKS", self.allow_http)?;
        self.check_ranges()?;
        let runtime = Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(url.scheme() == "https")
            .build()
            .map_err(|_| ConfigError::HttpClient)?;
        let cache = Arc::new_cyclic(|me| JwksCache {
            me: me.clone(),
            url,
            client,
            runtime,
            settings: self,
            current: RwLock::new(None),
            flight: Mutex::new(Flight::default()),
            done: watch::channel(0).0,
            counters: Counters::default(),
        });
        cache.spawn_refresh_loop();
        Ok(cache)
    }

    fn check_ranges(&self) -> Result<(), ConfigError> {
        let positive = |d: Duration| !d.is_zero();
        if !positive(self.timeout) || self.timeout > Duration::from_secs(60) {
            return Err(ConfigError::OutOfRange("timeout (0 < t <= 60 s)"));
        }
        if self.max_body < 1024 || self.max_body > 16 * 1024 * 1024 {
            return Err(ConfigError::OutOfRange("max body (1 KiB to 16 MiB)"));
        }
        if !positive(self.min_refresh)
            || self.min_refresh > self.default_refresh
            || self.default_refresh > self.max_refresh
        {
            return Err(ConfigError::OutOfRange(
                "refresh interval (0 < min <= default <= max)",
            ));
        }
        if !positive(self.cooldown) || !positive(self.max_staleness) {
            return Err(ConfigError::OutOfRange(
                "cooldown and max staleness must be positive",
            ));
        }
        Ok(())
    }
}

/// Keys in use and when they were fetched.
struct Loaded {
    keys: Arc<KeySet>,
    at_ms: i64,
}

#[derive(Default)]
struct Flight {
    running: bool,
    last_start_ms: Option<i64>,
    next_refresh: Option<Duration>,
}

#[derive(Default)]
struct Counters {
    fetches: AtomicU64,
    failures: AtomicU64,
    consecutive: AtomicU64,
    unknown_kid: AtomicU64,
    last_failure: Mutex<Option<FetchFailure>>,
}

/// A [`KeySource`] that fetches a JWKS document and keeps it fresh. See the
/// module docs for its behaviour; create it with [`JwksCache::builder`].
pub struct JwksCache {
    /// Lets `&self` methods spawn tasks that own the cache.
    me: Weak<JwksCache>,
    url: Url,
    client: reqwest::Client,
    runtime: Handle,
    settings: JwksCacheBuilder,
    current: RwLock<Option<Loaded>>,
    flight: Mutex<Flight>,
    /// Bumped after every fetch, successful or not.
    done: watch::Sender<u64>,
    counters: Counters,
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksCache")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

/// Marks the end of a fetch when dropped: clears the running flag, records
/// when to refresh next, and wakes the waiters.
struct Landing<'a> {
    cache: &'a JwksCache,
    next: Duration,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        {
            let mut flight = self.cache.flight.lock().unwrap_or_else(|p| p.into_inner());
            flight.running = false;
            flight.next_refresh = Some(self.next);
        }
        self.cache.done.send_modify(|n| *n = n.wrapping_add(1));
    }
}

enum Begin {
    Started,
    Joined,
    CoolingDown,
}

impl JwksCache {
    /// Starts configuring a cache for the JWKS at `url`.
    pub fn builder(url: impl Into<String>) -> JwksCacheBuilder {
        JwksCacheBuilder {
            url: url.into(),
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            max_staleness: DEFAULT_MAX_STALENESS,
            cooldown: DEFAULT_COOLDOWN,
            default_refresh: DEFAULT_REFRESH,
            min_refresh: DEFAULT_MIN_REFRESH,
            max_refresh: DEFAULT_MAX_REFRESH,
            allow_http: false,
            clock: Arc::new(SystemClock),
        }
    }

    /// Waits until keys are loaded, at most `limit`; returns whether they are.
    pub async fn wait_until_loaded(&self, limit: Duration) -> bool {
        let mut rx = self.done.subscribe();
        let wait = async {
            while !self.is_loaded() {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
        self.is_loaded()
    }

    /// Fetches now, or joins the fetch already running, and waits for it.
    /// The cooldown does not apply.
    pub async fn refresh_now(self: &Arc<Self>) {
        let mut rx = self.done.subscribe();
        if !matches!(self.begin(false), Begin::CoolingDown) {
            self.wait(&mut rx).await;
        }
    }

    /// Counters and state, for metrics and health checks.
    pub fn stats(&self) -> JwksStats {
        let c = &self.counters;
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        JwksStats {
            fetches: c.fetches.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            consecutive_failures: c.consecutive.load(Ordering::Relaxed),
            unknown_kid_fetches: c.unknown_kid.load(Ordering::Relaxed),
            last_failure: *c.last_failure.lock().unwrap_or_else(|p| p.into_inner()),
            loaded_at_ms: current.as_ref().map(|l| l.at_ms),
            key_count: current.as_ref().map_or(0, |l| l.keys.len()),
        }
    }

    fn is_loaded(&self) -> bool {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    async fn wait(&self, rx: &mut watch::Receiver<u64>) {
        let limit = self.settings.timeout + Duration::from_secs(1);
        let _ = tokio::time::timeout(limit, rx.changed()).await;
    }

    /// Starts a fetch unless one is running (then joins it) or, when
    /// `cooldown` applies, one started too recently.
    fn begin(self: &Arc<Self>, cooldown: bool) -> Begin {
        let now = self.settings.clock.now_millis();
        {
            let mut flight = self.flight.lock().unwrap_or_else(|p| p.into_inner());
            if flight.running {
                return Begin::Joined;
            }
            let cooling = flight.last_start_ms.is_some_and(|at| {
                now.saturating_sub(at) < self.settings.cooldown.as_millis() as i64
            });
            if cooldown && cooling {
                return Begin::CoolingDown;
            }
            flight.running = true;
            flight.last_start_ms = Some(now);
        }
        let cache = Arc::clone(self);
        self.runtime
            .spawn(async move { cache.fetch_and_store().await });
        Begin::Started
    }

    async fn fetch_and_store(&self) {
        // `Landing` ends the flight when dropped, so a fetch future that is
        // cancelled or unwinds cannot leave `running` set forever.
        let mut landing = Landing {
            cache: self,
            next: self.settings.cooldown,
        };
        self.counters.fetches.fetch_add(1, Ordering::Relaxed);
        let outcome = tokio::time::timeout(self.settings.timeout, self.fetch())
            .await
            .unwrap_or(Err(FetchFailure::Timeout));
        match outcome {
            Ok((keys, max_age)) => {
                self.store(keys);
                landing.next = self.refresh_delay(max_age);
            }
            Err(failure) => self.record_failure(failure),
        }
    }

    fn store(&self, keys: KeySet) {
        let count = keys.len();
        let loaded = Loaded {
            keys: Arc::new(keys),
            at_ms: self.settings.clock.now_millis(),
        };
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(loaded);
        self.counters.consecutive.store(0, Ordering::Relaxed);
        tracing::debug!(url = %self.url, keys = count, "JWKS loaded");
    }

    fn record_failure(&self, failure: FetchFailure) {
        self.counters.failures.fetch_add(1, Ordering::Relaxed);
        let consecutive = self.counters.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
        *self
            .counters
            .last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(failure);
        tracing::warn!(
            url = %self.url,
            %failure,
            consecutive,
            "JWKS fetch failed; keeping the last good keys while they are fresh enough"
        );
    }

    fn refresh_delay(&self, max_age: Option<Duration>) -> Duration {
        let s = &self.settings;
        max_age
            .unwrap_or(s.default_refresh)
            .clamp(s.min_refresh, s.max_refresh)
    }

    async fn fetch(&self) -> Result<(KeySet, Option<Duration>), FetchFailure> {
        let mut response = self
            .client
            .get(self.url.clone())
            .header(ACCEPT, "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    FetchFailure::Timeout
                } else {
                    FetchFailure::Http
                }
            })?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchFailure::Status);
        }
        let cap = self.settings.max_body;
        if response
            .content_length()
            .is_some_and(|len| len > cap as u64)
        {
            return Err(FetchFailure::TooLarge);
        }
        let max_age = max_age(response.headers());

        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|_| FetchFailure::Http)? {
            if body.len() + chunk.len() > cap {
                return Err(FetchFailure::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let keys = parse_jwks(&body)?;
        Ok((keys, max_age))
    }

    fn spawn_refresh_loop(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let mut rx = self.done.subscribe();
        self.begin(false);
        self.runtime
            .spawn(async move { refresh_loop(weak, &mut rx).await });
    }
}

/// Waits for each fetch to finish, sleeps for the interval it set, then
/// fetches again; ends when the cache is dropped. Only a weak reference is
/// held across the sleep.
async fn refresh_loop(weak: Weak<JwksCache>, rx: &mut watch::Receiver<u64>) {
    loop {
        if rx.changed().await.is_err() {
            return;
        }
        let delay = match weak.upgrade() {
            Some(cache) => {
                cache
                    .flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .next_refresh
            }
            None => return,
        };
        tokio::time::sleep(delay.unwrap_or(DEFAULT_REFRESH)).await;
        let Some(cache) = weak.upgrade() else { return };
        // Forget fetches that ended while sleeping; wait for this one.
        rx.borrow_and_update();
        cache.begin(false);
    }
}

impl KeySource for JwksCache {
    fn key_set(&self) -> Result<Arc<KeySet>, ValidationError> {
        let now = self.settings.clock.now_millis();
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        match &*current {
            Some(loaded) => {
                let age = now.saturating_sub(loaded.at_ms);
                if age <= self.settings.max_staleness.as_millis() as i64 {
                    Ok(Arc::clone(&loaded.keys))
                } else {
                    Err(ValidationError::keys_unavailable(self.settings.cooldown))
                }
            }
            None => Err(ValidationError::keys_unavailable(self.settings.timeout)),
        }
    }

    fn unknown_kid(&self) -> Option<Refetch> {
        let this = self.me.upgrade()?;
        let mut rx = self.done.subscribe();
        match this.begin(true) {
            Begin::CoolingDown => None,
            started_or_joined => {
                if matches!(started_or_joined, Begin::Started) {
                    self.counters.unknown_kid.fetch_add(1, Ordering::Relaxed);
                }
                Some(Box::pin(async move {
                    let limit = this.settings.timeout + Duration::from_secs(1);
                    let _ = tokio::time::timeout(limit, rx.changed()).await;
                }))
            }
        }
    }
}

/// Reads `max-age` from `Cache-Control`; `no-cache`/`no-store` mean zero
/// (then clamped up to the minimum interval).
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-cache" || lower == "no-store" {
                return Some(Duration::ZERO);
            }
            if let Some(secs) = lower.strip_prefix("max-age=") {
                found = secs
                    .trim_matches('"')
                    .parse::<u64>()
                    .ok()
                    .map(Duration::from_secs);
            }
        }
    }
    found
}

/// Parses a JWKS body. Each key is read on its own, so one key of an
/// unknown shape does not hide the others.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<KeySet, FetchFailure> {
    #[derive(serde::Deserialize)]
    struct Raw {
        keys: Vec<serde_json::Value>,
    }
    let raw: Raw = serde_json::from_slice(body).map_err(|_| FetchFailure::InvalidJson)?;
    let keys = raw
        .keys
        .into_iter()
        .filter_map(|value| match serde_json::from_value::<Jwk>(value) {
            Ok(jwk) => Some(jwk),
            Err(_) => {
                tracing::warn!("JWK of an unknown shape left out of the key set");
                None
            }
        })
        .collect();
    let set = KeySet::from_jwk_set(&JwkSet { keys });
    if set.is_empty() {
        Err(FetchFailure::NoUsableKeys)
    } else {
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age(&headers(&["public, max-age=600"])),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            max_age(&headers(&["Max-Age=5"])),
            Some(Duration::from_secs(5))
        );
        assert_eq!(max_age(&headers(&["no-store"])), Some(Duration::ZERO));
        assert_eq!(
            max_age(&headers(&["public", "max-age=60"])),
            Some(Duration::from_secs(60))
        );
        assert_eq!(max_age(&headers(&["max-age=-1"])), None);
        assert_eq!(max_age(&headers(&[])), None);
    }

    #[test]
    fn jwks_bodies_are_parsed_key_by_key() {
        let body = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a",
            "x":"6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw"},{"kty":"OKP","use":"wrap"}]}"#;
        assert_eq!(parse_jwks(body).unwrap().len(), 1);
        assert_eq!(parse_jwks(b"{}").unwrap_err(), FetchFailure::InvalidJson);
        assert_eq!(
            parse_jwks(br#"{"keys":[1]}"#).unwrap_err(),
            FetchFailure::NoUsableKeys
        );
    }
}
