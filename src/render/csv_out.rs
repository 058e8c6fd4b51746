//! CSV for scripts: a header row, then one row per result row or per rule.

use std::fmt::Write as _;

use crate::analysis::ports::PortsReport;
use crate::source::{QueryOutput, RowSink, Table, Value};

fn finish(writer: csv::Writer<Vec<u8>>) -> Result<String, csv::Error> {
    let bytes = writer.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub fn query_csv(table: &Table) -> Result<String, csv::Error> {
    let mut w = RowWriter::default();
    w.header(&table.columns);
    for row in &table.rows {
        w.row(row);
    }
    Ok(String::from_utf8_lossy(&w.out).into_owned())
}

/// Writes an answer as CSV as it goes: its rows are rendered a run at a time (in parallel for
/// a streamed answer), so an answer of millions of rows is never held twice. Errors are I/O
/// errors as they are, so a closed pipe stays recognizable.
pub fn write_query_csv(output: &QueryOutput, mut out: impl std::io::Write) -> std::io::Result<()> {
    let mut header = RowWriter::default();
    header.header(&output.table.columns);
    out.write_all(&header.out)?;
    output.try_for_each_rendered(|rows| csv_rows(&[], rows), |bytes| out.write_all(bytes))
}

/// Rows as CSV lines (the columns are the header's, written apart): what `CsvRows` writes.
pub fn csv_rows(
    _columns: &[String],
    rows: &mut dyn Iterator<Item = &[Value]>,
) -> std::io::Result<Vec<u8>> {
    let mut w = RowWriter::default();
    for row in rows {
        w.row(row);
    }
    Ok(w.out)
}

/// Rows written as CSV as they come, after a header row (see `write_query_csv`): the sink of
/// a run that writes its rows as it reads them.
pub struct CsvRows<W> {
    out: W,
}

impl<W: std::io::Write> CsvRows<W> {
    pub fn new(out: W) -> Self {
        CsvRows { out }
    }
}

impl<W: std::io::Write> RowSink for CsvRows<W> {
    fn columns(&mut self, columns: &[String]) -> std::io::Result<()> {
        let mut header = RowWriter::default();
        header.header(columns);
        self.out.write_all(&header.out)
    }

    fn write(&mut self, rendered: &[u8]) -> std::io::Result<()> {
        self.out.write_all(rendered)
    }

    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Rows of values as CSV, into a buffer, byte for byte as the `csv` crate's default writer
/// writes them (which the other reports use): a field is quoted only when it holds a comma, a
/// quote, CR or LF, its quotes doubled; a row of one empty field is `""`, so that it is not
/// an empty line; rows end with LF. Integers and texts, nearly all of an answer, go straight
/// to the buffer, with no allocation.
#[derive(Default)]
struct RowWriter {
    out: Vec<u8>,
    field: String,
    digits: itoa::Buffer,
}

impl RowWriter {
    fn header(&mut self, columns: &[String]) {
        self.fields(columns.iter().map(|c| c.as_bytes()));
    }

    fn row(&mut self, row: &[Value]) {
        let start = self.out.len();
        for (i, value) in row.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            match value {
                Value::Int(n) => self
                    .out
                    .extend_from_slice(self.digits.format(*n).as_bytes()),
                Value::Str(s) => field(&mut self.out, s.as_bytes()),
                Value::Null => {}
                other => {
                    self.field.clear();
                    let _ = write!(self.field, "{other}");
                    field(&mut self.out, self.field.as_bytes());
                }
            }
        }
        self.end_row(start);
    }

    fn fields<'a>(&mut self, fields: impl Iterator<Item = &'a [u8]>) {
        let start = self.out.len();
        for (i, bytes) in fields.enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            field(&mut self.out, bytes);
        }
        self.end_row(start);
    }

    fn end_row(&mut self, start: usize) {
        if self.out.len() == start {
            self.out.extend_from_slice(b"\"\"");
        }
        self.out.push(b'\n');
    }
}

/// Appends one field, quoted when it must be.
fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    if !bytes
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(b'"');
    for part in bytes.split_inclusive(|&b| b == b'"') {
        out.extend_from_slice(part);
        if part.ends_with(b"\"") {
            out.push(b'"');
        }
    }
    out.push(b'"');
}

/// One row per rule; an infeasible entry is one row with empty ports and its hint.
pub fn ports_csv(report: &PortsReport) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "interface_id",
        "protocol",
        "from_port",
        "to_port",
        "unused_ports",
        "feasible",
        "hint_max_rules",
        "hint_max_open_ports",
    ])?;
    for e in &report.interfaces {
        if e.rules.is_empty() {
            let (r, o) = e.hint.as_ref().map_or((String::new(), String::new()), |h| {
                (h.max_rules.to_string(), h.max_open_ports.to_string())
            });
            w.write_record([
                e.interface_id.as_str(),
                e.protocol.as_str(),
                "",
                "",
                "",
                if e.feasible { "true" } else { "false" },
                &r,
                &o,
            ])?;
        }
        for rule in &e.rules {
            w.write_record([
                e.interface_id.clone(),
                e.protocol.clone(),
                rule.from_port.to_string(),
                rule.to_port.to_string(),
                rule.unused_ports.to_string(),
                e.feasible.to_string(),
                String::new(),
                String::new(),
            ])?;
        }
    }
    finish(w)
}

/// Writes the talkers as CSV as it goes: a report can hold hundreds of thousands of rows.
/// Errors are I/O errors as they are, so a closed pipe stays recognizable.
pub fn write_talkers_csv(
    report: &crate::analysis::talkers::TalkersReport,
    out: impl std::io::Write,
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    talkers_rows(report, &mut w)
        .and_then(|()| w.flush().map_err(csv::Error::from))
        .map_err(|e| match e.into_kind() {
            csv::ErrorKind::Io(io) => io,
            other => std::io::Error::other(format!("{other:?}")),
        })
}

fn talkers_rows<W: std::io::Write>(
    report: &crate::analysis::talkers::TalkersReport,
    w: &mut csv::Writer<W>,
) -> Result<(), csv::Error> {
    for row in report.rows() {
        w.serialize(row)?;
    }
    if report.is_empty() {
        w.write_record([
            "interface_id",
            "protocol",
            "port",
            "srcaddr",
            "action",
            "flows",
            "packets",
            "bytes",
            "first_seen",
            "last_seen",
        ])?;
    }
    Ok(())
}

pub fn outbound_csv(
    report: &crate::analysis::outbound::OutboundReport,
) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "interface_id",
        "kind",
        "protocol",
        "destination",
        "port",
        "action",
        "flows",
        "packets",
        "bytes",
        "first_seen",
        "last_seen",
        "reason",
    ])?;
    for f in &report.findings {
        w.write_record([
            f.interface_id.clone(),
            f.kind.to_owned(),
            f.protocol.clone(),
            f.destination.clone(),
            f.port.map_or_else(String::new, |p| p.to_string()),
            f.action.clone(),
            f.flows.to_string(),
            f.packets.to_string(),
            f.bytes.to_string(),
            f.first_seen.clone().unwrap_or_default(),
            f.last_seen.clone().unwrap_or_default(),
            f.reason.clone(),
        ])?;
    }
    finish(w)
}

pub fn rules_csv(report: &crate::analysis::rules::RulesReport) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "group_id",
        "protocol",
        "from_port",
        "to_port",
        "source",
        "kind",
        "flows",
        "source_count",
        "ports",
        "suggested_sources",
        "suggested_ports",
        "reason",
    ])?;
    let opt = |v: Option<i32>| v.map_or_else(String::new, |p| p.to_string());
    for f in &report.findings {
        let s = f.suggestion.clone().unwrap_or_default();
        w.write_record([
            f.group_id.clone(),
            f.rule.protocol.clone(),
            opt(f.rule.from_port),
            opt(f.rule.to_port),
            f.rule.source.clone(),
            f.kind.to_owned(),
            f.observed.flows.to_string(),
            f.observed.source_count.to_string(),
            f.observed
                .ports
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            s.sources.unwrap_or_default().join(" "),
            s.port_ranges
                .unwrap_or_default()
                .iter()
                .map(|r| format!("{}:{}-{}", r.protocol, r.from_port, r.to_port))
                .collect::<Vec<_>>()
                .join(" "),
            f.reason.clone(),
        ])?;
    }
    finish(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::Int),
            any::<f64>().prop_map(Value::Float),
            (-1i64 << 40..1 << 40).prop_map(Value::Time),
            "[a,\"\r\n x-]{0,6}".prop_map(|s| Value::Str(s.into())),
        ]
    }

    proptest! {
        /// Rows come out byte for byte as the `csv` crate writes them: quoting, doubled
        /// quotes, empty fields and rows of one empty field included.
        #[test]
        fn rows_are_written_as_the_csv_crate_writes_them(
            columns in proptest::collection::vec("[a,\" ]{0,3}", 1..4),
            rows in proptest::collection::vec(proptest::collection::vec(value(), 4), 0..6),
        ) {
            let width = columns.len();
            let rows: Vec<Vec<Value>> =
                rows.into_iter().map(|r| r[..width].to_vec()).collect();
            let table = Table { columns: columns.clone(), rows: rows.clone() };
            let mut expected = csv::Writer::from_writer(Vec::new());
            expected.write_record(&columns).unwrap();
            for row in &rows {
                expected
                    .write_record(row.iter().map(|v| match v {
                        Value::Null => String::new(),
                        other => other.to_string(),
                    }))
                    .unwrap();
            }
            let expected = String::from_utf8(expected.into_inner().unwrap()).unwrap();
            prop_assert_eq!(query_csv(&table).unwrap(), expected);
        }
    }
}
