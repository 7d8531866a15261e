//! What every container Strato runs shares, whether a task run or a
//! service's replica: its argv as Docker combines ENTRYPOINT and CMD, its
//! environment (the image's, then Strato's), the platform network's
//! forwards (the control API and S3 at their ports on 127.0.0.1), and its
//! output streamed to the store as it comes.

use crate::platform::{Platform, PlatformConfig};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use strato_core::{LogLine, RunRecord};
use strato_oci::Forward;
use tokio::sync::mpsc;

/// The control API's and S3's URLs as seen from inside a platform
/// network.
pub(crate) fn platform_urls(c: &PlatformConfig) -> (String, String) {
    (
        format!("http://127.0.0.1:{}", c.api_addr.port()),
        format!("http://127.0.0.1:{}", c.s3_addr.port()),
    )
}

/// What the platform network forwards in: the control API and S3, at
/// their own ports on 127.0.0.1.
pub(crate) fn platform_forwards(c: &PlatformConfig) -> Vec<Forward> {
    [c.api_addr, c.s3_addr]
        .into_iter()
        .map(|addr| Forward {
            port: addr.port(),
            target: loopback_if_unspecified(addr),
        })
        .collect()
}

/// A container's environment before its own settings: the image's (with
/// a default `PATH` and `HOME`), then Strato's for `app`.
pub(crate) async fn base_env(
    platform: &Platform,
    app: &str,
    image_env: &[String],
    api_url: &str,
    s3_url: &str,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = image_env
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.entry("PATH".into())
        .or_insert_with(|| crate::run_env::DEFAULT_PATH.into());
    env.insert(
        "HOME".into(),
        env.get("HOME").cloned().unwrap_or_else(|| "/root".into()),
    );
    let platform_env = platform.run_env(app, api_url, s3_url).await;
    env.extend(platform_env.into_iter().map(|(k, v)| (k.to_string(), v)));
    env
}

/// Writes output lines as they come (in batches), returning the last
/// unwritten ones when the run's output ends.
pub(crate) async fn stream_logs(
    store: Arc<dyn strato_store::Store>,
    record: RunRecord,
    mut rx: mpsc::UnboundedReceiver<LogLine>,
) -> Vec<LogLine> {
    let mut batch = Vec::new();
    // Often enough that a live tail sees a line within ~200 ms.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.tick().await;
    loop {
        tokio::select! {
            line = rx.recv() => match line {
                Some(line) => batch.push(line),
                None => return batch,
            },
            _ = tick.tick(), if !batch.is_empty() => {
                let lines = std::mem::take(&mut batch);
                if let Err(e) = store.append_logs(&record, &lines).await {
                    tracing::error!(run = %record.id, error = %e, "writing a container's output");
                }
            }
        }
    }
}

/// What a container runs, by Docker's rules over the image's
/// (ENTRYPOINT, CMD), the task's (entrypoint, command) and the run's
/// overrides: the nearest entrypoint and the nearest command win, and an
/// entrypoint set by the task or the run drops the image's CMD.
pub(crate) fn container_args(
    image: (&Vec<String>, &Vec<String>),
    task: (Option<&Vec<String>>, Option<&Vec<String>>),
    run: (Option<&Vec<String>>, Option<&Vec<String>>),
) -> Vec<String> {
    let entrypoint_set = run.0.or(task.0);
    let entrypoint = entrypoint_set.unwrap_or(image.0);
    let command = match run.1.or(task.1) {
        Some(command) => command.as_slice(),
        None if entrypoint_set.is_some() => &[],
        None => image.1.as_slice(),
    };
    entrypoint.iter().chain(command).cloned().collect()
}

pub(crate) fn loopback_if_unspecified(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    if addr.ip().is_unspecified() {
        std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

#[cfg(test)]
mod tests {
    use super::container_args;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn container_args_follow_dockers_entrypoint_and_cmd_rules() {
        let (ep, cmd) = (v(&["/entry.sh"]), v(&["serve", "--port", "80"]));
        let image = (&ep, &cmd);
        // The image alone: ENTRYPOINT + CMD.
        assert_eq!(
            container_args(image, (None, None), (None, None)),
            v(&["/entry.sh", "serve", "--port", "80"])
        );
        // A command replaces CMD and keeps ENTRYPOINT.
        let job = v(&["job", "1"]);
        assert_eq!(
            container_args(image, (None, Some(&job)), (None, None)),
            v(&["/entry.sh", "job", "1"])
        );
        // A new entrypoint drops the image's CMD...
        let sh = v(&["/bin/sh", "-c"]);
        assert_eq!(
            container_args(image, (Some(&sh), None), (None, None)),
            v(&["/bin/sh", "-c"])
        );
        // ...but not a command given with it.
        let script = v(&["echo hi"]);
        assert_eq!(
            container_args(image, (Some(&sh), Some(&script)), (None, None)),
            v(&["/bin/sh", "-c", "echo hi"])
        );
        // The run's overrides win over the task's.
        let other = v(&["other"]);
        assert_eq!(
            container_args(image, (Some(&sh), Some(&script)), (None, Some(&other))),
            v(&["/bin/sh", "-c", "other"])
        );
        let run_ep = v(&["/run.sh"]);
        assert_eq!(
            container_args(image, (None, Some(&job)), (Some(&run_ep), None)),
            v(&["/run.sh", "job", "1"])
        );
        // Nothing at all: nothing to run (the caller refuses it).
        let none = Vec::new();
        assert!(container_args((&none, &none), (None, None), (None, None)).is_empty());
    }
}
