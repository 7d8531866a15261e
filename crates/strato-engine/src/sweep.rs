//! The sweeper: one loop that claims due durable work for this node, every
//! [`SWEEP_EVERY`]: bucket-event deliveries, queued invocations (async
//! invocations, destinations, scheduled firings) and task runs whose
//! retry is due or whose lease ran out. A new kind of durable work adds
//! its claim here (and its lease rule to `crate::lifecycle`).

use crate::platform::Platform;
use std::sync::Weak;
use std::time::Duration;

/// How often the sweeper looks for due work.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// Runs until the platform is dropped. On a cluster, another node's
/// wakeup (work it queued or released) starts a sweep at once.
pub(crate) async fn run_sweeper(platform: Weak<Platform>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut woken = platform
        .upgrade()
        .and_then(|p| p.store.wakeups())
        .map(|w| w.work.subscribe());
    loop {
        crate::cluster::tick_or_wakeup(&mut tick, woken.as_mut()).await;
        let Some(platform) = platform.upgrade() else {
            return;
        };
        // A draining node takes no new work; what it claimed, it finishes.
        if platform.status.draining() {
            continue;
        }
        crate::async_invoke::sweep(&platform).await;
        crate::events::sweep(&platform).await;
        crate::tasks::sweep(&platform).await;
    }
}
