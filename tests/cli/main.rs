//! End-to-end tests of the `flowsift` binary. One test binary, one module per area.

mod audit;
mod cloudwatch;
mod common;
mod fixtures;
mod ports;
mod query;
