//! flowsift: least-privilege security-group rules and traffic audits from VPC Flow Logs.
//!
//! Every command asks its question once, as a CloudWatch Logs Insights query, and a source
//! answers it: the embedded engine over flow-log files (`source::local`). Analyses turn the
//! answers into reports; `render` prints them. See DESIGN.md for the architecture.

pub mod analysis;
pub mod cli;
pub mod commands;
pub mod error;
pub mod flow;
pub mod insights;
pub mod inventory;
pub mod render;
pub mod settings;
pub mod source;
