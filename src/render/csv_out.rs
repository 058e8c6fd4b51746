//! CSV for scripts: a header row, then one row per result row or per rule.

use std::fmt::Write as _;

use crate::analysis::ports::PortsReport;
use crate::source::{QueryOutput, Table, Value};

fn finish(writer: csv::Writer<Vec<u8>>) -> Result<String, csv::Error> {
    let bytes = writer.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub fn query_csv(table: &Table) -> Result<String, csv::Error> {
    let mut bytes = Vec::new();
    let mut w = RowWriter::new(&mut bytes, Some(&table.columns))?;
    for row in &table.rows {
        w.row(row)?;
    }
    w.finish()?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Writes an answer as CSV as it goes: its rows are rendered a run at a time (in parallel for
/// a streamed answer), so an answer of millions of rows is never held twice. Errors are I/O
/// errors as they are, so a closed pipe stays recognizable.
pub fn write_query_csv(output: &QueryOutput, mut out: impl std::io::Write) -> std::io::Result<()> {
    let header = RowWriter::new(&mut out, Some(&output.table.columns)).and_then(RowWriter::finish);
    let written = header.and_then(|()| {
        output.try_for_each_rendered(
            |rows| {
                let mut bytes = Vec::new();
                let mut w = RowWriter::new(&mut bytes, None)?;
                for row in rows {
                    w.row(row)?;
                }
                w.finish()?;
                Ok(bytes)
            },
            |bytes| out.write_all(bytes).map_err(csv::Error::from),
        )
    });
    written.map_err(|e| match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    })
}

/// Rows of values (after a header, if given), with no allocation a value.
struct RowWriter<W: std::io::Write> {
    w: csv::Writer<W>,
    field: String,
    digits: itoa::Buffer,
}

impl<W: std::io::Write> RowWriter<W> {
    fn new(out: W, columns: Option<&[String]>) -> Result<Self, csv::Error> {
        let mut w = csv::Writer::from_writer(out);
        if let Some(columns) = columns {
            w.write_record(columns)?;
        }
        Ok(RowWriter {
            w,
            field: String::new(),
            digits: itoa::Buffer::new(),
        })
    }

    fn row(&mut self, row: &[Value]) -> Result<(), csv::Error> {
        for value in row {
            match value {
                Value::Int(n) => self.w.write_field(self.digits.format(*n))?,
                Value::Str(s) => self.w.write_field(s.as_bytes())?,
                Value::Null => self.w.write_field("")?,
                other => {
                    self.field.clear();
                    let _ = write!(self.field, "{other}");
                    self.w.write_field(&self.field)?;
                }
            }
        }
        self.w.write_record(None::<&[u8]>)
    }

    fn finish(mut self) -> Result<(), csv::Error> {
        self.w.flush()?;
        Ok(())
    }
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
