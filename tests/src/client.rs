//! An HTTP client that speaks the token server's API, for tests.
//!
//! Every [`Api`] remembers each secret it sent or received (passwords,
//! access tokens, refresh tokens, CSRF tokens, cookie values), so a test can
//! check afterwards that none of them reached the server's log.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::Deserialize;

use crate::cookie::{CSRF_COOKIE, REFRESH_COOKIE, SetCookie};
use crate::server::AuthServer;
use crate::{strong_password, unique_username};

/// The `User-Agent` an [`Api`] sends by default.
pub const DEFAULT_USER_AGENT: &str = "auth-e2e-tests/1.0";

/// The default browser client.
pub const WEB: &str = "web";

/// The default native client.
pub const CLI: &str = "cli";

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body, decoded lossily as UTF-8.
    pub body: String,
}

impl Reply {
    /// The body parsed as JSON, or `Value::Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The `error` member of an RFC 6749 error body.
    pub fn error(&self) -> Option<String> {
        self.json().get("error")?.as_str().map(str::to_owned)
    }

    /// The `error_description` member of an RFC 6749 error body.
    pub fn error_description(&self) -> Option<String> {
        self.json()
            .get("error_description")?
            .as_str()
            .map(str::to_owned)
    }

    /// The first value of header `name`, when it is valid text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name)?.to_str().ok().map(str::to_owned)
    }

    /// Every `Set-Cookie` header, parsed.
    pub fn set_cookies(&self) -> Vec<SetCookie> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(SetCookie::parse)
            .collect()
    }

    /// The last `Set-Cookie` header for cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<SetCookie> {
        self.set_cookies()
            .into_iter()
            .rev()
            .find(|cookie| cookie.name == name)
    }

    /// The body as a token response; panics with the reply when it is not one.
    pub fn tokens(&self) -> Tokens {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not a token response ({e}): {}", self.describe()))
    }

    /// A one-line summary for assertion messages.
    pub fn describe(&self) -> String {
        format!("status {} body {}", self.status, self.body)
    }
}

/// A successful token response.
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    /// The JWT access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Access-token lifetime in seconds.
    pub expires_in: i64,
    /// Granted scopes, space-separated (absent from `/refresh` answers).
    #[serde(default)]
    pub scope: Option<String>,
    /// The refresh token, for native clients only.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The session's CSRF token, for browser clients only.
    #[serde(default)]
    pub csrf_token: Option<String>,
}

impl Tokens {
    /// The refresh token; panics when the response has none.
    pub fn refresh(&self) -> String {
        self.refresh_token
            .clone()
            .expect("a native token response carries refresh_token")
    }
}

/// The cookies and CSRF token a browser holds for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    /// Value of the `__Host-refresh_token` cookie.
    pub refresh: String,
    /// Value of the `__Host-csrf_token` cookie.
    pub csrf_cookie: String,
    /// The `csrf_token` from the last token response.
    pub csrf_token: String,
}

impl BrowserSession {
    /// Reads the session from a browser token response; panics when a cookie
    /// or `csrf_token` is missing.
    pub fn from_reply(reply: &Reply) -> Self {
        let refresh = reply
            .set_cookie(REFRESH_COOKIE)
            .unwrap_or_else(|| panic!("no refresh cookie: {}", reply.describe()));
        let csrf_cookie = reply
            .set_cookie(CSRF_COOKIE)
            .unwrap_or_else(|| panic!("no CSRF cookie: {}", reply.describe()));
        let csrf_token = reply
            .tokens()
            .csrf_token
            .unwrap_or_else(|| panic!("no csrf_token in the body: {}", reply.describe()));
        BrowserSession {
            refresh: refresh.value,
            csrf_cookie: csrf_cookie.value,
            csrf_token,
        }
    }

    /// Applies the cookies and CSRF token of a successful `/refresh`.
    pub fn update(&mut self, reply: &Reply) {
        if let Some(cookie) = reply.set_cookie(REFRESH_COOKIE) {
            self.refresh = cookie.value;
        }
        if let Some(cookie) = reply.set_cookie(CSRF_COOKIE) {
            self.csrf_cookie = cookie.value;
        }
        if let Some(token) = reply.json().get("csrf_token").and_then(|v| v.as_str()) {
            self.csrf_token = token.to_owned();
        }
    }

    /// The `Cookie` header a browser would send with both cookies.
    pub fn cookie_header(&self) -> String {
        format!(
            "{REFRESH_COOKIE}={}; {CSRF_COOKIE}={}",
            self.refresh, self.csrf_cookie
        )
    }
}

/// A user created through `/signup`.
#[derive(Debug, Clone)]
pub struct User {
    /// The username as sent.
    pub username: String,
    /// The password as sent.
    pub password: String,
}

/// A client for one server, with one source address and `User-Agent`.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    user_agent: String,
    local_address: Option<IpAddr>,
    seen: Arc<Mutex<BTreeSet<String>>>,
}

impl Api {
    /// A client for `server` from 127.0.0.1 with [`DEFAULT_USER_AGENT`].
    pub fn new(server: &AuthServer) -> Self {
        Self::for_url(&server.url())
    }

    /// A client for the server at `base`, such as `http://127.0.0.1:8080`.
    pub fn for_url(base: &str) -> Self {
        let seen = Arc::new(Mutex::new(BTreeSet::new()));
        Self::build(base.to_owned(), DEFAULT_USER_AGENT.to_owned(), None, seen)
    }

    fn build(
        base: String,
        user_agent: String,
        local_address: Option<IpAddr>,
        seen: Arc<Mutex<BTreeSet<String>>>,
    ) -> Self {
        let mut builder = reqwest::Client::builder()
            .user_agent(user_agent.clone())
            .timeout(Duration::from_secs(30))
            // A fresh connection per request, so a restarted server never
            // meets a pooled connection to the process it replaced.
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(address) = local_address {
            builder = builder.local_address(address);
        }
        let http = builder.build().expect("build an HTTP client");
        Api {
            http,
            base,
            user_agent,
            local_address,
            seen,
        }
    }

    /// The same client with another `User-Agent`; it shares the secrets
    /// record.
    pub fn with_user_agent(&self, user_agent: &str) -> Self {
        let seen = Arc::clone(&self.seen);
        Self::build(
            self.base.clone(),
            user_agent.to_owned(),
            self.local_address,
            seen,
        )
    }

    /// The same client sending from another loopback address, such as
    /// 127.0.0.2; it shares the secrets record.
    pub fn from_address(&self, address: IpAddr) -> Self {
        let seen = Arc::clone(&self.seen);
        Self::build(
            self.base.clone(),
            self.user_agent.clone(),
            Some(address),
            seen,
        )
    }

    /// The server's origin, which is also its issuer.
    pub fn origin(&self) -> &str {
        &self.base
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The underlying HTTP client, for requests the helpers do not cover.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Adds a secret to the record, such as a password the test sent.
    pub fn remember(&self, secret: &str) {
        if !secret.is_empty() {
            self.seen
                .lock()
                .expect("secrets record")
                .insert(secret.to_owned());
        }
    }

    /// Every secret sent or received so far by this client and its siblings.
    pub fn seen_secrets(&self) -> Vec<String> {
        self.seen
            .lock()
            .expect("secrets record")
            .iter()
            .cloned()
            .collect()
    }

    /// Sends `request` and reads the whole response; panics on a transport
    /// error.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        self.try_send(request)
            .await
            .unwrap_or_else(|e| panic!("request failed: {e:?}"))
    }

    /// Sends `request` and reads the whole response.
    pub async fn try_send(&self, request: reqwest::RequestBuilder) -> reqwest::Result<Reply> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        let reply = Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        self.record(&reply);
        Ok(reply)
    }

    fn record(&self, reply: &Reply) {
        let json = reply.json();
        for field in ["access_token", "refresh_token", "csrf_token"] {
            if let Some(value) = json.get(field).and_then(|v| v.as_str()) {
                self.remember(value);
            }
        }
        for cookie in reply.set_cookies() {
            self.remember(&cookie.value);
        }
    }

    /// A `POST` to `path` with no body yet.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path))
    }

    /// A `GET` of `path`.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path))
    }

    /// Posts `fields` as `application/x-www-form-urlencoded`.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        self.send(self.post(path).form(fields)).await
    }

    /// Posts `fields` as a form with this server's `Origin`, as a browser on
    /// the server's own origin would.
    pub async fn post_form_from_origin(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        self.send(self.post(path).header("Origin", self.origin()).form(fields))
            .await
    }

    /// `POST /signup` as a form; browser clients send the server's `Origin`.
    pub async fn signup(&self, client_id: &str, username: &str, password: &str) -> Reply {
        self.remember(password);
        let fields = [
            ("username", username),
            ("password", password),
            ("client_id", client_id),
        ];
        self.post_form_for(client_id, "/signup", &fields).await
    }

    /// `POST /token` with the password grant; browser clients send the
    /// server's `Origin`.
    pub async fn password_login(
        &self,
        client_id: &str,
        username: &str,
        password: &str,
        scope: Option<&str>,
    ) -> Reply {
        self.remember(password);
        let mut fields = vec![
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
            ("client_id", client_id),
        ];
        if let Some(scope) = scope {
            fields.push(("scope", scope));
        }
        self.post_form_for(client_id, "/token", &fields).await
    }

    async fn post_form_for(&self, client_id: &str, path: &str, fields: &[(&str, &str)]) -> Reply {
        if client_id == WEB {
            self.post_form_from_origin(path, fields).await
        } else {
            self.post_form(path, fields).await
        }
    }

    /// `POST /token` with the refresh-token grant for the `cli` client.
    pub async fn refresh_native(&self, refresh_token: &str) -> Reply {
        self.try_refresh_native(refresh_token)
            .await
            .unwrap_or_else(|e| panic!("request failed: {e:?}"))
    }

    /// Like [`Api::refresh_native`], but returns a transport error (such as
    /// a server killed mid-request) instead of panicking.
    pub async fn try_refresh_native(&self, refresh_token: &str) -> reqwest::Result<Reply> {
        let fields = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLI),
        ];
        self.try_send(self.post("/token").form(&fields)).await
    }

    /// `POST /logout` with the form field `refresh_token`.
    pub async fn logout_native(&self, refresh_token: &str) -> Reply {
        self.post_form("/logout", &[("refresh_token", refresh_token)])
            .await
    }

    /// `POST /refresh` with the session's cookies, the given `X-CSRF-Token`
    /// (none when `None`) and the given `Origin` (none when `None`).
    pub async fn refresh_browser_with(
        &self,
        session: &BrowserSession,
        csrf: Option<&str>,
        origin: Option<&str>,
    ) -> Reply {
        let mut request = self
            .post("/refresh")
            .header("Cookie", session.cookie_header());
        if let Some(csrf) = csrf {
            request = request.header("X-CSRF-Token", csrf);
        }
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        self.send(request).await
    }

    /// `POST /refresh` as the page on the server's origin would send it.
    pub async fn refresh_browser(&self, session: &BrowserSession) -> Reply {
        let origin = self.origin().to_owned();
        self.refresh_browser_with(session, Some(&session.csrf_token), Some(&origin))
            .await
    }

    /// `POST /logout` with the session's cookies, the given CSRF header and
    /// the server's `Origin`.
    pub async fn logout_browser(&self, session: &BrowserSession, csrf: Option<&str>) -> Reply {
        let mut request = self
            .post("/logout")
            .header("Cookie", session.cookie_header())
            .header("Origin", self.origin());
        if let Some(csrf) = csrf {
            request = request.header("X-CSRF-Token", csrf);
        }
        self.send(request).await
    }

    /// `GET /csrf` with the session's cookies and the given `Origin`.
    pub async fn csrf(&self, session: &BrowserSession, origin: &str) -> Reply {
        let request = self
            .get("/csrf")
            .header("Cookie", session.cookie_header())
            .header("Origin", origin);
        self.send(request).await
    }

    /// `GET /.well-known/jwks.json`.
    pub async fn jwks(&self) -> Reply {
        self.send(self.get(shared::JWKS_PATH)).await
    }

    /// Signs up a fresh user on `cli`; panics unless the server answers 201.
    pub async fn new_native_user(&self) -> (User, Tokens) {
        let user = User {
            username: unique_username("user"),
            password: strong_password(),
        };
        let reply = self.signup(CLI, &user.username, &user.password).await;
        assert_eq!(reply.status, 201, "sign-up failed: {}", reply.describe());
        (user, reply.tokens())
    }

    /// Signs up a fresh user on `web`; panics unless the server answers 201.
    pub async fn new_browser_user(&self) -> (User, BrowserSession) {
        let user = User {
            username: unique_username("user"),
            password: strong_password(),
        };
        let reply = self.signup(WEB, &user.username, &user.password).await;
        assert_eq!(reply.status, 201, "sign-up failed: {}", reply.describe());
        (user, BrowserSession::from_reply(&reply))
    }

    /// Logs `user` in on `cli`; panics unless the server answers 200.
    pub async fn login_native(&self, user: &User) -> Tokens {
        let reply = self
            .password_login(CLI, &user.username, &user.password, None)
            .await;
        assert_eq!(reply.status, 200, "login failed: {}", reply.describe());
        reply.tokens()
    }

    /// Logs `user` in on `web`; panics unless the server answers 200.
    pub async fn login_browser(&self, user: &User) -> BrowserSession {
        let reply = self
            .password_login(WEB, &user.username, &user.password, None)
            .await;
        assert_eq!(reply.status, 200, "login failed: {}", reply.describe());
        BrowserSession::from_reply(&reply)
    }
}
