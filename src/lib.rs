//! tracehouse: an OpenTelemetry-native APM backend that stores telemetry in the Application
//! Insights data model.

pub mod alerts;
pub mod api;
pub mod app;
pub mod clock;
pub mod config;
pub mod credential_cache;
pub mod error;
pub mod genai;
pub mod http_server;
pub mod ingest;
pub mod keys;
pub mod kql;
pub mod model;
pub mod normalize;
pub mod pipeline;
pub mod query;
pub mod query_cli;
pub mod reads;
pub mod self_metrics;
pub mod store;
pub mod time;
pub mod tls;
pub mod tokens;
pub mod traceql;
pub mod ui;
pub mod workload;
