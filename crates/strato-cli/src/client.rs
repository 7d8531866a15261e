//! A small client for the control API.

use crate::Target;
use anyhow::{Context, Result, anyhow, bail};
use std::path::{Path, PathBuf};

pub struct Client {
    pub base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// An error answer from the server, with its JSON details.
#[derive(Debug)]
pub struct ServerError {
    pub status: u16,
    pub body: serde_json::Value,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.body.get("error").and_then(|e| e.as_str()) {
            Some(message) => write!(f, "{message}"),
            None => write!(f, "server answered {}: {}", self.status, self.body),
        }
    }
}

impl std::error::Error for ServerError {}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl Client {
    /// Resolves the server: `--url`/`STRATO_URL`, else the address a local
    /// server wrote into its data dir, else the default port.
    pub fn new(target: &Target) -> Result<Client> {
        let data_dir = target
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(".strato"));
        // An empty STRATO_URL / STRATO_TOKEN counts as unset.
        let url = target.url.as_deref().filter(|u| !u.trim().is_empty());
        let base = match url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => read_endpoints(&data_dir)
                .and_then(|e| e.get("api").and_then(|a| a.as_str()).map(str::to_string))
                .unwrap_or_else(|| "http://127.0.0.1:8090".to_string()),
        };
        let token = target
            .token
            .clone()
            .filter(|t| !t.trim().is_empty())
            .or_else(|| read_trimmed(&data_dir.join("admin.token")));
        Ok(Client::with(base, token))
    }

    pub fn with(base: String, token: Option<String>) -> Client {
        Client {
            base,
            token,
            http: reqwest::Client::new(),
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        req
    }

    /// Sends and returns the response, turning connection failures into advice.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        req.send().await.map_err(|e| {
            if e.is_connect() {
                anyhow!(
                    "cannot reach the Strato server at {}; start one with `strato server` (or `strato up`), or set STRATO_URL",
                    self.base
                )
            } else {
                anyhow!("request to {} failed: {e}", self.base)
            }
        })
    }

    /// Sends and decodes a JSON answer, or returns a [`ServerError`].
    pub async fn json(&self, req: reqwest::RequestBuilder) -> Result<serde_json::Value> {
        let response = self.send(req).await?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .context("reading the server's answer")?;
        let body: serde_json::Value =
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        if status >= 400 {
            if status == 401 {
                bail!(
                    "{}; pass --token, set STRATO_TOKEN, or run beside the server's data dir",
                    ServerError { status, body }
                );
            }
            return Err(ServerError { status, body }.into());
        }
        Ok(body)
    }
}

pub fn read_endpoints(data_dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(data_dir.join("endpoints.json")).ok()?;
    serde_json::from_str(&text).ok()
}
