//! Audit events: `tracing` events on the `audit` target, one JSON object a
//! line with the JSON log format. They carry ids, client ids, IP addresses
//! and user agents; never a token, a password or a hash.

use crate::store::{ClientContext, SessionId, UserId};

/// A new account.
pub fn sign_up(user: &UserId, client_id: &str, context: &ClientContext) {
    tracing::info!(target: "audit", event = "sign_up", user = %user, client_id,
        ip = %context.ip, user_agent = %context.user_agent);
}

/// A successful password login.
pub fn login(user: &UserId, client_id: &str, context: &ClientContext) {
    tracing::info!(target: "audit", event = "login", user = %user, client_id,
        ip = %context.ip, user_agent = %context.user_agent);
}

/// A failed password login. The username is logged in its normalized form
/// whether or not the account exists.
pub fn login_failed(username: &str, client_id: &str, context: &ClientContext) {
    let username: String = username.chars().take(64).collect();
    tracing::warn!(target: "audit", event = "login_failed", username = %username, client_id,
        ip = %context.ip, user_agent = %context.user_agent);
}

/// The previous refresh token came back inside the grace window from the
/// same client context and got the same successor.
pub fn refresh_replayed(
    user: &UserId,
    session: &SessionId,
    client_id: &str,
    context: &ClientContext,
) {
    tracing::info!(target: "audit", event = "refresh_replayed", user = %user, session = %session,
        client_id, ip = %context.ip, user_agent = %context.user_agent);
}

/// A rotated refresh token came back: the session was revoked.
pub fn refresh_reused(
    user: &UserId,
    session: &SessionId,
    client_id: &str,
    rotated_by: &ClientContext,
    presented_by: &ClientContext,
) {
    tracing::warn!(target: "audit", event = "refresh_reuse", user = %user, session = %session,
        client_id,
        rotated_by_ip = %rotated_by.ip, rotated_by_user_agent = %rotated_by.user_agent,
        presented_by_ip = %presented_by.ip, presented_by_user_agent = %presented_by.user_agent,
        "refresh token reuse detected; session revoked");
}

/// A session ended by logout.
pub fn logout(user: &UserId, session: &SessionId, context: &ClientContext) {
    tracing::info!(target: "audit", event = "logout", user = %user, session = %session,
        ip = %context.ip, user_agent = %context.user_agent);
}

/// A session was used from another IP address or user agent than the one
/// it last saw.
pub fn context_changed(
    user: &UserId,
    session: &SessionId,
    previous: &ClientContext,
    current: &ClientContext,
    revoked: bool,
) {
    tracing::warn!(target: "audit", event = "context_change", user = %user, session = %session,
        previous_ip = %previous.ip, previous_user_agent = %previous.user_agent,
        ip = %current.ip, user_agent = %current.user_agent, revoked);
}

/// A session was revoked for a reason other than logout.
pub fn session_revoked(user: &UserId, session: &SessionId, reason: &'static str) {
    tracing::warn!(target: "audit", event = "session_revoked", user = %user, session = %session,
        reason);
}

/// A password change; `revoked` other sessions ended with it.
pub fn password_changed(
    user: &UserId,
    session: Option<&SessionId>,
    revoked: u32,
    context: &ClientContext,
) {
    let session = session.map(ToString::to_string).unwrap_or_default();
    tracing::info!(target: "audit", event = "password_change", user = %user, session = %session,
        revoked_sessions = revoked, ip = %context.ip, user_agent = %context.user_agent);
}

/// A login refused by throttling before its password was checked.
pub fn login_throttled(username: &str, client_id: &str, context: &ClientContext) {
    let username: String = username.chars().take(64).collect();
    tracing::warn!(target: "audit", event = "login_throttled", username = %username, client_id,
        ip = %context.ip, user_agent = %context.user_agent);
}

/// A password change refused because the current password was wrong.
pub fn password_change_failed(user: &UserId, context: &ClientContext) {
    tracing::warn!(target: "audit", event = "password_change_failed", user = %user,
        ip = %context.ip, user_agent = %context.user_agent);
}
