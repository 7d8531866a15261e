//! Usage on the control API: what each function, task and service used,
//! the figures a bill would use.
//!
//! - `GET /api/v1/usage?app=&since=30d` -> `[{"app","function","runs",
//!   "errors","throttles","cold_starts","billed_ms","gb_seconds","cpu_seconds"}]`;
//!   `since` is a duration back from now (default 30 days). An app token
//!   sees only its app.

use crate::control::{Caller, Ctx};
use crate::error::ApiError;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use strato_store::{UsageFilter, UsageRow};

pub(crate) fn routes() -> Router<Ctx> {
    Router::new().route("/api/v1/usage", get(handle_usage))
}

#[derive(Deserialize)]
struct UsageQuery {
    app: Option<String>,
    since: Option<String>,
}

async fn handle_usage(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<UsageQuery>,
) -> Result<Json<Vec<UsageRow>>, ApiError> {
    let since = q.since.as_deref().unwrap_or("30d");
    let back_ms = strato_core::units::parse_duration_ms(since).map_err(|e| {
        ApiError::bad_request(format!("bad since `{since}`: {e}; use e.g. 24h, 7d"))
    })?;
    let filter = UsageFilter {
        app: caller.scope(q.app.as_deref())?,
        since_ms: strato_core::time::now_ms() - back_ms as i64,
    };
    Ok(Json(ctx.platform.store().usage(&filter).await?))
}
