//! Redis servers started for one test each.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// Options for [`RedisServer::start_with`].
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// Turns on the append-only file with `appendfsync everysec`.
    pub appendonly: bool,
    /// Allows `DEBUG SLEEP` and friends from local connections.
    pub enable_debug: bool,
    /// Extra `redis-server` arguments, such as `["--cluster-enabled", "yes"]`.
    pub extra_args: Vec<String>,
    /// Password of the default user (`requirepass`); [`RedisServer::url`]
    /// and [`RedisServer::cli`] use it.
    pub password: Option<String>,
}

/// A `redis-server` process on a free port with its own data directory.
/// Dropping it kills the process and deletes the directory.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    options: RedisOptions,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a Redis that keeps nothing on disk.
    pub fn start() -> Self {
        Self::start_with(RedisOptions::default())
    }

    /// Starts a Redis with `options`.
    pub fn start_with(options: RedisOptions) -> Self {
        let mut dir = tempfile::tempdir().expect("create a Redis data directory");
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut server = RedisServer {
                child: None,
                port,
                options: options.clone(),
                dir,
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(error) => {
                    last_error = error;
                    dir = server.take_dir();
                }
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    fn take_dir(mut self) -> tempfile::TempDir {
        self.kill();
        let placeholder = tempfile::tempdir().expect("create a placeholder directory");
        std::mem::replace(&mut self.dir, placeholder)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut command = Command::new(redis_server_binary());
        command
            .arg("--port")
            .arg(self.port.to_string())
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--protected-mode",
                "yes",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.dir.path().join("redis.log"));
        if self.options.appendonly {
            command.args(["--appendonly", "yes", "--appendfsync", "everysec"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        if self.options.enable_debug {
            command.args(["--enable-debug-command", "local"]);
        }
        if let Some(password) = &self.options.password {
            command.args(["--requirepass", password]);
        }
        command.args(&self.options.extra_args);
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn redis-server: {e}"))?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!("redis-server exited with {status}"));
            }
            if self
                .cli(&["PING"])
                .map(|out| out.trim() == "PONG")
                .unwrap_or(false)
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("redis-server did not answer PING within 10 s".into())
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the process id while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A `redis://` URL for the server, database 0.
    pub fn url(&self) -> String {
        match &self.options.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// The data directory (where the AOF lives).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `redis-cli` against the server and returns its standard output.
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        let mut command = Command::new(redis_cli_binary());
        command.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(password) = &self.options.password {
            command.args(["-a", password, "--no-auth-warning"]);
        }
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("spawn redis-cli: {e}"))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Returns whether Redis replies to `PING` on a new connection within
    /// `timeout`. A server paused with `CLIENT PAUSE` or busy with
    /// `DEBUG SLEEP` accepts the connection but does not reply.
    pub fn replies_to_ping_within(&self, timeout: Duration) -> bool {
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut stream) = TcpStream::connect_timeout(&address, timeout) else {
            return false;
        };
        let deadline = Instant::now() + timeout;
        let mut request = String::new();
        if let Some(password) = &self.options.password {
            request.push_str(&resp_command(&["AUTH", password]));
        }
        request.push_str(&resp_command(&["PING"]));
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }

        let mut received = Vec::new();
        let mut buffer = [0u8; 64];
        while !String::from_utf8_lossy(&received).contains("+PONG\r\n") {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
                return false;
            }
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => return false,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
        true
    }

    /// Returns what Redis has written to its log file so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Kills the process with SIGKILL, keeping the data directory.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the process gracefully (`SHUTDOWN NOSAVE`), keeping the data
    /// directory.
    pub fn stop(&mut self) {
        let _ = self.cli(&["SHUTDOWN", "NOSAVE"]);
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn().expect("restart redis-server");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Encodes one command as a RESP array of bulk strings.
fn resp_command(args: &[&str]) -> String {
    let mut command = format!("*{}\r\n", args.len());
    for arg in args {
        command.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    command
}

fn redis_server_binary() -> PathBuf {
    std::env::var_os("REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| "redis-server".into())
}

fn redis_cli_binary() -> PathBuf {
    std::env::var_os("REDIS_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|| "redis-cli".into())
}

/// A Redis Cluster of three masters with one replica each, every node a
/// [`RedisServer`] on free ports (client and cluster-bus port both chosen,
/// so no port is derived from another). Dropping it stops every node.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts six nodes and joins them with `redis-cli --cluster create`.
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| {
                let bus_port = free_port();
                RedisServer::start_with(RedisOptions {
                    extra_args: [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-port",
                        &bus_port.to_string(),
                        "--cluster-node-timeout",
                        "2000",
                        // Redis 7 waits this many seconds (5 by default)
                        // for more replicas before a diskless full sync.
                        // Each master here has one replica, so the wait
                        // only slows the start.
                        "--repl-diskless-sync-delay",
                        "0",
                    ]
                    .map(String::from)
                    .to_vec(),
                    ..RedisOptions::default()
                })
            })
            .collect();
        let cluster = RedisCluster { nodes };

        let addresses = cluster.addresses();
        let mut args = vec!["--cluster", "create"];
        args.extend(addresses.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
        cluster.nodes[0]
            .cli(&args)
            .expect("redis-cli --cluster create");
        cluster.wait_ok();
        cluster
    }

    fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let all_ok = self.nodes.iter().all(|node| {
                let state_ok = node
                    .cli(&["CLUSTER", "INFO"])
                    .is_ok_and(|info| info.contains("cluster_state:ok"));
                // A replica that has not finished its first sync cannot
                // take over, so failover tests would wait in vain.
                let synced = node.cli(&["INFO", "replication"]).is_ok_and(|info| {
                    info.contains("role:master") || info.contains("master_link_status:up")
                });
                state_ok && synced
            });
            let replicas = self
                .nodes
                .iter()
                .filter(|node| {
                    node.cli(&["INFO", "replication"])
                        .is_ok_and(|info| info.contains("role:slave"))
                })
                .count();
            if all_ok && replicas == self.nodes.len() / 2 && self.every_node_sees_replicas() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the Redis Cluster was not up with synced replicas within 20 s");
    }

    /// Returns whether the `CLUSTER NODES` of every node lists every
    /// replica. Nodes learn of replicas by gossip, which can arrive after
    /// the replicas have synced. Until then a client that connects through
    /// such a node finds a cluster without replicas.
    fn every_node_sees_replicas(&self) -> bool {
        let expected = self.nodes.len() / 2;
        self.nodes.iter().all(|node| {
            node.cli(&["CLUSTER", "NODES"]).is_ok_and(|table| {
                let replicas = table
                    .lines()
                    .filter_map(NodeLine::parse)
                    .filter(|line| line.flags.iter().any(|f| f == "slave"))
                    .count();
                replicas == expected
            })
        })
    }

    /// `host:port` of every node.
    pub fn addresses(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect()
    }

    /// Returns a `redis+cluster://` URL naming every node.
    pub fn url(&self) -> String {
        format!("redis+cluster://{}", self.addresses().join(","))
    }

    /// Returns the nodes, masters and replicas alike.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Index in [`RedisCluster::nodes`] of the master that serves the slot
    /// of `key`, according to a live node's `CLUSTER NODES`.
    pub fn master_of(&self, key: &str) -> Option<usize> {
        let (table, slot) = self.table_and_slot(key)?;
        let master = table.iter().find(|node| {
            node.flags.iter().any(|f| f == "master")
                && !node.flags.iter().any(|f| f.starts_with("fail"))
                && node.slots.iter().any(|range| range.contains(&slot))
        })?;
        self.position(&master.address)
    }

    /// Index in [`RedisCluster::nodes`] of a replica of the master that
    /// serves the slot of `key`.
    pub fn replica_of(&self, key: &str) -> Option<usize> {
        let (table, slot) = self.table_and_slot(key)?;
        let master = table.iter().find(|node| {
            node.flags.iter().any(|f| f == "master")
                && node.slots.iter().any(|range| range.contains(&slot))
        })?;
        let replica = table.iter().find(|node| node.master_id == master.id)?;
        self.position(&replica.address)
    }

    /// Indices in [`RedisCluster::nodes`] of the masters that serve slots,
    /// according to a live node's `CLUSTER NODES`.
    pub fn masters(&self) -> Vec<usize> {
        let Some(node) = self.nodes.iter().find(|n| n.cli(&["PING"]).is_ok()) else {
            return Vec::new();
        };
        let table = node.cli(&["CLUSTER", "NODES"]).unwrap_or_default();
        table
            .lines()
            .filter_map(NodeLine::parse)
            .filter(|line| {
                line.flags.iter().any(|f| f == "master")
                    && !line.flags.iter().any(|f| f.starts_with("fail"))
                    && !line.slots.is_empty()
            })
            .filter_map(|line| self.position(&line.address))
            .collect()
    }

    /// Counts the keys that start with `prefix` on every master.
    pub fn count_keys(&self, prefix: &str) -> usize {
        let pattern = format!("{}*", glob_escape(prefix));
        self.masters()
            .into_iter()
            .map(|master| {
                let reply = self.nodes[master]
                    .cli(&["EVAL", COUNT_KEYS, "0", &pattern])
                    .unwrap_or_else(|e| panic!("count keys on node {master}: {e}"));
                reply
                    .trim()
                    .parse::<usize>()
                    .unwrap_or_else(|_| panic!("count keys on node {master}: {reply:?}"))
            })
            .sum()
    }

    fn position(&self, address: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| address == format!("127.0.0.1:{}", n.port()))
    }

    /// Reads `CLUSTER NODES` and the slot of `key` from the first live node.
    fn table_and_slot(&self, key: &str) -> Option<(Vec<NodeLine>, u16)> {
        let node = self.nodes.iter().find(|n| n.cli(&["PING"]).is_ok())?;
        let slot = node.cli(&["CLUSTER", "KEYSLOT", key]).ok()?;
        let slot = slot.trim().parse().ok()?;
        let table = node.cli(&["CLUSTER", "NODES"]).ok()?;
        Some((table.lines().filter_map(NodeLine::parse).collect(), slot))
    }

    /// Returns the nodes mutably, for stopping or killing one of them.
    pub fn nodes_mut(&mut self) -> &mut [RedisServer] {
        &mut self.nodes
    }
}

/// Counts the keys of one node that match the pattern `ARGV[1]`. A script
/// because key names may contain any byte, a newline included, so the
/// output of `redis-cli --scan` cannot be counted by lines.
const COUNT_KEYS: &str = "return #redis.call('KEYS', ARGV[1])";

/// Escapes the characters that are special in a Redis glob pattern.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// One line of `CLUSTER NODES`.
struct NodeLine {
    id: String,
    address: String,
    flags: Vec<String>,
    master_id: String,
    slots: Vec<std::ops::RangeInclusive<u16>>,
}

impl NodeLine {
    fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let slots = fields
            .iter()
            .skip(8)
            .filter_map(|range| {
                let (low, high) = range.split_once('-').unwrap_or((range, range));
                Some(low.parse().ok()?..=high.parse().ok()?)
            })
            .collect();
        Some(Self {
            id: (*fields.first()?).to_owned(),
            address: fields.get(1)?.split('@').next()?.to_owned(),
            flags: fields.get(2)?.split(',').map(str::to_owned).collect(),
            master_id: (*fields.get(3)?).to_owned(),
            slots,
        })
    }
}
