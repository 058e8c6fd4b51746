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
/// Writes to standard output through one buffer, for answers written as they are rendered.
pub fn with_stdout<E: From<io::Error>>(
    write: impl FnOnce(&mut dyn Write) -> Result<(), E>,
) -> Result<(), E> {
    let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    write(&mut out)?;
    out.flush()?;
    Ok(())
}

pub fn write_stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Pretty JSON with a trailing newline, written as it is rendered.
pub fn write_json<T: Serialize + ?Sized>(value: &T, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

/// Pretty JSON with a trailing newline.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}
