//! App-scoped tokens: what a run gets as `STRATO_TOKEN`. A token names its
//! app and carries a MAC derived from the server's admin secret, so the
//! server can verify it without storing it. A token may end in
//! `~TRACEPARENT`: calls made with it are then children of that span (for
//! a client that can set its token but no header; a wasm run's outbound
//! requests carry its `traceparent` header instead). That part is a hint
//! like a `traceparent` header (any caller may send one), so the MAC
//! leaves it out.

use sha2::{Digest, Sha256};

/// Issues and checks app-scoped tokens.
#[derive(Clone)]
pub struct TokenIssuer {
    secret: String,
}

/// A verified app-scoped token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppToken {
    pub app: String,
    /// The run span the token was issued to, if it names one.
    pub parent: Option<strato_core::TraceContext>,
}

const PREFIX: &str = "stk_app.";
const TRACE_SEPARATOR: char = '~';

impl TokenIssuer {
    pub fn new(secret: impl Into<String>) -> Self {
        TokenIssuer {
            secret: secret.into(),
        }
    }

    fn mac(&self, app: &str) -> String {
        let mut h = Sha256::new();
        h.update(b"strato app token v1\0");
        h.update(self.secret.as_bytes());
        h.update(b"\0");
        h.update(app.as_bytes());
        hex::encode(&h.finalize()[..24])
    }

    /// The token given to runs of `app`.
    pub fn issue(&self, app: &str) -> String {
        format!("{PREFIX}{app}.{}", self.mac(app))
    }

    /// `token` (from [`TokenIssuer::issue`]) naming the span (its
    /// `traceparent`) of the run that holds it.
    #[cfg(test)]
    pub fn in_span(token: &str, traceparent: &str) -> String {
        let mut out = String::with_capacity(token.len() + 1 + traceparent.len());
        out.push_str(token);
        out.push(TRACE_SEPARATOR);
        out.push_str(traceparent);
        out
    }

    /// Verifies an app-scoped token.
    pub fn verify(&self, token: &str) -> Option<AppToken> {
        let (token, parent) = match token.split_once(TRACE_SEPARATOR) {
            Some((token, trace)) => (token, strato_core::TraceContext::parse_traceparent(trace)),
            None => (token, None),
        };
        let rest = token.strip_prefix(PREFIX)?;
        let (app, mac) = rest.rsplit_once('.')?;
        let expected = self.mac(app);
        // Compare without early exit so timing says nothing about the MAC.
        let same = expected.len() == mac.len()
            && expected
                .bytes()
                .zip(mac.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        same.then(|| AppToken {
            app: app.to_string(),
            parent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_for_their_app_and_secret() {
        let issuer = TokenIssuer::new("s3cret");
        let token = issuer.issue("hello");
        assert_eq!(
            issuer.verify(&token),
            Some(AppToken {
                app: "hello".into(),
                parent: None,
            })
        );
        let span = strato_core::TraceContext::new(5, 6, true).unwrap();
        let traced = TokenIssuer::in_span(&token, &span.traceparent());
        assert_eq!(issuer.verify(&traced).unwrap().parent, Some(span));
        assert_eq!(issuer.verify(&traced).unwrap().app, "hello");
        assert_eq!(
            issuer.verify(&format!("{token}~garbage")).unwrap().parent,
            None,
            "a malformed context is no context, the token still holds"
        );
        assert_eq!(
            issuer.verify(&TokenIssuer::in_span(
                &token.replace("hello", "admin"),
                &span.traceparent()
            )),
            None
        );
        assert_eq!(TokenIssuer::new("other").verify(&token), None);
        let forged = token.replace("hello", "admin");
        assert_eq!(issuer.verify(&forged), None);
        assert_eq!(issuer.verify("garbage"), None);
    }
}
