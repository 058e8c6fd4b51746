//! Reading security groups: `aws ec2 describe-security-groups` (`IpPermissions`, one entry per
//! protocol and port range with several peers), `aws ec2 describe-security-group-rules` (one
//! entry per rule, with its `sgr-` id), and the `configuration` of an AWS Config
//! `AWS::EC2::SecurityGroup` item (describe-security-groups' shape in lower camelCase).

use std::net::IpAddr;

use ipnet::IpNet;

use super::SecurityGroup;
use super::error::{Input, InventoryError, describe_document};
use super::json::{Case, Cx, Node, parse_document};
use super::rules::{ICMP, ICMPV6, IpProtocol, Peer, Ports, Rule, TCP, UDP};

/// What one security-group document held.
#[derive(Debug, Default)]
pub(crate) struct GroupsDocument {
    /// From `describe-security-groups`.
    pub groups: Vec<SecurityGroup>,
    /// From `describe-security-group-rules`, in input order.
    pub rules: Vec<Rule>,
}

pub(crate) fn parse(file: &str, text: &str) -> Result<GroupsDocument, InventoryError> {
    let cx = Cx {
        file,
        input: Input::SecurityGroupsAny,
    };
    let value = parse_document(cx, text)?;
    let root = Node::root(&value, "");
    let groups = root.get("SecurityGroups");
    let rules = root.get("SecurityGroupRules");
    if !value.is_object() || (groups.is_none() && rules.is_none()) {
        return Err(InventoryError::WrongInput {
            file: file.to_owned(),
            found: describe_document(&value),
            expected: cx.input,
        });
    }
    let mut document = GroupsDocument::default();
    if let Some(groups) = groups {
        let cx = cx.with(Input::DescribeSecurityGroups);
        for node in groups.items(cx)? {
            document
                .groups
                .push(parse_group(&node, Case::Pascal, cx, None)?);
        }
    }
    if let Some(rules) = rules {
        let cx = cx.with(Input::DescribeSecurityGroupRules);
        for node in rules.items(cx)? {
            document.rules.push(parse_rule_entry(&node, cx)?);
        }
    }
    Ok(document)
}

/// One `describe-security-groups` entry, or a Config item's `configuration` (`Case::Camel`).
/// `fallback_id` names the group when the entry itself does not (a Config item's resourceId).
pub(crate) fn parse_group(
    node: &Node<'_>,
    case: Case,
    cx: Cx<'_>,
    fallback_id: Option<&str>,
) -> Result<SecurityGroup, InventoryError> {
    node.object(cx)?;
    let k = |pascal: &str| case.key(pascal);
    let group_id = match (node.opt_str(&k("GroupId"), cx)?, fallback_id) {
        (Some(id), _) | (None, Some(id)) => id.to_owned(),
        // Neither: report the missing field.
        (None, None) => node.req_str(&k("GroupId"), cx)?.to_owned(),
    };
    let mut rules = Vec::new();
    for (key, egress) in [("IpPermissions", false), ("IpPermissionsEgress", true)] {
        for permission in node.list(&k(key), cx)? {
            rules.extend(parse_permission(&permission, &group_id, egress, case, cx)?);
        }
    }
    Ok(SecurityGroup {
        group_id,
        group_name: node.opt_str(&k("GroupName"), cx)?.map(str::to_owned),
        vpc_id: node.opt_str(&k("VpcId"), cx)?.map(str::to_owned),
        rules,
    })
}

/// One `IpPermission`: a protocol and port range shared by several peers, expanded into one
/// rule per peer. A permission that lists no peer allows nothing and yields no rule.
fn parse_permission(
    node: &Node<'_>,
    group_id: &str,
    egress: bool,
    case: Case,
    cx: Cx<'_>,
) -> Result<Vec<Rule>, InventoryError> {
    node.object(cx)?;
    let k = |pascal: &str| case.key(pascal);
    let protocol = parse_protocol(&node.require(&k("IpProtocol"), cx)?, cx)?;
    let ports = parse_ports(node, protocol, case, cx)?;
    let description = |n: &Node<'_>| -> Result<Option<String>, InventoryError> {
        Ok(n.opt_str(&k("Description"), cx)?.map(str::to_owned))
    };

    let mut peers: Vec<(Peer, Option<String>)> = Vec::new();
    match case {
        Case::Pascal => {
            for range in node.list("IpRanges", cx)? {
                let net = parse_cidr(&range.require("CidrIp", cx)?, Family::V4, cx)?;
                peers.push((Peer::Cidr(net), description(&range)?));
            }
        }
        Case::Camel => {
            // AWS Config records IPv4 ranges twice: `ipv4Ranges` as objects (with
            // descriptions) and `ipRanges` as bare CIDR strings. Read both, keep each once.
            for range in node.list("ipv4Ranges", cx)? {
                let net = parse_cidr(&range.require("cidrIp", cx)?, Family::V4, cx)?;
                peers.push((Peer::Cidr(net), description(&range)?));
            }
            for range in node.list("ipRanges", cx)? {
                let (net, text) = if range.value.is_object() {
                    (
                        parse_cidr(&range.require("cidrIp", cx)?, Family::V4, cx)?,
                        description(&range)?,
                    )
                } else {
                    (parse_cidr(&range, Family::V4, cx)?, None)
                };
                let peer = Peer::Cidr(net);
                if !peers.iter().any(|(p, _)| *p == peer) {
                    peers.push((peer, text));
                }
            }
        }
    }
    for range in node.list(&k("Ipv6Ranges"), cx)? {
        let net = parse_cidr(&range.require(&k("CidrIpv6"), cx)?, Family::V6, cx)?;
        peers.push((Peer::Cidr(net), description(&range)?));
    }
    for list in node.list(&k("PrefixListIds"), cx)? {
        let id = list.req_str(&k("PrefixListId"), cx)?;
        peers.push((Peer::PrefixList(id.to_owned()), description(&list)?));
    }
    for pair in node.list(&k("UserIdGroupPairs"), cx)? {
        let peer = Peer::Group {
            group_id: pair.req_str(&k("GroupId"), cx)?.to_owned(),
            user_id: pair.opt_str(&k("UserId"), cx)?.map(str::to_owned),
        };
        peers.push((peer, description(&pair)?));
    }

    Ok(peers
        .into_iter()
        .map(|(peer, description)| Rule {
            group_id: group_id.to_owned(),
            rule_id: None,
            egress,
            protocol,
            ports,
            peer,
            description,
        })
        .collect())
}

/// One `describe-security-group-rules` entry: exactly one peer among `CidrIpv4`, `CidrIpv6`,
/// `PrefixListId` and `ReferencedGroupInfo`.
fn parse_rule_entry(node: &Node<'_>, cx: Cx<'_>) -> Result<Rule, InventoryError> {
    node.object(cx)?;
    let protocol = parse_protocol(&node.require("IpProtocol", cx)?, cx)?;
    let ports = parse_ports(node, protocol, Case::Pascal, cx)?;
    let mut peers = Vec::new();
    if let Some(n) = node.get("CidrIpv4") {
        peers.push(Peer::Cidr(parse_cidr(&n, Family::V4, cx)?));
    }
    if let Some(n) = node.get("CidrIpv6") {
        peers.push(Peer::Cidr(parse_cidr(&n, Family::V6, cx)?));
    }
    if let Some(n) = node.get("PrefixListId") {
        peers.push(Peer::PrefixList(n.str(cx)?.to_owned()));
    }
    if let Some(n) = node.get("ReferencedGroupInfo") {
        n.object(cx)?;
        peers.push(Peer::Group {
            group_id: n.req_str("GroupId", cx)?.to_owned(),
            user_id: n.opt_str("UserId", cx)?.map(str::to_owned),
        });
    }
    let peer = match <[Peer; 1]>::try_from(peers) {
        Ok([peer]) => peer,
        Err(peers) => {
            return Err(node.invalid(
                cx,
                format!(
                    "expected exactly one of CidrIpv4, CidrIpv6, PrefixListId and \
                     ReferencedGroupInfo, found {}",
                    peers.len()
                ),
            ));
        }
    };
    Ok(Rule {
        group_id: node.req_str("GroupId", cx)?.to_owned(),
        rule_id: node.opt_str("SecurityGroupRuleId", cx)?.map(str::to_owned),
        egress: node.require("IsEgress", cx)?.bool(cx)?,
        protocol,
        ports,
        peer,
        description: node.opt_str("Description", cx)?.map(str::to_owned),
    })
}

fn parse_protocol(node: &Node<'_>, cx: Cx<'_>) -> Result<IpProtocol, InventoryError> {
    let text = node.str(cx)?;
    IpProtocol::parse(text).ok_or_else(|| {
        node.invalid(
            cx,
            format!(
                "expected -1, tcp, udp, icmp, icmpv6 or a protocol number 0-255, found {:?}",
                text
            ),
        )
    })
}

/// `FromPort`/`ToPort` read by the protocol's rules (see the `rules` module docs).
fn parse_ports(
    node: &Node<'_>,
    protocol: IpProtocol,
    case: Case,
    cx: Cx<'_>,
) -> Result<Ports, InventoryError> {
    // Read (and type-check) both even where AWS ignores them: a string port is a broken file.
    let from = node.opt_int(&case.key("FromPort"), cx)?;
    let to = node.opt_int(&case.key("ToPort"), cx)?;
    let number = match protocol {
        IpProtocol::All => return Ok(Ports::All),
        IpProtocol::Number(n) => n,
    };
    let value = |end: &Option<(i64, Node<'_>)>| end.as_ref().map(|(v, _)| *v);
    match number {
        TCP | UDP => match (value(&from), value(&to)) {
            (None | Some(-1), None | Some(-1)) => Ok(Ports::All),
            (Some(f), Some(t)) if 0 <= f && f <= t && t <= 65535 => {
                let port = |v: i64| u16::try_from(v).unwrap_or(u16::MAX);
                Ok(Ports::Range {
                    from: port(f),
                    to: port(t),
                })
            }
            (f, t) => {
                let at = from.as_ref().or(to.as_ref()).map_or(node, |(_, n)| n);
                let show = |v: Option<i64>| v.map_or("absent".to_owned(), |v| v.to_string());
                Err(at.invalid(
                    cx,
                    format!(
                        "expected a port range 0-65535 with FromPort <= ToPort, or -1 for all \
                         ports; found FromPort {}, ToPort {}",
                        show(f),
                        show(t)
                    ),
                ))
            }
        },
        ICMP | ICMPV6 => {
            let icmp = |end: &Option<(i64, Node<'_>)>| -> Result<Option<i32>, InventoryError> {
                match end {
                    None | Some((-1, _)) => Ok(None),
                    Some((v @ 0..=255, _)) => Ok(i32::try_from(*v).ok()),
                    Some((v, n)) => Err(n.invalid(
                        cx,
                        format!("expected an ICMP type or code 0-255, or -1 for any; found {v}"),
                    )),
                }
            };
            Ok(Ports::Icmp {
                icmp_type: icmp(&from)?,
                code: icmp(&to)?,
            })
        }
        _ => Ok(Ports::All),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

/// A CIDR block of the family its field promises, truncated to its network address (AWS
/// canonicalizes blocks the same way).
fn parse_cidr(node: &Node<'_>, family: Family, cx: Cx<'_>) -> Result<IpNet, InventoryError> {
    let text = node.str(cx)?;
    let example = match family {
        Family::V4 => "an IPv4 CIDR block such as 10.0.0.0/16",
        Family::V6 => "an IPv6 CIDR block such as 2001:db8::/56",
    };
    let net: IpNet = text
        .trim()
        .parse()
        .map_err(|_| node.invalid(cx, format!("expected {example}, found {text:?}")))?;
    let right_family = matches!(
        (family, net.addr()),
        (Family::V4, IpAddr::V4(_)) | (Family::V6, IpAddr::V6(_))
    );
    if !right_family {
        return Err(node.invalid(cx, format!("expected {example}, found {text:?}")));
    }
    Ok(net.trunc())
}
