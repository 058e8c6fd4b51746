//! Service ports and least-privilege inbound rules per interface and protocol.
//!
//! A port is a service port of an interface when accepted inbound traffic reached it and the
//! interface did not start that connection. Flow logs record both legs of every connection,
//! so the replies to an interface's own outbound connections arrive inbound at its ephemeral
//! ports; those must never become allow rules. Evidence, strongest first:
//!
//! 1. TCP flags (v3+): flags are ORed over the capture window; a record carrying SYN without
//!    ACK comes from the initiator, one carrying SYN-ACK (18) from the responder
//!    (https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html, `tcp-flags`).
//! 2. Direction: `flow-direction` (v5+) where present, else the interface's own address,
//!    the one address on one side of nearly every record of the interface.
//! 3. Diversity: a server port sees many peer ports (each client connection picks a new
//!    ephemeral port); a client's ephemeral port sees one peer port, the server's.
//! 4. Ranges: well-known ports (< 1024) versus the ephemeral range (32768-65535 covers the
//!    Linux 32768-60999 and Windows 49152-65535 defaults).
//!
//! Ports no rule decides are reported as uncertain, never allowed. REJECTed traffic is left
//! out by the query. Protocols without ports (ICMP, GRE, ...) are decided per protocol.

use std::collections::{BTreeMap, HashMap};

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::optimizer::{Constraints, Plan, PortRange, optimize_ranges, unused_runs};
use super::rows::{Columns, RowError, crossed, earliest};
use crate::flow::protocol_name;
use crate::source::{QueryOutput, Window, format_time_ms, format_time_s};

/// The queries `ports` asks, by template name.
pub const INBOUND_TEMPLATE: &str = "ports-inbound";
pub const ADDRESSES_TEMPLATE: &str = "ports-addresses";
pub const REPLIES_TEMPLATE: &str = "ports-replies";

const TCP: i64 = 6;
const UDP: i64 = 17;
const SCTP: i64 = 132;
const FIN: i64 = 1;
const SYN: i64 = 2;
/// A SYN record with no FIN and at most this many packets per flow is a connection attempt,
/// not evidence of a service.
const PROBE_PACKETS: u64 = 3;
const SYN_ACK: i64 = 18;
const EPHEMERAL_START: i64 = 32768;
const WELL_KNOWN_END: i64 = 1024;
/// A peer port that is the only peer port of this many of an interface's ports is a service.
const SHARED_PEER_PORT: usize = 3;

#[derive(Debug, Clone)]
pub struct PortsOptions {
    pub constraints: Constraints,
    /// Only these interfaces; empty for all.
    pub interfaces: Vec<String>,
    pub window: Window,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PortsReport {
    pub window: ReportWindow,
    pub constraints: ConstraintsOut,
    pub interfaces: Vec<InterfacePorts>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReportWindow {
    pub start: Option<String>,
    pub end: Option<String>,
}

impl ReportWindow {
    /// The window asked for; where it is open, the span of the data (epoch milliseconds).
    pub fn new(window: Window, span: Option<(i64, i64)>) -> Self {
        ReportWindow {
            start: window
                .start_s
                .map(format_time_s)
                .or_else(|| span.map(|(s, _)| format_time_ms(s))),
            end: window
                .end_s
                .map(format_time_s)
                .or_else(|| span.map(|(_, e)| format_time_ms(e))),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConstraintsOut {
    pub max_rules: usize,
    pub max_open_ports: u32,
}

/// One allow rule. Ports are -1 for a rule over a whole protocol without ports (ICMP), as
/// security groups write it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Rule {
    pub from_port: i32,
    pub to_port: i32,
    pub unused_ports: u32,
}

impl From<PortRange> for Rule {
    fn from(r: PortRange) -> Self {
        Rule {
            from_port: i32::from(r.from_port),
            to_port: i32::from(r.to_port),
            unused_ports: r.unused_ports,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Hint {
    /// The fewest rules that work at this --max-open-ports.
    pub max_rules: usize,
    /// The smallest --max-open-ports that works at this --max-rules.
    pub max_open_ports: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Uncertain {
    /// `null` for a protocol without ports.
    pub port: Option<u16>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InterfacePorts {
    pub interface_id: String,
    pub protocol: String,
    pub service_ports: Vec<u16>,
    pub feasible: bool,
    pub rules: Vec<Rule>,
    pub unused_port_count: u32,
    pub unused_ranges: Vec<[u16; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<Hint>,
    pub uncertain_ports: Vec<Uncertain>,
    /// Ports that received only replies to the interface's own connections.
    pub client_ports_ignored: usize,
    /// Flows that were replies to the interface's own connections (left out of the evidence).
    pub reply_flows_ignored: u64,
    pub own_address: Option<String>,
    pub flows: u64,
}

/// What the inbound query says about one destination port of one interface.
#[derive(Debug, Default, Clone)]
struct Evidence {
    flows: u64,
    syn_flows: u64,
    /// SYN records that look like scans: no FIN, a few packets.
    probe_flows: u64,
    /// How many of the interface's ports (same protocol) have this port's one peer port as
    /// their only peer port.
    shared_peer_port: usize,
    synack_flows: u64,
    peers: u64,
    peer_ports: u64,
    min_peer_port: Option<i64>,
    max_peer_port: Option<i64>,
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Service,
    Client,
    Uncertain(String),
}

/// Decides whether a port that received accepted inbound traffic served it.
fn decide(protocol: i64, port: i64, e: &Evidence) -> Verdict {
    if protocol == TCP {
        if e.syn_flows > 0 {
            return Verdict::Service;
        }
        if e.synack_flows > 0 {
            return Verdict::Client;
        }
        if e.probe_flows > 0 {
            // Only SYNs of at most a few packets that never closed: scans, or connections a
            // closed port refused. Nothing shows the port served anything.
            return Verdict::Uncertain(format!(
                "only {} connection attempt(s) (SYN without FIN, {PROBE_PACKETS} packets or fewer) reached it",
                e.probe_flows
            ));
        }
    }
    // The replies to an interface's own connections reach its ephemeral ports from the
    // servers' ports; a reused ephemeral port sees several of those. Many peer ports mean many
    // clients only when the peer ports are themselves ephemeral.
    if port >= EPHEMERAL_START && e.max_peer_port.is_some_and(|p| p < EPHEMERAL_START) {
        return Verdict::Client;
    }
    if e.peer_ports >= 2 {
        return Verdict::Service;
    }
    let Some(peer_port) = e
        .min_peer_port
        .filter(|_| e.min_peer_port == e.max_peer_port)
    else {
        return Verdict::Uncertain("no peer port recorded".to_owned());
    };
    let ephemeral = |p: i64| p >= EPHEMERAL_START;
    let well_known = |p: i64| p < WELL_KNOWN_END;
    if port == peer_port {
        return Verdict::Uncertain(format!(
            "one peer port, {peer_port}, the same as this port: either side may have started"
        ));
    }
    // One peer port answering many of this interface's ports is the peer's service (a server
    // on a high port, such as gRPC on 50051, answering the interface's connections).
    if ephemeral(port) && e.shared_peer_port >= SHARED_PEER_PORT {
        return Verdict::Client;
    }
    if well_known(port) && !well_known(peer_port) {
        return Verdict::Service;
    }
    if well_known(peer_port) && !well_known(port) {
        return Verdict::Client;
    }
    if ephemeral(port) && !ephemeral(peer_port) {
        return Verdict::Client;
    }
    if ephemeral(peer_port) && !ephemeral(port) {
        return Verdict::Service;
    }
    let peers = if e.peers > 1 {
        "several peers"
    } else {
        "one peer"
    };
    let class = |p: i64| {
        if well_known(p) {
            "well-known"
        } else if ephemeral(p) {
            "ephemeral"
        } else {
            "registered"
        }
    };
    Verdict::Uncertain(format!(
        "only peer port {peer_port} ({}) from {peers}, to this {} port: nothing tells which side started",
        class(peer_port),
        class(port)
    ))
}

/// How an interface's inbound records are recognized.
#[derive(Debug, Clone, PartialEq)]
enum Own {
    Address(String),
    /// Two addresses appear equally often and nothing tells them apart.
    Ambiguous(String, String),
    Unknown,
}

fn is_private(addr: &str) -> bool {
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            v4.is_private() || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        Ok(std::net::IpAddr::V6(v6)) => (v6.segments()[0] & 0xfe00) == 0xfc00,
        Err(_) => false,
    }
}

/// The interface's own address: the one in the most records. On a tie, a private address
/// beats a public one (flow logs record the interface's private address); otherwise it is
/// ambiguous.
/// Each interface's own address, and the span of the data's timestamps in milliseconds.
type Owners = (HashMap<String, Own>, Option<(i64, i64)>);

fn own_addresses(cols: Columns<'_>) -> Result<Owners, RowError> {
    let (iface, src, dst, flows) = (
        cols.col("interfaceId")?,
        cols.col("srcAddr")?,
        cols.col("dstAddr")?,
        cols.col("flows")?,
    );
    let (first, last) = (cols.col("firstSeen")?, cols.col("lastSeen")?);
    let mut own = HashMap::new();
    // One interface's flows per address at a time: an interface's rows come together, and
    // its verdict is made when the next interface starts (an answer holds every address pair
    // of every interface, which can be millions).
    let mut current: Option<(String, FxHashMap<String, u64>)> = None;
    let mut span: Option<(i64, i64)> = None;
    cols.try_for_each_grouped(iface, |row| {
        let Some(interface) = cols.text(row.1, iface) else {
            return Ok(());
        };
        let n = cols.count(row, flows)?;
        if current.as_ref().is_none_or(|(name, _)| name != interface)
            && let Some((name, per)) = current.replace((interface.to_owned(), FxHashMap::default()))
        {
            own.insert(name, own_verdict(per));
        }
        let Some((_, per)) = current.as_mut() else {
            return Ok(());
        };
        let (a, b) = (cols.text(row.1, src), cols.text(row.1, dst));
        for addr in [a, b].into_iter().flatten() {
            // Most rows name addresses seen before: looked up without making a String.
            match per.get_mut(addr) {
                Some(count) => *count += n,
                None => {
                    per.insert(addr.to_owned(), n);
                }
            }
        }
        if a.is_some() && a == b {
            // An address talking to itself counts once.
            if let Some(c) = a.and_then(|a| per.get_mut(a)) {
                *c -= n;
            }
        }
        if let (Some(f), Some(l)) = (cols.int(row, first)?, cols.int(row, last)?) {
            span = Some(span.map_or((f, l), |(s, e)| (s.min(f), e.max(l))));
        }
        Ok(())
    })?;
    if let Some((name, per)) = current {
        own.insert(name, own_verdict(per));
    }
    Ok((own, span))
}

/// The interface's own address from its flows per address (see `own_addresses`).
fn own_verdict(per: FxHashMap<String, u64>) -> Own {
    let mut ranked: Vec<(String, u64)> = per.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    match ranked.as_slice() {
        [] => Own::Unknown,
        [(a, _)] => Own::Address(a.clone()),
        [(a, na), (b, nb), ..] if na == nb => match (is_private(a), is_private(b)) {
            (true, false) => Own::Address(a.clone()),
            (false, true) => Own::Address(b.clone()),
            _ => Own::Ambiguous(a.clone(), b.clone()),
        },
        [(a, _), ..] => Own::Address(a.clone()),
    }
}

/// Each interface's own address from the `ports-addresses` answer; `None` where it cannot be
/// told (two addresses in every record, or no records).
pub fn interface_addresses(
    addresses: &QueryOutput,
) -> Result<HashMap<String, Option<String>>, RowError> {
    let (own, _) = own_addresses(Columns::new(ADDRESSES_TEMPLATE, addresses))?;
    Ok(own
        .into_iter()
        .map(|(interface, own)| match own {
            Own::Address(a) => (interface, Some(a)),
            Own::Ambiguous(..) | Own::Unknown => (interface, None),
        })
        .collect())
}

/// The addresses that may be the interface's own: one, two when ambiguous, none when unknown.
fn own_list(own: Option<&Own>) -> Vec<&str> {
    match own {
        Some(Own::Address(a)) => vec![a.as_str()],
        Some(Own::Ambiguous(a, b)) => vec![a.as_str(), b.as_str()],
        Some(Own::Unknown) | None => Vec::new(),
    }
}

type PortKey = (String, i64, i64);

/// Reads the inbound query's rows into evidence per interface, protocol and port, keeping
/// only records that entered the interface.
/// What the inbound query says, per interface: evidence per port, flows sent per protocol,
/// and ports whose direction rests on an ambiguous own address.
struct Inbound {
    evidence: BTreeMap<PortKey, Evidence>,
    outbound: BTreeMap<(String, i64), u64>,
    ambiguous: HashMap<PortKey, String>,
}

fn inbound_evidence(cols: Columns<'_>, own: &HashMap<String, Own>) -> Result<Inbound, RowError> {
    let c = |name| cols.col(name);
    let (iface, proto, dst, port) = (
        c("interfaceId")?,
        c("protocol")?,
        c("dstAddr")?,
        c("dstPort")?,
    );
    let (direction, flags, flows) = (c("flowDirection")?, c("tcpFlags")?, c("flows")?);
    let packets_col = c("packets")?;
    let (min_peer_addr, max_peer_addr) = (c("minPeer")?, c("maxPeer")?);
    let (min_peer, max_peer) = (c("minPeerPort")?, c("maxPeerPort")?);
    let mut evidence: BTreeMap<PortKey, Evidence> = BTreeMap::new();
    // Flows leaving the interface per protocol: for protocols without ports, traffic going out
    // means inbound traffic may be replies.
    let mut outbound: BTreeMap<(String, i64), u64> = BTreeMap::new();
    let mut ambiguous: HashMap<PortKey, String> = HashMap::new();
    cols.try_for_each(|row| {
        let (Some(interface), Some(protocol)) = (cols.text(row.1, iface), cols.int(row, proto)?)
        else {
            return Ok(());
        };
        let n = cols.count(row, flows)?;
        let to = cols.text(row.1, dst);
        let inbound = crossed(
            cols.text(row.1, direction),
            "ingress",
            to,
            &own_list(own.get(interface)),
        )
        .unwrap_or(false);
        let has_ports = matches!(protocol, TCP | UDP | SCTP);
        let port_number = if has_ports {
            cols.int(row, port)?.unwrap_or(0)
        } else {
            -1
        };
        if !inbound {
            *outbound
                .entry((interface.to_owned(), protocol))
                .or_default() += n;
            return Ok(());
        }
        let key = (interface.to_owned(), protocol, port_number);
        if let (None, Some(Own::Ambiguous(a, b))) =
            (cols.text(row.1, direction), own.get(interface))
        {
            ambiguous.insert(
                key.clone(),
                format!("the interface's own address is {a} or {b}: both appear in every record; its direction cannot be told"),
            );
        }
        let e = evidence.entry(key).or_default();
        e.flows += n;
        if let Some(f) = cols.int(row, flags)? {
            let packets = cols.count(row, packets_col)?;
            let completed = f & FIN != 0 || packets > PROBE_PACKETS * n;
            if f & SYN_ACK == SYN && completed {
                e.syn_flows += n;
            } else if f & SYN_ACK == SYN {
                e.probe_flows += n;
            } else if f & SYN_ACK == SYN_ACK {
                e.synack_flows += n;
            }
        }
        // Min and max tell one from several, which is all the decision needs, in constant memory.
        let several_peers = cols.text(row.1, min_peer_addr) != cols.text(row.1, max_peer_addr);
        e.peers = e.peers.max(if several_peers { 2 } else { 1 });
        e.peer_ports = e.peer_ports.max(1);
        let (lo, hi) = (cols.int(row, min_peer)?, cols.int(row, max_peer)?);
        e.min_peer_port = earliest(e.min_peer_port, lo);
        e.max_peer_port = e.max_peer_port.max(hi);
        if e.min_peer_port != e.max_peer_port {
            e.peer_ports = e.peer_ports.max(2);
        }
        Ok(())
    })?;
    Ok(Inbound {
        evidence,
        outbound,
        ambiguous,
    })
}

/// The flows of replies to each interface's own connections, per interface and protocol name.
fn reply_flows(
    cols: Columns<'_>,
    own: &HashMap<String, Own>,
) -> Result<HashMap<(String, String), u64>, RowError> {
    let (iface, proto, dst, direction, flows) = (
        cols.col("interfaceId")?,
        cols.col("protocol")?,
        cols.col("dstAddr")?,
        cols.col("flowDirection")?,
        cols.col("flows")?,
    );
    // Per interface, then protocol number: a row's interface is looked up without making a
    // String (an answer has a row per reply destination, which can be hundreds of thousands).
    let mut per: FxHashMap<String, BTreeMap<i64, u64>> = FxHashMap::default();
    cols.try_for_each(|row| {
        let (Some(interface), Some(protocol)) = (cols.text(row.1, iface), cols.int(row, proto)?)
        else {
            return Ok(());
        };
        // An ambiguous own address cannot tell replies apart: count them all.
        let own: &[&str] = match own.get(interface) {
            Some(Own::Address(a)) => &[a.as_str()],
            _ => &[],
        };
        let inbound = crossed(
            cols.text(row.1, direction),
            "ingress",
            cols.text(row.1, dst),
            own,
        )
        .unwrap_or(true);
        if inbound {
            let n = cols.count(row, flows)?;
            let protocols = match per.get_mut(interface) {
                Some(protocols) => protocols,
                None => per.entry(interface.to_owned()).or_default(),
            };
            *protocols.entry(protocol).or_default() += n;
        }
        Ok(())
    })?;
    let mut out = HashMap::new();
    for (interface, protocols) in per {
        for (protocol, n) in protocols {
            // Two numbers never share a name, so no count is added to another's.
            *out.entry((interface.clone(), protocol_name(protocol)))
                .or_default() += n;
        }
    }
    Ok(out)
}

/// The three answers `ports` reads: the inbound evidence, the address pairs and the replies.
pub struct PortsAnswers<'t> {
    pub inbound: &'t QueryOutput,
    pub addresses: &'t QueryOutput,
    pub replies: &'t QueryOutput,
}

pub fn analyze_ports(
    answers: PortsAnswers<'_>,
    options: &PortsOptions,
) -> Result<PortsReport, RowError> {
    let PortsAnswers {
        inbound,
        addresses,
        replies,
    } = answers;
    let (own, span) = own_addresses(Columns::new(ADDRESSES_TEMPLATE, addresses))?;
    // Both need only the own addresses, so the two answers are read at once. On a thread of
    // its own, not rayon's: a streamed answer's rows are made by rayon's threads while its
    // reader waits for them, and two readers waiting there would leave none to make them.
    let (replies, inbound) = std::thread::scope(|scope| {
        let inbound =
            scope.spawn(|| inbound_evidence(Columns::new(INBOUND_TEMPLATE, inbound), &own));
        let replies = reply_flows(Columns::new(REPLIES_TEMPLATE, replies), &own);
        let inbound = inbound
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (replies, inbound)
    });
    let replies = replies?;
    let Inbound {
        evidence,
        outbound,
        ambiguous,
    } = inbound?;
    let wanted = |interface: &str| {
        options.interfaces.is_empty() || options.interfaces.iter().any(|i| i == interface)
    };

    #[derive(Default)]
    struct Entry {
        service: Vec<u16>,
        uncertain: Vec<Uncertain>,
        clients: usize,
        whole_protocol: bool,
        flows: u64,
    }
    let mut shared: HashMap<(&str, i64, i64), usize> = HashMap::new();
    for ((interface, protocol, _), e) in &evidence {
        if let (Some(lo), Some(hi)) = (e.min_peer_port, e.max_peer_port)
            && lo == hi
        {
            *shared.entry((interface, *protocol, lo)).or_default() += 1;
        }
    }
    let mut entries: BTreeMap<(String, i64), Entry> = BTreeMap::new();
    for ((interface, protocol, port), e) in &evidence {
        if !wanted(interface) {
            continue;
        }
        let entry = entries.entry((interface.clone(), *protocol)).or_default();
        entry.flows += e.flows;
        if *port < 0 {
            if outbound
                .get(&(interface.clone(), *protocol))
                .copied()
                .unwrap_or(0)
                > 0
            {
                entry.uncertain.push(Uncertain {
                    port: None,
                    reason:
                        "the interface also sends this protocol, so inbound packets may be replies"
                            .to_owned(),
                });
            } else {
                entry.whole_protocol = true;
            }
            continue;
        }
        let Ok(port16) = u16::try_from(*port) else {
            entry.uncertain.push(Uncertain {
                port: None,
                reason: format!("port {port} is outside 0-65535"),
            });
            continue;
        };
        let mut e = e.clone();
        if let (Some(lo), Some(hi)) = (e.min_peer_port, e.max_peer_port)
            && lo == hi
        {
            e.shared_peer_port = shared
                .get(&(interface.as_str(), *protocol, lo))
                .copied()
                .unwrap_or(0);
        }
        let verdict = decide(*protocol, *port, &e);
        match (
            verdict,
            ambiguous.get(&(interface.clone(), *protocol, *port)),
        ) {
            (Verdict::Client, _) => entry.clients += 1,
            (Verdict::Service, Some(reason)) => entry.uncertain.push(Uncertain {
                port: Some(port16),
                reason: reason.clone(),
            }),
            (Verdict::Service, None) => entry.service.push(port16),
            (Verdict::Uncertain(reason), _) => entry.uncertain.push(Uncertain {
                port: Some(port16),
                reason,
            }),
        }
    }

    let mut interfaces = Vec::new();
    for ((interface, protocol), entry) in entries {
        if entry.service.is_empty() && entry.uncertain.is_empty() && !entry.whole_protocol {
            continue;
        }
        let own_address = match own.get(&interface) {
            Some(Own::Address(a)) => Some(a.clone()),
            _ => None,
        };
        let mut report = InterfacePorts {
            interface_id: interface.clone(),
            protocol: protocol_name(protocol),
            service_ports: entry.service.clone(),
            feasible: true,
            rules: Vec::new(),
            unused_port_count: 0,
            unused_ranges: Vec::new(),
            hint: None,
            uncertain_ports: entry.uncertain,
            client_ports_ignored: entry.clients,
            reply_flows_ignored: replies
                .get(&(interface.clone(), protocol_name(protocol)))
                .copied()
                .unwrap_or(0),
            own_address,
            flows: entry.flows,
        };
        if entry.whole_protocol {
            report.rules.push(Rule {
                from_port: -1,
                to_port: -1,
                unused_ports: 0,
            });
        } else {
            match optimize_ranges(&entry.service, options.constraints) {
                Plan::Feasible {
                    ranges,
                    unused_ports,
                } => {
                    report.unused_ranges = unused_runs(&entry.service, &ranges)
                        .into_iter()
                        .map(|(a, b)| [a, b])
                        .collect();
                    report.rules = ranges.into_iter().map(Rule::from).collect();
                    report.unused_port_count = unused_ports;
                }
                Plan::Infeasible {
                    min_rules_at_this_max_open,
                    min_max_open_at_this_max_rules,
                } => {
                    report.feasible = false;
                    report.hint = Some(Hint {
                        max_rules: min_rules_at_this_max_open,
                        max_open_ports: min_max_open_at_this_max_rules,
                    });
                }
            }
        }
        interfaces.push(report);
    }

    let window = ReportWindow::new(options.window, span);
    Ok(PortsReport {
        window,
        constraints: ConstraintsOut {
            max_rules: options.constraints.max_rules,
            max_open_ports: options.constraints.max_open_ports,
        },
        interfaces,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(peers: u64, peer_ports: u64, peer_port: i64) -> Evidence {
        Evidence {
            flows: 1,
            peers,
            peer_ports,
            min_peer_port: Some(peer_port),
            max_peer_port: Some(peer_port),
            ..Evidence::default()
        }
    }

    #[test]
    fn tcp_flags_decide_first() {
        let mut e = ev(1, 1, 443);
        e.syn_flows = 1;
        assert_eq!(decide(TCP, 40000, &e), Verdict::Service);
        let mut e = ev(1, 1, 50000);
        e.synack_flows = 3;
        assert_eq!(decide(TCP, 8080, &e), Verdict::Client);
        // Flags mean nothing for UDP.
        let mut e = ev(1, 1, 53);
        e.syn_flows = 1;
        assert_eq!(decide(UDP, 40000, &e), Verdict::Client);
    }

    #[test]
    fn probes_are_uncertain_and_reused_ephemeral_ports_are_clients() {
        let mut e = ev(1, 1, 40000);
        e.probe_flows = 4;
        assert!(matches!(decide(TCP, 3306, &e), Verdict::Uncertain(_)));
        // A client's ephemeral port that talked to 443 and 5432 on different connections.
        let e = Evidence {
            flows: 2,
            peers: 2,
            peer_ports: 2,
            min_peer_port: Some(443),
            max_peer_port: Some(5432),
            ..Evidence::default()
        };
        assert_eq!(decide(TCP, 45000, &e), Verdict::Client);
        assert_eq!(decide(UDP, 45000, &e), Verdict::Client);
        // A service on a high port sees ephemeral peer ports.
        let e = Evidence {
            flows: 9,
            peers: 3,
            peer_ports: 9,
            min_peer_port: Some(33000),
            max_peer_port: Some(60000),
            ..Evidence::default()
        };
        assert_eq!(decide(TCP, 50051, &e), Verdict::Service);
    }

    #[test]
    fn peer_ports_and_ranges_decide_without_flags() {
        assert_eq!(decide(TCP, 8080, &ev(1, 5, 40000)), Verdict::Service);
        assert_eq!(decide(TCP, 443, &ev(1, 1, 50000)), Verdict::Service);
        assert_eq!(decide(TCP, 50000, &ev(1, 1, 443)), Verdict::Client);
        assert_eq!(decide(UDP, 40001, &ev(1, 1, 5432)), Verdict::Client);
        assert_eq!(decide(TCP, 5432, &ev(1, 1, 40001)), Verdict::Service);
        assert!(matches!(
            decide(UDP, 123, &ev(1, 1, 123)),
            Verdict::Uncertain(_)
        ));
        assert!(matches!(
            decide(TCP, 40000, &ev(1, 1, 50000)),
            Verdict::Uncertain(_)
        ));
        assert!(matches!(
            decide(TCP, 5000, &ev(1, 1, 6000)),
            Verdict::Uncertain(_)
        ));
        // Many of the interface's ports answered only by peer port 50051: the peer's service.
        let mut e = ev(1, 1, 50051);
        assert!(matches!(decide(TCP, 40000, &e), Verdict::Uncertain(_)));
        e.shared_peer_port = 20;
        assert_eq!(decide(TCP, 40000, &e), Verdict::Client);
        // A monitoring host probing the interface's services from one fixed port: still services.
        let mut e = ev(1, 1, 40000);
        e.shared_peer_port = 3;
        assert_eq!(decide(UDP, 161, &e), Verdict::Service);
    }

    #[test]
    fn own_address_ties_prefer_private_else_ambiguous() {
        use crate::source::{Table, Value};
        let answer = |rows: Vec<(&str, &str, i64)>| -> QueryOutput {
            Table {
                columns: [
                    "interfaceId",
                    "srcAddr",
                    "dstAddr",
                    "flows",
                    "firstSeen",
                    "lastSeen",
                ]
                .map(String::from)
                .to_vec(),
                rows: rows
                    .into_iter()
                    .map(|(s, d, n)| {
                        vec![
                            Value::Str("eni-1".into()),
                            Value::Str(s.into()),
                            Value::Str(d.into()),
                            Value::Int(n),
                            Value::Time(1000),
                            Value::Time(2000),
                        ]
                    })
                    .collect(),
            }
            .into()
        };
        let (own, span) = own_addresses(Columns::new(
            ADDRESSES_TEMPLATE,
            &answer(vec![
                ("10.0.0.1", "198.51.100.1", 3),
                ("198.51.100.1", "10.0.0.1", 3),
            ]),
        ))
        .unwrap();
        assert_eq!(own["eni-1"], Own::Address("10.0.0.1".into()));
        assert_eq!(span, Some((1000, 2000)));
        let (own, _) = own_addresses(Columns::new(
            ADDRESSES_TEMPLATE,
            &answer(vec![
                ("10.0.0.1", "10.0.0.2", 3),
                ("10.0.0.2", "10.0.0.1", 3),
            ]),
        ))
        .unwrap();
        assert!(matches!(own["eni-1"], Own::Ambiguous(..)));
        let (own, _) = own_addresses(Columns::new(
            ADDRESSES_TEMPLATE,
            &answer(vec![
                ("10.0.0.1", "10.0.0.2", 3),
                ("10.0.0.3", "10.0.0.1", 1),
            ]),
        ))
        .unwrap();
        assert_eq!(own["eni-1"], Own::Address("10.0.0.1".into()));
    }
}
