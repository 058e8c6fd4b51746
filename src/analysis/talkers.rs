//! Who reached a port: one row per interface, protocol, port, source address and action,
//! sorted by flows, from the `talkers` query's answer.
//!
//! Only traffic that entered the interface counts: an interface's own outbound connections to
//! the same port elsewhere are not visitors.

use std::collections::HashMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;
use serde::ser::SerializeStruct;

use super::ports::ReportWindow;
use super::rows::{Columns, RowError, crossed, earliest};
use crate::flow::protocol_name;
use crate::source::{QueryOutput, Window, format_time_ms};

pub const TEMPLATE: &str = "talkers";

/// One talker as written out (JSON, CSV, the table). A report holds its talkers compactly
/// (see [`TalkersReport`]) and makes these one at a time.
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

/// The talkers of a port, sorted by flows (descending), then bytes, then interface, protocol,
/// port, source and action, so output is stable.
///
/// A busy port has hundreds of thousands of talkers, so each is held in 80 bytes: its texts
/// (interface, protocol, source, action) are numbers into one list where each distinct text is
/// kept once, and its times stay epoch milliseconds until it is written out.
#[derive(Debug, Clone, PartialEq)]
pub struct TalkersReport {
    pub window: ReportWindow,
    talkers: Vec<Talker>,
    texts: Vec<Arc<str>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Talker {
    interface: u32,
    protocol: u32,
    source: u32,
    action: u32,
    /// -1 where the record had none.
    port: i64,
    totals: Totals,
}

impl TalkersReport {
    pub fn len(&self) -> usize {
        self.talkers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.talkers.is_empty()
    }

    /// Every talker, in report order, made as it is read.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = TalkerRow> + '_ {
        self.talkers.iter().map(|t| self.row(t))
    }

    fn text(&self, id: u32) -> String {
        self.texts[id as usize].to_string()
    }

    fn row(&self, t: &Talker) -> TalkerRow {
        t.totals.row(
            self.text(t.interface),
            self.text(t.protocol),
            t.port,
            self.text(t.source),
            self.text(t.action),
        )
    }

    /// The first `top` talkers, and one row summing the rest (if any), for the table.
    pub fn top(&self, top: usize) -> (Vec<TalkerRow>, Option<TalkerRow>) {
        let shown = self.talkers.iter().take(top).map(|t| self.row(t)).collect();
        let rest = self.talkers.get(top..).unwrap_or_default();
        if rest.is_empty() {
            return (shown, None);
        }
        let mut other = Totals::default();
        for t in rest {
            other.add(&t.totals);
        }
        let other = other.row(
            String::new(),
            String::new(),
            -1,
            format!("({} more sources)", rest.len()),
            String::new(),
        );
        (shown, Some(other))
    }
}

/// As `{"window": ..., "rows": [...]}`, each row made as it is written.
impl Serialize for TalkersReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Rows<'a>(&'a TalkersReport);
        impl Serialize for Rows<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.rows())
            }
        }
        let mut s = serializer.serialize_struct("TalkersReport", 2)?;
        s.serialize_field("window", &self.window)?;
        s.serialize_field("rows", &Rows(self))?;
        s.end()
    }
}

/// What a talker (or several) sent; times in epoch milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Totals {
    flows: u64,
    packets: u64,
    bytes: u64,
    first: Option<i64>,
    last: Option<i64>,
}

impl Totals {
    /// These totals written out under the given keys.
    fn row(
        &self,
        interface_id: String,
        protocol: String,
        port: i64,
        srcaddr: String,
        action: String,
    ) -> TalkerRow {
        TalkerRow {
            interface_id,
            protocol,
            port,
            srcaddr,
            action,
            flows: self.flows,
            packets: self.packets,
            bytes: self.bytes,
            first_seen: self.first.map(format_time_ms),
            last_seen: self.last.map(format_time_ms),
        }
    }

    fn add(&mut self, other: &Totals) {
        self.flows += other.flows;
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.first = earliest(self.first, other.first);
        self.last = self.last.max(other.last);
    }
}

/// Each distinct text once, numbered in the order met.
#[derive(Default)]
struct Interner {
    texts: Vec<Arc<str>>,
    ids: FxHashMap<Arc<str>, u32>,
}

impl Interner {
    fn id(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        let id = u32::try_from(self.texts.len()).expect("fewer than 2^32 distinct texts");
        let text: Arc<str> = text.into();
        self.texts.push(Arc::clone(&text));
        self.ids.insert(text, id);
        id
    }
}

/// Keeps the traffic that entered each interface: `flowDirection` ingress, or, without it, to
/// the interface's own address (`own`, from the `ports-addresses` answer); where neither tells,
/// the row is kept. Rows that differ only in direction or destination address merge.
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
    let mut texts = Interner::default();
    let mut talkers: Vec<Talker> = Vec::new();
    // (interface, protocol, port, source, action) to the talker's place in `talkers`.
    let mut places: FxHashMap<(u32, u32, i64, u32, u32), u32> = FxHashMap::default();
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
        let protocol = match cols.int(row, proto)? {
            Some(n) => texts.id(&protocol_name(n)),
            None => texts.id("-"),
        };
        let key = (
            texts.id(interface),
            protocol,
            cols.int(row, port)?.unwrap_or(-1),
            texts.id(cols.text(row.1, src).unwrap_or("-")),
            texts.id(cols.text(row.1, action).unwrap_or("-")),
        );
        let place = *places.entry(key).or_insert_with(|| {
            talkers.push(Talker {
                interface: key.0,
                protocol: key.1,
                port: key.2,
                source: key.3,
                action: key.4,
                totals: Totals::default(),
            });
            u32::try_from(talkers.len() - 1).expect("fewer than 2^32 talkers")
        });
        let (f, l) = (cols.int(row, first)?, cols.int(row, last)?);
        talkers[place as usize].totals.add(&Totals {
            flows: cols.count(row, flows)?,
            packets: cols.count(row, packets)?,
            bytes: cols.count(row, bytes)?,
            first: f,
            last: l,
        });
        if let (Some(f), Some(l)) = (f, l) {
            span = Some(span.map_or((f, l), |(s, e)| (s.min(f), e.max(l))));
        }
        Ok(())
    })?;
    drop(places);
    let Interner { texts, ids } = texts;
    drop(ids);
    talkers.shrink_to_fit();
    let text = |id: u32| &*texts[id as usize];
    talkers.sort_unstable_by(|a, b| {
        b.totals
            .flows
            .cmp(&a.totals.flows)
            .then(b.totals.bytes.cmp(&a.totals.bytes))
            .then_with(|| text(a.interface).cmp(text(b.interface)))
            .then_with(|| text(a.protocol).cmp(text(b.protocol)))
            .then(a.port.cmp(&b.port))
            .then_with(|| text(a.source).cmp(text(b.source)))
            .then_with(|| text(a.action).cmp(text(b.action)))
    });
    Ok(TalkersReport {
        window: ReportWindow::new(window, span),
        talkers,
        texts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Table, Value};

    const COLUMNS: [&str; 12] = [
        "interfaceId",
        "protocol",
        "dstPort",
        "srcAddr",
        "action",
        "dstAddr",
        "flowDirection",
        "flows",
        "packets",
        "bytes",
        "firstSeen",
        "lastSeen",
    ];

    /// A row of the template's answer: interface, source, action, destination, direction,
    /// flows, bytes and times (tcp to port 22, a packet a flow).
    #[allow(clippy::too_many_arguments)]
    fn row(
        eni: &str,
        src: &str,
        action: &str,
        dst: &str,
        direction: Option<&str>,
        flows: i64,
        bytes: i64,
        times: Option<(i64, i64)>,
    ) -> Vec<Value> {
        let text = |t: &str| Value::Str(t.into());
        let time = |t: Option<i64>| t.map_or(Value::Null, Value::Time);
        vec![
            text(eni),
            Value::Int(6),
            Value::Int(22),
            text(src),
            text(action),
            text(dst),
            direction.map_or(Value::Null, text),
            Value::Int(flows),
            Value::Int(flows),
            Value::Int(bytes),
            time(times.map(|t| t.0)),
            time(times.map(|t| t.1)),
        ]
    }

    fn report(rows: Vec<Vec<Value>>, own: &[(&str, &str)]) -> TalkersReport {
        let table = Table {
            columns: COLUMNS.map(String::from).to_vec(),
            rows,
        };
        let own = own
            .iter()
            .map(|(eni, addr)| ((*eni).to_owned(), Some((*addr).to_owned())))
            .collect();
        talkers(&QueryOutput::from(table), &own, Window::default()).unwrap()
    }

    /// Rows that differ only in destination or direction are one talker; traffic an interface
    /// sent is not; talkers come by flows, then bytes, then their keys.
    #[test]
    fn talkers_merge_and_sort() {
        let r = report(
            vec![
                row(
                    "eni-b",
                    "10.0.0.9",
                    "ACCEPT",
                    "10.0.1.5",
                    Some("ingress"),
                    2,
                    100,
                    Some((5_000, 9_000)),
                ),
                row(
                    "eni-a",
                    "10.0.0.7",
                    "ACCEPT",
                    "10.0.1.4",
                    None,
                    3,
                    50,
                    Some((1_000, 2_000)),
                ),
                row(
                    "eni-b",
                    "10.0.0.9",
                    "ACCEPT",
                    "10.0.1.6",
                    Some("ingress"),
                    1,
                    10,
                    Some((4_000, 6_000)),
                ),
                // Sent by eni-b: its flowDirection says so.
                row(
                    "eni-b",
                    "10.0.1.5",
                    "ACCEPT",
                    "10.0.0.9",
                    Some("egress"),
                    50,
                    9_999,
                    None,
                ),
                // Sent by eni-a, which owns 10.0.1.4: without flowDirection, the address says so.
                row(
                    "eni-a", "10.0.1.4", "ACCEPT", "10.0.0.7", None, 40, 9_999, None,
                ),
                row("eni-a", "10.0.0.8", "REJECT", "10.0.1.4", None, 3, 50, None),
                row(
                    "eni-a",
                    "10.0.0.7",
                    "REJECT",
                    "10.0.1.4",
                    None,
                    3,
                    70,
                    Some((3_000, 3_500)),
                ),
            ],
            &[("eni-a", "10.0.1.4")],
        );
        let keys: Vec<(String, String, String, u64, u64)> = r
            .rows()
            .map(|t| (t.interface_id, t.srcaddr, t.action, t.flows, t.bytes))
            .collect();
        let key = |eni: &str, src: &str, action: &str, flows, bytes| {
            (
                eni.to_owned(),
                src.to_owned(),
                action.to_owned(),
                flows,
                bytes,
            )
        };
        assert_eq!(
            keys,
            vec![
                key("eni-b", "10.0.0.9", "ACCEPT", 3, 110),
                key("eni-a", "10.0.0.7", "REJECT", 3, 70),
                key("eni-a", "10.0.0.7", "ACCEPT", 3, 50),
                key("eni-a", "10.0.0.8", "REJECT", 3, 50),
            ]
        );
        let first = r.rows().next().unwrap();
        assert_eq!(first.protocol, "tcp");
        assert_eq!(first.port, 22);
        assert_eq!(first.packets, 3);
        assert_eq!(
            first.first_seen.as_deref(),
            Some("1970-01-01T00:00:04.000Z")
        );
        assert_eq!(first.last_seen.as_deref(), Some("1970-01-01T00:00:09.000Z"));
        assert_eq!(r.len(), 4);
        // JSON as a struct of the window and every row.
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["rows"].as_array().unwrap().len(), 4);
        assert_eq!(json["rows"][0], serde_json::to_value(&first).unwrap());
        assert!(json["window"]["start"].is_string());
    }

    /// The table's last row sums the talkers past the top ones; its times are the earliest and
    /// latest known, whichever talkers have none.
    #[test]
    fn the_rest_is_summed() {
        let r = report(
            vec![
                row(
                    "eni-a",
                    "10.0.0.1",
                    "ACCEPT",
                    "10.0.1.4",
                    None,
                    9,
                    900,
                    Some((1_000, 2_000)),
                ),
                row(
                    "eni-a",
                    "10.0.0.2",
                    "ACCEPT",
                    "10.0.1.4",
                    None,
                    5,
                    500,
                    Some((7_000, 8_000)),
                ),
                row(
                    "eni-a", "10.0.0.3", "ACCEPT", "10.0.1.4", None, 4, 400, None,
                ),
                row(
                    "eni-a",
                    "10.0.0.4",
                    "ACCEPT",
                    "10.0.1.4",
                    None,
                    3,
                    300,
                    Some((6_000, 6_500)),
                ),
            ],
            &[],
        );
        let (shown, rest) = r.top(1);
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].srcaddr, "10.0.0.1");
        let rest = rest.unwrap();
        assert_eq!(rest.srcaddr, "(3 more sources)");
        assert_eq!((rest.flows, rest.packets, rest.bytes), (12, 12, 1_200));
        assert_eq!(rest.first_seen.as_deref(), Some("1970-01-01T00:00:06.000Z"));
        assert_eq!(rest.last_seen.as_deref(), Some("1970-01-01T00:00:08.000Z"));
        let (shown, rest) = r.top(4);
        assert_eq!((shown.len(), rest), (4, None));
    }
}
