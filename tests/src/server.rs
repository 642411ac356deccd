//! The `auth-server` binary started for one test.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis::{RedisCluster, RedisServer};
use crate::{free_port, random_hex, workspace_root};

/// Maximum time from spawning a server to its first 200 from `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a test server keeps its data.
#[derive(Debug, Clone, Copy)]
pub enum Store<'a> {
    /// The in-memory store: everything is lost when the process ends.
    Memory,
    /// A Redis server the test started.
    Redis(&'a RedisServer),
    /// A Redis Cluster the test started, possibly shared with other
    /// servers under other key prefixes.
    Cluster {
        /// The cluster.
        cluster: &'a RedisCluster,
        /// The server's `store.key_prefix`.
        key_prefix: &'a str,
    },
}

/// Options for [`AuthServer::start`].
#[derive(Debug, Clone)]
pub struct ServerOptions<'a> {
    /// The store the server uses.
    pub store: Store<'a>,
    /// Extra environment variables, such as `("AUTH__TOKENS__REUSE_GRACE_SECS", "1")`.
    /// They override the harness's own settings.
    pub env: Vec<(String, String)>,
    /// Command-line arguments, such as `["--config", "/tmp/x/auth.toml"]`.
    pub args: Vec<String>,
}

impl<'a> ServerOptions<'a> {
    /// Options for a server on `store` with no extra settings.
    pub fn new(store: Store<'a>) -> Self {
        ServerOptions {
            store,
            env: Vec::new(),
            args: Vec::new(),
        }
    }

    /// Adds one command-line argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// Adds one environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// A running `auth-server` on a free loopback port. Its standard output and
/// standard error both go to one log file, which survives restarts.
/// Dropping it kills the process.
#[derive(Debug)]
pub struct AuthServer {
    child: Option<Child>,
    port: u16,
    env: Vec<(String, String)>,
    args: Vec<String>,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl AuthServer {
    /// Starts a server and waits until `/healthz` returns 200.
    ///
    /// With a Redis store the harness generates a refresh pepper and a
    /// key-encryption key; `options.env` can replace them.
    pub fn start(options: ServerOptions<'_>) -> Self {
        let dir = tempfile::tempdir().expect("create a server directory");
        let log_path = dir.path().join("auth-server.log");
        let mut server = AuthServer {
            child: None,
            port: 0,
            env: Vec::new(),
            args: options.args.clone(),
            log_path,
            _dir: dir,
        };

        let mut last_error = String::new();
        for _ in 0..5 {
            server.port = free_port();
            server.env = base_env(server.port, options.store);
            server.env.extend(options.env.iter().cloned());
            match server.spawn() {
                Ok(()) => return server,
                Err(error) => {
                    last_error = error;
                    server.kill();
                }
            }
        }
        panic!("auth-server did not start: {last_error}");
    }

    /// Returns the base URL, such as `http://127.0.0.1:41234`, which is also
    /// the issuer.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Returns the port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the environment variables set for the server. It also
    /// inherits the test's environment, minus every `AUTH__` variable.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Returns the value of one environment variable set for the server.
    pub fn env_value(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Everything the server has written to standard output and standard
    /// error so far, across restarts.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Returns the process id of the running server, or `None` once it has
    /// been killed or has exited on its own.
    pub fn pid(&mut self) -> Option<u32> {
        let child = self.child.as_mut()?;
        is_running(child).then(|| child.id())
    }

    /// Kills the process with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the process and starts it again with the same settings and port.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(error) if Instant::now() > deadline => {
                    panic!("auth-server did not restart: {error}")
                }
                Err(_) => {
                    self.kill();
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| format!("open the server log: {e}"))?;
        let log_for_stderr = log
            .try_clone()
            .map_err(|e| format!("clone the log handle: {e}"))?;

        let mut command = auth_server_command(&self.env);
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_for_stderr));
        let child = command.spawn().map_err(|e| {
            format!(
                "spawn {}: {e} (build it with `cargo build -p auth-server`)",
                auth_server_binary().display()
            )
        })?;
        self.child = Some(child);
        self.wait_healthy()
    }

    fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                let log = self.log_tail();
                return Err(format!("auth-server exited with {status}; log:\n{log}"));
            }
            // A 200 counts only while the child still runs: another test's
            // server could hold the port this one failed to bind.
            if healthz_ok(self.port) && self.child.as_mut().is_some_and(is_running) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(format!(
            "no 200 from /healthz within {START_TIMEOUT:?}; log:\n{}",
            self.log_tail()
        ))
    }

    fn log_tail(&self) -> String {
        let text = self.log_text();
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text[start..].to_owned()
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Returns a command for the binary under test with `env` set and every
/// inherited `AUTH__` variable removed.
fn auth_server_command(env: &[(String, String)]) -> Command {
    let mut command = Command::new(auth_server_binary());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AUTH__") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    command
}

/// How a run of the binary ended: see [`run_to_exit`].
#[derive(Debug)]
pub struct RunOutput {
    /// The exit code, or `None` when the process was still running at the
    /// deadline (and was killed) or ended by a signal.
    pub code: Option<i32>,
    /// Standard output and standard error, interleaved.
    pub output: String,
}

/// Runs `auth-server ARGS` with the settings `env` until it exits or
/// `timeout` passes, whichever comes first; a process still running at the
/// deadline is killed.
pub fn run_to_exit(args: &[&str], env: &[(String, String)], timeout: Duration) -> RunOutput {
    let dir = tempfile::tempdir().expect("create a directory for the output");
    let path = dir.path().join("output.log");
    let log = File::create(&path).expect("create the output file");
    let log_for_stderr = log.try_clone().expect("clone the output handle");
    let mut child = auth_server_command(env)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_for_stderr))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", auth_server_binary().display()));

    let deadline = Instant::now() + timeout;
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = std::fs::read_to_string(&path).unwrap_or_default();
    RunOutput { code, output }
}

/// Builds the settings every test server gets: its bind address and issuer,
/// and for Redis the store URL (and key prefix, on a cluster), a refresh
/// pepper and a key-encryption key.
fn base_env(port: u16, store: Store<'_>) -> Vec<(String, String)> {
    let bind = format!("127.0.0.1:{port}");
    let mut env = vec![
        ("AUTH__HTTP__BIND".to_owned(), bind.clone()),
        ("AUTH__ISSUER".to_owned(), format!("http://{bind}")),
    ];
    let url = match store {
        Store::Memory => "memory://".to_owned(),
        Store::Redis(redis) => redis.url(),
        Store::Cluster {
            cluster,
            key_prefix,
        } => {
            env.push(("AUTH__STORE__KEY_PREFIX".to_owned(), key_prefix.to_owned()));
            cluster.url()
        }
    };
    env.push(("AUTH__STORE__URL".to_owned(), url));
    if !matches!(store, Store::Memory) {
        env.push(("AUTH__SECURITY__REFRESH_PEPPER".to_owned(), random_hex(32)));
        env.push((
            "AUTH__SECURITY__KEY_ENCRYPTION_KEY".to_owned(),
            random_hex(32),
        ));
    }
    env
}

fn is_running(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(None))
}

/// Sends `GET /healthz` over a plain socket, so starting a server needs no
/// async runtime.
fn healthz_ok(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// Returns the binary under test: `$AUTH_SERVER_BIN`, else `auth-server` in the
/// debug directory of `$CARGO_TARGET_DIR` or of the workspace's `target/`.
pub fn auth_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("AUTH_SERVER_BIN") {
        return PathBuf::from(path);
    }
    // Cargo resolves a relative target directory against the directory it
    // was started in, normally the workspace root.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| workspace_root().join(dir))
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("debug").join("auth-server")
}
