//! Closed-loop and open-loop drivers.
//!
//! Closed loop: each worker owns one connection and sends its next request
//! as soon as the previous answer is read; latency runs from the send.
//!
//! Open loop: a pacer thread emits send times at a fixed rate; a free
//! worker takes the next one, waits for it if it lies ahead, and sends.
//! Latency runs from the *scheduled* time, so a stalled server is charged
//! for the requests that queued behind the stall (no coordinated omission).
//! When all workers are busy the backlog waits in the queue and its wait is
//! counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc};

use crate::conn::Conn;
use crate::report::Recorder;
use crate::workload::Source;

/// How long an open-loop run may go on draining its backlog after the
/// schedule ends; sends still queued then are counted as missed.
const DRAIN: Duration = Duration::from_secs(5);

/// Pause after a failed exchange, so that a refused connection does not
/// become a busy loop.
const ERROR_PAUSE: Duration = Duration::from_millis(5);

/// The run's time line: warm-up from `start`, measurement from `measure`
/// until `end`.
#[derive(Clone, Copy)]
pub struct Window {
    pub start: Instant,
    pub measure: Instant,
    pub end: Instant,
}

impl Window {
    pub fn new(warmup: Duration, duration: Duration) -> Self {
        let start = Instant::now();
        Self {
            start,
            measure: start + warmup,
            end: start + warmup + duration,
        }
    }
}

/// What the workers hand back: their records, their sources (for the
/// chain counts) and how many connections they opened.
pub struct Outcome {
    pub recorder: Recorder,
    pub sources: Vec<Source>,
    pub connections_opened: u64,
}

async fn collect(handles: Vec<tokio::task::JoinHandle<(Recorder, Source, u64)>>) -> Outcome {
    let mut outcome = Outcome {
        recorder: Recorder::new(),
        sources: Vec::new(),
        connections_opened: 0,
    };
    for handle in handles {
        match handle.await {
            Ok((recorder, source, opened)) => {
                outcome.recorder.merge(recorder);
                outcome.sources.push(source);
                outcome.connections_opened += opened;
            }
            Err(error) => eprintln!("loadgen: a worker failed: {error}"),
        }
    }
    outcome
}

/// Runs one closed-loop worker per source.
pub async fn closed_loop(addr: SocketAddr, sources: Vec<Source>, window: Window) -> Outcome {
    let handles = sources
        .into_iter()
        .map(|source| tokio::spawn(closed_worker(addr, source, window)))
        .collect();
    collect(handles).await
}

async fn closed_worker(
    addr: SocketAddr,
    mut source: Source,
    window: Window,
) -> (Recorder, Source, u64) {
    let mut conn = Conn::new(addr);
    let mut recorder = Recorder::new();
    loop {
        let start = Instant::now();
        if start >= window.end {
            break;
        }
        let Some(request) = source.next() else { break };
        let reply = conn.send(request).await;
        let done = Instant::now();
        let ok = source.done(&reply);
        if start >= window.measure {
            recorder.record(done - start, &reply, ok, done);
        }
        if reply.is_err() {
            tokio::time::sleep(ERROR_PAUSE).await;
        }
    }
    (recorder, source, conn.opened)
}

/// Runs `sources.len()` workers that share a schedule of `rate` sends per
/// second.
pub async fn open_loop(
    addr: SocketAddr,
    sources: Vec<Source>,
    window: Window,
    rate: f64,
) -> Outcome {
    let (tx, rx) = mpsc::unbounded_channel();
    let pacer = std::thread::spawn(move || pace(rate, window, tx));
    let rx = Arc::new(Mutex::new(rx));
    let handles = sources
        .into_iter()
        .map(|source| tokio::spawn(open_worker(addr, source, window, rx.clone())))
        .collect();
    let mut outcome = collect(handles).await;
    if pacer.join().is_err() {
        eprintln!("loadgen: the pacer thread failed");
    }
    // Sends nobody took: every worker stopped (dead chains) or ran past the
    // drain limit.
    let mut rx = rx.lock().await;
    while let Ok(scheduled) = rx.try_recv() {
        if scheduled >= window.measure {
            outcome.recorder.missed += 1;
        }
    }
    outcome
}

/// Emits the send times `start + i / rate` until the window ends. A late
/// pacer emits the overdue times at once rather than skipping them.
fn pace(rate: f64, window: Window, tx: mpsc::UnboundedSender<Instant>) {
    let mut i: u64 = 0;
    loop {
        let at = window.start + Duration::from_secs_f64(i as f64 / rate);
        if at >= window.end {
            break;
        }
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        if tx.send(at).is_err() {
            break;
        }
        i += 1;
    }
}

async fn open_worker(
    addr: SocketAddr,
    mut source: Source,
    window: Window,
    rx: Arc<Mutex<mpsc::UnboundedReceiver<Instant>>>,
) -> (Recorder, Source, u64) {
    let mut conn = Conn::new(addr);
    let mut recorder = Recorder::new();
    loop {
        let next = rx.lock().await.recv().await;
        let Some(scheduled) = next else { break };
        let measured = scheduled >= window.measure;
        if Instant::now() > window.end + DRAIN {
            recorder.missed += u64::from(measured);
            continue;
        }
        let Some(request) = source.next() else {
            recorder.missed += u64::from(measured);
            break;
        };
        let sent = Instant::now();
        let reply = conn.send(request).await;
        let done = Instant::now();
        let ok = source.done(&reply);
        if measured {
            recorder.record(done - scheduled, &reply, ok, done);
            recorder.record_open(done - sent, sent.saturating_duration_since(scheduled));
        }
        if reply.is_err() {
            tokio::time::sleep(ERROR_PAUSE).await;
        }
    }
    (recorder, source, conn.opened)
}
