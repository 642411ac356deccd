//! Latency histograms, status and error counts, and the printed summary.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::conn::Reply;

/// Highest latency the histograms hold, in microseconds (60 s).
const MAX_MICROS: u64 = 60_000_000;

fn histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, MAX_MICROS, 3) {
        Ok(h) => h,
        Err(error) => unreachable!("fixed histogram bounds: {error}"),
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(MAX_MICROS)
        .clamp(1, MAX_MICROS)
}

/// What one worker saw inside the measurement window.
pub struct Recorder {
    /// Latency: from the scheduled send time in open loop, from the actual
    /// send in closed loop.
    pub latency: Histogram<u64>,
    /// Open loop only: from the actual send to the end of the body.
    pub service: Histogram<u64>,
    /// Open loop only: how late the send was against its schedule.
    pub lag: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: BTreeMap<String, u64>,
    /// Answers the workload judged wrong (non-200, missing token, ...).
    pub failures: u64,
    /// Open loop: scheduled sends dropped because the run was over.
    pub missed: u64,
    pub last_done: Option<Instant>,
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            latency: histogram(),
            service: histogram(),
            lag: histogram(),
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            failures: 0,
            missed: 0,
            last_done: None,
        }
    }

    pub fn record(&mut self, latency: Duration, reply: &Reply, ok: bool, done: Instant) {
        // Values are clamped into the histogram's range, so this cannot fail.
        let _ = self.latency.record(micros(latency));
        match reply {
            Ok((status, _)) => *self.statuses.entry(status.as_u16()).or_default() += 1,
            Err(error) => *self.errors.entry(error.clone()).or_default() += 1,
        }
        if !ok {
            self.failures += 1;
        }
        if self.last_done.is_none_or(|last| done > last) {
            self.last_done = Some(done);
        }
    }

    pub fn record_open(&mut self, service: Duration, lag: Duration) {
        let _ = self.service.record(micros(service));
        let _ = self.lag.record(micros(lag));
    }

    pub fn merge(&mut self, other: Recorder) {
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        let _ = self.lag.add(&other.lag);
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        for (error, n) in other.errors {
            *self.errors.entry(error).or_default() += n;
        }
        self.failures += other.failures;
        self.missed += other.missed;
        if let Some(done) = other.last_done
            && self.last_done.is_none_or(|last| done > last)
        {
            self.last_done = Some(done);
        }
    }
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    let value = if q >= 1.0 {
        h.max()
    } else {
        h.value_at_quantile(q)
    };
    value as f64 / 1000.0
}

fn quantiles(h: &Histogram<u64>) -> Value {
    json!({
        "p50": ms(h, 0.5),
        "p90": ms(h, 0.9),
        "p99": ms(h, 0.99),
        "p999": ms(h, 0.999),
        "max": ms(h, 1.0),
        "mean": h.mean().round() / 1000.0,
    })
}

/// The facts of a run besides the recorder.
pub struct RunInfo {
    pub label: String,
    pub workload: String,
    pub mode: String,
    pub concurrency: usize,
    pub rate: Option<f64>,
    pub window: Duration,
    pub chains: Option<(u64, u64, u64)>,
    pub connections_opened: u64,
}

/// The JSON summary of a run.
pub fn summary(info: &RunInfo, rec: &Recorder) -> Value {
    let requests = rec.latency.len();
    let seconds = info.window.as_secs_f64();
    let rps = if seconds > 0.0 {
        (requests as f64 / seconds).round() as u64
    } else {
        0
    };
    let mut out = json!({
        "label": info.label,
        "tool": "loadgen",
        "workload": info.workload,
        "mode": info.mode,
        "concurrency": info.concurrency,
        "requests": requests,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "rps": rps,
        "lat_ms": quantiles(&rec.latency),
        "statuses": rec.statuses,
        "errors": rec.errors,
        "failures": rec.failures,
        "connections_opened": info.connections_opened,
    });
    if let Some(rate) = info.rate {
        out["target_rate"] = json!(rate);
        out["service_ms"] = quantiles(&rec.service);
        out["send_lag_ms"] = quantiles(&rec.lag);
        out["missed"] = json!(rec.missed);
    }
    if let Some((live, dead, rotations)) = info.chains {
        out["chains_live"] = json!(live);
        out["chains_dead"] = json!(dead);
        out["rotations_incl_warmup"] = json!(rotations);
    }
    out
}

/// One Markdown table row: label, tool, mode, req/s, p50, p99, p999, max,
/// failures.
pub fn table_row(v: &Value) -> String {
    let lat = &v["lat_ms"];
    format!(
        "| {} | loadgen | {} c={} | {} | {} | {} | {} | {} | {} |",
        v["label"].as_str().unwrap_or(""),
        v["mode"].as_str().unwrap_or(""),
        v["concurrency"],
        v["rps"],
        lat["p50"],
        lat["p99"],
        lat["p999"],
        lat["max"],
        v["failures"],
    )
}
