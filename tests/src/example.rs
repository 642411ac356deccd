//! The `protected_api` example of the resource-guard crate, run as its own
//! process: a service that accepts this server's access tokens.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, workspace_root};

/// The example service from the resource-guard crate, killed on drop.
pub struct ProtectedApi {
    child: Child,
    /// Base URL, such as `http://127.0.0.1:41234`.
    pub url: String,
}

impl ProtectedApi {
    /// Starts the example checking tokens of `issuer` with audience `api`.
    pub fn start(issuer: &str) -> Self {
        let binary = example_binary();
        for _ in 0..5 {
            let port = free_port();
            let bind = format!("127.0.0.1:{port}");
            let mut child = Command::new(&binary)
                .args(["--issuer", issuer, "--audience", "api", "--bind", &bind])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return ProtectedApi {
                        child,
                        url: format!("http://{bind}"),
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("the protected_api example did not start");
    }
}

impl Drop for ProtectedApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn example_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| workspace_root().join(dir))
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("debug").join("examples").join("protected_api")
}
