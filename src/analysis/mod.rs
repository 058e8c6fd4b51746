//! Decisions from query answers: service ports, port ranges, and (later) audits.
//!
//! Pure and synchronous: analyses take tables and return reports. Nothing here performs I/O,
//! reads the environment or prints.

pub mod cidr;
pub mod optimizer;
pub mod outbound;
pub mod ports;
pub mod rows;
pub mod rules;
pub mod talkers;
