//! Tenant-scoped sign-in: a viewer presents a tenant, a name and one of the tenant's
//! credentials — a tenant credential of the control plane (`ccx credentials add`) or an
//! ingest token, both scoped to that one tenant (looked up by [`TokenTable`], hashes only,
//! constant time) and gets a session: a random id in
//! an HttpOnly, SameSite=Strict cookie. Every endpoint takes the tenant from the session only.
//! A session ends when it expires, when its viewer signs out, or when the token it was opened
//! with is withdrawn from the config or the control plane.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use ccx_model::token::{token_digest, TokenTable};

/// The session cookie's name.
pub const COOKIE: &str = "ccx_wallboard";

/// How long a session lasts (a supervisor's shift).
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Longest accepted viewer name (it is recorded as who acknowledged or resolved an alert).
pub const MAX_USER_CHARS: usize = 64;

/// A signed-in viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub tenant: String,
    pub user: String,
    digest: [u8; 32],
    expires: Instant,
}

/// Why a sign-in was refused (the same answer for a wrong tenant and a wrong token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("name: 1 to {MAX_USER_CHARS} characters, no control characters")]
    BadUser,
    #[error("unknown tenant or wrong token")]
    Refused,
}

/// Tokens and sessions.
#[derive(Debug, Default)]
pub struct Auth {
    tokens: RwLock<TokenTable>,
    sessions: Mutex<HashMap<String, Session>>,
}

impl Auth {
    pub fn new(tokens: TokenTable) -> Auth {
        Auth {
            tokens: RwLock::new(tokens),
            sessions: Mutex::default(),
        }
    }

    /// Replaces the token hashes (sessions of withdrawn tokens end at their next request).
    pub fn set_tokens(&self, tokens: TokenTable) {
        *ccx_model::sync::write(&self.tokens) = tokens;
    }

    /// Opens a session for `user` of `tenant` if `token` is one of the tenant's; returns its id.
    pub fn sign_in(&self, tenant: &str, user: &str, token: &str) -> Result<String, SignInError> {
        let user = user.trim();
        if user.is_empty()
            || user.chars().count() > MAX_USER_CHARS
            || user.chars().any(char::is_control)
        {
            return Err(SignInError::BadUser);
        }
        let digest = token_digest(token.trim());
        let owner = ccx_model::sync::read(&self.tokens)
            .tenant_of_digest(&digest)
            .map(str::to_string);
        if owner.as_deref() != Some(tenant) {
            return Err(SignInError::Refused);
        }
        let id = new_session_id();
        let now = Instant::now();
        let mut sessions = ccx_model::sync::lock(&self.sessions);
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            id.clone(),
            Session {
                tenant: tenant.to_string(),
                user: user.to_string(),
                digest,
                expires: now + SESSION_TTL,
            },
        );
        Ok(id)
    }

    /// The live session of the request's cookie, if any.
    pub fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let id = session_id(headers)?;
        let mut sessions = ccx_model::sync::lock(&self.sessions);
        let session = sessions.get(id)?.clone();
        let token_held = ccx_model::sync::read(&self.tokens).tenant_of_digest(&session.digest)
            == Some(session.tenant.as_str());
        if session.expires <= Instant::now() || !token_held {
            sessions.remove(id);
            return None;
        }
        Some(session)
    }

    /// Ends the request's session.
    pub fn sign_out(&self, headers: &HeaderMap) {
        if let Some(id) = session_id(headers) {
            ccx_model::sync::lock(&self.sessions).remove(id);
        }
    }
}

/// 32 random bytes, hex.
fn new_session_id() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source");
    hex::encode(bytes)
}

/// The session id of the request's `Cookie` header.
fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value of a new session.
pub fn session_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_TTL.as_secs()
    )
}

/// The `Set-Cookie` value that ends the session in the browser.
pub fn cleared_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccx_model::hash_token;

    fn auth() -> Auth {
        let (a, b) = (hash_token("token-a"), hash_token("token-b"));
        Auth::new(TokenTable::new([("a", a.as_str()), ("b", b.as_str())]))
    }

    fn cookie(id: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            format!("other=1; {COOKIE}={id}").parse().unwrap(),
        );
        headers
    }

    #[test]
    fn a_session_needs_the_tenants_own_token() {
        let auth = auth();
        assert_eq!(
            auth.sign_in("a", "ann", "token-b"),
            Err(SignInError::Refused)
        );
        assert_eq!(
            auth.sign_in("c", "ann", "token-a"),
            Err(SignInError::Refused)
        );
        assert_eq!(auth.sign_in("a", " ", "token-a"), Err(SignInError::BadUser));
        let id = auth.sign_in("a", "ann", "token-a").unwrap();
        assert_eq!(id.len(), 64);
        let session = auth.session(&cookie(&id)).unwrap();
        assert_eq!(
            (session.tenant.as_str(), session.user.as_str()),
            ("a", "ann")
        );
        assert_eq!(auth.session(&cookie("forged")), None);
        assert_eq!(auth.session(&HeaderMap::new()), None);
    }

    #[test]
    fn withdrawing_a_token_ends_its_sessions() {
        let auth = auth();
        let id = auth.sign_in("a", "ann", "token-a").unwrap();
        let b = hash_token("token-b");
        auth.set_tokens(TokenTable::new([("b", b.as_str())]));
        assert_eq!(auth.session(&cookie(&id)), None);
    }

    #[test]
    fn signing_out_ends_the_session() {
        let auth = auth();
        let id = auth.sign_in("a", "ann", "token-a").unwrap();
        auth.sign_out(&cookie(&id));
        assert_eq!(auth.session(&cookie(&id)), None);
    }
}
