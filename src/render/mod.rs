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

use crate::source::{KeyedRow, QueryOutput, RowSink, Value};

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

/// An answer's rows as pretty JSON, an array of objects keyed by column, with a trailing
/// newline: the bytes `write_json` gives for the rows as one array. Rows are rendered a run at
/// a time (in parallel for a streamed answer) and written as they come.
pub fn write_query_json(output: &QueryOutput, out: &mut dyn Write) -> io::Result<()> {
    let mut array = JsonRows::new(out);
    array.start()?;
    let columns = &output.table.columns;
    output.try_for_each_rendered(
        |rows| json_rows(columns, rows),
        |bytes| array.write_rows(bytes),
    )?;
    array.close()
}

/// Each row as an element of a pretty JSON array: after a comma, on its own lines, indented
/// one level (a JSON text has no raw newline inside a string, so lines are safe to indent).
/// What `JsonRows` writes.
pub fn json_rows(
    columns: &[String],
    rows: &mut dyn Iterator<Item = &[Value]>,
) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    for values in rows {
        let row = serde_json::to_string_pretty(&KeyedRow::new(columns, values))?;
        bytes.push(b',');
        for line in row.lines() {
            bytes.extend_from_slice(b"\n  ");
            bytes.extend_from_slice(line.as_bytes());
        }
    }
    Ok(bytes)
}

/// Rows written as a pretty JSON array as they come (see `write_query_json`): the sink of a
/// run that writes its rows as it reads them.
pub struct JsonRows<'a> {
    out: &'a mut dyn Write,
    empty: bool,
}

impl<'a> JsonRows<'a> {
    pub fn new(out: &'a mut dyn Write) -> Self {
        JsonRows { out, empty: true }
    }

    fn start(&mut self) -> io::Result<()> {
        self.out.write_all(b"[")
    }

    /// Writes rows rendered by `json_rows`; the first row has no comma before it.
    fn write_rows(&mut self, bytes: &[u8]) -> io::Result<()> {
        let bytes = match bytes.split_first() {
            Some((_, rest)) if self.empty => rest,
            _ => bytes,
        };
        self.empty &= bytes.is_empty();
        self.out.write_all(bytes)
    }

    /// Closes the array.
    fn close(&mut self) -> io::Result<()> {
        self.out
            .write_all(if self.empty { b"]\n" } else { b"\n]\n" })
    }
}

impl RowSink for JsonRows<'_> {
    fn columns(&mut self, _columns: &[String]) -> io::Result<()> {
        self.start()
    }

    fn write(&mut self, rendered: &[u8]) -> io::Result<()> {
        self.write_rows(rendered)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.close()
    }
}

/// Pretty JSON with a trailing newline.
pub fn json<T: Serialize + ?Sized>(value: &T) -> io::Result<String> {
    let mut bytes = Vec::new();
    write_json(value, &mut bytes)?;
    String::from_utf8(bytes).map_err(io::Error::other)
}
