//! Printing results: tables for people, JSON and CSV for scripts.
//!
//! The only code that writes to stdout. It formats what analyses decided and never decides
//! anything itself. Everything it writes is built as a string first, so a closed pipe is
//! noticed in one place (`write_stdout`).

pub mod csv_out;
pub mod emit;
pub mod stderr;
pub mod table;

use std::io::{self, Write};

use serde::Serialize;

/// Writes the whole output to stdout.
pub fn write_stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Pretty JSON with a trailing newline.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}
