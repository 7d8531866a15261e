//! [`LambdaExecutor`]: the `lambda` kind of function behind the engine's
//! executor seam. Preparing a function readies its image (a runtime image,
//! built once, or the user's image) and unpacks its code; each invocation
//! takes a warm environment from the function's pool or starts one (a cold
//! start), runs, and gives it back to wait for the next (or stops it when
//! `idle` is `0s`). A reaper stops environments idle longer than `idle`.
//! The engine bounds how many run at once (`concurrency`).

use crate::environment::{
    Environment, EnvironmentFailure, EnvironmentSpec, LOG_GRACE, PendingRun, Report, system_line,
};
use crate::events;
use crate::runtime_api::{Answer, RuntimeApiConfig};
use crate::runtimes::{RuntimeImages, RuntimeImagesConfig};
use bytes::Bytes;
use http_body_util::BodyExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use strato_core::lambda::{LambdaRuntime, LambdaSource, LambdaSpec};
use strato_core::{FunctionKind, LogLine};
use strato_executor::{
    Body, Delivery, FunctionArtifact, FunctionExecutor, Invocation, Outcome, OutcomeStatus,
    PrepareError, PreparedFunction, full_body, text_response,
};
use strato_oci::{ContainerRuntime, Forward, ImageStore};

/// Largest request or response, as Lambda's synchronous limit (6 MiB).
pub const MAX_PAYLOAD_BYTES: usize = 6 << 20;

/// Settings of the lambda executor.
#[derive(Debug, Clone)]
pub struct LambdaConfig {
    /// Unpacked code of functions, by digest (`<data-dir>/lambda/code`).
    pub code_dir: PathBuf,
    /// The control API and S3 API, forwarded into every environment.
    pub api_addr: std::net::SocketAddr,
    pub s3_addr: std::net::SocketAddr,
    /// `AWS_REGION` and the ARNs' region.
    pub region: String,
    pub runtimes: RuntimeImagesConfig,
}

/// Runs Lambda functions in containers.
pub struct LambdaExecutor {
    config: LambdaConfig,
    images: Arc<ImageStore>,
    containers: Arc<ContainerRuntime>,
    runtimes: RuntimeImages,
    /// Every function prepared, to stop their environments at shutdown.
    prepared: Mutex<Vec<Weak<PreparedLambda>>>,
}

impl LambdaExecutor {
    pub fn new(
        config: LambdaConfig,
        images: Arc<ImageStore>,
        containers: Arc<ContainerRuntime>,
    ) -> Arc<LambdaExecutor> {
        let runtimes = RuntimeImages::new(config.runtimes.clone(), images.clone());
        Arc::new(LambdaExecutor {
            config,
            images,
            containers,
            runtimes,
            prepared: Mutex::new(Vec::new()),
        })
    }

    /// The image and command a function's environments run.
    async fn image_and_args(
        &self,
        lambda: &LambdaSpec,
    ) -> Result<(String, Vec<String>, bool), PrepareError> {
        match &lambda.source {
            LambdaSource::Code {
                runtime, handler, ..
            } => {
                let image = self
                    .runtimes
                    .ensure(*runtime)
                    .await
                    .map_err(|e| PrepareError(e.to_string()))?;
                let args = match runtime {
                    LambdaRuntime::Python311 => vec![
                        "/usr/bin/python3".into(),
                        "-m".into(),
                        "awslambdaric".into(),
                        handler.clone(),
                    ],
                    LambdaRuntime::Nodejs18 => vec![
                        "/usr/bin/node".into(),
                        crate::runtimes::NODE_RIC_PATH.into(),
                    ],
                    LambdaRuntime::Provided => vec!["/var/task/bootstrap".into()],
                };
                Ok((image, args, true))
            }
            LambdaSource::Image { image, handler } => {
                let images = self.images.clone();
                let name = image.clone();
                let info = tokio::task::spawn_blocking(move || images.resolve(&name))
                    .await
                    .map_err(|e| PrepareError(e.to_string()))?
                    .map_err(|e| PrepareError(format!("image `{image}`: {e}")))?;
                let mut args = info.config.entrypoint.clone();
                match handler {
                    Some(h) => args.push(h.clone()),
                    None => args.extend(info.config.cmd.iter().cloned()),
                }
                if args.is_empty() {
                    return Err(PrepareError(format!(
                        "image `{image}` has no ENTRYPOINT or CMD: it must start a Lambda runtime interface client"
                    )));
                }
                Ok((image.clone(), args, false))
            }
        }
    }

    /// Unpacks a code package once per digest.
    async fn unpack_code(
        &self,
        digest: &str,
        package: &std::path::Path,
    ) -> Result<PathBuf, PrepareError> {
        let dir = self.config.code_dir.join(digest);
        if dir.exists() {
            return Ok(dir);
        }
        let (dir2, package) = (dir.clone(), package.to_path_buf());
        let parent = self.config.code_dir.clone();
        tokio::task::spawn_blocking(move || -> Result<(), String> {
            std::fs::create_dir_all(&parent).map_err(|e| e.to_string())?;
            let staging = parent.join(format!(".unpack-{:08x}", rand::random::<u32>()));
            std::fs::create_dir_all(&staging).map_err(|e| e.to_string())?;
            let file = std::fs::File::open(&package).map_err(|e| e.to_string())?;
            // The same safe unpacking image layers get: no path escapes.
            let unpacked = strato_oci::unpack::apply_layer(&staging, file);
            if let Err(e) = unpacked {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e.to_string());
            }
            std::fs::rename(&staging, &dir2).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| PrepareError(e.to_string()))?
        .map_err(|e| PrepareError(format!("unpacking the function's code: {e}")))?;
        Ok(dir)
    }
}

#[async_trait::async_trait]
impl FunctionExecutor for LambdaExecutor {
    fn kind(&self) -> FunctionKind {
        FunctionKind::Lambda
    }

    async fn prepare(
        &self,
        function: FunctionArtifact<'_>,
    ) -> Result<Arc<dyn PreparedFunction>, PrepareError> {
        let lambda =
            function.spec.lambda.clone().ok_or_else(|| {
                PrepareError("a lambda function without its runtime or image".into())
            })?;
        let (image, args, has_code) = self.image_and_args(&lambda).await?;
        let code_dir = if has_code {
            Some(self.unpack_code(function.digest, function.path).await?)
        } else {
            None
        };
        let images = self.images.clone();
        let rootfs = tokio::task::spawn_blocking(move || {
            let info = images.resolve(&image)?;
            images.rootfs(&info)
        })
        .await
        .map_err(|e| PrepareError(e.to_string()))?
        .map_err(|e| PrepareError(format!("unpacking the function's image: {e}")))?;
        // The name the Lambda API knows it by (Strato names have no `.`).
        let aws_name = format!("{}.{}", function.app, function.name);
        let handler = match &lambda.source {
            LambdaSource::Code { handler, .. } => handler.clone(),
            LambdaSource::Image { handler, .. } => handler.clone().unwrap_or_default(),
        };
        let memory_mb = function.spec.memory_bytes >> 20;
        let mut env: Vec<String> = vec![
            format!("_HANDLER={handler}"),
            "LAMBDA_TASK_ROOT=/var/task".into(),
            "LAMBDA_RUNTIME_DIR=/var/runtime".into(),
            format!("AWS_LAMBDA_FUNCTION_NAME={aws_name}"),
            format!("AWS_LAMBDA_FUNCTION_MEMORY_SIZE={memory_mb}"),
            "AWS_LAMBDA_FUNCTION_VERSION=$LATEST".into(),
            format!("AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/{aws_name}"),
            "AWS_LAMBDA_LOG_STREAM_NAME=strato".into(),
            format!("AWS_EXECUTION_ENV=AWS_Lambda_strato"),
            "TZ=:UTC".into(),
            "LANG=C.UTF-8".into(),
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ];
        env.extend(function.env.iter().map(|(k, v)| format!("{k}={v}")));
        let spec = EnvironmentSpec {
            image_rootfs: rootfs,
            args,
            env,
            code_dir,
            memory_bytes: function.spec.memory_bytes,
            forwards: vec![
                Forward {
                    port: self.config.api_addr.port(),
                    target: loopback(self.config.api_addr),
                },
                Forward {
                    port: self.config.s3_addr.port(),
                    target: loopback(self.config.s3_addr),
                },
            ],
            init_timeout: Duration::from_millis(lambda.init_timeout_ms),
            runtime_api: RuntimeApiConfig {
                function_arn: format!(
                    "arn:aws:lambda:{}:000000000000:function:{aws_name}",
                    self.config.region
                ),
                max_response_bytes: MAX_PAYLOAD_BYTES,
            },
        };
        let prepared = Arc::new_cyclic(|this| PreparedLambda {
            this: this.clone(),
            spec,
            lambda,
            memory_mb,
            containers: self.containers.clone(),
            idle: Mutex::new(Vec::new()),
            closed: Default::default(),
            busy: Default::default(),
        });
        tokio::spawn(reap(Arc::downgrade(&prepared)));
        let mut all = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|p| p.strong_count() > 0);
        all.push(Arc::downgrade(&prepared));
        Ok(prepared)
    }

    async fn shutdown(&self) {
        let all: Vec<Arc<PreparedLambda>> = self
            .prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for function in all {
            function.close().await;
        }
    }
}

fn loopback(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    if addr.ip().is_unspecified() {
        std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

/// A function ready to run: how to start its environments, and the warm
/// ones waiting for work.
pub struct PreparedLambda {
    /// Itself, for runs that outlive their caller.
    this: Weak<PreparedLambda>,
    spec: EnvironmentSpec,
    lambda: LambdaSpec,
    memory_mb: u64,
    containers: Arc<ContainerRuntime>,
    idle: Mutex<Vec<Environment>>,
    /// Set at shutdown: no environment starts or waits any more.
    closed: std::sync::atomic::AtomicBool,
    /// Invocations holding (or starting) an environment now: with the
    /// idle ones, the environments `min_warm` counts.
    busy: std::sync::atomic::AtomicUsize,
}

/// Counts one invocation in [`PreparedLambda::busy`] while it lives.
struct Busy<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Busy<'a> {
    fn hold(count: &'a std::sync::atomic::AtomicUsize) -> Busy<'a> {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Busy(count)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl PreparedLambda {
    /// Environments waiting plus invocations holding or starting one.
    fn environments(&self) -> usize {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).len();
        idle + self.busy.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops every waiting environment and any that comes back later.
    async fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        for env in idle {
            env.stop().await;
        }
    }

    fn take_warm(&self) -> Option<Environment> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(env) = idle.pop() {
            if env.is_alive() {
                return Some(env);
            }
        }
        None
    }

    fn give_back(&self, env: Environment) {
        if self.is_closed() {
            tokio::spawn(env.stop());
            return;
        }
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(env);
    }
}

impl Drop for PreparedLambda {
    fn drop(&mut self) {
        // A redeploy or destroy replaced the function: its warm
        // environments go.
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        for env in idle {
            tokio::spawn(async move { env.kill().await });
        }
    }
}

/// Stops environments idle longer than the function's `idle`, keeping
/// `min_warm`, and starts environments up to `min_warm`; ends when the
/// function is dropped.
async fn reap(function: Weak<PreparedLambda>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(function) = function.upgrade() else {
            return;
        };
        if function.is_closed() {
            return;
        }
        let idle_for = Duration::from_millis(function.lambda.idle_ms);
        let keep = function.lambda.min_warm as usize;
        let expired: Vec<Environment> = {
            let mut idle = function.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.retain(Environment::is_alive);
            // Most recently used last: the oldest go first.
            idle.sort_by_key(|e| e.last_used);
            let mut out = Vec::new();
            while idle.len() > keep && idle[0].last_used.elapsed() >= idle_for {
                out.push(idle.remove(0));
            }
            out
        };
        for env in expired {
            env.kill().await;
        }
        // Counted again before each start: invocations start
        // environments of their own meanwhile.
        while !function.is_closed() && function.environments() < keep {
            match Environment::start(&function.spec, function.containers.clone()).await {
                Ok(env) => function.give_back(env),
                Err((failure, _)) => {
                    tracing::warn!(error = %failure.describe(), "starting a min_warm environment");
                    break;
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl PreparedFunction for PreparedLambda {
    async fn invoke(&self, invocation: Invocation) -> http::Response<Body> {
        let this = match invocation.delivery {
            Delivery::Streaming => self.this.upgrade(),
            // The caller waits for the outcome and does not go away.
            Delivery::Whole => None,
        };
        let Some(this) = this else {
            return self.run(invocation).await;
        };
        // A caller that goes away (a client closing its connection) does
        // not cancel the run: as on Lambda, it completes and is recorded,
        // and its environment goes back to the pool.
        match tokio::spawn(async move { this.run(invocation).await }).await {
            Ok(response) => response,
            Err(e) => error_response(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                &format!("the invocation's task failed: {e}"),
            ),
        }
    }
}

impl PreparedLambda {
    /// Runs one invocation on a warm or new environment.
    async fn run(&self, invocation: Invocation) -> http::Response<Body> {
        let Invocation {
            request,
            limits,
            on_done,
            on_free,
            delivery,
        } = invocation;
        let request_id = limits
            .extra_env
            .iter()
            .find(|(k, _)| k == "STRATO_RUN_ID")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
        let (parts, body) = request.into_parts();
        let body = match http_body_util::Limited::new(body, MAX_PAYLOAD_BYTES)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                let message =
                    format!("the request is larger than Lambda's {MAX_PAYLOAD_BYTES}-byte limit");
                on_done(Outcome {
                    http_status: Some(413),
                    ..Outcome::failed(format!("RequestTooLarge: {message}"))
                });
                return text_response(http::StatusCode::PAYLOAD_TOO_LARGE.as_u16(), &message);
            }
        };
        // The run's span, as X-Ray writes it (`Lambda-Runtime-Trace-Id`,
        // which runtime clients put in `_X_AMZN_TRACE_ID`).
        let trace_id = parts
            .headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(strato_core::TraceContext::parse_traceparent)
            .map(|span| span.xray());
        let delivered = events::is_delivered_event(&parts.headers);
        let event = if delivered {
            body
        } else {
            let path = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            Bytes::from(
                events::http_api_event(&events::RequestParts {
                    method: parts.method.as_str(),
                    path_and_query: path,
                    headers: &parts.headers,
                    body: &body,
                    request_id: &request_id,
                    now_ms: strato_core::time::now_ms(),
                })
                .to_string(),
            )
        };

        let mut logs: Vec<LogLine> = Vec::new();
        let _busy = Busy::hold(&self.busy);
        let (mut env, cold) = match self.take_warm() {
            Some(env) => (env, false),
            None => match Environment::start(&self.spec, self.containers.clone()).await {
                Ok(env) => (env, true),
                Err((failure, lines)) => {
                    logs.extend(lines);
                    let error = failure.describe();
                    logs.push(system_line(format!(
                        "INIT_REPORT Status: error Error: {error}"
                    )));
                    on_done(Outcome {
                        logs,
                        cold_start: true,
                        http_status: Some(502),
                        ..Outcome::failed(error.clone())
                    });
                    return error_response(
                        http::StatusCode::BAD_GATEWAY,
                        &failure.error_type(),
                        &error,
                    );
                }
            },
        };
        let init = cold.then_some(env.init);
        // The previous run on this environment has all its lines now.
        env.finish_pending();
        // Lines printed while loading the handler belong to the first run.
        logs.extend(env.take_logs());
        logs.push(system_line(format!(
            "START RequestId: {request_id} Version: $LATEST"
        )));
        let started = Instant::now();
        let deadline_ms = strato_core::time::now_ms() + limits.timeout.as_millis() as i64;
        let result = env
            .invoke(&request_id, limits.timeout, deadline_ms, trace_id, event)
            .await;
        let duration = started.elapsed();
        logs.extend(env.take_logs());
        let mut tail = vec![system_line(format!("END RequestId: {request_id}"))];
        let billed_ms = (duration.as_micros().div_ceil(1000) as u64).max(1);
        let report = Report {
            request_id: request_id.clone(),
            duration,
            billed_ms,
            memory_mb: self.memory_mb,
            init,
            max_memory_bytes: None,
        };
        let keep = env.is_alive() && result.is_ok() && self.lambda.idle_ms > 0;
        let outcome = |status, error: Option<String>, http_status: u16, logs| Outcome {
            status,
            error,
            http_status: Some(http_status),
            exit_code: None,
            logs,
            cold_start: cold,
            init,
            billed: Some(Duration::from_millis(billed_ms)),
        };
        let (response, done) = match result {
            Ok(Answer::Response(bytes)) if delivered => (
                http::Response::new(bytes).map(full_body),
                outcome(OutcomeStatus::Succeeded, None, 200, logs),
            ),
            Ok(Answer::Response(bytes)) => match events::http_response(&bytes) {
                Ok(response) => {
                    let status = response.status().as_u16();
                    (
                        response.map(full_body),
                        outcome(OutcomeStatus::Succeeded, None, status, logs),
                    )
                }
                Err(events::BadResult(e)) => (
                    error_response(http::StatusCode::BAD_GATEWAY, "Runtime.BadResult", &e),
                    outcome(OutcomeStatus::Failed, Some(e), 502, logs),
                ),
            },
            Ok(Answer::Error(error)) => {
                let summary = error.summary();
                for (i, line) in error.stack_trace.iter().enumerate() {
                    tail.insert(i, system_line(line.trim_end().to_string()));
                }
                let body = serde_json::to_vec(&error).unwrap_or_default();
                (
                    function_error(http::StatusCode::BAD_GATEWAY, Bytes::from(body)),
                    outcome(OutcomeStatus::Failed, Some(summary), 502, logs),
                )
            }
            Ok(Answer::TooLarge(size)) => {
                let e = format!(
                    "Function.ResponseSizeTooLarge: the response ({size} bytes or more) is larger than {MAX_PAYLOAD_BYTES} bytes"
                );
                (
                    error_response(
                        http::StatusCode::BAD_GATEWAY,
                        "Function.ResponseSizeTooLarge",
                        &e,
                    ),
                    outcome(OutcomeStatus::Failed, Some(e), 502, logs),
                )
            }
            Err(failure) => {
                let status = match failure {
                    EnvironmentFailure::TimedOut => OutcomeStatus::TimedOut,
                    EnvironmentFailure::OomKilled => OutcomeStatus::OomKilled,
                    _ => OutcomeStatus::Failed,
                };
                let (code, e) = match &failure {
                    EnvironmentFailure::TimedOut => (
                        http::StatusCode::GATEWAY_TIMEOUT,
                        format!(
                            "Task timed out after {:.2} seconds",
                            limits.timeout.as_secs_f64()
                        ),
                    ),
                    other => (http::StatusCode::BAD_GATEWAY, other.describe()),
                };
                (
                    error_response(code, &failure.error_type(), &e),
                    outcome(status, Some(e), code.as_u16(), logs),
                )
            }
        };
        let mut pending = PendingRun {
            outcome: done,
            tail,
            report,
            on_done,
        };
        if keep {
            env.drain_events();
            match delivery {
                // Someone waits on the answer: it goes now, and the run is
                // recorded once its trailing lines are in.
                Delivery::Streaming => env.defer(pending),
                // The caller wants the outcome before this returns.
                Delivery::Whole => {
                    tokio::time::sleep(LOG_GRACE).await;
                    env.defer(pending);
                    env.finish_pending();
                }
            }
            self.give_back(env);
            // The environment is free for the next run now, though this
            // one is recorded a little later.
            on_free();
        } else {
            // Its cgroup goes with it.
            pending.report.max_memory_bytes = env.memory_peak();
            env.kill().await;
            env.defer(pending);
            env.finish_pending();
        }
        response
    }
}

/// An answer flagged as the handler's failure (`X-Amz-Function-Error:
/// Unhandled`), carrying Lambda's error document.
fn function_error(status: http::StatusCode, document: Bytes) -> http::Response<Body> {
    let mut response = http::Response::new(full_body(document));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        "x-amz-function-error",
        http::HeaderValue::from_static("Unhandled"),
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// [`function_error`] with the document `{"errorType", "errorMessage"}`.
fn error_response(
    status: http::StatusCode,
    error_type: &str,
    message: &str,
) -> http::Response<Body> {
    let document = serde_json::json!({ "errorType": error_type, "errorMessage": message });
    function_error(status, Bytes::from(document.to_string()))
}
