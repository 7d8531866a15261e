//! The Lambda API (`/2015-03-31/`), so `aws lambda` and the SDKs' Lambda
//! clients work given only an endpoint URL: `Invoke` ([`invoke`]), and
//! `GetFunction`, `GetFunctionConfiguration` and `ListFunctions`
//! ([`functions`]). Functions are deployed from `strato.toml`, so the
//! operations that create or change them answer that they are not
//! supported here.
//!
//! Names: Lambda's function names have no `/`, so Strato's `APP/FUNCTION`
//! is `APP.FUNCTION` here (Strato names have no `.`, so the mapping is
//! one to one), and a bare `FUNCTION` works when only one app has it, as
//! with `strato invoke`. ARNs (`arn:aws:lambda:REGION:000000000000:
//! function:APP.FUNCTION`) and partial ARNs are accepted; the only
//! qualifier is `$LATEST` (a revision is always the live one).

mod functions;
mod invoke;

pub(crate) use invoke::answer_response;

use super::AwsError;
use crate::control::Ctx;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{any, get, post};
use strato_engine::InvokeError;

/// The account id in the ARNs Strato shows (it has no AWS accounts).
pub(crate) const ACCOUNT_ID: &str = "000000000000";

pub(crate) fn routes(ctx: Ctx) -> Router<Ctx> {
    Router::new()
        .route(
            "/2015-03-31/functions/{name}/invocations",
            post(invoke::handle_invoke),
        )
        .route(
            "/2015-03-31/functions/{name}",
            get(functions::handle_get_function),
        )
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(functions::handle_get_function_configuration),
        )
        .route(
            "/2015-03-31/functions/",
            get(functions::handle_list_functions),
        )
        .route(
            "/2015-03-31/functions",
            get(functions::handle_list_functions),
        )
        .route("/2015-03-31/{*rest}", any(handle_unsupported))
        .layer(axum::middleware::from_fn_with_state(ctx, authenticate))
}

async fn authenticate(state: State<Ctx>, request: Request, next: Next) -> Response {
    super::authenticate(state, request, next, "lambda").await
}

async fn handle_unsupported() -> AwsError {
    AwsError::new(
        StatusCode::BAD_REQUEST,
        "UnsupportedOperationException",
        "Strato serves Invoke, GetFunction, GetFunctionConfiguration and ListFunctions; \
         functions are created and changed by deploying strato.toml (`strato deploy`)",
    )
}

/// A function as the Lambda API names it.
pub(crate) struct FunctionRef {
    /// What the engine looks up: `APP/FUNCTION` or `FUNCTION`.
    pub target: String,
    /// The name as the caller gave it, without ARN or qualifier.
    pub name: String,
}

/// Parses `FunctionName` (a name, partial ARN or ARN, with an optional
/// `:QUALIFIER`) and a `Qualifier` parameter.
pub(crate) fn parse_function_name(
    given: &str,
    qualifier: Option<&str>,
) -> Result<FunctionRef, AwsError> {
    let parts: Vec<&str> = given.split(':').collect();
    let (name, in_name) = match parts[..] {
        [name] => (name, None),
        [name, q] => (name, Some(q)),
        // ACCOUNT:function:NAME[:QUALIFIER]
        [_, "function", name] => (name, None),
        [_, "function", name, q] => (name, Some(q)),
        // arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
        ["arn", _, "lambda", _, _, "function", name] => (name, None),
        ["arn", _, "lambda", _, _, "function", name, q] => (name, Some(q)),
        _ => {
            return Err(AwsError::invalid_parameter(format!(
                "`{given}` is not a function name or ARN; use APP.FUNCTION or \
                 arn:aws:lambda:REGION:{ACCOUNT_ID}:function:APP.FUNCTION"
            )));
        }
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 140
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    if !valid(name) {
        return Err(AwsError::invalid_parameter(format!(
            "function name `{name}` must be 1 to 140 letters, digits, `-`, `_` or `.`"
        )));
    }
    for q in [in_name, qualifier].into_iter().flatten() {
        if q != "$LATEST" {
            return Err(AwsError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                format!(
                    "Function not found: {name}:{q}; Strato keeps no versions or aliases, \
                     only the live revision ($LATEST)"
                ),
            ));
        }
    }
    let target = match name.split_once('.') {
        Some((app, function)) => format!("{app}/{function}"),
        None => name.to_string(),
    };
    Ok(FunctionRef {
        target,
        name: name.to_string(),
    })
}

/// The name `APP/FUNCTION` has in the Lambda API.
pub(crate) fn lambda_name(app: &str, function: &str) -> String {
    format!("{app}.{function}")
}

pub(crate) fn function_arn(region: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}")
}

/// The one mapping from engine invoke errors to Lambda's error codes.
pub(crate) fn lambda_error(e: InvokeError, region: &str, function: &FunctionRef) -> AwsError {
    match e {
        InvokeError::NoSuchFunction(_) => AwsError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!(
                "Function not found: {}; see `strato apps` (a function is APP.FUNCTION here)",
                function_arn(region, &function.name)
            ),
        ),
        InvokeError::Ambiguous { candidates, .. } => {
            let names: Vec<String> = candidates.iter().map(|c| c.replacen('/', ".", 1)).collect();
            AwsError::invalid_parameter(format!(
                "function name `{}` is in several apps; name one of: {}",
                function.name,
                names.join(", ")
            ))
        }
        InvokeError::Forbidden(app) => AwsError::new(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            format!("this access key may only reach functions of app `{app}`"),
        ),
        InvokeError::Throttled => AwsError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            "Rate Exceeded: the function is at its concurrency limit; retry later",
        ),
        InvokeError::Storage(e) => AwsError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            format!("the invocation could not be handled: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> Result<String, &'static str> {
        parse_function_name(name, None)
            .map(|f| f.target)
            .map_err(|e| e.code)
    }

    #[test]
    fn names_and_arns_map_to_app_and_function() {
        assert_eq!(target("shop.api"), Ok("shop/api".into()));
        assert_eq!(target("api"), Ok("api".into()));
        assert_eq!(target("shop.api:$LATEST"), Ok("shop/api".into()));
        assert_eq!(
            target("000000000000:function:shop.api"),
            Ok("shop/api".into())
        );
        assert_eq!(
            target("arn:aws:lambda:us-east-1:000000000000:function:shop.api:$LATEST"),
            Ok("shop/api".into())
        );
        assert_eq!(target("shop.api:3"), Err("ResourceNotFoundException"));
        assert_eq!(target("shop/api"), Err("InvalidParameterValueException"));
        assert_eq!(target("a:b:c:d:e"), Err("InvalidParameterValueException"));
        assert_eq!(target(""), Err("InvalidParameterValueException"));
        assert_eq!(
            parse_function_name("shop.api", Some("live"))
                .map_err(|e| e.code)
                .err(),
            Some("ResourceNotFoundException")
        );
    }
}
