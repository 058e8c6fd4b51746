//! CSV for scripts: a header row, then one row per result row or per rule.

use crate::analysis::ports::PortsReport;
use crate::source::Table;

fn finish(writer: csv::Writer<Vec<u8>>) -> Result<String, csv::Error> {
    let bytes = writer.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub fn query_csv(table: &Table) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&table.columns)?;
    for row in &table.rows {
        w.write_record(row.iter().map(ToString::to_string))?;
    }
    finish(w)
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
