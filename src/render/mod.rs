//! Printing results: tables for people, JSON and CSV for scripts.
//!
//! The only code that writes to stdout. It formats what analyses decided and never decides
//! anything itself. Everything goes through one buffered writer (`with_stdout`), so a closed
//! pipe is noticed in one place; large answers are written as they are rendered.

pub mod csv_out;
pub mod emit;
pub mod stderr;
pub mod table;

use std::io::{self, Write};

use serde::Serialize;

/// Writes to standard output through one buffer, for answers written as they are rendered.
pub fn with_stdout<E: From<io::Error>>(
    write: impl FnOnce(&mut dyn Write) -> Result<(), E>,
) -> Result<(), E> {
    let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    write(&mut out)?;
    out.flush()?;
    Ok(())
}

/// Writes the whole output to stdout.
pub fn write_stdout(text: &str) -> io::Result<()> {
    with_stdout(|out| out.write_all(text.as_bytes()))
}

/// Pretty JSON with a trailing newline, written as it is rendered.
pub fn write_json<T: Serialize + ?Sized>(value: &T, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

/// Pretty JSON with a trailing newline.
pub fn json<T: Serialize + ?Sized>(value: &T) -> io::Result<String> {
    let mut bytes = Vec::new();
    write_json(value, &mut bytes)?;
    String::from_utf8(bytes).map_err(io::Error::other)
}
