//! A Redis Cluster failover under steady refresh traffic. The master of the
//! shard that stores every test session is killed with SIGKILL and comes back
//! after its replica has taken over. Throughout, refreshes get 200 or 503
//! `temporarily_unavailable`, never `invalid_grant`. Every session refreshes
//! again on the same server process once the replica is promoted, before
//! the old master rejoins, and again after it has, and none is revoked as
//! reused.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use tests::client::CLI;
use tests::protection::{events_named, unverified_claims};
use tests::redis::RedisCluster;
use tests::server::{AuthServer, ServerOptions, Store};
use tests::{Api, Reply, assert_clean_error};

/// Sessions on the shard whose master is killed.
const SESSIONS: usize = 24;

/// Tasks sending refreshes, each for its own share of the sessions.
const TASKS: usize = 4;

/// Maximum sign-ups spent to find [`SESSIONS`] users on one shard. About
/// one user in three lands on each of the three masters.
const MAX_SIGNUPS: usize = 150;

/// Maximum time of each step (steady traffic, promotion, rejoining,
/// recovery) before the test gives up.
const PATIENCE: Duration = Duration::from_secs(30);

/// Pause before a request that got 503 is sent again.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Maximum requests of one task, so the traffic is bounded in count as
/// well as in time.
const MAX_REQUESTS_PER_TASK: usize = 5_000;

/// Status recorded for a request that got no HTTP response at all.
const NO_RESPONSE: u16 = 0;

/// Stage of the failover when a request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
enum Phase {
    /// Every node runs.
    Steady,
    /// The master is dead and its replica not yet promoted.
    Killed,
    /// The replica serves the shard's slots, and the old master is still
    /// down.
    Promoted,
    /// The old master is a synced replica of the promoted one.
    Rejoined,
    /// The test has seen enough, so the tasks return.
    Done,
}

impl Phase {
    const ALL: [Phase; 5] = [
        Phase::Steady,
        Phase::Killed,
        Phase::Promoted,
        Phase::Rejoined,
        Phase::Done,
    ];
}

/// One reply to a refresh, with the phase its request was sent in.
struct Answer {
    session: usize,
    phase: Phase,
    reply: Reply,
}

/// What the refresh tasks share with the test: the current phase and every
/// reply so far.
struct Traffic {
    phase: AtomicU8,
    answers: Mutex<Vec<Answer>>,
}

impl Traffic {
    fn new() -> Arc<Self> {
        Arc::new(Traffic {
            phase: AtomicU8::new(Phase::Steady as u8),
            answers: Mutex::new(Vec::new()),
        })
    }

    fn phase(&self) -> Phase {
        Phase::ALL[usize::from(self.phase.load(Ordering::SeqCst))]
    }

    fn enter(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    fn record(&self, answer: Answer) {
        self.answers.lock().expect("answers").push(answer);
    }

    /// Returns a description of every reply other than 200 and 503.
    fn unexpected(&self) -> Vec<String> {
        let answers = self.answers.lock().expect("answers");
        answers
            .iter()
            .filter(|a| a.reply.status != 200 && a.reply.status != 503)
            .map(|a| {
                format!(
                    "session {} {:?}: {}",
                    a.session,
                    a.phase,
                    a.reply.describe()
                )
            })
            .collect()
    }

    /// Returns the sessions that got a 200 to a request sent in `phase`.
    fn refreshed_in(&self, phase: Phase) -> BTreeSet<usize> {
        let answers = self.answers.lock().expect("answers");
        answers
            .iter()
            .filter(|a| a.phase == phase && a.reply.status == 200)
            .map(|a| a.session)
            .collect()
    }

    /// Returns the number of replies by phase and status.
    fn counts(&self) -> BTreeMap<(Phase, u16), usize> {
        let mut counts = BTreeMap::new();
        for answer in self.answers.lock().expect("answers").iter() {
            *counts
                .entry((answer.phase, answer.reply.status))
                .or_default() += 1;
        }
        counts
    }

    /// Waits until every session got a 200 to a request sent in `phase`.
    /// Panics at once on a reply other than 200 or 503, and after
    /// [`PATIENCE`].
    async fn wait_until_all_refreshed(&self, phase: Phase) {
        let started = Instant::now();
        loop {
            let unexpected = self.unexpected();
            assert!(
                unexpected.is_empty(),
                "replies other than 200 and 503:\n{}",
                unexpected.join("\n")
            );
            let refreshed = self.refreshed_in(phase).len();
            if refreshed == SESSIONS {
                return;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{refreshed} of {SESSIONS} sessions refreshed in phase {phase:?} within \
                 {PATIENCE:?}; replies by phase and status: {:?}",
                self.counts()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Sends one native refresh. A transport error becomes a reply with status
/// [`NO_RESPONSE`], so that the test reports it with the others.
async fn refresh(api: &Api, token: &str) -> Reply {
    let fields = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", CLI),
    ];
    match api.try_send(api.post("/token").form(&fields)).await {
        Ok(reply) => reply,
        Err(error) => Reply {
            status: NO_RESPONSE,
            headers: HeaderMap::new(),
            body: format!("no response: {error}"),
        },
    }
}

/// Refreshes one session until it gets a 200 or the test is done, sending
/// the same token again after each 503, as a client must. Stops at any
/// other reply, which the test reports. Returns the number of requests.
async fn refresh_session(
    api: &Api,
    traffic: &Traffic,
    session: usize,
    token: &mut String,
) -> usize {
    let mut requests = 0;
    loop {
        let phase = traffic.phase();
        if phase == Phase::Done {
            return requests;
        }
        let reply = refresh(api, token).await;
        requests += 1;
        let status = reply.status;
        if status == 200 {
            *token = reply.tokens().refresh();
        }
        traffic.record(Answer {
            session,
            phase,
            reply,
        });
        if status != 503 {
            return requests;
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// Refreshes `sessions` in turn until the test is done, then returns their
/// current tokens.
async fn refresh_traffic(
    api: Api,
    traffic: Arc<Traffic>,
    mut sessions: Vec<(usize, String)>,
) -> Vec<(usize, String)> {
    let deadline = Instant::now() + 5 * PATIENCE;
    let mut requests = 0;
    while traffic.phase() != Phase::Done
        && Instant::now() < deadline
        && requests < MAX_REQUESTS_PER_TASK
    {
        for (session, token) in &mut sessions {
            requests += refresh_session(&api, &traffic, *session, token).await;
        }
    }
    sessions
}

/// Signs up users until [`SESSIONS`] of them have their keys on one master.
/// Returns that master's index in [`RedisCluster::nodes`], the hash tag of
/// one of the users and their refresh tokens.
async fn sessions_on_one_shard(api: &Api, cluster: &RedisCluster) -> (usize, String, Vec<String>) {
    let mut target = None;
    let mut tag = String::new();
    let mut tokens = Vec::new();
    for _ in 0..MAX_SIGNUPS {
        let (_, signed_up) = api.new_native_user().await;
        let claims = unverified_claims(&signed_up.access_token);
        let user = claims["sub"].as_str().expect("sub claim");
        let user_tag = format!("{{{user}}}");
        let master = cluster
            .master_of(&user_tag)
            .expect("the master of the user's slot");
        if *target.get_or_insert(master) == master {
            tokens.push(signed_up.refresh());
            tag = user_tag;
        }
        if tokens.len() == SESSIONS {
            return (master, tag, tokens);
        }
    }
    panic!(
        "{MAX_SIGNUPS} sign-ups gave only {} users on one master",
        tokens.len()
    );
}

/// Waits until a master other than `killed` serves the slot of `tag`, and
/// returns its index.
async fn wait_for_promotion(cluster: &RedisCluster, tag: &str, killed: usize) -> usize {
    let started = Instant::now();
    loop {
        match cluster.master_of(tag) {
            Some(master) if master != killed => return master,
            _ => {}
        }
        assert!(
            started.elapsed() < PATIENCE,
            "no replica took over the slot of {tag} within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until node `node` is a replica whose link to its master is up.
async fn wait_for_replica(cluster: &RedisCluster, node: usize) {
    let started = Instant::now();
    loop {
        let info = cluster.nodes()[node].cli(&["INFO", "replication"]);
        let info = info.unwrap_or_default();
        if info.contains("role:slave") && info.contains("master_link_status:up") {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "node {node} was no synced replica within {PATIENCE:?}:\n{info}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Refreshes every session once more, retrying 503s, and asserts a 200.
async fn assert_every_session_refreshes(api: &Api, sessions: &[(usize, String)]) {
    for (session, token) in sessions {
        let started = Instant::now();
        loop {
            let reply = refresh(api, token).await;
            if reply.status == 200 {
                break;
            }
            assert_eq!(reply.status, 503, "session {session}: {}", reply.describe());
            assert!(
                started.elapsed() < PATIENCE,
                "session {session} got only 503 for {PATIENCE:?}"
            );
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
}

/// Returns the value of the sample `name` (labels included) in a Prometheus
/// text exposition, or 0 when the sample is absent.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_failover_keeps_every_session() {
    let mut cluster = RedisCluster::start();
    let store = Store::Cluster {
        cluster: &cluster,
        key_prefix: "failover:",
    };
    let options = ServerOptions::new(store).env("AUTH__THROTTLE__SIGNUPS_PER_IP", "1000");
    let server = AuthServer::start(options);
    let api = Api::new(&server);
    let (master, tag, tokens) = sessions_on_one_shard(&api, &cluster).await;

    let traffic = Traffic::new();
    let mut shares = vec![Vec::new(); TASKS];
    for (session, token) in tokens.into_iter().enumerate() {
        shares[session % TASKS].push((session, token));
    }
    let tasks: Vec<_> = shares
        .into_iter()
        .map(|share| tokio::spawn(refresh_traffic(api.clone(), Arc::clone(&traffic), share)))
        .collect();
    traffic.wait_until_all_refreshed(Phase::Steady).await;

    traffic.enter(Phase::Killed);
    cluster.nodes_mut()[master].kill();
    let promoted = wait_for_promotion(&cluster, &tag, master).await;
    traffic.enter(Phase::Promoted);
    // The promoted master has no replica, so its rotations do not wait for
    // one, and every session refreshes before the old master returns.
    traffic.wait_until_all_refreshed(Phase::Promoted).await;
    cluster.nodes_mut()[master].restart();
    wait_for_replica(&cluster, master).await;
    traffic.enter(Phase::Rejoined);
    traffic.wait_until_all_refreshed(Phase::Rejoined).await;
    traffic.enter(Phase::Done);
    let mut sessions = Vec::new();
    for task in tasks {
        sessions.extend(task.await.expect("a refresh task panicked"));
    }

    let counts = traffic.counts();
    eprintln!("node {master} killed, node {promoted} promoted; replies: {counts:?}");
    let unavailable = counts.get(&(Phase::Killed, 503)).copied().unwrap_or(0);
    assert!(
        unavailable > 0,
        "no 503 while the master was down: {counts:?}"
    );
    for answer in traffic.answers.lock().expect("answers").iter() {
        if answer.reply.status == 503 {
            assert_eq!(assert_clean_error(&answer.reply), "temporarily_unavailable");
        }
    }
    assert_every_session_refreshes(&api, &sessions).await;

    let reuse_events = events_named(&server.log_text(), "refresh_reuse");
    assert!(
        reuse_events.is_empty(),
        "sessions revoked as reused: {reuse_events:?}"
    );
    let metrics = api.send(api.get("/metrics")).await;
    assert_eq!(metrics.status, 200, "{}", metrics.describe());
    let rotated = sample(&metrics.body, "auth_refresh_total{outcome=\"rotated\"}");
    assert!(rotated > 0.0, "no rotation in /metrics:\n{}", metrics.body);
    let reused = sample(
        &metrics.body,
        "auth_refresh_total{outcome=\"reuse_detected\"}",
    );
    assert_eq!(reused, 0.0, "reuse counted in /metrics");
}

/// Returns how many `WAIT` commands the cluster's nodes have run.
fn wait_calls(cluster: &RedisCluster) -> u64 {
    cluster
        .nodes()
        .iter()
        .filter_map(|node| node.cli(&["INFO", "commandstats"]).ok())
        .flat_map(|info| {
            info.lines()
                .filter_map(|line| line.strip_prefix("cmdstat_wait:calls="))
                .filter_map(|rest| rest.split(',').next()?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// Refreshes a new user's session three times.
async fn refresh_a_few_times(api: &Api) {
    let (_, tokens) = api.new_native_user().await;
    let mut token = tokens.refresh();
    for _ in 0..3 {
        let reply = api.refresh_native(&token).await;
        assert_eq!(reply.status, 200, "{}", reply.describe());
        token = reply.tokens().refresh();
    }
}

/// `store.replica_acks = 0` turns the replica wait off on a cluster with
/// replicas, where the default waits for one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_acks_setting_controls_wait() {
    let cluster = RedisCluster::start();

    let off = ServerOptions::new(Store::Cluster {
        cluster: &cluster,
        key_prefix: "acks-off:",
    })
    .env("AUTH__STORE__REPLICA_ACKS", "0");
    let server = AuthServer::start(off);
    let before = wait_calls(&cluster);
    refresh_a_few_times(&Api::new(&server)).await;
    assert_eq!(
        wait_calls(&cluster),
        before,
        "WAIT sent with replica_acks = 0"
    );
    drop(server);

    let default = ServerOptions::new(Store::Cluster {
        cluster: &cluster,
        key_prefix: "acks-default:",
    });
    let server = AuthServer::start(default);
    let before = wait_calls(&cluster);
    refresh_a_few_times(&Api::new(&server)).await;
    assert!(
        wait_calls(&cluster) >= before + 3,
        "one WAIT per rotation by default"
    );
}
