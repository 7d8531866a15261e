//! `Retry` and `Catch`: retriers and catchers, parsed and checked.

use super::{Catcher, DefinitionError, Retrier, err};
use crate::path::JsonPath;
use serde_json::Value;

fn error_equals(
    name: &str,
    field: &str,
    i: usize,
    v: &Value,
) -> Result<Vec<String>, DefinitionError> {
    let names: Vec<String> = v
        .get("ErrorEquals")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .and_then(|a| a.iter().map(|e| e.as_str().map(str::to_string)).collect())
        .ok_or_else(|| {
            err(
                Some(name),
                format!("{field}[{i}] needs ErrorEquals: a non-empty array of error names"),
            )
        })?;
    if names.iter().any(|n| n == crate::error::names::ALL) && names.len() > 1 {
        return Err(err(
            Some(name),
            format!("{field}[{i}]: States.ALL must appear alone in ErrorEquals"),
        ));
    }
    Ok(names)
}

/// States.ALL, if used, must be the last retrier/catcher.
fn all_last(name: &str, field: &str, lists: &[&Vec<String>]) -> Result<(), DefinitionError> {
    for (i, list) in lists.iter().enumerate() {
        if list.iter().any(|n| n == crate::error::names::ALL) && i + 1 != lists.len() {
            return Err(err(
                Some(name),
                format!("{field}[{i}]: a States.ALL entry must be the last one"),
            ));
        }
    }
    Ok(())
}

pub(super) fn parse_retry(name: &str, value: &Value) -> Result<Vec<Retrier>, DefinitionError> {
    let items = value
        .as_array()
        .ok_or_else(|| err(Some(name), "Retry must be an array of retriers"))?;
    let mut out = Vec::new();
    for (i, r) in items.iter().enumerate() {
        let fields = r
            .as_object()
            .ok_or_else(|| err(Some(name), format!("Retry[{i}] must be an object")))?;
        for key in fields.keys() {
            if !matches!(
                key.as_str(),
                "ErrorEquals"
                    | "IntervalSeconds"
                    | "MaxAttempts"
                    | "BackoffRate"
                    | "MaxDelaySeconds"
                    | "JitterStrategy"
                    | "Comment"
            ) {
                return Err(err(
                    Some(name),
                    format!("Retry[{i}] has an unknown field {key:?}"),
                ));
            }
        }
        let number = |field: &str, default: u64, min: u64| -> Result<u64, DefinitionError> {
            match fields.get(field) {
                None => Ok(default),
                Some(v) => v.as_u64().filter(|n| *n >= min).ok_or_else(|| {
                    err(
                        Some(name),
                        format!("Retry[{i}].{field} must be an integer of at least {min}"),
                    )
                }),
            }
        };
        let backoff_rate = match fields.get("BackoffRate") {
            None => 2.0,
            Some(v) => v.as_f64().filter(|b| *b >= 1.0).ok_or_else(|| {
                err(
                    Some(name),
                    format!("Retry[{i}].BackoffRate must be a number of at least 1.0"),
                )
            })?,
        };
        let full_jitter = match fields.get("JitterStrategy").map(|v| v.as_str()) {
            None | Some(Some("NONE")) => false,
            Some(Some("FULL")) => true,
            _ => {
                return Err(err(
                    Some(name),
                    format!("Retry[{i}].JitterStrategy must be FULL or NONE"),
                ));
            }
        };
        out.push(Retrier {
            error_equals: error_equals(name, "Retry", i, r)?,
            interval_seconds: number("IntervalSeconds", 1, 1)?,
            max_attempts: u32::try_from(number("MaxAttempts", 3, 0)?).unwrap_or(u32::MAX),
            backoff_rate,
            max_delay_seconds: fields
                .get("MaxDelaySeconds")
                .map(|_| number("MaxDelaySeconds", 0, 1))
                .transpose()?,
            full_jitter,
        });
    }
    all_last(
        name,
        "Retry",
        &out.iter().map(|r| &r.error_equals).collect::<Vec<_>>(),
    )?;
    Ok(out)
}

pub(super) fn parse_catch(name: &str, value: &Value) -> Result<Vec<Catcher>, DefinitionError> {
    let items = value
        .as_array()
        .ok_or_else(|| err(Some(name), "Catch must be an array of catchers"))?;
    let mut out = Vec::new();
    for (i, c) in items.iter().enumerate() {
        let fields = c
            .as_object()
            .ok_or_else(|| err(Some(name), format!("Catch[{i}] must be an object")))?;
        for key in fields.keys() {
            if !matches!(
                key.as_str(),
                "ErrorEquals" | "Next" | "ResultPath" | "Comment"
            ) {
                return Err(err(
                    Some(name),
                    format!("Catch[{i}] has an unknown field {key:?}"),
                ));
            }
        }
        let next = fields
            .get("Next")
            .and_then(Value::as_str)
            .ok_or_else(|| err(Some(name), format!("Catch[{i}] needs a Next")))?;
        let result_path = match fields.get("ResultPath") {
            None => Some(JsonPath::parse("$").expect("$ parses")),
            Some(Value::Null) => None,
            Some(Value::String(p)) => Some(
                JsonPath::parse(p)
                    .ok()
                    .filter(JsonPath::is_reference)
                    .ok_or_else(|| {
                        err(
                            Some(name),
                            format!("Catch[{i}].ResultPath must be a reference path"),
                        )
                    })?,
            ),
            Some(_) => {
                return Err(err(
                    Some(name),
                    format!("Catch[{i}].ResultPath must be a path or null"),
                ));
            }
        };
        out.push(Catcher {
            error_equals: error_equals(name, "Catch", i, c)?,
            next: next.to_string(),
            result_path,
        });
    }
    all_last(
        name,
        "Catch",
        &out.iter().map(|c| &c.error_equals).collect::<Vec<_>>(),
    )?;
    Ok(out)
}
