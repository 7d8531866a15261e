//! `GetFunction`, `GetFunctionConfiguration` and `ListFunctions`: enough
//! of Lambda's `FunctionConfiguration` for the SDKs' waiters
//! (`State: Active`, `LastUpdateStatus: Successful`) and for tools that
//! list functions. Every live function shows, wasm ones too.

use super::{function_arn, lambda_error, lambda_name, parse_function_name};
use crate::aws::AwsError;
use crate::control::{Caller, Ctx};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use strato_core::lambda::LambdaSource;
use strato_engine::FunctionInfo;

/// Most functions one `ListFunctions` page holds (as Lambda).
const MAX_ITEMS: usize = 50;

/// Lambda's `FunctionConfiguration` for a live function.
fn configuration(f: &FunctionInfo, region: &str) -> Value {
    let name = lambda_name(&f.app, &f.name);
    let digest = hex::decode(&f.digest).unwrap_or_default();
    let mut config = json!({
        "FunctionName": name,
        "FunctionArn": function_arn(region, &name),
        "Role": format!("arn:aws:iam::{}:role/strato", super::ACCOUNT_ID),
        "CodeSha256": base64::engine::general_purpose::STANDARD.encode(digest),
        "CodeSize": 0,
        "Description": "",
        "Timeout": f.spec.timeout_ms.div_ceil(1000),
        "MemorySize": f.spec.memory_bytes >> 20,
        "Version": "$LATEST",
        "RevisionId": f.revision.to_string(),
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "Architectures": [std::env::consts::ARCH.replace("aarch64", "arm64")],
        "EphemeralStorage": { "Size": 512 },
        "TracingConfig": { "Mode": "PassThrough" },
        "Environment": { "Variables": f.spec.env },
    });
    match f.spec.lambda.as_ref().map(|l| &l.source) {
        Some(LambdaSource::Code {
            runtime, handler, ..
        }) => {
            config["PackageType"] = "Zip".into();
            config["Runtime"] = runtime.as_str().into();
            config["Handler"] = handler.as_str().into();
        }
        Some(LambdaSource::Image { .. }) => {
            config["PackageType"] = "Image".into();
        }
        None => {
            config["PackageType"] = "Zip".into();
            config["Description"] = "WebAssembly component (wasi:http)".into();
        }
    }
    config
}

pub(crate) async fn handle_get_function_configuration(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(query): Query<QualifierQuery>,
) -> Result<Response, AwsError> {
    let info = find(&ctx, &caller, &name, query.qualifier.as_deref())?;
    Ok(Json(configuration(&info, &ctx.config.region)).into_response())
}

pub(crate) async fn handle_get_function(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(query): Query<QualifierQuery>,
) -> Result<Response, AwsError> {
    let info = find(&ctx, &caller, &name, query.qualifier.as_deref())?;
    let code = match info.spec.lambda.as_ref().map(|l| &l.source) {
        Some(LambdaSource::Image { image, .. }) => {
            json!({ "RepositoryType": "ECR", "ImageUri": image })
        }
        _ => json!({ "RepositoryType": "Strato" }),
    };
    Ok(Json(json!({
        "Configuration": configuration(&info, &ctx.config.region),
        "Code": code,
        "Tags": {},
    }))
    .into_response())
}

#[derive(Deserialize)]
pub(crate) struct QualifierQuery {
    #[serde(rename = "Qualifier")]
    qualifier: Option<String>,
}

fn find(
    ctx: &Ctx,
    caller: &Caller,
    name: &str,
    qualifier: Option<&str>,
) -> Result<FunctionInfo, AwsError> {
    let function = parse_function_name(name, qualifier)?;
    ctx.platform
        .function_info(&function.target, caller.only_app())
        .map_err(|e| lambda_error(e, &ctx.config.region, &function))
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<usize>,
}

/// Pages are in name order; the marker is the last name of the page before.
pub(crate) async fn handle_list_functions(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> Result<Response, AwsError> {
    let max = query.max_items.unwrap_or(MAX_ITEMS);
    if !(1..=MAX_ITEMS).contains(&max) {
        return Err(AwsError::invalid_parameter(format!(
            "MaxItems must be 1 to {MAX_ITEMS}"
        )));
    }
    let mut all = ctx.platform.function_infos(caller.only_app());
    all.sort_by_cached_key(|f| lambda_name(&f.app, &f.name));
    let after = |f: &&FunctionInfo| {
        query
            .marker
            .as_deref()
            .is_none_or(|m| lambda_name(&f.app, &f.name).as_str() > m)
    };
    let page: Vec<&FunctionInfo> = all.iter().filter(after).take(max + 1).collect();
    let more = page.len() > max;
    let functions: Vec<Value> = page
        .iter()
        .take(max)
        .map(|f| configuration(f, &ctx.config.region))
        .collect();
    let mut body = json!({ "Functions": functions });
    if more && let Some(last) = functions.last() {
        body["NextMarker"] = last["FunctionName"].clone();
    }
    Ok(Json(body).into_response())
}
