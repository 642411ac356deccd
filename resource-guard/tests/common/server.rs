//! A minimal HTTP server on 127.0.0.1 that serves a JWKS the test controls:
//! status, body, `max-age`, delay, and whether to send `Content-Length`.
//! It counts requests, serves one request per connection and stops when
//! dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shared::JwkSet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Clone)]
pub struct Behaviour {
    pub status: u16,
    pub body: Vec<u8>,
    pub max_age: Option<u64>,
    pub delay: Duration,
    pub content_length: bool,
}

struct State {
    hits: AtomicUsize,
    behaviour: Mutex<Behaviour>,
}

pub struct JwksServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl JwksServer {
    pub async fn start(jwks: &JwkSet) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            hits: AtomicUsize::new(0),
            behaviour: Mutex::new(Behaviour {
                status: 200,
                body: serde_json::to_vec(jwks).unwrap(),
                max_age: Some(300),
                delay: Duration::ZERO,
                content_length: true,
            }),
        });
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
        Self { addr, state, task }
    }

    /// Returns the issuer URL whose JWKS this server serves.
    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, shared::JWKS_PATH)
    }

    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.state.behaviour.lock().unwrap());
    }

    pub fn set_jwks(&self, jwks: &JwkSet) {
        self.set(|b| b.body = serde_json::to_vec(jwks).unwrap());
    }
}

async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    let read_head = async {
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        true
    };
    if !matches!(
        tokio::time::timeout(Duration::from_secs(5), read_head).await,
        Ok(true)
    ) {
        return;
    }
    state.hits.fetch_add(1, Ordering::SeqCst);
    let b = state.behaviour.lock().unwrap().clone();
    tokio::time::sleep(b.delay).await;

    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\n",
        b.status
    );
    if let Some(age) = b.max_age {
        head.push_str(&format!("Cache-Control: public, max-age={age}\r\n"));
    }
    if b.content_length {
        head.push_str(&format!("Content-Length: {}\r\n", b.body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    for chunk in b.body.chunks(16 * 1024) {
        if stream.write_all(chunk).await.is_err() {
            return;
        }
    }
    let _ = stream.shutdown().await;
}
