//! tracehouse: an OpenTelemetry-native APM backend that stores telemetry in the Application
//! Insights data model.

pub mod model;
pub mod normalize;
