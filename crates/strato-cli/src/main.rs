//! `strato`: the server and the command-line client in one binary.
//!
//! `strato server` wires the backends (the only place that chooses them);
//! every other verb talks to a server's control API over HTTP, found through
//! `STRATO_URL` (or the local data dir) and authenticated with
//! `STRATO_TOKEN` (or the local data dir's admin token).

mod admin;
mod buckets;
mod client;
mod commands;
mod deploy;
mod keys;
mod nodes;
mod package;
mod queues;
mod server;
mod services;
mod table;
mod tasks;
mod trace;
mod up;
mod usage;
mod workflow;

use clap::{Parser, Subcommand};

// Every request allocates a store, WASI context and body buffers across two
// threads; mimalloc's per-thread free lists cost less than glibc's arenas
// there (malloc/free were the top symbols of the gateway's profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "strato",
    version,
    about = "Serverless functions and containers on your own machines"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where to find the server and its credentials (client verbs).
#[derive(clap::Args, Clone)]
pub struct Target {
    /// Control API URL.
    #[arg(long, env = "STRATO_URL", global = true)]
    url: Option<String>,
    /// Bearer token (admin or app-scoped).
    #[arg(long, env = "STRATO_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// Data dir of a local server, to read its address and admin token.
    #[arg(long = "data-dir", env = "STRATO_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Strato server.
    Server(Box<server::ServerArgs>),
    /// Dev mode: embedded server, build, deploy, watch, stream logs.
    Up(up::UpArgs),
    /// Show what a deploy of DIR would create, update and delete.
    Plan {
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    /// Build, upload and deploy the app in DIR.
    Deploy {
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    /// Delete an app, its routes and its buckets (runs and logs stay).
    Destroy {
        app: String,
        /// Delete the app's buckets even if they still hold objects.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        target: Target,
    },
    /// List deployed apps.
    Apps {
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
        #[command(flatten)]
        target: Target,
    },
    /// Call a function through the control API and print its response.
    Invoke(commands::InvokeArgs),
    /// List runs, newest first.
    Runs(commands::RunsArgs),
    /// Show a function's logs.
    Logs(commands::LogsArgs),
    /// Show every run of a chain of work (by run id or trace id) as a tree.
    Trace(trace::TraceArgs),
    /// What each function, task and service used: runs, GB-seconds, CPU.
    Usage(usage::UsageArgs),
    /// List buckets: owner, versioning, objects and sizes.
    Buckets(buckets::BucketsArgs),
    /// List, create and revoke S3 access keys.
    Keys(keys::KeysArgs),
    /// Run container tasks.
    Task(tasks::TaskArgs),
    /// Import, pull, build, list and remove container images.
    Image(tasks::ImageArgs),
    /// Send, receive, inspect, redrive and purge queue messages.
    Queue(queues::QueueArgs),
    /// List schedules with their next fire times.
    Schedules(queues::SchedulesArgs),
    /// List services with their replicas and load; show a service's logs;
    /// pin its replica count.
    Services(services::ServicesArgs),
    /// List the nodes of the deployment, or drain one.
    Nodes(nodes::NodesArgs),
    /// Operator tasks: move a single-machine deployment into a cluster.
    Admin(admin::AdminArgs),
    /// Start, list, describe, follow and stop workflow executions.
    Workflow(workflow::WorkflowArgs),
}

fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("STRATO_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,wasmtime=warn,cranelift=warn")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    // The server (and `up`, which embeds one) runs on every core; a client
    // command makes a few requests in sequence, and starts faster on the
    // calling thread alone (no worker threads, no cgroup quota probing).
    let runtime = match cli.command {
        Command::Server(_) | Command::Up(_) | Command::Admin(_) => {
            tokio::runtime::Builder::new_multi_thread()
        }
        _ => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()
    .expect("starting the async runtime");
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Server(args) => server::run(*args).await,
            Command::Up(args) => up::run(args).await,
            Command::Plan { dir, target } => {
                deploy::plan(&dir, &client::Client::new(&target)?).await
            }
            Command::Deploy { dir, target } => deploy::deploy(&dir, &client::Client::new(&target)?)
                .await
                .map(|_| ()),
            Command::Destroy { app, force, target } => {
                commands::destroy(&client::Client::new(&target)?, &app, force).await
            }
            Command::Apps { output, target } => {
                commands::apps(&client::Client::new(&target)?, output).await
            }
            Command::Invoke(args) => commands::invoke(args).await,
            Command::Runs(args) => commands::runs(args).await,
            Command::Logs(args) => commands::logs(args).await,
            Command::Trace(args) => trace::run(args).await,
            Command::Usage(args) => usage::run(args).await,
            Command::Buckets(args) => buckets::run(args).await,
            Command::Keys(args) => keys::run(args).await,
            Command::Task(args) => tasks::task(args).await,
            Command::Image(args) => tasks::image(args).await,
            Command::Queue(args) => queues::queue(args).await,
            Command::Schedules(args) => queues::schedules(args).await,
            Command::Services(args) => services::run(args).await,
            Command::Nodes(args) => nodes::run(args).await,
            Command::Admin(args) => admin::run(args).await,
            Command::Workflow(args) => workflow::run(args).await,
        }
    });
    if let Err(e) = result {
        match e.downcast_ref::<commands::ExitCode>() {
            Some(code) => std::process::exit(code.0),
            None => {
                eprintln!("error: {e:#}");
                std::process::exit(1);
            }
        }
    }
}
