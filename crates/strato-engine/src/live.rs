//! What is deployed, as one immutable value.
//!
//! A [`Live`] holds every live app ([`LiveApp`]: its functions ready on
//! their executors, its services' replica pools, its tasks, queues and
//! schedules) and the indexes the
//! engine's components read: the route table, functions, tasks, queues and
//! schedules by `(app, name)`, and bucket subscribers by bucket. A deploy
//! or destroy builds the next `Live` (the same code as start-up, through
//! [`crate::Platform`]'s app assembly) and swaps it in one pointer store,
//! so a reader sees one revision of an app throughout (its routes with its
//! queues), and requests in flight keep the functions they started with.

use crate::buckets::Subscriber;
use crate::services::LiveService;
use arc_swap::ArcSwap;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use strato_core::queue::QueueSpec;
use strato_core::route::RouteTable;
use strato_core::schedule::ScheduleSpec;
use strato_core::spec::TaskSpec;
use strato_core::{FunctionSpec, RevisionSpec};
use strato_executor::{PreparedFunction, RunLimits};
use tokio::sync::Semaphore;

/// `(app, name)`: how functions, tasks, queues and schedules are found.
pub(crate) type Key = (String, String);

/// The handle every component reads the live state through.
pub(crate) type LiveHandle = Arc<ArcSwap<Live>>;

/// A function of a live revision, ready to run.
pub struct LiveFunction {
    pub app: String,
    pub name: String,
    pub revision: i64,
    pub spec: FunctionSpec,
    /// Ready on the executor of its kind.
    pub prepared: Arc<dyn PreparedFunction>,
    /// Limits with the environment every run of this function shares.
    pub limits: RunLimits,
    /// Shared across revisions while the limit is unchanged, so a deploy
    /// does not double the allowed concurrency.
    pub permits: Arc<Semaphore>,
    /// Async work waiting for `permits`, by priority (paired with them).
    pub async_slots: Arc<crate::slots::AsyncSlots>,
    /// Its figures for `/metrics`, kept across revisions.
    pub(crate) figures: Arc<crate::run_metrics::Figures>,
}

/// A task of a live revision.
#[derive(Debug, Clone)]
pub(crate) struct LiveTask {
    pub app: String,
    pub name: String,
    pub revision: i64,
    pub spec: TaskSpec,
}

/// A schedule of a live revision.
#[derive(Debug, Clone)]
pub(crate) struct LiveSchedule {
    pub spec: ScheduleSpec,
    /// Slots before this never fire (the deploy that created it; kept
    /// while later revisions keep the schedule).
    pub since_ms: i64,
}

/// One app's live revision, assembled.
pub(crate) struct LiveApp {
    pub name: String,
    pub revision: i64,
    pub spec: RevisionSpec,
    pub functions: Vec<Arc<LiveFunction>>,
    /// Its services' pools, by name.
    pub services: BTreeMap<String, Arc<LiveService>>,
    pub schedules: BTreeMap<String, LiveSchedule>,
    pub deployed_at_ms: i64,
}

/// What a gateway route serves.
#[derive(Clone)]
pub(crate) enum Routed {
    Function(Arc<LiveFunction>),
    Service(Arc<LiveService>),
}

/// Everything live, with the indexes components read.
#[derive(Default)]
pub(crate) struct Live {
    pub apps: BTreeMap<String, Arc<LiveApp>>,
    pub routes: RouteTable<Routed>,
    pub functions: HashMap<Key, Arc<LiveFunction>>,
    pub tasks: HashMap<Key, LiveTask>,
    pub queues: HashMap<Key, QueueSpec>,
    pub schedules: HashMap<Key, LiveSchedule>,
    /// Functions and tasks subscribed to each bucket.
    pub subscribers: HashMap<String, Vec<Subscriber>>,
}

impl Live {
    /// The state with these apps, indexed.
    pub fn build(apps: BTreeMap<String, Arc<LiveApp>>) -> Live {
        let mut live = Live::default();
        for app in apps.values() {
            let key = |name: &dyn std::fmt::Display| (app.name.clone(), name.to_string());
            for f in &app.functions {
                live.functions.insert(key(&f.name), f.clone());
                for s in &f.spec.on_bucket {
                    live.subscribers
                        .entry(s.bucket.clone())
                        .or_default()
                        .push(Subscriber {
                            app: app.name.clone(),
                            function: f.name.clone(),
                            subscription: s.clone(),
                        });
                }
            }
            for (name, spec) in &app.spec.tasks {
                let task = LiveTask {
                    app: app.name.clone(),
                    name: name.to_string(),
                    revision: app.revision,
                    spec: spec.clone(),
                };
                for s in &spec.on_bucket {
                    live.subscribers
                        .entry(s.bucket.clone())
                        .or_default()
                        .push(Subscriber {
                            app: app.name.clone(),
                            function: name.to_string(),
                            subscription: s.clone(),
                        });
                }
                live.tasks.insert(key(name), task);
            }
            for (name, spec) in &app.spec.workflows {
                for s in &spec.on_bucket {
                    live.subscribers
                        .entry(s.bucket.clone())
                        .or_default()
                        .push(Subscriber {
                            app: app.name.clone(),
                            function: name.to_string(),
                            subscription: s.clone(),
                        });
                }
            }
            for (name, spec) in &app.spec.queues {
                live.queues.insert(key(name), spec.clone());
            }
            for (name, schedule) in &app.schedules {
                live.schedules.insert(key(name), schedule.clone());
            }
        }
        let functions = live.functions.values().flat_map(|f| {
            f.spec
                .routes
                .iter()
                .map(move |r| (r.clone(), Routed::Function(f.clone())))
        });
        let services = apps
            .values()
            .flat_map(|a| a.services.values())
            .flat_map(|s| {
                s.launch
                    .spec
                    .routes
                    .iter()
                    .map(move |r| (r.clone(), Routed::Service(s.clone())))
            });
        live.routes = RouteTable::new(functions.chain(services));
        live.apps = apps;
        live
    }

    /// The next state: `app` replaced (or added), or removed with `None`.
    pub fn with_app(&self, name: &str, app: Option<Arc<LiveApp>>) -> Live {
        let mut apps = self.apps.clone();
        match app {
            Some(app) => apps.insert(name.to_string(), app),
            None => apps.remove(name),
        };
        Live::build(apps)
    }

    /// A function by `APP/NAME`, or by `NAME` when only one app has it;
    /// else the candidates (none, or several).
    pub fn find_function(&self, target: &str) -> Result<Arc<LiveFunction>, Vec<String>> {
        if let Some((app, name)) = target.split_once('/') {
            return self.function(app, name).cloned().ok_or_else(Vec::new);
        }
        let matches: Vec<_> = self
            .functions
            .values()
            .filter(|f| f.name == target)
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            many => Err(many
                .iter()
                .map(|f| format!("{}/{}", f.app, f.name))
                .collect()),
        }
    }

    pub fn function(&self, app: &str, name: &str) -> Option<&Arc<LiveFunction>> {
        self.functions.get(&(app.to_string(), name.to_string()))
    }

    pub fn task(&self, app: &str, name: &str) -> Option<&LiveTask> {
        self.tasks.get(&(app.to_string(), name.to_string()))
    }

    pub fn queue(&self, app: &str, name: &str) -> Option<&QueueSpec> {
        self.queues.get(&(app.to_string(), name.to_string()))
    }
}
