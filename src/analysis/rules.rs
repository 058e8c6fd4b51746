//! Existing security-group rules against observed traffic.
//!
//! Traffic is matched to an inbound rule only when it was accepted, entered an interface that
//! has the rule's group, was not a reply to a connection the interface started (security
//! groups are stateful: replies pass without an inbound rule), and its protocol, port and
//! source fall in the rule
//! (https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html). Which ports
//! served traffic comes from the `ports` analysis; ports it could not decide count as used, so
//! a rule is never called unused on doubtful evidence.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use super::cidr;
use super::optimizer::{Constraints, Plan, optimize_ranges};
use super::ports::{InterfacePorts, ReportWindow};
use super::rows::{Columns, RowError};
use crate::flow::protocol_name;
use crate::inventory::{Inventory, IpProtocol, Peer, Ports, Rule};
use crate::source::QueryOutput;

pub const TEMPLATE: &str = "rules-sources";

/// Sources listed in a finding; the count says how many there were.
const MAX_LISTED_SOURCES: usize = 50;

#[derive(Debug, Clone)]
pub struct RulesOptions {
    /// A rule open to the world is reported when fewer distinct sources than this used it.
    pub wildcard_threshold: usize,
    /// At most this many CIDR blocks in a suggested source list.
    pub max_source_blocks: usize,
    /// Limits for suggested port ranges, as in `ports`.
    pub constraints: Constraints,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RuleOut {
    pub protocol: String,
    /// `null` where the rule covers all ports (ICMP: the type).
    pub from_port: Option<i32>,
    /// `null` where the rule covers all ports (ICMP: the code).
    pub to_port: Option<i32>,
    /// The CIDR, the referenced group id or the prefix-list id.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Observed {
    pub flows: u64,
    /// Distinct source addresses, sorted (at most 50; see `source_count`).
    pub sources: Vec<String>,
    pub source_count: usize,
    /// Distinct destination ports (empty for protocols without ports).
    pub ports: Vec<u16>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SuggestedPorts {
    pub protocol: String,
    pub from_port: u16,
    pub to_port: u16,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Suggestion {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_ranges: Option<Vec<SuggestedPorts>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub group_id: String,
    pub rule: RuleOut,
    /// `unused`, `ports_wider_than_used`, `source_wider_than_used`,
    /// `open_to_world_few_sources` or `not_checkable`.
    pub kind: &'static str,
    pub observed: Observed,
    pub suggestion: Option<Suggestion>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RulesReport {
    pub window: ReportWindow,
    pub findings: Vec<Finding>,
    /// Interfaces in the flow logs that the inventory does not describe: their traffic could
    /// not be matched to any group.
    pub unknown_interfaces: Vec<String>,
    pub rules_checked: usize,
}

/// One kind of accepted inbound traffic that reached a service of an interface.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Used {
    protocol: u8,
    port: Option<u16>,
    source: IpAddr,
}

fn rule_out(rule: &Rule) -> RuleOut {
    let (from_port, to_port) = match rule.ports {
        Ports::All => (None, None),
        Ports::Range { from, to } => (Some(i32::from(from)), Some(i32::from(to))),
        Ports::Icmp { icmp_type, code } => {
            (Some(icmp_type.unwrap_or(-1)), Some(code.unwrap_or(-1)))
        }
    };
    RuleOut {
        protocol: rule.protocol.to_string(),
        from_port,
        to_port,
        source: rule.peer.to_string(),
        rule_id: rule.rule_id.clone(),
        description: rule.description.clone(),
    }
}

/// Service traffic per interface, with its flows.
type Traffic = BTreeMap<String, BTreeMap<Used, u64>>;

/// Reads the service traffic of every interface: inbound, accepted, to a port the `ports`
/// analysis called a service port or could not decide, or of a protocol without ports.
fn service_traffic(
    answer: &QueryOutput,
    ports: &[InterfacePorts],
    inventory: &Inventory,
) -> Result<(Traffic, BTreeSet<String>), RowError> {
    let cols = Columns::new(TEMPLATE, answer);
    let c = |n| cols.col(n);
    let (iface, proto, dst, port, src, direction, flows) = (
        c("interfaceId")?,
        c("protocol")?,
        c("dstAddr")?,
        c("dstPort")?,
        c("srcAddr")?,
        c("flowDirection")?,
        c("flows")?,
    );
    let mut served: HashMap<(&str, &str), HashSet<u16>> = HashMap::new();
    let mut whole: HashSet<(&str, &str)> = HashSet::new();
    let mut own: HashMap<&str, HashSet<IpAddr>> = HashMap::new();
    for entry in ports {
        let key = (entry.interface_id.as_str(), entry.protocol.as_str());
        let set = served.entry(key).or_default();
        set.extend(entry.service_ports.iter().copied());
        set.extend(entry.uncertain_ports.iter().filter_map(|u| u.port));
        if entry.rules.iter().any(|r| r.from_port < 0)
            || entry.uncertain_ports.iter().any(|u| u.port.is_none())
        {
            whole.insert(key);
        }
        if let Some(addr) = entry.own_address.as_deref().and_then(|a| a.parse().ok()) {
            own.entry(&entry.interface_id).or_default().insert(addr);
        }
    }
    let mut traffic: Traffic = BTreeMap::new();
    let mut seen = BTreeSet::new();
    cols.try_for_each(|row| {
        let (Some(interface), Some(protocol)) = (cols.text(row.1, iface), cols.int(row, proto)?)
        else {
            return Ok(());
        };
        seen.insert(interface.to_owned());
        let (Ok(protocol), Some(Ok(source))) = (
            u8::try_from(protocol),
            cols.text(row.1, src).map(str::parse::<IpAddr>),
        ) else {
            return Ok(());
        };
        let to: Option<IpAddr> = cols.text(row.1, dst).and_then(|d| d.parse().ok());
        let inbound = match cols.text(row.1, direction) {
            Some(d) => d == "ingress",
            None => to.is_some_and(|to| {
                own.get(interface).is_some_and(|o| o.contains(&to))
                    || inventory
                        .interfaces
                        .get(interface)
                        .is_some_and(|i| i.private_addresses.contains(&to))
            }),
        };
        if !inbound {
            return Ok(());
        }
        let name = protocol_name(i64::from(protocol));
        let key = (interface, name.as_str());
        let port = match cols.int(row, port)? {
            Some(p) if matches!(protocol, 6 | 17 | 33 | 132 | 136) => u16::try_from(p).ok(),
            _ => None,
        };
        let service = match port {
            Some(p) => served.get(&key).is_some_and(|s| s.contains(&p)),
            None => whole.contains(&key),
        };
        if service {
            *traffic
                .entry(interface.to_owned())
                .or_default()
                .entry(Used {
                    protocol,
                    port,
                    source,
                })
                .or_default() += cols.count(row, flows)?;
        }
        Ok(())
    })?;
    Ok((traffic, seen))
}

pub fn audit_rules(
    answer: &QueryOutput,
    ports: &[InterfacePorts],
    inventory: &Inventory,
    options: &RulesOptions,
    window: ReportWindow,
) -> Result<RulesReport, RowError> {
    let (traffic, seen) = service_traffic(answer, ports, inventory)?;
    let unknown_interfaces: Vec<String> = seen
        .iter()
        .filter(|i| !inventory.interfaces.contains_key(*i))
        .cloned()
        .collect();
    let mut findings = Vec::new();
    let mut rules_checked = 0;
    for group in inventory.groups.values() {
        let members: Vec<&str> = inventory
            .interfaces
            .values()
            .filter(|i| i.group_ids.iter().any(|g| g == &group.group_id))
            .map(|i| i.interface_id.as_str())
            .collect();
        let logged = members.iter().filter(|m| seen.contains(**m)).count();
        for rule in group.rules.iter().filter(|r| !r.egress) {
            rules_checked += 1;
            findings.extend(check_rule(rule, &members, logged, &traffic, options));
        }
    }
    Ok(RulesReport {
        window,
        findings,
        unknown_interfaces,
        rules_checked,
    })
}

fn check_rule(
    rule: &Rule,
    members: &[&str],
    logged: usize,
    traffic: &Traffic,
    options: &RulesOptions,
) -> Vec<Finding> {
    let finding = |kind, observed, suggestion, reason| Finding {
        group_id: rule.group_id.clone(),
        rule: rule_out(rule),
        kind,
        observed,
        suggestion,
        reason,
    };
    let empty = Observed {
        flows: 0,
        sources: Vec::new(),
        source_count: 0,
        ports: Vec::new(),
    };
    if let Peer::Group { group_id, .. } | Peer::PrefixList(group_id) = &rule.peer {
        let what = if matches!(rule.peer, Peer::Group { .. }) {
            "a referenced security group"
        } else {
            "a managed prefix list"
        };
        return vec![finding(
            "not_checkable",
            empty,
            None,
            format!(
                "the source is {what} ({group_id}), whose addresses the inventory does not list; check it by hand"
            ),
        )];
    }
    let mut flows = 0;
    let mut sources = BTreeSet::new();
    let mut used_ports: BTreeMap<u8, BTreeSet<u16>> = BTreeMap::new();
    for member in members {
        for (used, n) in traffic.get(*member).into_iter().flatten() {
            if rule.matches(used.protocol, used.port, used.source) == Some(true) {
                flows += n;
                sources.insert(used.source);
                if let Some(p) = used.port {
                    used_ports.entry(used.protocol).or_default().insert(p);
                }
            }
        }
    }
    if flows == 0 {
        let reason = if members.is_empty() {
            "no network interface in the inventory has this group".to_owned()
        } else if logged == 0 {
            format!(
                "none of the {} interface(s) with this group had accepted traffic in the flow logs of this window; check that flow logs cover them before removing the rule",
                members.len()
            )
        } else {
            format!(
                "no accepted inbound traffic matched this rule in the window ({logged} of {} interface(s) with this group logged traffic)",
                members.len()
            )
        };
        return vec![finding("unused", empty, None, reason)];
    }
    let all_ports: Vec<u16> = used_ports
        .values()
        .flatten()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let observed = Observed {
        flows,
        sources: sources
            .iter()
            .take(MAX_LISTED_SOURCES)
            .map(ToString::to_string)
            .collect(),
        source_count: sources.len(),
        ports: all_ports,
    };
    let mut out = Vec::new();

    // Ports: only rules that open ports (TCP/UDP ranges, or every protocol) can be narrowed.
    let opened = match (rule.protocol, rule.ports) {
        (IpProtocol::All, _) => None,
        (IpProtocol::Number(6 | 17), Ports::All) => Some(65_536),
        (IpProtocol::Number(6 | 17), Ports::Range { from, to }) => {
            Some(u32::from(to) - u32::from(from) + 1)
        }
        _ => None,
    };
    let used_count: usize = used_ports.values().map(BTreeSet::len).sum();
    let narrower = opened.is_some_and(|n| u64::from(n) > used_count as u64);
    if rule.protocol == IpProtocol::All || narrower {
        let mut ranges = Vec::new();
        for (protocol, ports) in &used_ports {
            let ports: Vec<u16> = ports.iter().copied().collect();
            let planned = match optimize_ranges(&ports, options.constraints) {
                Plan::Feasible { ranges, .. } => ranges
                    .into_iter()
                    .map(|r| (r.from_port, r.to_port))
                    .collect(),
                // Within the limits no plan fits: one range over the used ports.
                Plan::Infeasible { .. } => vec![(ports[0], ports[ports.len() - 1])],
            };
            ranges.extend(
                planned
                    .into_iter()
                    .map(|(from_port, to_port)| SuggestedPorts {
                        protocol: protocol_name(i64::from(*protocol)),
                        from_port,
                        to_port,
                    }),
            );
        }
        let only_portless = used_ports.is_empty();
        if !only_portless {
            let opened_text = match rule.protocol {
                IpProtocol::All => "every protocol and port".to_owned(),
                _ => format!("{} port(s)", group_digits(u128::from(opened.unwrap_or(0)))),
            };
            out.push(finding(
                "ports_wider_than_used",
                observed.clone(),
                Some(Suggestion {
                    port_ranges: Some(ranges),
                    sources: None,
                }),
                format!("traffic used {used_count} port(s); the rule opens {opened_text}"),
            ));
        }
    }

    // Sources.
    if let Peer::Cidr(net) = &rule.peer {
        let addresses: Vec<IpAddr> = sources.iter().copied().collect();
        let suggested = cidr::cover(&addresses, options.max_source_blocks);
        let suggested_size: u128 = suggested.iter().map(cidr::size).sum();
        let allowed = cidr::size(net);
        let suggestion = Some(Suggestion {
            sources: Some(suggested.iter().map(ToString::to_string).collect()),
            port_ranges: None,
        });
        let n = sources.len();
        let used_text = if n == 1 {
            "one source address used this rule".to_owned()
        } else {
            format!("{n} source addresses used this rule")
        };
        if net.prefix_len() == 0 {
            if n < options.wildcard_threshold {
                out.push(finding(
                    "open_to_world_few_sources",
                    observed.clone(),
                    suggestion,
                    format!(
                        "open to every address ({net}), but only {n} source address(es) used it, fewer than --wildcard-threshold {}",
                        options.wildcard_threshold
                    ),
                ));
            }
        } else if suggested_size < allowed {
            out.push(finding(
                "source_wider_than_used",
                observed.clone(),
                suggestion,
                format!("{used_text}; it allows {}", group_digits(allowed)),
            ));
        }
    }
    out
}

/// 65536 as 65,536.
fn group_digits(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The rules a finding suggests instead of the one it is about: the same protocol, the
/// suggested ports (or the rule's), from the suggested sources (or the rule's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    pub group_id: String,
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub sources: Vec<IpNet>,
    pub description: String,
    /// The rule replaced, for removing it afterwards.
    pub replaces: RuleOut,
}

/// Replacements for every rule with a narrowing finding, one per group, protocol and port
/// range, with the union of their sources: AWS refuses the same permission twice in one call.
pub fn replacements(report: &RulesReport) -> Vec<Replacement> {
    let mut merged: Vec<Replacement> = Vec::new();
    for r in replacements_per_rule(report) {
        match merged.iter_mut().find(|m| {
            (&m.group_id, &m.protocol, m.from_port, m.to_port)
                == (&r.group_id, &r.protocol, r.from_port, r.to_port)
        }) {
            Some(m) => {
                for net in r.sources {
                    if !m.sources.contains(&net) {
                        m.sources.push(net);
                    }
                }
                m.sources.sort();
            }
            None => merged.push(r),
        }
    }
    merged
}

/// The replacements of each rule on its own, before merging.
fn replacements_per_rule(report: &RulesReport) -> Vec<Replacement> {
    let mut per_rule: BTreeMap<(String, String), (RuleOut, Suggestion, Vec<&'static str>)> =
        BTreeMap::new();
    for f in &report.findings {
        let Some(s) = &f.suggestion else { continue };
        let key = (
            f.group_id.clone(),
            serde_json::to_string(&f.rule).unwrap_or_default(),
        );
        let entry = per_rule
            .entry(key)
            .or_insert_with(|| (f.rule.clone(), Suggestion::default(), Vec::new()));
        if s.sources.is_some() {
            entry.1.sources.clone_from(&s.sources);
        }
        if s.port_ranges.is_some() {
            entry.1.port_ranges.clone_from(&s.port_ranges);
        }
        entry.2.push(f.kind);
    }
    let mut out = Vec::new();
    for ((group_id, _), (rule, suggestion, kinds)) in per_rule {
        let sources: Vec<IpNet> = match &suggestion.sources {
            Some(list) => list.iter().filter_map(|s| s.parse().ok()).collect(),
            None => rule.source.parse().ok().into_iter().collect(),
        };
        let description = format!("flowsift: narrowed ({})", kinds.join(", "));
        match &suggestion.port_ranges {
            Some(ranges) => {
                for r in ranges {
                    out.push(Replacement {
                        group_id: group_id.clone(),
                        protocol: r.protocol.clone(),
                        from_port: Some(i32::from(r.from_port)),
                        to_port: Some(i32::from(r.to_port)),
                        sources: sources.clone(),
                        description: description.clone(),
                        replaces: rule.clone(),
                    });
                }
            }
            None => out.push(Replacement {
                group_id: group_id.clone(),
                protocol: rule.protocol.clone(),
                from_port: rule.from_port,
                to_port: rule.to_port,
                sources: sources.clone(),
                description: description.clone(),
                replaces: rule.clone(),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(65_536), "65,536");
        assert_eq!(group_digits(1), "1");
        assert_eq!(group_digits(4_294_967_296), "4,294,967,296");
    }
}
