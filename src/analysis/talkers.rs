//! Who reached a port: one row per interface, protocol, port, source address and action,
//! sorted by flows, from the `talkers` query's answer.

use serde::Serialize;

use super::rows::{Columns, RowError};
use crate::flow::protocol_name;
use crate::source::{Table, format_time_ms};

pub const TEMPLATE: &str = "talkers";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TalkerRow {
    pub interface_id: String,
    pub protocol: String,
    pub port: i64,
    pub srcaddr: String,
    pub action: String,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TalkersReport {
    pub window: super::ports::ReportWindow,
    pub rows: Vec<TalkerRow>,
}

/// Reads the rows, sorted by flows (descending), then bytes, then the keys, so output is stable.
pub fn talkers(table: &Table, window: crate::source::Window) -> Result<TalkersReport, RowError> {
    let cols = Columns::new(TEMPLATE, table);
    let c = |n| cols.col(n);
    let (iface, proto, port, src, action) = (
        c("interfaceId")?,
        c("protocol")?,
        c("dstPort")?,
        c("srcAddr")?,
        c("action")?,
    );
    let (flows, packets, bytes, first, last) = (
        c("flows")?,
        c("packets")?,
        c("bytes")?,
        c("firstSeen")?,
        c("lastSeen")?,
    );
    let mut rows = Vec::new();
    for row in cols.rows() {
        rows.push(TalkerRow {
            interface_id: cols.text(row.1, iface).unwrap_or("-").to_owned(),
            protocol: cols
                .int(row, proto)?
                .map_or_else(|| "-".to_owned(), protocol_name),
            port: cols.int(row, port)?.unwrap_or(-1),
            srcaddr: cols.text(row.1, src).unwrap_or("-").to_owned(),
            action: cols.text(row.1, action).unwrap_or("-").to_owned(),
            flows: cols.count(row, flows)?,
            packets: cols.count(row, packets)?,
            bytes: cols.count(row, bytes)?,
            first_seen: cols.int(row, first)?.map(format_time_ms),
            last_seen: cols.int(row, last)?.map(format_time_ms),
        });
    }
    let mut span: Option<(i64, i64)> = None;
    for row in cols.rows() {
        if let (Some(f), Some(l)) = (cols.int(row, first)?, cols.int(row, last)?) {
            span = Some(span.map_or((f, l), |(s, e)| (s.min(f), e.max(l))));
        }
    }
    let window = super::ports::ReportWindow::new(window, span);
    rows.sort_by(|a, b| {
        b.flows
            .cmp(&a.flows)
            .then(b.bytes.cmp(&a.bytes))
            .then_with(|| {
                (&a.interface_id, &a.protocol, a.port, &a.srcaddr, &a.action).cmp(&(
                    &b.interface_id,
                    &b.protocol,
                    b.port,
                    &b.srcaddr,
                    &b.action,
                ))
            })
    });
    Ok(TalkersReport { window, rows })
}

/// The first `top` rows and the sum of the rest, for the table.
pub fn top(rows: &[TalkerRow], top: usize) -> (&[TalkerRow], Option<TalkerRow>) {
    if rows.len() <= top {
        return (rows, None);
    }
    let (shown, rest) = rows.split_at(top);
    let mut other = TalkerRow {
        interface_id: String::new(),
        protocol: String::new(),
        port: -1,
        srcaddr: format!("({} more sources)", rest.len()),
        action: String::new(),
        flows: 0,
        packets: 0,
        bytes: 0,
        first_seen: None,
        last_seen: None,
    };
    for r in rest {
        other.flows += r.flows;
        other.packets += r.packets;
        other.bytes += r.bytes;
        if other.first_seen.is_none() || r.first_seen < other.first_seen {
            other.first_seen.clone_from(&r.first_seen);
        }
        if r.last_seen > other.last_seen {
            other.last_seen.clone_from(&r.last_seen);
        }
    }
    (shown, Some(other))
}
