//! Refresh traffic over many native sessions, for fault tests. Each session
//! has its own task that refreshes in a loop, always with the newest refresh
//! token it received, and records when the server acknowledged it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::client::{Api, Tokens, User};
use crate::protection::unverified_claims;

/// One session's chain of refresh tokens, as its client sees it.
#[derive(Debug, Clone)]
pub struct RefreshChain {
    /// Position of the session in the test, for messages.
    pub index: usize,
    /// The session id (`sid` of the access tokens).
    pub session_id: String,
    /// The newest refresh token received, which the client sends next.
    pub latest: String,
    /// The refresh token that `latest` replaced, `None` before the first
    /// rotation.
    pub previous: Option<String>,
    /// The access token issued with `latest`.
    pub access_token: String,
    /// When the response that carried `latest` arrived.
    pub acknowledged_at: Instant,
    /// Rotations the server acknowledged with a 200.
    pub rotations: u32,
    /// Why the last request got no 200, when it did not.
    pub failure: Option<Failure>,
}

/// A refresh request that got no 200.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The response status, or `None` when no response arrived (a transport
    /// error, such as a server killed mid-request).
    pub status: Option<u16>,
    /// The response or the transport error, for messages.
    pub description: String,
}

impl RefreshChain {
    /// Starts a chain from a login or sign-up response.
    pub fn new(index: usize, tokens: &Tokens) -> Self {
        RefreshChain {
            index,
            session_id: session_id_of(&tokens.access_token),
            latest: tokens.refresh(),
            previous: None,
            access_token: tokens.access_token.clone(),
            acknowledged_at: Instant::now(),
            rotations: 0,
            failure: None,
        }
    }

    /// Logs `user` in `count` times on `cli` and returns one chain per
    /// session, indexed from 0.
    pub async fn log_in_many(api: &Api, user: &User, count: usize) -> Vec<Self> {
        let mut chains = Vec::with_capacity(count);
        for index in 0..count {
            let tokens = api.login_native(user).await;
            chains.push(Self::new(index, &tokens));
        }
        chains
    }

    /// Returns whether a request was sent and got no response at all.
    pub fn lost_a_response(&self) -> bool {
        self.failure.as_ref().is_some_and(|f| f.status.is_none())
    }

    fn accept(&mut self, tokens: &Tokens) {
        let successor = tokens.refresh();
        self.previous = Some(std::mem::replace(&mut self.latest, successor));
        self.access_token = tokens.access_token.clone();
        self.acknowledged_at = Instant::now();
        self.rotations += 1;
    }
}

/// Returns the `sid` claim of an access token.
fn session_id_of(access_token: &str) -> String {
    unverified_claims(access_token)["sid"]
        .as_str()
        .expect("an access token of a user session has a sid")
        .to_owned()
}

/// Bounds of a [`Traffic`] run, per session.
#[derive(Debug, Clone, Copy)]
pub struct TrafficLimits {
    /// Refresh requests sent at most.
    pub max_requests: usize,
    /// Time after which no new request is sent.
    pub max_duration: Duration,
}

impl Default for TrafficLimits {
    fn default() -> Self {
        TrafficLimits {
            max_requests: 5_000,
            max_duration: Duration::from_secs(60),
        }
    }
}

/// Refresh tasks, one per session. A task sends one request at a time and
/// ends at its first response other than 200, at its first transport error,
/// after [`Traffic::stop`], or at its [`TrafficLimits`].
#[derive(Debug)]
pub struct Traffic {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<RefreshChain>>,
}

impl Traffic {
    /// Starts one task per chain, all with `api`'s address and user agent.
    pub fn start(api: &Api, chains: Vec<RefreshChain>, limits: TrafficLimits) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = chains
            .into_iter()
            .map(|chain| {
                let (api, stop) = (api.clone(), Arc::clone(&stop));
                tokio::spawn(refresh_loop(api, chain, stop, limits))
            })
            .collect();
        Traffic { stop, tasks }
    }

    /// Tells every task to send no further request. A request already sent
    /// still completes.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Waits for every task to end and returns the chains in their
    /// original order. Panics when a task is still running after `timeout`.
    pub async fn join(self, timeout: Duration) -> Vec<RefreshChain> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut chains = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            match tokio::time::timeout_at(deadline, task).await {
                Ok(Ok(chain)) => chains.push(chain),
                Ok(Err(error)) => panic!("a refresh task failed: {error}"),
                Err(_) => panic!("a refresh task was still running after {timeout:?}"),
            }
        }
        chains
    }
}

async fn refresh_loop(
    api: Api,
    mut chain: RefreshChain,
    stop: Arc<AtomicBool>,
    limits: TrafficLimits,
) -> RefreshChain {
    let deadline = Instant::now() + limits.max_duration;
    for _ in 0..limits.max_requests {
        if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
            break;
        }
        match api.try_refresh_native(&chain.latest).await {
            Ok(reply) if reply.status == 200 => chain.accept(&reply.tokens()),
            Ok(reply) => {
                chain.failure = Some(Failure {
                    status: Some(reply.status),
                    description: reply.describe(),
                });
                break;
            }
            Err(error) => {
                chain.failure = Some(Failure {
                    status: None,
                    description: format!("transport error: {error}"),
                });
                break;
            }
        }
    }
    chain
}
