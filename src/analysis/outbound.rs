//! The outbound review: what each interface sent, as AWS Prescriptive Guidance suggests
//! reviewing VPC traffic ("Determining your VPC's security requirements"): traffic to admin
//! ports, the top external destinations, rejected outbound traffic, and what NAT gateway
//! interfaces carried. Destinations listed in an allow file are left out.
//!
//! Outbound means records that left the interface and that the interface started: records
//! with `flow-direction` egress (or, without it, from the interface's own address) whose source
//! port is not one of the interface's service ports (those are replies to inbound connections).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use super::ports::{InterfacePorts, ReportWindow};
use super::rows::{Columns, RowError, crossed, earliest};
use crate::flow::{protocol_name, protocol_number};
use crate::source::{QueryOutput, format_time_ms};

pub const TEMPLATE: &str = "outbound";

/// One expected destination from `--allow FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    pub net: IpNet,
    /// Inclusive port range; `None` for any port.
    pub ports: Option<(u16, u16)>,
    /// Protocol number; `None` for any protocol.
    pub protocol: Option<i64>,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{source_name}:{line}: {message}; each line is `CIDR PORTS PROTOCOL [note]`, e.g. `0.0.0.0/0 443 tcp HTTPS APIs` (PORTS: 443, 8000-8100 or *; PROTOCOL: tcp, udp, icmp, a number or *)"
)]
pub struct AllowError {
    pub source_name: String,
    pub line: usize,
    pub message: String,
}

/// Parses an allow file: `CIDR PORTS PROTOCOL [note...]` per line; `#` starts a comment.
pub fn parse_allow(source_name: &str, text: &str) -> Result<Vec<AllowEntry>, AllowError> {
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let err = |message: String| AllowError {
            source_name: source_name.to_owned(),
            line: i + 1,
            message,
        };
        let mut words = line.split_whitespace();
        let (Some(cidr), Some(ports), Some(protocol)) = (words.next(), words.next(), words.next())
        else {
            return Err(err(format!("`{line}` has fewer than three fields")));
        };
        let net: IpNet = cidr
            .parse()
            .or_else(|_| cidr.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| err(format!("`{cidr}` is not a CIDR block")))?;
        let ports = match ports {
            "*" => None,
            p => {
                Some(parse_range(p).ok_or_else(|| err(format!("`{p}` is not a port or a range")))?)
            }
        };
        let protocol = match protocol {
            "*" | "-1" | "all" => None,
            p => Some(protocol_number(p).ok_or_else(|| err(format!("`{p}` is not a protocol")))?),
        };
        entries.push(AllowEntry {
            net,
            ports,
            protocol,
            note: words.collect::<Vec<_>>().join(" "),
        });
    }
    Ok(entries)
}

fn parse_range(text: &str) -> Option<(u16, u16)> {
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (a <= b).then_some((a, b))
        }
        None => text.trim().parse().ok().map(|p| (p, p)),
    }
}

/// A set of ports such as `0-1023` or `22,3389,5985-5986`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSet {
    pub ranges: Vec<(u16, u16)>,
    pub text: String,
}

impl PortSet {
    pub fn parse(text: &str) -> Option<Self> {
        let ranges = text
            .split(',')
            .map(parse_range)
            .collect::<Option<Vec<_>>>()?;
        (!ranges.is_empty()).then(|| PortSet {
            ranges,
            text: text.to_owned(),
        })
    }

    pub fn contains(&self, port: i64) -> bool {
        self.ranges
            .iter()
            .any(|(a, b)| (i64::from(*a)..=i64::from(*b)).contains(&port))
    }
}

#[derive(Debug, Clone)]
pub struct OutboundOptions {
    pub interfaces: Vec<String>,
    /// Addresses inside these blocks are internal; others are external destinations.
    pub internal: Vec<IpNet>,
    pub admin_ports: PortSet,
    pub allow: Vec<AllowEntry>,
    /// How many external destinations to list per interface.
    pub top: usize,
    /// Interfaces known to be NAT gateways (from describe-network-interfaces).
    pub nat_interfaces: BTreeSet<String>,
}

/// The RFC 1918 private ranges: the default meaning of "internal".
pub fn rfc1918() -> Vec<IpNet> {
    ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect()
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutboundFinding {
    pub interface_id: String,
    /// `admin_port`, `external_destination`, `rejected` or `nat_gateway`.
    pub kind: &'static str,
    pub protocol: String,
    pub destination: String,
    pub port: Option<i64>,
    pub action: String,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutboundReport {
    pub window: ReportWindow,
    pub internal_cidrs: Vec<String>,
    pub admin_ports: String,
    pub findings: Vec<OutboundFinding>,
    /// Findings left out because the allow file lists their destination.
    pub allowed: u64,
    /// Outbound records that were replies to connections other hosts started.
    pub replies_ignored: u64,
}

#[derive(Debug, Clone)]
struct Flow {
    interface: String,
    src: String,
    dst: String,
    port: Option<i64>,
    protocol: i64,
    action: String,
    direction: Option<String>,
    flows: u64,
    packets: u64,
    bytes: u64,
    src_port: Option<(i64, i64)>,
    first: Option<i64>,
    last: Option<i64>,
}

/// Calls `f` with each row of the answer as a flow, in order (rows without an interface,
/// addresses or protocol are passed over).
fn for_each_flow(
    answer: &QueryOutput,
    mut f: impl FnMut(Flow) -> Result<(), RowError>,
) -> Result<(), RowError> {
    let cols = Columns::new(TEMPLATE, answer);
    let c = |n| cols.col(n);
    let (iface, src, dst, port, proto, action, direction) = (
        c("interfaceId")?,
        c("srcAddr")?,
        c("dstAddr")?,
        c("dstPort")?,
        c("protocol")?,
        c("action")?,
        c("flowDirection")?,
    );
    let (flows, packets, bytes, lo, hi, first, last) = (
        c("flows")?,
        c("packets")?,
        c("bytes")?,
        c("minSrcPort")?,
        c("maxSrcPort")?,
        c("firstSeen")?,
        c("lastSeen")?,
    );
    cols.try_for_each(|row| {
        let (Some(interface), Some(s), Some(d), Some(protocol)) = (
            cols.text(row.1, iface),
            cols.text(row.1, src),
            cols.text(row.1, dst),
            cols.int(row, proto)?,
        ) else {
            return Ok(());
        };
        f(Flow {
            interface: interface.to_owned(),
            src: s.to_owned(),
            dst: d.to_owned(),
            port: cols.int(row, port)?,
            protocol,
            action: cols.text(row.1, action).unwrap_or("-").to_owned(),
            direction: cols.text(row.1, direction).map(str::to_owned),
            flows: cols.count(row, flows)?,
            packets: cols.count(row, packets)?,
            bytes: cols.count(row, bytes)?,
            src_port: cols.int(row, lo)?.zip(cols.int(row, hi)?),
            first: cols.int(row, first)?,
            last: cols.int(row, last)?,
        })
    })
}

fn is_internal(addr: &str, internal: &[IpNet]) -> bool {
    addr.parse::<IpAddr>()
        .is_ok_and(|ip| internal.iter().any(|n| n.contains(&ip)))
}

fn allowed(flow: &Flow, allow: &[AllowEntry]) -> bool {
    let Ok(ip) = flow.dst.parse::<IpAddr>() else {
        return false;
    };
    allow.iter().any(|a| {
        a.net.contains(&ip)
            && a.protocol.is_none_or(|p| p == flow.protocol)
            && a.ports.is_none_or(|(lo, hi)| {
                flow.port
                    .is_some_and(|p| (i64::from(lo)..=i64::from(hi)).contains(&p))
            })
    })
}

/// Reviews what each interface sent. `ports` is the `ports` analysis of the same window (each
/// interface's service ports); `addresses` each interface's own address.
pub fn audit_outbound(
    answer: &QueryOutput,
    ports: &[InterfacePorts],
    addresses: &HashMap<String, Option<String>>,
    options: &OutboundOptions,
    window: ReportWindow,
) -> Result<OutboundReport, RowError> {
    let own: HashMap<&str, &str> = addresses
        .iter()
        .filter_map(|(i, a)| a.as_deref().map(|a| (i.as_str(), a)))
        .collect();
    let mut services: HashMap<(&str, String), &[u16]> = HashMap::new();
    for entry in ports {
        services.insert(
            (&entry.interface_id, entry.protocol.clone()),
            &entry.service_ports,
        );
    }
    let wanted =
        |i: &str| options.interfaces.is_empty() || options.interfaces.iter().any(|w| w == i);

    // An interface forwarding for others (several private sources that are not its own
    // address sending outside) is a NAT gateway even when no inventory says so. The answer is
    // read twice, a row at a time (it can be millions of rows): first for this, then for the
    // review.
    let mut forwarded: HashMap<String, BTreeSet<String>> = HashMap::new();
    for_each_flow(answer, |f| {
        let foreign = own.get(f.interface.as_str()).is_some_and(|o| *o != f.src);
        if foreign
            && is_internal(&f.src, &options.internal)
            && !is_internal(&f.dst, &options.internal)
            && f.direction.as_deref() != Some("ingress")
        {
            forwarded.entry(f.interface).or_default().insert(f.src);
        }
        Ok(())
    })?;
    let is_nat = |i: &str| {
        options.nat_interfaces.contains(i) || forwarded.get(i).is_some_and(|s| s.len() >= 2)
    };

    let mut allowed_count = 0;
    let mut replies = 0;
    // Rows differ by direction and source; a destination is one line of the review.
    let mut outbound_flows: BTreeMap<(String, String, Option<i64>, i64, String), Flow> =
        BTreeMap::new();
    let mut nat_flows: BTreeMap<(String, String, Option<i64>, i64, String), Flow> = BTreeMap::new();
    for_each_flow(answer, |f| {
        if !wanted(&f.interface) {
            return Ok(());
        }
        let key = (
            f.interface.clone(),
            f.dst.clone(),
            f.port,
            f.protocol,
            f.action.clone(),
        );
        if is_nat(&f.interface) {
            if !is_internal(&f.dst, &options.internal) && f.action == "ACCEPT" {
                combine(&mut nat_flows, key, f);
            }
            return Ok(());
        }
        let own_address: Vec<&str> = own.get(f.interface.as_str()).copied().into_iter().collect();
        let outbound =
            crossed(f.direction.as_deref(), "egress", Some(&f.src), &own_address).unwrap_or(false);
        if !outbound {
            return Ok(());
        }
        let service = services
            .get(&(f.interface.as_str(), protocol_name(f.protocol)))
            .copied()
            .unwrap_or_default();
        let reply = matches!(f.src_port, Some((lo, hi)) if lo == hi && u16::try_from(lo).is_ok_and(|p| service.contains(&p)));
        if reply {
            replies += f.flows;
            return Ok(());
        }
        combine(&mut outbound_flows, key, f);
        Ok(())
    })?;
    let mut findings = Vec::new();
    let mut external: BTreeMap<String, Vec<&Flow>> = BTreeMap::new();
    for f in outbound_flows.values() {
        if allowed(f, &options.allow) {
            allowed_count += 1;
            continue;
        }
        let external_dst = !is_internal(&f.dst, &options.internal);
        let where_to = if external_dst {
            "outside the VPC"
        } else {
            "inside the VPC"
        };
        if f.action == "REJECT" {
            findings.push(finding(f, "rejected", format!(
                "{} outbound flow(s) to {}:{} were rejected by a security group or network ACL: a misconfigured client, or something trying to get out",
                f.flows, f.dst, port_text(f)
            )));
            continue;
        }
        let has_ports = matches!(f.protocol, 6 | 17 | 132);
        if has_ports && f.port.is_some_and(|p| options.admin_ports.contains(p)) {
            findings.push(finding(f, "admin_port", format!(
                "outbound to port {} {where_to}, one of the admin and system ports ({}); check that this interface needs it",
                port_text(f), options.admin_ports.text
            )));
        }
        if external_dst {
            external.entry(f.interface.clone()).or_default().push(f);
        }
    }
    let mut nat: BTreeMap<String, Vec<&Flow>> = BTreeMap::new();
    for f in nat_flows.values() {
        if allowed(f, &options.allow) {
            allowed_count += 1;
        } else {
            nat.entry(f.interface.clone()).or_default().push(f);
        }
    }
    for (interface, mut list) in external {
        list.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(b.flows.cmp(&a.flows)));
        let total = list.len();
        for (rank, f) in list.into_iter().take(options.top).enumerate() {
            findings.push(finding(f, "external_destination", format!(
                "top external destination #{} of {total} for {interface} by bytes: {} flow(s), {} bytes to an address outside the VPC",
                rank + 1, f.flows, f.bytes
            )));
        }
    }
    for (interface, mut list) in nat {
        list.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(b.flows.cmp(&a.flows)));
        let total = list.len();
        for f in list.into_iter().take(options.top) {
            findings.push(finding(f, "nat_gateway", format!(
                "NAT gateway {interface} carried this traffic to the internet for private subnets (one of {total} external destinations); check that the workloads behind it need it"
            )));
        }
    }
    findings.sort_by(|a, b| {
        (&a.interface_id, kind_rank(a.kind))
            .cmp(&(&b.interface_id, kind_rank(b.kind)))
            .then(b.bytes.cmp(&a.bytes))
    });
    Ok(OutboundReport {
        window,
        internal_cidrs: options.internal.iter().map(ToString::to_string).collect(),
        admin_ports: options.admin_ports.text.clone(),
        findings,
        allowed: allowed_count,
        replies_ignored: replies,
    })
}

/// Adds a row to the line of its destination.
fn combine(
    lines: &mut BTreeMap<(String, String, Option<i64>, i64, String), Flow>,
    key: (String, String, Option<i64>, i64, String),
    f: Flow,
) {
    match lines.get_mut(&key) {
        None => {
            lines.insert(key, f);
        }
        Some(line) => {
            line.flows += f.flows;
            line.packets += f.packets;
            line.bytes += f.bytes;
            line.first = earliest(line.first, f.first);
            line.last = line.last.max(f.last);
        }
    }
}

fn kind_rank(kind: &str) -> u8 {
    match kind {
        "rejected" => 0,
        "admin_port" => 1,
        "external_destination" => 2,
        _ => 3,
    }
}

fn port_text(f: &Flow) -> String {
    f.port.map_or_else(|| "-".to_owned(), |p| p.to_string())
}

fn finding(f: &Flow, kind: &'static str, reason: String) -> OutboundFinding {
    OutboundFinding {
        interface_id: f.interface.clone(),
        kind,
        protocol: protocol_name(f.protocol),
        destination: f.dst.clone(),
        port: f.port.filter(|_| matches!(f.protocol, 6 | 17 | 132)),
        action: f.action.clone(),
        flows: f.flows,
        packets: f.packets,
        bytes: f.bytes,
        first_seen: f.first.map(format_time_ms),
        last_seen: f.last.map(format_time_ms),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_files_parse_and_errors_name_the_line() {
        let text = "# expected\n0.0.0.0/0 443 tcp HTTPS APIs\n10.0.4.53 53 udp  resolver\n203.0.113.0/24 * *\n";
        let entries = parse_allow("allow.txt", text).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].ports, Some((443, 443)));
        assert_eq!(entries[0].note, "HTTPS APIs");
        assert_eq!(entries[1].net.to_string(), "10.0.4.53/32");
        assert_eq!((entries[2].ports, entries[2].protocol), (None, None));
        let err =
            parse_allow("allow.txt", "0.0.0.0/0 443 tcp\n10.0.0.0/8 80-70 tcp\n").unwrap_err();
        assert_eq!((err.line, err.source_name.as_str()), (2, "allow.txt"));
        assert!(
            err.to_string().contains("`80-70` is not a port or a range"),
            "{err}"
        );
        assert!(parse_allow("a", "nonsense 1 tcp").is_err());
    }

    #[test]
    fn port_sets() {
        let set = PortSet::parse("22,3389,5985-5986").unwrap();
        assert!(set.contains(22) && set.contains(5986) && !set.contains(80));
        assert!(PortSet::parse("0-1023").unwrap().contains(1023));
        assert!(PortSet::parse("x").is_none());
    }
}
