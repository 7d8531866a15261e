//! Manifest parsing tests: full manifests and located mistakes.
use super::*;

fn err(text: &str) -> ManifestError {
    parse_manifest(text, "strato.toml").unwrap_err()
}

#[test]
fn full_function_parses_with_defaults() {
    let spec = parse_manifest(
        r#"
[app]
name = "demo"

[functions.hello]
component = "hello.wasm"
routes = ["/hello", "/api/*"]
env = { GREETING = "hi" }

[functions.other]
component = "other.wasm"
memory = "64MiB"
timeout = "2s"
concurrency = 5
allowed_outbound_hosts = ["http://127.0.0.1:9"]
build = "make"
"#,
        "strato.toml",
    )
    .unwrap();
    let hello = &spec.functions[&FunctionName::new("hello").unwrap()];
    assert_eq!(hello.memory_bytes, 128 << 20);
    assert_eq!(hello.timeout_ms, 30_000);
    assert_eq!(hello.concurrency, 100);
    assert_eq!(hello.routes.len(), 2);
    assert_eq!(hello.env["GREETING"], "hi");
    let other = &spec.functions[&FunctionName::new("other").unwrap()];
    assert_eq!(other.memory_bytes, 64 << 20);
    assert_eq!(other.timeout_ms, 2_000);
    assert_eq!(other.concurrency, 5);
    assert_eq!(other.build.as_deref(), Some("make"));
}

#[test]
fn buckets_and_subscriptions_parse() {
    let spec = parse_manifest(
        r#"
[app]
name = "media"

[buckets.uploads]

[functions.upper]
component = "u.wasm"
[functions.upper.async]
retries = 4
[[functions.upper.on_bucket]]
bucket = "uploads"
events = ["put"]
prefix = "in/"
suffix = ".txt"
"#,
        "strato.toml",
    )
    .unwrap();
    assert!(spec.buckets.contains("uploads"));
    let f = &spec.functions[&FunctionName::new("upper").unwrap()];
    assert_eq!(f.retries, 4);
    let sub = &f.on_bucket[0];
    assert!(sub.matches("ObjectCreated:Put", "in/a.txt"));
    assert!(sub.matches("ObjectCreated:Copy", "in/a.txt"));
    assert!(!sub.matches("ObjectRemoved:Delete", "in/a.txt"));
    assert!(!sub.matches("ObjectCreated:Put", "out/a.txt"));
    assert!(!sub.matches("ObjectCreated:Put", "in/a.TXT"));
}

#[test]
fn bucket_mistakes_are_located() {
    let base = "[app]\nname = \"a\"\n[buckets.okay]\n[functions.f]\ncomponent = \"f.wasm\"\n";
    let e = err("[app]\nname = \"a\"\n[buckets.Bad_Name]\n");
    assert_eq!(e.line, 3, "{e}");
    assert!(e.message.contains("Bad_Name"), "{e}");
    let e = err(&format!(
        "{base}[[functions.f.on_bucket]]\nbucket = \"missing\"\n"
    ));
    assert_eq!(e.line, 7, "{e}");
    assert!(e.message.contains("[buckets.missing]"), "{e}");
    let e = err(&format!(
        "{base}[[functions.f.on_bucket]]\nbucket = \"okay\"\nevents = [\"put\", \"copy\"]\n"
    ));
    assert_eq!(e.line, 8, "{e}");
    assert!(e.message.contains("unknown bucket event `copy`"), "{e}");
}

#[test]
fn unknown_key_names_its_line() {
    let e = err("[app]\nname = \"a\"\n\n[functions.f]\ncomponent = \"f.wasm\"\ncolour = \"red\"\n");
    assert_eq!(e.line, 6, "{e}");
    assert!(e.message.contains("unknown field `colour`"), "{e}");
    assert!(e.to_string().starts_with("strato.toml:6:"), "{e}");
}

#[test]
fn bad_duration_names_its_line() {
    let e = err("[app]\nname = \"a\"\n[functions.f]\ncomponent = \"f.wasm\"\ntimeout = \"soon\"\n");
    assert_eq!(e.line, 5, "{e}");
    assert!(e.message.contains("bad `timeout`"), "{e}");
}

#[test]
fn bad_names_and_routes_are_located() {
    let e = err("[app]\nname = \"Bad App\"\n");
    assert_eq!(e.line, 2, "{e}");
    let e = err("[app]\nname = \"a\"\n[functions.Hello]\ncomponent = \"f.wasm\"\n");
    assert_eq!(e.line, 3, "{e}");
    let e =
        err("[app]\nname = \"a\"\n[functions.f]\ncomponent = \"f.wasm\"\nroutes = [\"nope\"]\n");
    assert_eq!(e.line, 5, "{e}");
    assert!(e.message.contains("must start with `/`"), "{e}");
    let e = err("[app]\nname = \"a\"\n[functions.f]\ncomponent = \"f.wasm\"\nmemory = \"8GiB\"\n");
    assert_eq!(e.line, 5, "{e}");
    let e = err("[app]\nname = \"a\"\n[functions.f]\nroutes = [\"/x\"]\n");
    assert!(
        e.message.contains("exactly one of: `component`") && e.message.contains("has none"),
        "{e}"
    );
    let e = err("[functions.f]\ncomponent = \"x\"\n");
    assert!(e.message.contains("[app]"), "{e}");
}

#[test]
fn duplicate_route_within_app_is_located() {
    let e = err(
        "[app]\nname = \"a\"\n[functions.f]\ncomponent = \"f.wasm\"\nroutes = [\"/x\"]\n[functions.g]\ncomponent = \"g.wasm\"\nroutes = [\"/x\"]\n",
    );
    assert_eq!(e.line, 8, "{e}");
    assert!(e.message.contains("already claimed by function `f`"), "{e}");
}

#[test]
fn source_map_locates_components() {
    let (_, sources) = parse_manifest_with_sources(
        "[app]\nname = \"a\"\n\n[functions.f]\ncomponent = \"f.wasm\"\n",
        "dir/strato.toml",
    )
    .unwrap();
    let e = sources.error_at("functions.f.component", "missing");
    assert_eq!((e.file.as_str(), e.line), ("dir/strato.toml", 5));
}

#[test]
fn async_destinations_parse_and_must_name_declared_targets() {
    let head = "[app]\nname = \"d\"\n[functions.sink]\ncomponent = \"s.wasm\"\n[tasks.t]\nimage = \"x\"\n[functions.f]\ncomponent = \"f.wasm\"\n[functions.f.async]\n";
    let ok = parse_manifest(
        &format!("{head}on_success = \"function:sink\"\non_failure = \"http://127.0.0.1:9/hook\"\nmax_age = \"10m\"\n"),
        "strato.toml",
    )
    .unwrap();
    let f = &ok.functions[&FunctionName::new("f").unwrap()];
    assert_eq!(f.max_age_ms, 600_000);
    assert!(f.on_failure.is_some() && f.on_success.is_some());
    for (line, needle) in [
        ("on_success = \"function:nope\"", "does not declare"),
        ("on_failure = \"task:nope\"", "does not declare"),
        ("on_failure = \"queue:q\"", "does not declare"),
        ("on_failure = \"ftp://x\"", "is not `function:NAME`"),
        ("max_age = \"7h\"", "between 1s and 6h"),
    ] {
        let err = err(&format!("{head}{line}\n"));
        assert_eq!(err.line, 10, "{line}: {err}");
        assert!(err.message.contains(needle), "{line}: {err}");
    }
}

#[test]
fn queues_and_schedules_parse_with_defaults() {
    let spec = parse_manifest(
        r#"
[app]
name = "jobs"
[functions.work]
component = "w.wasm"
[tasks.batch]
image = "busybox"
[tasks.batch.async]
retries = 1
on_failure = "queue:dead"
[queues.todo]
visibility_timeout = "45s"
dead_letter = "dead"
consumer = { function = "work", batch_size = 5 }
[queues.dead]
retention = "14d"
[schedules.nightly]
cron = "0 3 * * *"
timezone = "Europe/Paris"
task = "batch"
payload = { full = true }
overlap = "queue_one"
catch_up = "latest"
[schedules.poke]
rate = "30s"
queue = "todo"
payload = "ping"
"#,
        "strato.toml",
    )
    .unwrap();
    let todo = &spec.queues["todo"];
    assert_eq!(todo.visibility_timeout_ms, 45_000);
    assert_eq!(todo.max_receives, Some(crate::queue::DEFAULT_MAX_RECEIVES));
    assert_eq!(todo.max_message_bytes, 256 << 10);
    let consumer = todo.consumer.as_ref().unwrap();
    assert_eq!((consumer.target.name(), consumer.batch_size), ("work", 5));
    assert_eq!(spec.queues["dead"].retention_ms, 14 * 86_400_000);
    let nightly = &spec.schedules["nightly"];
    assert_eq!(nightly.payload, r#"{"full":true}"#);
    assert_eq!(nightly.overlap, crate::schedule::Overlap::QueueOne);
    assert_eq!(nightly.catch_up, crate::schedule::CatchUp::Latest);
    let poke = &spec.schedules["poke"];
    assert_eq!(poke.every, crate::schedule::Every::Rate(30_000));
    assert_eq!(poke.payload, "ping");
    let batch = &spec.tasks["batch"];
    assert_eq!(batch.retries, 1);
    assert!(batch.on_failure.is_some());
}

#[test]
fn queue_and_schedule_mistakes_are_located() {
    let head = "[app]\nname = \"q\"\n[functions.f]\ncomponent = \"f.wasm\"\n";
    for (body, line, needle) in [
        ("[queues.a]\ndead_letter = \"b\"\n", 6, "does not declare"),
        ("[queues.a]\nmax_receives = 3\n", 6, "needs a `dead_letter`"),
        (
            "[queues.a]\ndead_letter = \"a\"\n",
            6,
            "its own `dead_letter`",
        ),
        (
            "[queues.a]\nvisibility_timeout = \"13h\"\n",
            6,
            "between 0s and 12h",
        ),
        (
            "[queues.a]\nmax_message_size = \"2MiB\"\n",
            6,
            "between 1KiB and 1MiB",
        ),
        (
            "[queues.a]\nconsumer = { function = \"g\" }\n",
            6,
            "function `g`",
        ),
        (
            "[queues.a]\nconsumer = { batch_size = 3 }\n",
            6,
            "exactly one of",
        ),
        (
            "[queues.a]\nconsumer = { function = \"f\", batch_size = 11 }\n",
            6,
            "between 1 and 10",
        ),
        (
            "[schedules.s]\ncron = \"* * *\"\nfunction = \"f\"\n",
            6,
            "bad cron",
        ),
        (
            "[schedules.s]\ncron = \"* * * * *\"\ntimezone = \"Mars/Base\"\nfunction = \"f\"\n",
            7,
            "unknown timezone",
        ),
        ("[schedules.s]\nrate = \"5m\"\n", 5, "exactly one target"),
        (
            "[schedules.s]\nrate = \"5m\"\ncron = \"* * * * *\"\nfunction = \"f\"\n",
            5,
            "exactly one of",
        ),
        (
            "[schedules.s]\nrate = \"5m\"\nqueue = \"nope\"\n",
            7,
            "queue `nope`",
        ),
        (
            "[schedules.s]\nrate = \"5m\"\nfunction = \"f\"\noverlap = \"never\"\n",
            8,
            "unknown overlap",
        ),
        (
            "[schedules.s]\nrate = \"5m\"\nfunction = \"f\"\ncatch_up = \"some\"\n",
            8,
            "unknown catch_up",
        ),
        (
            "[schedules.s]\nrate = \"500ms\"\nfunction = \"f\"\n",
            6,
            "at least 1s",
        ),
    ] {
        let e = err(&format!("{head}{body}"));
        assert_eq!(e.line, line, "{body}: {e}");
        assert!(e.message.contains(needle), "{body}: {e}");
    }
}

#[test]
fn lambda_functions_from_code_or_image() {
    use crate::lambda::{LambdaRuntime, LambdaSource};
    let spec = parse_manifest(
        "[app]\nname = \"a\"\n\
         [functions.api]\nruntime = \"python3.11\"\nhandler = \"app.handler\"\ncode = \"src\"\n\
         routes = [\"/api/*\"]\nidle = \"0s\"\nmin_warm = 2\nconcurrency = 4\ninit_timeout = \"3s\"\n\
         [functions.img]\nimage = \"my-fn:1\"\n\
         [functions.go]\nruntime = \"provided.al2023\"\ncode = \"bin\"\n",
        "strato.toml",
    )
    .unwrap();
    let api = &spec.functions[&FunctionName::new("api").unwrap()];
    assert_eq!(api.kind, crate::spec::FunctionKind::Lambda);
    assert!(api.has_uploaded_artifact());
    assert!(!spec.functions[&FunctionName::new("img").unwrap()].has_uploaded_artifact());
    assert!(api.component.is_empty());
    let lambda = api.lambda.as_ref().unwrap();
    assert_eq!(
        lambda.source,
        LambdaSource::Code {
            runtime: LambdaRuntime::Python311,
            handler: "app.handler".into(),
            code: "src".into()
        }
    );
    assert_eq!(
        (lambda.idle_ms, lambda.min_warm, lambda.init_timeout_ms),
        (0, 2, 3_000)
    );
    let img = spec.functions[&FunctionName::new("img").unwrap()]
        .lambda
        .clone()
        .unwrap();
    assert_eq!(
        img.source,
        LambdaSource::Image {
            image: "my-fn:1".into(),
            handler: None
        }
    );
    assert_eq!(img.idle_ms, crate::lambda::DEFAULT_IDLE_MS);
    let go = spec.functions[&FunctionName::new("go").unwrap()]
        .lambda
        .clone()
        .unwrap();
    assert!(matches!(
        go.source,
        LambdaSource::Code { runtime: LambdaRuntime::Provided, ref handler, .. } if handler == "bootstrap"
    ));
    // A stored wasm revision (no `lambda` key) still reads.
    let wasm = &parse_manifest(
        "[app]\nname = \"a\"\n[functions.f]\ncomponent = \"f.wasm\"\n",
        "strato.toml",
    )
    .unwrap()
    .functions[&FunctionName::new("f").unwrap()];
    let json = serde_json::to_value(wasm).unwrap();
    assert!(json.get("lambda").is_none(), "{json}");
}

#[test]
fn lambda_mistakes_are_located_with_advice() {
    let head = "[app]\nname = \"a\"\n[functions.f]\n";
    let cases: &[(&str, usize, &str)] = &[
        (
            "component = \"f.wasm\"\nruntime = \"python3.11\"\n",
            5,
            "more than one",
        ),
        (
            "runtime = \"python3.11\"\nimage = \"x:1\"\n",
            5,
            "more than one",
        ),
        (
            "runtime = \"python3.12\"\nhandler = \"a.h\"\ncode = \"s\"\n",
            4,
            "python3.11, nodejs18, provided",
        ),
        (
            "runtime = \"python3.11\"\ncode = \"s\"\n",
            4,
            "needs `handler`",
        ),
        (
            "runtime = \"python3.11\"\nhandler = \"a.h\"\n",
            4,
            "needs `code`",
        ),
        (
            "runtime = \"python3.11\"\nhandler = \"a.h\"\ncode = \"../up\"\n",
            6,
            "inside the app's directory",
        ),
        (
            "component = \"f.wasm\"\nidle = \"1m\"\n",
            5,
            "`idle` is for Lambda functions",
        ),
        (
            "image = \"x:1\"\ncode = \"s\"\n",
            5,
            "an image carries its code",
        ),
        (
            "image = \"x:1\"\nmin_warm = 5\nconcurrency = 2\n",
            5,
            "between 0 and the function's `concurrency` (2)",
        ),
        ("image = \"x:1\"\nidle = \"soon\"\n", 5, "bad `idle`"),
        (
            "image = \"x:1\"\ninit_timeout = \"0s\"\n",
            5,
            "between 1ms and 15m",
        ),
        (
            "image = \"x:1\"\nallowed_outbound_hosts = [\"https://example.com\"]\n",
            5,
            "applies to wasm components",
        ),
    ];
    for (body, line, words) in cases {
        let e = err(&format!("{head}{body}"));
        assert_eq!(e.line, *line, "{body}: {e}");
        assert!(e.message.contains(words), "{body}: {e}");
    }
}

#[test]
fn workflows_take_triggers_and_their_own_names() {
    let head = "[app]\nname = \"w\"\n[buckets.inbox]\n[functions.f]\ncomponent = \"f.wasm\"\n";
    let spec = parse_manifest(
        &format!(
            "{head}[workflows.flow]\ndefinition = \"flow.asl.yaml\"\n[[workflows.flow.on_bucket]]\nbucket = \"inbox\"\nprefix = \"in/\"\n[schedules.s]\nrate = \"1m\"\nworkflow = \"flow\"\n[queues.q]\nconsumer = {{ workflow = \"flow\" }}\n[functions.f.async]\non_success = \"workflow:flow\"\n"
        ),
        "strato.toml",
    )
    .unwrap();
    let flow = &spec.workflows["flow"];
    assert_eq!(flow.on_bucket[0].bucket, "inbox");
    assert_eq!(
        spec.schedules["s"].target,
        crate::schedule::ScheduleTarget::Workflow("flow".into())
    );
    let cases: &[(&str, usize, &str)] = &[
        (
            "[workflows.f]\ndefinition = \"f.json\"\n",
            6,
            "also a function or a task",
        ),
        (
            "[schedules.s]\nrate = \"1m\"\nworkflow = \"nope\"\n",
            8,
            "workflow `nope`",
        ),
        (
            "[queues.q]\nconsumer = { workflow = \"nope\" }\n",
            7,
            "workflow `nope`",
        ),
        (
            "[workflows.flow]\ndefinition = \"flow.txt\"\n",
            7,
            "JSON or YAML",
        ),
    ];
    for (body, line, words) in cases {
        let e = err(&format!("{head}{body}"));
        assert_eq!(e.line, *line, "{body}: {e}");
        assert!(e.message.contains(words), "{body}: {e}");
    }
}

#[test]
fn services_parse_with_defaults_and_share_routes_with_no_one() {
    let head =
        "[app]\nname = \"web\"\n[functions.f]\ncomponent = \"f.wasm\"\nroutes = [\"/api/*\"]\n";
    let spec = parse_manifest(
        &format!(
            "{head}[services.site]\nimage = \"web/site:1\"\nroutes = [\"/*\"]\nport = 3000\nmin_replicas = 1\nmax_replicas = 4\nconcurrency = 20\nidle = \"1m\"\nhealth = {{ path = \"/healthz\" }}\nliveness = {{ tcp = true }}\nenv = {{ MODE = \"prod\" }}\ncpus = 0.5\n[services.plain]\nimage = \"web/plain:1\"\n"
        ),
        "strato.toml",
    )
    .unwrap();
    let site = &spec.services["site"];
    assert_eq!(
        (
            site.port,
            site.min_replicas,
            site.max_replicas,
            site.concurrency
        ),
        (3000, 1, 4, 20)
    );
    assert_eq!(site.idle_ms, 60_000);
    assert_eq!(
        site.health,
        crate::spec::HealthCheck::Http {
            path: "/healthz".into()
        }
    );
    assert_eq!(site.liveness, Some(crate::spec::HealthCheck::Tcp));
    assert_eq!(site.cpus_milli, Some(500));
    let plain = &spec.services["plain"];
    assert_eq!(
        (
            plain.port,
            plain.min_replicas,
            plain.max_replicas,
            plain.concurrency
        ),
        (8080, 0, 10, 80)
    );
    assert_eq!(plain.idle_ms, 300_000);
    assert_eq!(plain.health, crate::spec::HealthCheck::Tcp);
    assert_eq!(plain.stop_timeout_ms, 10_000);

    let cases: &[(&str, usize, &str)] = &[
        (
            "[services.s]\nimage = \"\"\n",
            7,
            "`image` must name an image",
        ),
        (
            "[services.s]\nimage = \"a\"\nport = 0\n",
            8,
            "`port` must be between",
        ),
        (
            "[services.s]\nimage = \"a\"\nroutes = [\"/api/*\"]\n",
            8,
            "already claimed by function `f`",
        ),
        (
            "[services.s]\nimage = \"a\"\nmin_replicas = 5\nmax_replicas = 2\n",
            8,
            "`min_replicas` (5) is above `max_replicas` (2)",
        ),
        (
            "[services.s]\nimage = \"a\"\nhealth = { path = \"healthz\" }\n",
            8,
            "`health` is { path",
        ),
        ("[services.f]\nimage = \"a\"\n", 6, "also a function"),
        (
            "[services.s]\nimage = \"a\"\nreplicas = 2\n",
            8,
            "unknown field `replicas`",
        ),
    ];
    for (body, line, words) in cases {
        let e = err(&format!("{head}{body}"));
        assert_eq!(e.line, *line, "{body}: {e}");
        assert!(e.message.contains(words), "{body}: {e}");
    }
}
