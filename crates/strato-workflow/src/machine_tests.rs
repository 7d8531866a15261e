//! Stepping through definitions taken from AWS's documentation.

use super::*;
use crate::definition::parse;
use serde_json::json;

fn machine(definition: Value) -> StateMachine {
    parse(&definition, None).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a machine made only of states that need no outside work (Pass,
/// Choice, Succeed, Fail; Wait skipped), returning its end.
fn run(m: &StateMachine, input: Value) -> Step {
    let mut step = Step::Next {
        state: m.start_at.clone(),
        input,
    };
    loop {
        step = match step {
            Step::Next { state, input } => m.enter(&state, &input, &json!({}), 0),
            Step::Wait { then, .. } => *then,
            end => return end,
        }
    }
}

#[test]
fn pass_states_inject_results_where_result_path_says() {
    // "ResultPath" page: a Pass state placing its Result under $.result.
    let m = machine(json!({"StartAt": "P", "States": {"P": {
        "Type": "Pass", "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
        "ResultPath": "$.coords", "End": true
    }}}));
    assert_eq!(
        run(&m, json!({"georefOf": "Home"})),
        Step::Succeed(
            json!({"georefOf": "Home", "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355}})
        )
    );
    // Parameters with paths and intrinsics, OutputPath picking a part.
    let m = machine(json!({"StartAt": "P", "States": {"P": {
        "Type": "Pass",
        "Parameters": {"greeting.$": "States.Format('Hello {}', $.who)", "n": 1},
        "ResultPath": "$.out", "OutputPath": "$.out", "End": true
    }}}));
    assert_eq!(
        run(&m, json!({"who": "Ada"})),
        Step::Succeed(json!({"greeting": "Hello Ada", "n": 1}))
    );
}

#[test]
fn choice_states_route_and_fail_without_a_match() {
    let m = machine(json!({
        "StartAt": "ChoiceStateX",
        "States": {
            "ChoiceStateX": {"Type": "Choice", "Choices": [
                {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
                {"And": [
                    {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                    {"Variable": "$.value", "NumericLessThan": 30}
                ], "Next": "ValueInTwenties"}
            ]},
            "Public": {"Type": "Pass", "Result": "public", "End": true},
            "ValueInTwenties": {"Type": "Pass", "Result": "twenties", "End": true}
        }
    }));
    assert_eq!(
        run(&m, json!({"type": "Public"})),
        Step::Succeed(json!("public"))
    );
    assert_eq!(
        run(&m, json!({"type": "Private", "value": 25})),
        Step::Succeed(json!("twenties"))
    );
    match run(&m, json!({"type": "Private", "value": 35})) {
        Step::Fail(e) => assert_eq!(e.error, "States.NoChoiceMatched"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn fail_states_read_their_error_and_cause() {
    let m = machine(json!({"StartAt": "F", "States": {"F": {
        "Type": "Fail", "ErrorPath": "$.code", "CausePath": "States.Format('bad {}', $.what)"
    }}}));
    assert_eq!(
        run(&m, json!({"code": "Oops", "what": "thing"})),
        Step::Fail(StatesError::new("Oops", "bad thing"))
    );
}

#[test]
fn wait_states_compute_their_deadline() {
    let m = machine(json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "T"},
        "T": {"Type": "Wait", "TimestampPath": "$.when", "End": true}
    }}));
    let input = json!({"delay": 10, "when": "2026-03-14T01:59:00Z"});
    match m.enter("W", &input, &json!({}), 5_000) {
        Step::Wait { until_ms, then } => {
            assert_eq!(until_ms, 15_000);
            assert_eq!(
                *then,
                Step::Next {
                    state: "T".into(),
                    input: input.clone()
                }
            );
        }
        other => panic!("{other:?}"),
    }
    match m.enter("T", &input, &json!({}), 0) {
        Step::Wait { until_ms, .. } => assert_eq!(until_ms, 1_773_453_540_000),
        other => panic!("{other:?}"),
    }
    let bad = m.enter("T", &json!({"when": "soon"}), &json!({}), 0);
    assert!(matches!(bad, Step::Fail(e) if e.error == "States.Runtime"));
}

fn task_machine() -> StateMachine {
    machine(json!({"StartAt": "Call", "States": {
        "Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "inc", "Payload.$": "$.order"},
            "ResultSelector": {"total.$": "$.Payload.total"},
            "ResultPath": "$.priced",
            "TimeoutSeconds": 30,
            "HeartbeatSecondsPath": "$.beat",
            "Retry": [
                {"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2.0},
                {"ErrorEquals": ["States.Timeout"], "MaxAttempts": 1, "IntervalSeconds": 10, "MaxDelaySeconds": 5, "JitterStrategy": "FULL"}
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
            "Next": "Done"
        },
        "Failed": {"Type": "Pass", "End": true},
        "Done": {"Type": "Succeed"}
    }}))
}

#[test]
fn tasks_get_parameters_and_shape_their_results() {
    let m = task_machine();
    let raw = json!({"order": {"id": 7}, "beat": 5});
    assert_eq!(
        m.enter("Call", &raw, &json!({}), 0),
        Step::Task {
            resource: "arn:aws:states:::lambda:invoke".into(),
            parameters: json!({"FunctionName": "inc", "Payload": {"id": 7}}),
            timeout_seconds: Some(30),
            heartbeat_seconds: Some(5),
        }
    );
    let done = m.complete(
        "Call",
        &raw,
        Ok(json!({"Payload": {"total": 12}, "StatusCode": 200})),
        &mut vec![],
        &json!({}),
        0.5,
    );
    assert_eq!(
        done,
        Completion::Then(Step::Next {
            state: "Done".into(),
            input: json!({"order": {"id": 7}, "beat": 5, "priced": {"total": 12}})
        })
    );
}

#[test]
fn retries_back_off_then_catch_places_the_error() {
    let m = task_machine();
    let raw = json!({"order": {"id": 7}, "beat": 5});
    let mut retries = Vec::new();
    let flaky = || Err(StatesError::new("Flaky", "try again"));
    let delays: Vec<Completion> = (0..3)
        .map(|_| m.complete("Call", &raw, flaky(), &mut retries, &json!({}), 0.5))
        .collect();
    assert_eq!(
        delays,
        [1000, 2000, 4000].map(|delay_ms| Completion::Retry { delay_ms })
    );
    // Attempts used up: the catcher takes it, the error under $.error.
    let caught = m.complete("Call", &raw, flaky(), &mut retries, &json!({}), 0.5);
    assert_eq!(
        caught,
        Completion::Then(Step::Next {
            state: "Failed".into(),
            input: json!({"order": {"id": 7}, "beat": 5, "error": {"Error": "Flaky", "Cause": "try again"}})
        })
    );
    // A timeout: capped at MaxDelaySeconds, then jittered.
    let mut retries = Vec::new();
    let timeout = m.complete(
        "Call",
        &raw,
        Err(StatesError::new("States.Timeout", "")),
        &mut retries,
        &json!({}),
        0.5,
    );
    assert_eq!(timeout, Completion::Retry { delay_ms: 2500 });
    // A runtime error is neither retried nor caught by States.ALL.
    let runtime = m.complete(
        "Call",
        &raw,
        Err(StatesError::runtime("bad path")),
        &mut vec![],
        &json!({}),
        0.5,
    );
    assert!(matches!(runtime, Completion::Then(Step::Fail(e)) if e.error == "States.Runtime"));
    // A result path that cannot be applied is an error of its own.
    let m2 = machine(json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "f", "ResultPath": "$.a.b", "End": true
    }}}));
    let bad = m2.complete(
        "T",
        &json!({"a": 1}),
        Ok(json!(1)),
        &mut vec![],
        &json!({}),
        0.0,
    );
    assert!(
        matches!(bad, Completion::Then(Step::Fail(e)) if e.error == "States.ResultPathMatchFailure")
    );
}

#[test]
fn maps_select_items_with_the_context_and_tolerate_failures() {
    // "Map state" page: ItemsPath and ItemSelector with $$.Map.Item.
    let m = machine(
        json!({"StartAt": "Validate-All", "States": {"Validate-All": {
            "Type": "Map",
            "ItemsPath": "$.detail.shipped",
            "ItemSelector": {
                "parcel.$": "$$.Map.Item.Value",
                "index.$": "$$.Map.Item.Index",
                "courier.$": "$.detail.delivery-partner"
            },
            "MaxConcurrency": 2,
            "ToleratedFailureCount": 1,
            "ItemProcessor": {"StartAt": "V", "States": {"V": {"Type": "Pass", "End": true}}},
            "ResultPath": "$.detail.shipped",
            "End": true
        }}}),
    );
    let input = json!({"detail": {"delivery-partner": "UQS", "shipped": [{"prod": "R31"}, {"prod": "S39"}]}});
    assert_eq!(
        m.enter("Validate-All", &input, &json!({"Execution": {}}), 0),
        Step::Map {
            items: vec![
                json!({"parcel": {"prod": "R31"}, "index": 0, "courier": "UQS"}),
                json!({"parcel": {"prod": "S39"}, "index": 1, "courier": "UQS"}),
            ],
            max_concurrency: 2
        }
    );
    let one_failed = m.map_outcome(
        "Validate-All",
        vec![Ok(json!(1)), Err(StatesError::new("E", "c"))],
    );
    assert_eq!(
        one_failed.unwrap(),
        json!([1, {"Error": "E", "Cause": "c"}])
    );
    let two_failed = m.map_outcome(
        "Validate-All",
        vec![
            Err(StatesError::new("E", "")),
            Err(StatesError::new("E", "")),
        ],
    );
    assert_eq!(
        two_failed.unwrap_err().error,
        "States.ExceedToleratedFailureThreshold"
    );
    assert_eq!(m.children("Validate-All").len(), 1);
    let not_array = m.enter(
        "Validate-All",
        &json!({"detail": {"shipped": 3}}),
        &json!({}),
        0,
    );
    assert!(matches!(not_array, Step::Fail(e) if e.error == "States.Runtime"));
}

#[test]
fn parallel_states_gather_branch_outputs_in_order() {
    let m = machine(json!({"StartAt": "Both", "States": {"Both": {
        "Type": "Parallel",
        "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": 1, "End": true}}},
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": 2, "End": true}}}
        ],
        "ResultPath": "$.both",
        "End": true
    }}}));
    assert_eq!(
        m.enter("Both", &json!({"k": 0}), &json!({}), 0),
        Step::Parallel {
            input: json!({"k": 0})
        }
    );
    let branches = m.children("Both");
    let outputs: Vec<Result<Value, StatesError>> = branches
        .iter()
        .map(|b| match run(b, json!({})) {
            Step::Succeed(v) => Ok(v),
            Step::Fail(e) => Err(e),
            other => panic!("{other:?}"),
        })
        .collect();
    let outcome = StateMachine::parallel_outcome(outputs);
    assert_eq!(
        m.complete(
            "Both",
            &json!({"k": 0}),
            outcome,
            &mut vec![],
            &json!({}),
            0.0
        ),
        Completion::Then(Step::Succeed(json!({"k": 0, "both": [1, 2]})))
    );
}

#[test]
fn oversized_payloads_fail_with_aws_error() {
    let m = machine(json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}));
    let big = json!({"blob": "x".repeat(300 * 1024)});
    assert!(matches!(run(&m, big), Step::Fail(e) if e.error == "States.DataLimitExceeded"));
}
