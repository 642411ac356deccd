//! Prometheus metrics, served at `/metrics` in the text format.
//!
//! Labels are bounded: routes are the registered patterns (not raw paths),
//! and outcomes and grants come from fixed lists, so a client cannot grow
//! the number of series.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// HTTP answers by route pattern, method and status.
    pub requests: IntCounterVec,
    /// HTTP latency by route pattern.
    pub request_seconds: HistogramVec,
    /// Access tokens issued, by grant type.
    pub tokens_issued: IntCounterVec,
    /// Refresh attempts by outcome.
    pub refresh_outcomes: IntCounterVec,
    /// Store calls that failed, by operation.
    pub store_errors: IntCounterVec,
    /// Store call latency, by operation.
    pub store_seconds: HistogramVec,
    /// Password-hash requests waiting for a thread.
    pub hash_queue_depth: IntGauge,
    /// argon2id runs (hashes and checks) since start.
    pub hashes: IntCounter,
    /// Signing keys by state.
    pub keys: IntGaugeVec,
}

fn buckets() -> Vec<f64> {
    vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    ]
}

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("auth".into()), None).unwrap_or_else(|_| Registry::new());
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP answers by route, method and status",
            ),
            &["route", "method", "status"],
        );
        let request_seconds = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP latency by route")
                .buckets(buckets()),
            &["route"],
        );
        let tokens_issued = IntCounterVec::new(
            Opts::new("tokens_issued_total", "Access tokens issued by grant type"),
            &["grant"],
        );
        let refresh_outcomes = IntCounterVec::new(
            Opts::new("refresh_total", "Refresh attempts by outcome"),
            &["outcome"],
        );
        let store_errors = IntCounterVec::new(
            Opts::new("store_errors_total", "Failed store calls by operation"),
            &["operation"],
        );
        let store_seconds = HistogramVec::new(
            HistogramOpts::new("store_duration_seconds", "Store call latency by operation")
                .buckets(buckets()),
            &["operation"],
        );
        let hash_queue_depth = IntGauge::new(
            "password_hash_queue_depth",
            "Password hashes waiting for a thread",
        );
        let hashes = IntCounter::new(
            "password_hashes_total",
            "argon2id runs since start: new hashes and checks, dummy checks included",
        );
        let keys = IntGaugeVec::new(
            Opts::new("signing_keys", "Signing keys by state"),
            &["state"],
        );
        #[allow(clippy::expect_used)]
        let metrics = Self {
            requests: requests.expect("valid metric"),
            request_seconds: request_seconds.expect("valid metric"),
            tokens_issued: tokens_issued.expect("valid metric"),
            refresh_outcomes: refresh_outcomes.expect("valid metric"),
            store_errors: store_errors.expect("valid metric"),
            store_seconds: store_seconds.expect("valid metric"),
            hash_queue_depth: hash_queue_depth.expect("valid metric"),
            hashes: hashes.expect("valid metric"),
            keys: keys.expect("valid metric"),
            registry,
        };
        metrics.register_all();
        metrics
    }

    fn register_all(&self) {
        let collectors: [Box<dyn prometheus::core::Collector>; 9] = [
            Box::new(self.requests.clone()),
            Box::new(self.request_seconds.clone()),
            Box::new(self.tokens_issued.clone()),
            Box::new(self.refresh_outcomes.clone()),
            Box::new(self.store_errors.clone()),
            Box::new(self.store_seconds.clone()),
            Box::new(self.hash_queue_depth.clone()),
            Box::new(self.hashes.clone()),
            Box::new(self.keys.clone()),
        ];
        for collector in collectors {
            if let Err(error) = self.registry.register(collector) {
                tracing::error!(%error, "metric registration failed");
            }
        }
    }

    /// Counts one refresh outcome: `rotated`, `grace_replay`,
    /// `reuse_detected`, `invalid`, `wrong_client` or `unavailable`.
    pub fn refresh(&self, outcome: &'static str) {
        self.refresh_outcomes.with_label_values(&[outcome]).inc();
    }

    /// Counts one issued access token.
    pub fn issued(&self, grant: &'static str) {
        self.tokens_issued.with_label_values(&[grant]).inc();
    }

    /// Records one store call.
    pub fn store_call(&self, operation: &'static str, seconds: f64, failed: bool) {
        self.store_seconds
            .with_label_values(&[operation])
            .observe(seconds);
        if failed {
            self.store_errors.with_label_values(&[operation]).inc();
        }
    }

    /// Encodes every metric in the Prometheus text format.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 * 1024);
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(%error, "metric encoding failed");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
