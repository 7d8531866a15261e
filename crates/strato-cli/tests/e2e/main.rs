//! End-to-end tests: the real `strato` binary on ephemeral ports, real
//! guest components compiled to wasm32-wasip2 by the test setup, driven
//! with the CLI and HTTP. One test binary for the crate keeps links cheap.

mod support;

mod async_invoke;
mod buckets;
mod cluster;
mod dashboard;
mod events;
mod functions;
mod lambda;
mod lambda_api;
mod lifecycle;
mod manifests;
mod oci_images;
mod order_pipeline;
mod own_registry;
mod queues;
mod registry;
mod s3_access;
mod s3_browser;
mod s3_checksums;
mod s3_conditions;
mod s3_config;
mod s3_encryption;
mod s3_refusals;
mod s3_tools;
mod s3_versions;
mod schedules;
mod services;
mod task_cancel;
mod tasks;
mod thumbnailer;
mod traces;
mod web_service;
mod workflows;
