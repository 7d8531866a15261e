//! Input and output processing: `InputPath` → `Parameters` → (the task)
//! → `ResultSelector` → `ResultPath` → `OutputPath`, as the States
//! Language defines them, and the payload size limit.

use crate::error::{StatesError, names};
use crate::path::JsonPath;
use serde_json::{Map, Value};

/// The most bytes a state's input or output may hold (AWS's 256 KiB).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// JSON without spaces, as AWS shows payloads.
pub fn compact(value: &Value) -> String {
    serde_json::to_string(value).expect("JSON values serialize")
}

/// Refuses a payload over [`MAX_PAYLOAD_BYTES`] with AWS's error.
pub fn check_size(value: &Value, what: &str) -> Result<(), StatesError> {
    let size = compact(value).len();
    if size > MAX_PAYLOAD_BYTES {
        return Err(StatesError::new(
            names::DATA_LIMIT_EXCEEDED,
            format!(
                "The state/task '{what}' returned a result with a size exceeding the maximum number of bytes service limit ({size} > {MAX_PAYLOAD_BYTES})"
            ),
        ));
    }
    Ok(())
}

/// `InputPath` (`None`: it was `null`, giving `{}`).
pub fn select_input(path: Option<&JsonPath>, raw: &Value) -> Result<Value, StatesError> {
    select(path, raw, "InputPath")
}

/// `OutputPath` (`None`: it was `null`, giving `{}`).
pub fn select_output(path: Option<&JsonPath>, value: &Value) -> Result<Value, StatesError> {
    select(path, value, "OutputPath")
}

fn select(path: Option<&JsonPath>, value: &Value, field: &str) -> Result<Value, StatesError> {
    match path {
        None => Ok(Value::Object(Map::new())),
        Some(path) => path.get(value).ok_or_else(|| {
            StatesError::runtime(format!(
                "Invalid path '{}' : No results for path: {field} '{}' in '{}'",
                path.text(),
                path.text(),
                compact(value)
            ))
        }),
    }
}

/// `ResultPath` (`None`: it was `null`, keeping the raw input).
pub fn place_result(
    path: Option<&JsonPath>,
    raw: Value,
    result: Value,
) -> Result<Value, StatesError> {
    match path {
        None => Ok(raw),
        Some(path) => path.write(raw, result),
    }
}

/// A payload template (`Parameters`, `ResultSelector`, `ItemSelector`):
/// fields ending in `.$` take the value of their path or intrinsic,
/// everything else is copied, objects in arrays too.
pub fn apply_template(
    template: &Value,
    input: &Value,
    context: &Value,
) -> Result<Value, StatesError> {
    match template {
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, value) in fields {
                match key.strip_suffix(".$") {
                    Some(name) => {
                        let expr = value.as_str().ok_or_else(|| {
                            StatesError::runtime(format!(
                                "the field {key:?} must hold a path or an intrinsic function"
                            ))
                        })?;
                        let resolved = if crate::intrinsics::is_intrinsic(expr) {
                            crate::intrinsics::evaluate(expr, input, context)?
                        } else {
                            crate::path::read(expr, input, context).map_err(|_| {
                                StatesError::runtime(format!(
                                    "The JSONPath '{expr}' specified for the field '{key}' could not be found in the input '{}'",
                                    compact(input)
                                ))
                            })?
                        };
                        out.insert(name.to_string(), resolved);
                    }
                    None => {
                        out.insert(key.clone(), apply_template(value, input, context)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|item| apply_template(item, input, context))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// Checks a template's `.$` fields (at deploy): each a path or an
/// intrinsic that parses. Returns what is wrong and where.
pub fn check_template(template: &Value) -> Result<(), String> {
    match template {
        Value::Object(fields) => {
            for (key, value) in fields {
                if key.ends_with(".$") {
                    let expr = value.as_str().ok_or_else(|| {
                        format!(
                            "the field {key:?} must hold a path or an intrinsic function (a string)"
                        )
                    })?;
                    if crate::intrinsics::is_intrinsic(expr) {
                        crate::intrinsics::check(expr)
                            .map_err(|e| format!("the field {key:?}: {e}"))?;
                    } else {
                        JsonPath::parse(expr).map_err(|e| format!("the field {key:?}: {e}"))?;
                    }
                } else {
                    check_template(value)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(check_template),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(text: &str) -> JsonPath {
        JsonPath::parse(text).unwrap()
    }

    /// The example of AWS's "Input and output processing" page, step by
    /// step: InputPath, Parameters, ResultSelector, ResultPath, OutputPath.
    #[test]
    fn the_documented_pipeline() {
        let raw = json!({
            "comment": "Example for InputPath.",
            "dataset1": {"val1": 1, "val2": 2, "val3": 3},
            "dataset2": {"val1": "a", "val2": "b", "val3": "c"}
        });
        let input = select_input(Some(&path("$.dataset2")), &raw).unwrap();
        assert_eq!(input, json!({"val1": "a", "val2": "b", "val3": "c"}));
        let ctx = json!({"Execution": {"Id": "arn:x"}});
        let params = apply_template(
            &json!({"static": "x", "a.$": "$.val1", "nested": {"list": [{"b.$": "$.val2"}]}, "exec.$": "$$.Execution.Id"}),
            &input,
            &ctx,
        )
        .unwrap();
        assert_eq!(
            params,
            json!({"static": "x", "a": "a", "nested": {"list": [{"b": "b"}]}, "exec": "arn:x"})
        );
        let result = json!({"resourceType": "elasticmapreduce", "ClusterId": "AKIAIOSFODNN7EXAMPLE", "Status": {"Code": "RUNNING"}});
        let selected = apply_template(
            &json!({"ClusterId.$": "$.ClusterId", "ResourceType.$": "$.resourceType"}),
            &result,
            &ctx,
        )
        .unwrap();
        assert_eq!(
            selected,
            json!({"ClusterId": "AKIAIOSFODNN7EXAMPLE", "ResourceType": "elasticmapreduce"})
        );
        let placed =
            place_result(Some(&path("$.taskresult")), raw.clone(), selected.clone()).unwrap();
        assert_eq!(placed["taskresult"], selected);
        assert_eq!(placed["dataset1"]["val1"], 1);
        let output = select_output(Some(&path("$.taskresult.ClusterId")), &placed).unwrap();
        assert_eq!(output, json!("AKIAIOSFODNN7EXAMPLE"));
        // null paths: input {} / result discarded / output {}.
        assert_eq!(select_input(None, &raw).unwrap(), json!({}));
        assert_eq!(place_result(None, raw.clone(), json!(1)).unwrap(), raw);
        assert_eq!(select_output(None, &raw).unwrap(), json!({}));
    }

    #[test]
    fn missing_paths_are_runtime_errors_and_sizes_are_capped() {
        let err =
            apply_template(&json!({"a.$": "$.nope"}), &json!({"x": 1}), &json!({})).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
        assert!(err.cause.contains("'a.$'"), "{err}");
        let err = select_input(Some(&path("$.nope")), &json!({})).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
        let big = json!({"s": "x".repeat(MAX_PAYLOAD_BYTES)});
        assert_eq!(
            check_size(&big, "Big").unwrap_err().error,
            "States.DataLimitExceeded"
        );
        assert!(check_size(&json!({"s": "small"}), "Small").is_ok());
        assert!(check_template(&json!({"a.$": "States.Nope()"})).is_err());
        assert!(check_template(&json!({"a.$": 3})).is_err());
        assert!(check_template(&json!({"list": [{"a.$": "$.x[?(@.y > 1)]"}]})).is_ok());
    }
}
