//! The nodes of the deployment on the control API (admin only).
//!
//! - `GET /api/v1/nodes` -> `[{"id","state","addresses","load",..,"heartbeat_age_ms","lost"}]`
//! - `POST /api/v1/nodes/{id}/drain` -> `{"id","state":"draining"}`: the node
//!   takes no new work, finishes what it holds, then shows `left`.

use crate::control::{Caller, Ctx};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use strato_store::NodeState;

pub(crate) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/api/v1/nodes", get(handle_list_nodes))
        .route("/api/v1/nodes/{id}/drain", post(handle_drain_node))
}

async fn handle_list_nodes(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<Value>>, ApiError> {
    caller.require_admin()?;
    let lost_after = ctx.platform.node_lost_after().as_millis() as i64;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let nodes = ctx.platform.nodes().await?;
    Ok(Json(
        nodes
            .into_iter()
            .map(|n| {
                let age = now - n.heartbeat_ms;
                // A node that stopped beating without saying it left.
                let lost = n.state != NodeState::Left && age > lost_after;
                let mut v = serde_json::to_value(&n).unwrap_or_default();
                v["heartbeat_age_ms"] = json!(age);
                v["lost"] = json!(lost);
                if lost {
                    v["state"] = json!("lost");
                }
                v
            })
            .collect(),
    ))
}

async fn handle_drain_node(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    if !ctx.platform.drain_node(&id).await? {
        return Err(ApiError::not_found(format!("no node `{id}`")));
    }
    Ok(Json(json!({"id": id, "state": "draining"})))
}
