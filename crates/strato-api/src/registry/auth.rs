//! Who may do what in the registry: Docker's token flow over Strato's
//! access keys.
//!
//! A client without credentials is challenged (`WWW-Authenticate: Bearer
//! realm=".../token"`); it asks `/token` for the scopes it needs, with an
//! access key id and secret as Basic credentials, and gets a bearer token
//! granting those of them its key may have. An admin key may have every
//! repository; an app's key only `APP` and `APP/...`. The token names its
//! key and is signed with the key's secret, so any node of a cluster can
//! check it and revoking the key revokes its tokens. Basic credentials on a
//! request itself are accepted too (curl, simple clients).

use crate::aws::sigv4::{constant_time_eq, hmac_sha256};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use strato_engine::buckets::KeyRing;
use strato_store::AccessKey;

/// How long an issued token is good for.
const TOKEN_SECONDS: i64 = 3600;
const PREFIX: &str = "stk_reg.";
pub(super) const SERVICE: &str = "strato-registry";

/// What a request asks to do to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    fn parse(text: &str) -> Option<Action> {
        match text {
            "pull" => Some(Action::Pull),
            "push" => Some(Action::Push),
            "delete" | "*" => Some(Action::Delete),
            _ => None,
        }
    }
}

/// An authenticated caller and what it may do.
#[derive(Debug, Clone)]
pub(super) struct Caller {
    key: AccessKey,
    /// `None`: everything its key may do (Basic credentials); otherwise
    /// the scopes its token grants.
    granted: Option<Vec<(String, Vec<Action>)>>,
}

/// Why a request is not allowed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// No valid credentials: challenge the client to get some.
    Unauthenticated,
    /// Valid credentials whose token lacks the scope: ask for a new one.
    Unscoped,
    /// The key may never do this.
    Denied,
}

/// Whether `key` may ever do anything to `repo`.
pub(super) fn key_may(key: &AccessKey, repo: &str) -> bool {
    match &key.app {
        None => true,
        Some(app) => {
            repo == app
                || repo
                    .strip_prefix(app.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        }
    }
}

impl Caller {
    /// Checks that the caller may do `action` to `repo`.
    pub(super) fn allow(&self, repo: &str, action: Action) -> Result<(), Refusal> {
        if !key_may(&self.key, repo) {
            return Err(Refusal::Denied);
        }
        match &self.granted {
            None => Ok(()),
            Some(scopes) => scopes
                .iter()
                .any(|(r, actions)| r == repo && actions.contains(&action))
                .then_some(())
                .ok_or(Refusal::Unscoped),
        }
    }

    /// Whether the caller may see `repo` in the catalog.
    pub(super) fn sees(&self, repo: &str) -> bool {
        key_may(&self.key, repo)
    }
}

#[derive(Serialize, Deserialize)]
struct TokenClaims {
    /// The key's id.
    k: String,
    /// Expiry, seconds since the epoch.
    e: i64,
    /// Repository and comma-separated actions.
    a: Vec<(String, String)>,
}

fn signature(secret: &str, payload: &str) -> String {
    let mut message = b"strato registry token v1\0".to_vec();
    message.extend_from_slice(payload.as_bytes());
    URL_SAFE_NO_PAD.encode(hmac_sha256(secret.as_bytes(), &message))
}

fn now_seconds() -> i64 {
    strato_core::time::now_ms() / 1000
}

/// The caller an `Authorization` header names, if it checks out.
pub(super) fn authenticate(keys: &KeyRing, header: Option<&str>) -> Result<Caller, Refusal> {
    let header = header.ok_or(Refusal::Unauthenticated)?;
    if let Some(token) = header.strip_prefix("Bearer ") {
        return verify_token(keys, token.trim()).ok_or(Refusal::Unauthenticated);
    }
    let basic = header
        .strip_prefix("Basic ")
        .ok_or(Refusal::Unauthenticated)?;
    let key = check_basic(keys, basic).ok_or(Refusal::Unauthenticated)?;
    Ok(Caller { key, granted: None })
}

fn check_basic(keys: &KeyRing, encoded: &str) -> Option<AccessKey> {
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let key = keys.get(id)?;
    constant_time_eq(key.secret.as_bytes(), secret.as_bytes()).then_some(key)
}

fn verify_token(keys: &KeyRing, token: &str) -> Option<Caller> {
    let (payload, mac) = token.strip_prefix(PREFIX)?.split_once('.')?;
    let claims: TokenClaims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let key = keys.get(&claims.k)?;
    if !constant_time_eq(signature(&key.secret, payload).as_bytes(), mac.as_bytes())
        || claims.e < now_seconds()
    {
        return None;
    }
    let granted = claims
        .a
        .into_iter()
        .map(|(repo, actions)| (repo, actions.split(',').filter_map(Action::parse).collect()))
        .collect();
    Some(Caller {
        key,
        granted: Some(granted),
    })
}

/// Answers `GET /token?scope=...`: a token for the scopes the Basic
/// credentials' key may have (`None` when the credentials are bad).
pub(super) fn issue_token(
    keys: &KeyRing,
    authorization: Option<&str>,
    query: &str,
) -> Option<serde_json::Value> {
    let key = check_basic(keys, authorization?.strip_prefix("Basic ")?)?;
    let mut access: Vec<(String, String)> = Vec::new();
    for (name, value) in form_urlencoded(query) {
        if name != "scope" {
            continue;
        }
        // Several scopes may share one parameter, separated by spaces.
        for scope in value.split(' ') {
            let Some(("repository", rest)) = scope.split_once(':') else {
                continue;
            };
            let Some((repo, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            if !key_may(&key, repo) {
                continue;
            }
            let actions: Vec<&str> = actions
                .split(',')
                .filter_map(Action::parse)
                .map(Action::name)
                .collect();
            access.push((repo.to_string(), actions.join(",")));
        }
    }
    let claims = TokenClaims {
        k: key.id.clone(),
        e: now_seconds() + TOKEN_SECONDS,
        a: access,
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialize"));
    let token = format!("{PREFIX}{payload}.{}", signature(&key.secret, &payload));
    let issued = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Some(serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": TOKEN_SECONDS,
        "issued_at": issued,
    }))
}

/// The challenge sent with a 401: where to get a token, for what.
pub(super) fn challenge(host: &str, scope: Option<(&str, Action)>) -> String {
    let mut value = format!("Bearer realm=\"http://{host}/token\",service=\"{SERVICE}\"");
    if let Some((repo, action)) = scope {
        let actions = match action {
            Action::Pull => "pull",
            Action::Push => "pull,push",
            Action::Delete => "delete",
        };
        value.push_str(&format!(",scope=\"repository:{repo}:{actions}\""));
    }
    value
}

/// `name=value` pairs of a query string, decoded.
pub(super) fn form_urlencoded(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| strato_core::percent::decode(s, strato_core::percent::Plus::IsSpace);
        (decode(name), decode(value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(app: Option<&str>) -> AccessKey {
        AccessKey {
            id: "STRATOKEY".into(),
            secret: "s3cret".into(),
            app: app.map(str::to_string),
            created_at_ms: 0,
        }
    }

    #[test]
    fn app_keys_reach_only_their_apps_repositories() {
        let k = key(Some("shop"));
        assert!(key_may(&k, "shop"));
        assert!(key_may(&k, "shop/web"));
        assert!(!key_may(&k, "shopping/web"));
        assert!(!key_may(&k, "other/web"));
        assert!(key_may(&key(None), "anything/at/all"));
    }

    #[test]
    fn tokens_grant_only_their_scopes_and_only_with_their_key() {
        let caller = Caller {
            key: key(Some("shop")),
            granted: Some(vec![("shop/web".into(), vec![Action::Pull])]),
        };
        assert_eq!(caller.allow("shop/web", Action::Pull), Ok(()));
        assert_eq!(
            caller.allow("shop/web", Action::Push),
            Err(Refusal::Unscoped)
        );
        assert_eq!(
            caller.allow("other/web", Action::Pull),
            Err(Refusal::Denied)
        );
        let payload = "eyJrIjoiU1RSQVRPS0VZIn0";
        assert_ne!(signature("s3cret", payload), signature("other", payload));
    }
}
