//! Bad manifests are refused with file:line and advice, before anything is
//! deployed.

use crate::support::{AppDir, Server, guest};

fn deploy_error(server: &Server, manifest: &str) -> String {
    let app = AppDir::new(manifest);
    let err = server.cli_err(&["deploy", app.path()]);
    let file = format!("{}/strato.toml", app.path());
    assert!(err.contains(&file), "error names the file: {err}");
    err
}

#[test]
fn bad_manifests_name_file_and_line() {
    let server = Server::start();
    let kitchen = guest("kitchen");

    let err = deploy_error(
        &server,
        &format!(
            "[app]\nname = \"m\"\n\n[functions.f]\ncomponent = \"{kitchen}\"\nroutes = [\"/m\"]\ncolour = \"red\"\n"
        ),
    );
    assert!(err.contains("strato.toml:7:"), "{err}");
    assert!(err.contains("unknown field `colour`"), "{err}");

    let err = deploy_error(
        &server,
        &format!(
            "[app]\nname = \"m\"\n\n[functions.f]\ncomponent = \"{kitchen}\"\ntimeout = \"10 parsecs\"\n"
        ),
    );
    assert!(err.contains("strato.toml:6:"), "{err}");
    assert!(err.contains("bad `timeout`"), "{err}");

    let err = deploy_error(
        &server,
        "[app]\nname = \"m\"\n\n[functions.f]\ncomponent = \"missing/f.wasm\"\n",
    );
    assert!(err.contains("strato.toml:5:"), "{err}");
    assert!(err.contains("cannot be read"), "{err}");

    // A route another app already serves is refused at plan time.
    let first = AppDir::new(&format!(
        "[app]\nname = \"first\"\n\n[functions.f]\ncomponent = \"{kitchen}\"\nroutes = [\"/shared\"]\n"
    ));
    server.cli_ok(&["deploy", first.path()]);
    let second = AppDir::new(&format!(
        "[app]\nname = \"second\"\n\n[functions.g]\ncomponent = \"{kitchen}\"\nroutes = [\"/mine\",\n  \"/shared\"]\n"
    ));
    let out = server.cli(&["plan", second.path()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("strato.toml:7:"), "{err}");
    assert!(err.contains("already served by app `first`"), "{err}");
    let err = server.cli_err(&["deploy", second.path()]);
    assert!(err.contains("strato.toml:7:"), "{err}");

    let apps = server.cli_ok(&["apps", "--output", "json"]);
    let apps: serde_json::Value = serde_json::from_str(&apps).unwrap();
    assert_eq!(
        apps.as_array().unwrap().len(),
        1,
        "only the good app was deployed"
    );
}

/// `[services.NAME]` is read and planned; until replicas run (issue 17),
/// a deploy says so and changes nothing.
#[test]
fn services_are_planned_and_need_their_image_at_deploy() {
    let server = Server::start();
    let app = AppDir::new(&format!(
        "[app]\nname = \"web\"\n[functions.f]\ncomponent = \"{}\"\nroutes = [\"/api/*\"]\n[services.site]\nimage = \"web/site:1\"\nroutes = [\"/*\"]\nport = 3000\nhealth = {{ path = \"/healthz\" }}\n",
        guest("kitchen")
    ));
    let plan = server.cli_ok(&["plan", app.path()]);
    assert!(plan.contains("service site"), "{plan}");
    assert!(plan.contains("GET /healthz"), "{plan}");
    let err = server.cli_err(&["deploy", app.path()]);
    assert!(
        err.contains("service `site`: image `web/site:1` is not in the image store"),
        "{err}"
    );
    let apps = server.cli_ok(&["apps"]);
    assert!(!apps.contains("web"), "nothing was deployed: {apps}");
}
