//! CloudWatch Logs Insights source: builds the AWS client, discovers log
//! groups, and runs Logs Insights queries (StartQuery / GetQueryResults /
//! StopQuery) over a time window without losing rows to the row limit.
//!
//! This module tree does network I/O but never prints; progress is reported
//! through the caller's callback ([`Progress`]) and failures through
//! [`CloudWatchError`], whose messages say what to do.

mod client;
mod error;
pub mod remote;
pub mod results;
mod runner;

pub use client::{ClientSettings, build_client, discover_log_groups};
pub use error::CloudWatchError;
pub use runner::{
    MAX_LIMIT, MAX_LOG_GROUPS_PER_QUERY, Progress, QueryOutcome, RemoteQuery, ResultPart, Row,
    RunOptions, Runner, Statistics,
};

#[cfg(test)]
mod remote_tests;
#[cfg(test)]
mod tests;
