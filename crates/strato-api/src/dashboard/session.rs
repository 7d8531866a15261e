//! Dashboard sessions: a signed cookie naming who logged in (the admin or
//! one app) and until when, and the CSRF token that goes with it.
//!
//! The cookie is `v1.<admin|app>.<app>.<expires_ms>.<mac>`, the MAC keyed
//! by a key derived from the admin token, so every node of a cluster (they
//! share the token) accepts it and nothing is stored. It is `HttpOnly`
//! (scripts cannot read it) and `SameSite=Strict` (no other site's page
//! sends it). Every state-changing request must also carry the CSRF token,
//! a MAC of the cookie, which only pages served to the session contain.

use crate::aws::sigv4::{constant_time_eq, hmac_sha256};
use crate::control::Caller;

/// The cookie's name.
pub(crate) const COOKIE: &str = "strato_session";
/// How long a login lasts.
pub(crate) const LIFETIME_MS: i64 = 12 * 3600 * 1000;

/// A logged-in browser.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub caller: Caller,
    /// What forms and htmx requests send back as `csrf` / `X-CSRF-Token`.
    pub csrf: String,
}

/// Makes and checks session cookies.
#[derive(Clone)]
pub(crate) struct Sessions {
    key: [u8; 32],
}

impl Sessions {
    pub(crate) fn new(admin_token: &str) -> Sessions {
        Sessions {
            key: hmac_sha256(admin_token.as_bytes(), b"strato dashboard session v1"),
        }
    }

    fn mac(&self, text: &str) -> String {
        hex::encode(&hmac_sha256(&self.key, text.as_bytes())[..20])
    }

    /// The cookie value for `caller`, valid until `expires_ms`.
    pub(crate) fn issue(&self, caller: &Caller, expires_ms: i64) -> String {
        let (kind, app) = match caller {
            Caller::Admin => ("admin", ""),
            Caller::App(app) => ("app", app.as_str()),
        };
        let payload = format!("v1.{kind}.{app}.{expires_ms}");
        format!("{payload}.{}", self.mac(&payload))
    }

    /// The session a cookie value names, if its MAC holds and it has not
    /// expired at `now_ms`.
    pub(crate) fn verify(&self, cookie: &str, now_ms: i64) -> Option<Session> {
        let (payload, mac) = cookie.rsplit_once('.')?;
        if !constant_time_eq(mac.as_bytes(), self.mac(payload).as_bytes()) {
            return None;
        }
        let mut parts = payload.split('.');
        let (version, kind, app, expires) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "v1" || parts.next().is_some() {
            return None;
        }
        if expires.parse::<i64>().ok()? <= now_ms {
            return None;
        }
        let caller = match kind {
            "admin" => Caller::Admin,
            "app" if !app.is_empty() => Caller::App(app.to_string()),
            _ => return None,
        };
        Some(Session {
            caller,
            csrf: self.mac(&format!("csrf {cookie}")),
        })
    }
}

/// The session cookie's value among a request's `Cookie` headers.
pub(crate) fn cookie_of(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then_some(value)
        })
}

/// The `Set-Cookie` value that stores `value` (or, empty, clears it).
pub(crate) fn set_cookie(value: &str) -> String {
    let max_age = if value.is_empty() {
        0
    } else {
        LIFETIME_MS / 1000
    };
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}")
}

/// Whether a state-changing request may act for `session`: it carries the
/// session's CSRF token, and no browser says it came from another site.
pub(crate) fn may_change(
    session: &Session,
    headers: &http::HeaderMap,
    form_csrf: Option<&str>,
) -> bool {
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site == "cross-site" || site == "same-site");
    let sent = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .or(form_csrf);
    !cross_site && sent.is_some_and(|t| constant_time_eq(t.as_bytes(), session.csrf.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_verify_until_they_expire_and_resist_tampering() {
        let sessions = Sessions::new("admin-secret");
        let cookie = sessions.issue(&Caller::App("shop".into()), 2_000);
        let session = sessions.verify(&cookie, 1_000).unwrap();
        assert!(matches!(&session.caller, Caller::App(a) if a == "shop"));
        assert!(sessions.verify(&cookie, 2_000).is_none(), "expired");
        let forged = cookie.replace(".app.shop.", ".admin..");
        assert!(sessions.verify(&forged, 1_000).is_none());
        let longer = cookie.replace(".2000.", ".9999999.");
        assert!(sessions.verify(&longer, 1_000).is_none());
        assert!(Sessions::new("other").verify(&cookie, 1_000).is_none());
        let admin = sessions.issue(&Caller::Admin, 2_000);
        assert!(matches!(
            sessions.verify(&admin, 0).unwrap().caller,
            Caller::Admin
        ));
        assert_ne!(sessions.verify(&admin, 0).unwrap().csrf, session.csrf);
    }

    #[test]
    fn changes_need_the_token_and_a_same_site_request() {
        let sessions = Sessions::new("admin-secret");
        let session = sessions
            .verify(&sessions.issue(&Caller::Admin, 2_000), 0)
            .unwrap();
        let mut headers = http::HeaderMap::new();
        assert!(!may_change(&session, &headers, None));
        assert!(!may_change(&session, &headers, Some("guess")));
        assert!(may_change(&session, &headers, Some(&session.csrf)));
        headers.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!may_change(&session, &headers, Some(&session.csrf)));
        headers.insert("sec-fetch-site", "same-origin".parse().unwrap());
        headers.insert("x-csrf-token", session.csrf.parse().unwrap());
        assert!(may_change(&session, &headers, None));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            "a=1; strato_session=v1.admin..5.ab; b=2".parse().unwrap(),
        );
        assert_eq!(cookie_of(&headers), Some("v1.admin..5.ab"));
        assert!(set_cookie("x").contains("HttpOnly; SameSite=Strict"));
    }
}
