//! One keep-alive HTTP/1.1 connection, reopened after an error.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Longest wait for one response; a slower one counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A response's status and full body.
pub type Reply = Result<(StatusCode, Bytes), String>;

/// A connection to one server address. At most one request is in flight.
pub struct Conn {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// Connections opened, the first one included.
    pub opened: u64,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            sender: None,
            opened: 0,
        }
    }

    async fn open(&mut self) -> Result<(), String> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {:?}", e.kind()))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("nodelay: {:?}", e.kind()))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            // The connection ends when the sender is dropped or the peer
            // closes it; either is normal here.
            let _ = connection.await;
        });
        self.sender = Some(sender);
        self.opened += 1;
        Ok(())
    }

    /// Sends `request` and reads the whole response body. Any error drops
    /// the connection, so the next call opens a new one.
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> Reply {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(request)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => {
                self.sender = None;
                Err(error)
            }
            Err(_) => {
                self.sender = None;
                Err("timeout".into())
            }
        }
    }

    async fn exchange(&mut self, request: Request<Full<Bytes>>) -> Reply {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.open().await?;
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err("no connection".into());
        };
        sender.ready().await.map_err(|e| format!("ready: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok((parts.status, body))
    }
}
