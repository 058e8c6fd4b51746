//! Who reached a port: one row per interface, protocol, port, source address and action,
//! sorted by flows, from the `talkers` query's answer.
//!
//! Only traffic that entered the interface counts: an interface's own outbound connections to
//! the same port elsewhere are not visitors.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::ports::ReportWindow;
use super::rows::{Columns, RowError, crossed, earliest};
use crate::flow::protocol_name;
use crate::source::{QueryOutput, Window, format_time_ms};

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
    pub window: ReportWindow,
    pub rows: Vec<TalkerRow>,
}

/// Totals of one talker while rows merge; times in epoch milliseconds.
#[derive(Default)]
struct Totals {
    flows: u64,
    packets: u64,
    bytes: u64,
    first: Option<i64>,
    last: Option<i64>,
}

/// Keeps the traffic that entered each interface: `flowDirection` ingress, or, without it, to
/// the interface's own address (`own`, from the `ports-addresses` answer); where neither tells,
/// the row is kept. Rows that differ only in direction or destination address merge. Sorted by
/// flows (descending), then bytes, then the keys, so output is stable.
pub fn talkers(
    answer: &QueryOutput,
    own: &HashMap<String, Option<String>>,
    window: Window,
) -> Result<TalkersReport, RowError> {
    let cols = Columns::new(TEMPLATE, answer);
    let c = |n| cols.col(n);
    let (iface, proto, port, src, action, dst, direction) = (
        c("interfaceId")?,
        c("protocol")?,
        c("dstPort")?,
        c("srcAddr")?,
        c("action")?,
        c("dstAddr")?,
        c("flowDirection")?,
    );
    let (flows, packets, bytes, first, last) = (
        c("flows")?,
        c("packets")?,
        c("bytes")?,
        c("firstSeen")?,
        c("lastSeen")?,
    );
    let mut talkers: BTreeMap<(String, String, i64, String, String), Totals> = BTreeMap::new();
    let mut span: Option<(i64, i64)> = None;
    cols.try_for_each(|row| {
        let interface = cols.text(row.1, iface).unwrap_or("-");
        let own: Vec<&str> = own
            .get(interface)
            .and_then(Option::as_deref)
            .into_iter()
            .collect();
        let inbound = crossed(
            cols.text(row.1, direction),
            "ingress",
            cols.text(row.1, dst),
            &own,
        )
        .unwrap_or(true);
        if !inbound {
            return Ok(());
        }
        let key = (
            interface.to_owned(),
            cols.int(row, proto)?
                .map_or_else(|| "-".to_owned(), protocol_name),
            cols.int(row, port)?.unwrap_or(-1),
            cols.text(row.1, src).unwrap_or("-").to_owned(),
            cols.text(row.1, action).unwrap_or("-").to_owned(),
        );
        let t = talkers.entry(key).or_default();
        t.flows += cols.count(row, flows)?;
        t.packets += cols.count(row, packets)?;
        t.bytes += cols.count(row, bytes)?;
        let (f, l) = (cols.int(row, first)?, cols.int(row, last)?);
        t.first = earliest(t.first, f);
        t.last = t.last.max(l);
        if let (Some(f), Some(l)) = (f, l) {
            span = Some(span.map_or((f, l), |(s, e)| (s.min(f), e.max(l))));
        }
        Ok(())
    })?;
    let mut rows: Vec<TalkerRow> = talkers
        .into_iter()
        .map(
            |((interface_id, protocol, port, srcaddr, action), t)| TalkerRow {
                interface_id,
                protocol,
                port,
                srcaddr,
                action,
                flows: t.flows,
                packets: t.packets,
                bytes: t.bytes,
                first_seen: t.first.map(format_time_ms),
                last_seen: t.last.map(format_time_ms),
            },
        )
        .collect();
    // The map gave key order; a stable sort keeps it among equal counts.
    rows.sort_by(|a, b| b.flows.cmp(&a.flows).then(b.bytes.cmp(&a.bytes)));
    Ok(TalkersReport {
        window: ReportWindow::new(window, span),
        rows,
    })
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
