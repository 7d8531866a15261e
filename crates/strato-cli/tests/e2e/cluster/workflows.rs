//! Workflows on PostgreSQL: executions with a Parallel, a Map with a
//! MaxConcurrency and Wait timers, started through one node that is then
//! killed; the other node takes its steps over after the lease and every
//! execution ends with each transition recorded once.

use super::*;

const FLOW: &str = r#"{"StartAt": "Both", "States": {
  "Both": {"Type": "Parallel", "ResultPath": "$.both", "Next": "Each", "Branches": [
    {"StartAt": "Inc", "States": {"Inc": {"Type": "Task", "Resource": "k",
        "Parameters": {"step": "inc", "n.$": "$.n"}, "End": true}}},
    {"StartAt": "Same", "States": {"Same": {"Type": "Pass", "End": true}}}]},
  "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "ResultPath": "$.each",
    "ItemSelector": {"step": "inc", "n.$": "$$.Map.Item.Value"},
    "ItemProcessor": {"StartAt": "Nap", "States": {
      "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Add"},
      "Add": {"Type": "Task", "Resource": "k", "End": true}}},
    "End": true}
}}"#;

#[test]
fn executions_on_postgresql_survive_the_loss_of_their_node() {
    let mut cluster = Cluster::start(2);
    let app = AppDir::new(&format!(
        "[app]\nname = \"wf\"\n[functions.k]\ncomponent = \"{}\"\n[workflows.flow]\ndefinition = \"flow.asl.json\"\n",
        guest("kitchen")
    ));
    app.write("flow.asl.json", FLOW);
    cluster.nodes[0].cli_ok(&["deploy", app.path()]);
    let ids: Vec<String> = (0..4)
        .map(|i| {
            let input = serde_json::json!({"n": i, "items": [10, 20, 30, 40, 50, 60]});
            let out = cluster.nodes[0].cli_ok(&[
                "workflow",
                "start",
                "wf/flow",
                "--input",
                &input.to_string(),
                "--output",
                "json",
            ]);
            let started: Value = serde_json::from_str(&out).unwrap();
            started["id"].as_str().unwrap().to_string()
        })
        .collect();
    // Mid-Map (two items at a time, a second each): the node goes.
    std::thread::sleep(Duration::from_millis(1_500));
    cluster.nodes[0].kill9();
    let survivor = &cluster.nodes[1];
    for (i, id) in ids.iter().enumerate() {
        let mut done = Value::Null;
        wait_until("the execution to end on the survivor", LEASE * 10, || {
            done = serde_json::from_str(
                &survivor.cli_ok(&["workflow", "describe", id, "--output", "json"]),
            )
            .unwrap();
            done["status"] != "RUNNING"
        });
        assert_eq!(done["status"], "SUCCEEDED", "{done}");
        let output = &done["output"];
        assert_eq!(output["both"][0]["n"], i as i64 + 1, "{output}");
        assert_eq!(
            output["each"],
            serde_json::json!([{"n": 11}, {"n": 21}, {"n": 31}, {"n": 41}, {"n": 51}, {"n": 61}])
        );
        // Each transition once, whichever node made it.
        let events: Vec<Value> = serde_json::from_str(
            &survivor.cli_ok(&["workflow", "history", id, "--output", "json"]),
        )
        .unwrap();
        let count = |kind: &str, index: Option<i64>| {
            events
                .iter()
                .filter(|e| e["type"] == kind && index.is_none_or(|i| e["details"]["index"] == i))
                .count()
        };
        for index in 0..6 {
            assert_eq!(count("MapIterationStarted", Some(index)), 1, "{events:#?}");
            assert_eq!(
                count("MapIterationSucceeded", Some(index)),
                1,
                "{events:#?}"
            );
        }
        assert_eq!(count("ParallelStateSucceeded", None), 1);
        assert_eq!(count("WaitStateExited", None), 6);
        assert_eq!(count("ExecutionSucceeded", None), 1);
    }
    // Nothing is left pending.
    let left = cluster.query("SELECT count(*) FROM workflow_steps")[0].get::<_, i64>(0);
    assert_eq!(left, 0);
    let results = cluster.query("SELECT count(*) FROM workflow_results")[0].get::<_, i64>(0);
    assert_eq!(results, 0);
}
