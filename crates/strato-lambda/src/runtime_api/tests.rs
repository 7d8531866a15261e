//! The Runtime API driven over real HTTP by a client acting as a runtime
//! interface client would.

use super::*;

async fn start(
    limit: usize,
) -> (
    RuntimeApi,
    mpsc::Sender<Invocation>,
    mpsc::UnboundedReceiver<RuntimeEvent>,
    String,
) {
    let (api, invocations, events) = RuntimeApi::start(RuntimeApiConfig {
        function_arn: "arn:aws:lambda:us-east-1:000000000000:function:app-fn".into(),
        max_response_bytes: limit,
    })
    .await
    .unwrap();
    let base = format!("http://{}/2018-06-01/runtime", api.addr());
    (api, invocations, events, base)
}

fn invocation(id: &str, event: &str) -> (Invocation, oneshot::Receiver<Answer>) {
    let (done, answer) = oneshot::channel();
    (
        Invocation {
            request_id: id.into(),
            deadline_ms: 1_700_000_000_000,
            trace_id: Some("Root=1-abc".into()),
            event: Bytes::from(event.to_string()),
            done,
        },
        answer,
    )
}

/// Queues an invocation and takes it as the runtime would (`next`).
async fn hand_out(
    invocations: &mpsc::Sender<Invocation>,
    client: &reqwest::Client,
    base: &str,
    id: &str,
) -> (reqwest::Response, oneshot::Receiver<Answer>) {
    let (inv, answer) = invocation(id, "{}");
    invocations.send(inv).await.unwrap();
    let next = client
        .get(format!("{base}/invocation/next"))
        .send()
        .await
        .unwrap();
    (next, answer)
}

#[tokio::test]
async fn next_hands_out_one_invocation_and_its_response_answers_it() {
    let (_api, invocations, mut events, base) = start(1024).await;
    let client = reqwest::Client::new();
    let next = tokio::spawn({
        let (client, base) = (client.clone(), base.clone());
        async move {
            client
                .get(format!("{base}/invocation/next"))
                .send()
                .await
                .unwrap()
        }
    });
    assert_eq!(events.recv().await, Some(RuntimeEvent::Ready));
    let (inv, answer) = invocation("req-1", r#"{"key":"value"}"#);
    invocations.send(inv).await.unwrap();
    let next = next.await.unwrap();
    assert_eq!(next.status(), 200);
    let h = next.headers();
    assert_eq!(h["lambda-runtime-aws-request-id"], "req-1");
    assert_eq!(h["lambda-runtime-deadline-ms"], "1700000000000");
    assert_eq!(
        h["lambda-runtime-invoked-function-arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:app-fn"
    );
    assert_eq!(h["lambda-runtime-trace-id"], "Root=1-abc");
    assert_eq!(next.text().await.unwrap(), r#"{"key":"value"}"#);
    // Answering another id is refused and answers nothing.
    let wrong = client
        .post(format!("{base}/invocation/req-9/response"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
    let doc: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(doc["errorType"], "InvalidRequestID");
    let ok = client
        .post(format!("{base}/invocation/req-1/response"))
        .body(r#"{"statusCode":200}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 202);
    assert_eq!(
        answer.await.unwrap(),
        Answer::Response(Bytes::from_static(br#"{"statusCode":200}"#))
    );
    // Answered once: a second answer is refused.
    let again = client
        .post(format!("{base}/invocation/req-1/response"))
        .body("late")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
}

#[tokio::test]
async fn errors_init_errors_and_oversized_answers() {
    let (_api, invocations, mut events, base) = start(16).await;
    let client = reqwest::Client::new();
    // A runtime that cannot import its handler says so before any `next`.
    let init = client
        .post(format!("{base}/init/error"))
        .header("Lambda-Runtime-Function-Error-Type", "Runtime.ImportModuleError")
        .body(r#"{"errorMessage":"Unable to import module 'app': No module named 'app'","errorType":"Runtime.ImportModuleError","stackTrace":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 202);
    match events.recv().await.unwrap() {
        RuntimeEvent::InitError(e) => assert_eq!(
            e.summary(),
            "Runtime.ImportModuleError: Unable to import module 'app': No module named 'app'"
        ),
        other => panic!("{other:?}"),
    }

    // A handler that raises: Python's client posts the stack as lines.
    let (next, answer) = hand_out(&invocations, &client, &base, "req-2").await;
    assert_eq!(next.headers()["lambda-runtime-aws-request-id"], "req-2");
    let posted = client
        .post(format!("{base}/invocation/req-2/error"))
        .body(r#"{"errorMessage":"boom","errorType":"ValueError","stackTrace":["  File \"/var/task/app.py\", line 2, in handler\n"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let Answer::Error(error) = answer.await.unwrap() else {
        panic!("not an error")
    };
    assert_eq!(error.summary(), "ValueError: boom");
    assert_eq!(error.stack_trace.len(), 1);

    // An answer past the limit fails the invocation with its size.
    let (_next, answer) = hand_out(&invocations, &client, &base, "req-3").await;
    let big = client
        .post(format!("{base}/invocation/req-3/response"))
        .body("x".repeat(17))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    assert_eq!(answer.await.unwrap(), Answer::TooLarge(17));

    // A body that is not an error document still is an error.
    let (_next, answer) = hand_out(&invocations, &client, &base, "req-4").await;
    client
        .post(format!("{base}/invocation/req-4/error"))
        .header("Lambda-Runtime-Function-Error-Type", "Runtime.Crash")
        .body("segfault")
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.await.unwrap(),
        Answer::Error(FunctionError {
            error_type: "Runtime.Crash".into(),
            error_message: "segfault".into(),
            stack_trace: vec![],
        })
    );
}

#[tokio::test]
async fn asking_again_without_answering_fails_the_invocation_and_closing_ends_next() {
    let (_api, invocations, _events, base) = start(1024).await;
    let client = reqwest::Client::new();
    let (_next, answer) = hand_out(&invocations, &client, &base, "req-5").await;
    let again = tokio::spawn({
        let (client, base) = (client.clone(), base.clone());
        async move {
            client
                .get(format!("{base}/invocation/next"))
                .send()
                .await
                .unwrap()
        }
    });
    let Answer::Error(error) = answer.await.unwrap() else {
        panic!("not an error")
    };
    assert_eq!(error.error_type, "Runtime.InvalidResponse");
    // The environment going away ends the waiting `next` with an error,
    // so the runtime exits.
    drop(invocations);
    assert_eq!(again.await.unwrap().status(), 500);
}
