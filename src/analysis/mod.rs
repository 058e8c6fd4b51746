//! Decisions from query answers: service ports, port ranges, and (later) audits.
//!
//! Pure and synchronous: analyses take tables and return reports. Nothing here performs I/O,
//! reads the environment or prints.

pub mod optimizer;
pub mod ports;
pub mod rows;
