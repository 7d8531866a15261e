//! App-scoped tokens: what a run gets as `STRATO_TOKEN`. A token names its
//! app and carries a MAC derived from the server's admin secret, so the
//! server can verify it without storing it.

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
}

const PREFIX: &str = "stk_app.";

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

    /// Verifies an app-scoped token.
    pub fn verify(&self, token: &str) -> Option<AppToken> {
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
                app: "hello".into()
            })
        );
        assert_eq!(TokenIssuer::new("other").verify(&token), None);
        let forged = token.replace("hello", "admin");
        assert_eq!(issuer.verify(&forged), None);
        assert_eq!(issuer.verify("garbage"), None);
    }
}
