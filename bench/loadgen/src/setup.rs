//! Accounts and sessions made before a run, through the public API.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::time::Instant;

use hyper::StatusCode;
use serde::Deserialize;

use crate::conn::{Conn, Reply};
use crate::workload::{Template, form_encode};

/// A random 64-bit value from the standard library's hasher keys.
pub fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0);
    hasher.finish()
}

/// A password the server's strength check accepts.
pub fn random_password() -> String {
    format!("Lg-{:016x}-{:08x}", random_u64(), random_u64() >> 32)
}

#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    refresh_token: Option<String>,
}

/// Requests sent through the public API with the benchmark's headers.
#[derive(Clone)]
pub struct Api {
    pub addr: SocketAddr,
    /// Headers every request carries (Host, User-Agent).
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    pub client_id: String,
}

fn describe(what: &str, reply: &Reply) -> String {
    match reply {
        Ok((status, body)) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            format!("{what}: HTTP {status}: {text}")
        }
        Err(error) => format!("{what}: {error}"),
    }
}

impl Api {
    async fn post(&self, conn: &mut Conn, path: &str, body: String) -> Reply {
        let template = Template::form(path, self.headers.clone(), body);
        conn.send(template.build_with(template.body.clone())).await
    }

    /// Creates an account.
    pub async fn sign_up(&self, conn: &mut Conn, user: &str, password: &str) -> Result<(), String> {
        let body = format!(
            "client_id={}&username={}&password={}",
            form_encode(&self.client_id),
            form_encode(user),
            form_encode(password)
        );
        let reply = self.post(conn, "/signup", body).await;
        match &reply {
            Ok((status, _)) if *status == StatusCode::CREATED => Ok(()),
            _ => Err(describe("sign-up", &reply)),
        }
    }

    /// Logs in with the password grant; returns (access, refresh) tokens.
    pub async fn log_in(
        &self,
        conn: &mut Conn,
        user: &str,
        password: &str,
    ) -> Result<(String, Option<String>), String> {
        let body = format!(
            "grant_type=password&username={}&password={}&client_id={}",
            form_encode(user),
            form_encode(password),
            form_encode(&self.client_id)
        );
        let reply = self.post(conn, "/token", body).await;
        let tokens = match &reply {
            Ok((status, body)) if *status == StatusCode::OK => {
                serde_json::from_slice::<Tokens>(body).ok()
            }
            _ => None,
        };
        tokens
            .map(|t| (t.access_token, t.refresh_token))
            .ok_or_else(|| describe("login", &reply))
    }
}

/// Makes `count` refresh-token chains: each chain is a new account (sign-up)
/// followed by a password login whose refresh token starts the chain.
/// `parallel` requests run at once.
pub async fn make_chains(api: &Api, count: usize, parallel: usize) -> Result<Vec<String>, String> {
    let started = Instant::now();
    let run = random_u64() >> 24;
    let parallel = parallel.clamp(1, count.max(1));
    let mut handles = Vec::new();
    for lane in 0..parallel {
        let api = api.clone();
        handles.push(tokio::spawn(async move {
            let mut conn = Conn::new(api.addr);
            let mut tokens = Vec::new();
            for index in (lane..count).step_by(parallel) {
                let user = format!("lg{run:x}-{index}");
                let password = random_password();
                api.sign_up(&mut conn, &user, &password).await?;
                let (_, refresh) = api.log_in(&mut conn, &user, &password).await?;
                tokens.push(refresh.ok_or("login gave no refresh token")?);
            }
            Ok::<_, String>(tokens)
        }));
    }
    let mut tokens = Vec::with_capacity(count);
    for handle in handles {
        tokens.extend(handle.await.map_err(|e| e.to_string())??);
    }
    eprintln!(
        "loadgen: made {count} sessions (sign-up + login each) in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(tokens)
}
