//! Definitions refused and accepted.

use super::*;

fn refused(text: &str) -> DefinitionError {
    let value: Value = serde_json::from_str(text).unwrap();
    parse(&value, Some(text)).unwrap_err()
}

#[test]
fn mistakes_name_the_state_its_line_and_the_fix() {
    let text = r#"{
  "StartAt": "First",
  "States": {
"First": {"Type": "Pass", "Next": "Second"},
"Second": {"Type": "Task", "Resource": "f", "Next": "Nowhere"}
  }
}"#;
    let e = refused(text);
    assert_eq!((e.state.as_deref(), e.line), (Some("Second"), Some(5)));
    assert!(e.message.contains("\"Nowhere\""), "{e}");
    assert!(
        e.to_string().starts_with("line 5: state \"Second\": "),
        "{e}"
    );

    for (text, said) in [
        (
            r#"{"StartAt": "A", "States": {"A": {"Type": "Pass"}}}"#,
            "Next is missing",
        ),
        (
            r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Next": "A"}}}"#,
            "not both",
        ),
        (
            r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Resource": "x"}}}"#,
            "not supported by a Pass state",
        ),
        (
            r#"{"StartAt": "A", "States": {"A": {"Type": "Loop", "End": true}}}"#,
            "not a state type",
        ),
        (
            r#"{"StartAt": "B", "States": {"A": {"Type": "Pass", "End": true}}}"#,
            "StartAt names",
        ),
        (
            r#"{"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "B": {"Type": "Succeed"}}}"#,
            "no transition reaches",
        ),
        (
            r#"{"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 1, "Timestamp": "2026-01-01T00:00:00Z", "End": true}}}"#,
            "exactly one",
        ),
        (
            r#"{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "f", "End": true, "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]}}}"#,
            "must be the last",
        ),
        (
            r#"{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "f", "End": true, "Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5}]}}}"#,
            "BackoffRate",
        ),
        (
            r#"{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "f", "End": true, "TimeoutSeconds": 5, "HeartbeatSeconds": 5}}}"#,
            "smaller than",
        ),
        (
            r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": {"x.$": "$.a[?"}}}}"#,
            "Parameters",
        ),
        (
            r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "InputPath": "$.a[*]"}}}"#,
            "reference path",
        ),
        (
            r#"{"StartAt": "A", "States": {"A": {"Type": "Map", "End": true, "ItemReader": {}, "ItemProcessor": {}}}}"#,
            "distributed Map",
        ),
        (
            r#"{"StartAt": "A", "States": {"A": {"Type": "Parallel", "End": true, "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "A"}}}]}}}"#,
            "only their own",
        ),
        (
            r#"{"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}}"#,
            "JSONata",
        ),
        (
            r#"{"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [{"Variable": "$.x", "StringEquals": "a"}]}}}"#,
            "needs a Next",
        ),
    ] {
        let e = refused(text);
        assert!(e.to_string().contains(said), "{text}: {e}");
    }
}

#[test]
fn a_full_definition_parses_with_defaults() {
    let text = r#"{
  "Comment": "every state type",
  "StartAt": "P",
  "TimeoutSeconds": 300,
  "States": {
"P": {"Type": "Pass", "Next": "T"},
"T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:inc",
      "Retry": [{"ErrorEquals": ["States.TaskFailed"]}],
      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}], "Next": "C"},
"C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "W"}], "Default": "S"},
"W": {"Type": "Wait", "Seconds": 1, "Next": "Par"},
"Par": {"Type": "Parallel", "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}], "Next": "M"},
"M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 5,
      "Iterator": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}, "Next": "S"},
"S": {"Type": "Succeed"},
"F": {"Type": "Fail", "Error": "Failed", "Cause": "it failed"}
  }
}"#;
    let m = parse(&serde_json::from_str(text).unwrap(), Some(text)).unwrap();
    assert_eq!(m.states.len(), 8);
    assert_eq!(m.timeout_seconds, Some(300));
    let t = &m.states["T"];
    assert_eq!(t.retry[0].max_attempts, 3);
    assert_eq!(t.retry[0].interval_seconds, 1);
    assert_eq!(t.retry[0].backoff_rate, 2.0);
    assert_eq!(t.input_path.as_ref().map(JsonPath::text), Some("$"));
    assert!(matches!(&m.states["M"].kind, Kind::Map(map) if map.max_concurrency == 5));
}
