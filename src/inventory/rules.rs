//! Security-group rules and what traffic they allow.
//!
//! AWS semantics, from the VPC user guide
//! (https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html) and the EC2 API
//! `IpPermission` reference
//! (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpPermission.html):
//!
//! - `IpProtocol` `-1` means all protocols, and then all ports whatever `FromPort`/`ToPort` say.
//! - For TCP and UDP, `FromPort..=ToPort` is inclusive; `-1` (or no port) means all ports.
//! - For ICMP and ICMPv6, `FromPort` is the ICMP type and `ToPort` the code, `-1` meaning any.
//! - "Specifying -1 or a protocol number other than tcp, udp, icmp, or icmpv6 allows traffic on
//!   all ports, regardless of any port range you specify" (GRE, SCTP, ESP, ...).
//! - A rule's peer is an IPv4 CIDR, an IPv6 CIDR, a prefix list or a security group; IPv4
//!   blocks never match IPv6 addresses and IPv6 blocks never match IPv4 ones.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

pub const ICMP: u8 = 1;
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ICMPV6: u8 = 58;

/// Protocols whose flow-log records carry ports (TCP, UDP, DCCP, SCTP, UDP-Lite). A rule for
/// any of these opens ports; only TCP and UDP rules can narrow them to a range.
const PORT_PROTOCOLS: [u8; 5] = [TCP, UDP, 33, 132, 136];

/// Which IP protocol a rule allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpProtocol {
    /// `-1`: every protocol, every port.
    All,
    /// An IANA protocol number (`tcp` is 6, `udp` 17, `icmp` 1, `icmpv6` 58).
    Number(u8),
}

impl IpProtocol {
    /// Parses AWS's `IpProtocol`: `-1` or `all`, a name (`tcp`, `udp`, `icmp`, `icmpv6`), or a
    /// protocol number. AWS prints the four names in lower case; case is ignored anyway.
    pub fn parse(text: &str) -> Option<IpProtocol> {
        let text = text.trim();
        match text.to_ascii_lowercase().as_str() {
            "-1" | "all" => Some(IpProtocol::All),
            "tcp" => Some(IpProtocol::Number(TCP)),
            "udp" => Some(IpProtocol::Number(UDP)),
            "icmp" => Some(IpProtocol::Number(ICMP)),
            "icmpv6" => Some(IpProtocol::Number(ICMPV6)),
            number => number.parse::<u8>().ok().map(IpProtocol::Number),
        }
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProtocol::All => f.write_str("all"),
            IpProtocol::Number(TCP) => f.write_str("tcp"),
            IpProtocol::Number(UDP) => f.write_str("udp"),
            IpProtocol::Number(ICMP) => f.write_str("icmp"),
            IpProtocol::Number(ICMPV6) => f.write_str("icmpv6"),
            IpProtocol::Number(n) => write!(f, "{n}"),
        }
    }
}

/// The ports (or ICMP type and code) a rule allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ports {
    /// Every port: `-1` or no ports given, all protocols, or a protocol other than
    /// TCP/UDP/ICMP/ICMPv6 (AWS ignores the range there).
    All,
    /// TCP or UDP ports `from..=to`.
    Range { from: u16, to: u16 },
    /// ICMP or ICMPv6: `FromPort` is the type, `ToPort` the code; `None` is AWS's `-1` (any).
    Icmp {
        icmp_type: Option<i32>,
        code: Option<i32>,
    },
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Ports::All => f.write_str("all"),
            Ports::Range { from, to } if from == to => write!(f, "{from}"),
            Ports::Range { from, to } => write!(f, "{from}-{to}"),
            Ports::Icmp {
                icmp_type: None, ..
            } => f.write_str("any type"),
            Ports::Icmp {
                icmp_type: Some(t),
                code: None,
            } => write!(f, "type {t}"),
            Ports::Icmp {
                icmp_type: Some(t),
                code: Some(c),
            } => write!(f, "type {t} code {c}"),
        }
    }
}

/// Whom a rule allows traffic from (inbound) or to (outbound).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Peer {
    Cidr(IpNet),
    /// A referenced security group: traffic from (or to) interfaces in it. `user_id` is the
    /// owning account when AWS gives it.
    Group {
        group_id: String,
        user_id: Option<String>,
    },
    /// A managed prefix list (`pl-...`); its CIDRs are not in the inventory.
    PrefixList(String),
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Cidr(net) => write!(f, "{net}"),
            Peer::Group { group_id, .. } => f.write_str(group_id),
            Peer::PrefixList(id) => f.write_str(id),
        }
    }
}

/// One rule of a security group: one protocol, one port range, one peer. An AWS
/// `IpPermission` with several ranges becomes one `Rule` per peer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    pub group_id: String,
    /// `sgr-...`, known only from `describe-security-group-rules`.
    pub rule_id: Option<String>,
    pub egress: bool,
    pub protocol: IpProtocol,
    pub ports: Ports,
    pub peer: Peer,
    pub description: Option<String>,
}

impl Rule {
    /// Does traffic of this protocol number, destination port (`None` for protocols without
    /// ports) and peer address fall within the rule?
    ///
    /// `Some(false)` as soon as the protocol, the ports or a CIDR peer rule it out. `None` when
    /// the answer depends on what the inventory cannot tell from an address: a referenced
    /// group's or a prefix list's members, or a TCP/UDP port range asked about without a port.
    ///
    /// Flow logs carry no ICMP type or code, so an ICMP rule of any type and code matches all
    /// ICMP traffic of its protocol: the check is as loose as the evidence allows.
    pub fn matches(&self, protocol: u8, port: Option<u16>, peer: IpAddr) -> Option<bool> {
        if let IpProtocol::Number(number) = self.protocol
            && number != protocol
        {
            return Some(false);
        }
        let ports = match self.ports {
            Ports::All | Ports::Icmp { .. } => Some(true),
            Ports::Range { from, to } => port.map(|p| from <= p && p <= to),
        };
        let peer = match &self.peer {
            // An IPv4 block never matches an IPv6 address and vice versa (`contains` is false
            // across families; spelled out because it is the rule, not an accident).
            Peer::Cidr(IpNet::V4(net)) => Some(matches!(peer, IpAddr::V4(a) if net.contains(&a))),
            Peer::Cidr(IpNet::V6(net)) => Some(matches!(peer, IpAddr::V6(a) if net.contains(&a))),
            Peer::Group { .. } | Peer::PrefixList(_) => None,
        };
        match (ports, peer) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        }
    }

    /// How many ports the rule opens: 65536 for all ports of a protocol with ports (and for
    /// `-1`, all protocols, which opens every TCP and UDP port); the range's size for a
    /// TCP/UDP range; `None` for protocols without ports (ICMP, GRE, ESP, ...).
    pub fn port_count(&self) -> Option<u32> {
        const ALL: u32 = 65536;
        match self.protocol {
            IpProtocol::All => Some(ALL),
            IpProtocol::Number(n) if PORT_PROTOCOLS.contains(&n) => Some(match self.ports {
                Ports::Range { from, to } if (n == TCP || n == UDP) => {
                    (u32::from(to) + 1).saturating_sub(u32::from(from))
                }
                // AWS ignores ranges on other protocols, and an Icmp value here could only be
                // hand-built: all ports either way.
                _ => ALL,
            }),
            IpProtocol::Number(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(protocol: IpProtocol, ports: Ports, peer: Peer) -> Rule {
        Rule {
            group_id: "sg-1".to_owned(),
            rule_id: None,
            egress: false,
            protocol,
            ports,
            peer,
            description: None,
        }
    }

    fn cidr(text: &str) -> Peer {
        Peer::Cidr(text.parse().unwrap())
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn protocol_names_and_numbers() {
        assert_eq!(IpProtocol::parse("-1"), Some(IpProtocol::All));
        assert_eq!(IpProtocol::parse("all"), Some(IpProtocol::All));
        assert_eq!(IpProtocol::parse("tcp"), Some(IpProtocol::Number(6)));
        assert_eq!(IpProtocol::parse("UDP"), Some(IpProtocol::Number(17)));
        assert_eq!(IpProtocol::parse("icmp"), Some(IpProtocol::Number(1)));
        assert_eq!(IpProtocol::parse("icmpv6"), Some(IpProtocol::Number(58)));
        assert_eq!(IpProtocol::parse("47"), Some(IpProtocol::Number(47)));
        assert_eq!(IpProtocol::parse("6"), Some(IpProtocol::Number(6)));
        assert_eq!(IpProtocol::parse("256"), None);
        assert_eq!(IpProtocol::parse("-2"), None);
        assert_eq!(IpProtocol::parse("gre"), None);
        assert_eq!(IpProtocol::Number(58).to_string(), "icmpv6");
        assert_eq!(IpProtocol::Number(47).to_string(), "47");
    }

    #[test]
    fn all_protocols_rule_matches_everything_from_its_block() {
        let r = rule(IpProtocol::All, Ports::All, cidr("10.0.0.0/16"));
        assert_eq!(r.matches(6, Some(22), ip("10.0.3.4")), Some(true));
        assert_eq!(r.matches(17, Some(53), ip("10.0.3.4")), Some(true));
        assert_eq!(r.matches(1, None, ip("10.0.3.4")), Some(true));
        assert_eq!(r.matches(47, None, ip("10.0.3.4")), Some(true));
        assert_eq!(r.matches(6, Some(22), ip("10.1.0.1")), Some(false));
    }

    #[test]
    fn tcp_range_is_inclusive_and_tcp_only() {
        let r = rule(
            IpProtocol::Number(TCP),
            Ports::Range {
                from: 8080,
                to: 8083,
            },
            cidr("0.0.0.0/0"),
        );
        assert_eq!(r.matches(6, Some(8079), ip("1.2.3.4")), Some(false));
        assert_eq!(r.matches(6, Some(8080), ip("1.2.3.4")), Some(true));
        assert_eq!(r.matches(6, Some(8083), ip("1.2.3.4")), Some(true));
        assert_eq!(r.matches(6, Some(8084), ip("1.2.3.4")), Some(false));
        // UDP to the same port is another protocol.
        assert_eq!(r.matches(17, Some(8080), ip("1.2.3.4")), Some(false));
        // A port range cannot be checked without a port.
        assert_eq!(r.matches(6, None, ip("1.2.3.4")), None);
        assert_eq!(r.port_count(), Some(4));
    }

    #[test]
    fn udp_rule_does_not_match_tcp() {
        let r = rule(
            IpProtocol::Number(UDP),
            Ports::Range { from: 53, to: 53 },
            cidr("10.0.0.0/8"),
        );
        assert_eq!(r.matches(17, Some(53), ip("10.9.9.9")), Some(true));
        assert_eq!(r.matches(6, Some(53), ip("10.9.9.9")), Some(false));
        assert_eq!(r.port_count(), Some(1));
    }

    #[test]
    fn icmp_rule_of_any_type_matches_icmp_traffic() {
        // Echo request only (type 8, code 0): flow logs carry no type, so it matches all ICMP.
        let echo = rule(
            IpProtocol::Number(ICMP),
            Ports::Icmp {
                icmp_type: Some(8),
                code: Some(0),
            },
            cidr("0.0.0.0/0"),
        );
        assert_eq!(echo.matches(1, None, ip("8.8.8.8")), Some(true));
        assert_eq!(echo.matches(1, Some(0), ip("8.8.8.8")), Some(true));
        // ICMPv6 is another protocol, and an IPv6 peer is outside an IPv4 block anyway.
        assert_eq!(echo.matches(58, None, ip("2001:db8::1")), Some(false));
        assert_eq!(echo.port_count(), None);
        let v6 = rule(
            IpProtocol::Number(ICMPV6),
            Ports::Icmp {
                icmp_type: None,
                code: None,
            },
            cidr("::/0"),
        );
        assert_eq!(v6.matches(58, None, ip("2001:db8::1")), Some(true));
        assert_eq!(v6.matches(1, None, ip("2001:db8::1")), Some(false));
    }

    #[test]
    fn gre_rule_covers_all_ports_whatever_is_given() {
        // AWS ignores ports on protocols other than tcp/udp/icmp/icmpv6; the reader stores
        // Ports::All for them, and matching ignores any port the caller passes.
        let r = rule(IpProtocol::Number(47), Ports::All, cidr("192.0.2.0/24"));
        assert_eq!(r.matches(47, None, ip("192.0.2.7")), Some(true));
        assert_eq!(r.matches(47, Some(1234), ip("192.0.2.7")), Some(true));
        assert_eq!(r.matches(6, Some(1234), ip("192.0.2.7")), Some(false));
        assert_eq!(r.port_count(), None);
    }

    #[test]
    fn address_families_never_cross() {
        let v4_all = rule(IpProtocol::All, Ports::All, cidr("0.0.0.0/0"));
        assert_eq!(v4_all.matches(6, Some(443), ip("2001:db8::1")), Some(false));
        assert_eq!(
            v4_all.matches(6, Some(443), ip("::ffff:10.0.0.1")),
            Some(false)
        );
        let v6_all = rule(IpProtocol::All, Ports::All, cidr("::/0"));
        assert_eq!(v6_all.matches(6, Some(443), ip("10.0.0.1")), Some(false));
        assert_eq!(v6_all.matches(6, Some(443), ip("2001:db8::1")), Some(true));
    }

    #[test]
    fn referenced_groups_and_prefix_lists_are_unknown_unless_ruled_out() {
        let group = rule(
            IpProtocol::Number(TCP),
            Ports::Range {
                from: 5432,
                to: 5432,
            },
            Peer::Group {
                group_id: "sg-app".to_owned(),
                user_id: None,
            },
        );
        assert_eq!(group.matches(6, Some(5432), ip("10.0.2.20")), None);
        // Wrong port or protocol: no member of any group makes it match.
        assert_eq!(group.matches(6, Some(22), ip("10.0.2.20")), Some(false));
        assert_eq!(group.matches(17, Some(5432), ip("10.0.2.20")), Some(false));
        let list = rule(
            IpProtocol::All,
            Ports::All,
            Peer::PrefixList("pl-63a5400a".to_owned()),
        );
        assert_eq!(list.matches(6, Some(443), ip("52.216.0.1")), None);
    }

    #[test]
    fn port_counts() {
        let all = rule(IpProtocol::All, Ports::All, cidr("0.0.0.0/0"));
        assert_eq!(all.port_count(), Some(65536));
        let tcp_all = rule(IpProtocol::Number(TCP), Ports::All, cidr("0.0.0.0/0"));
        assert_eq!(tcp_all.port_count(), Some(65536));
        let full = rule(
            IpProtocol::Number(UDP),
            Ports::Range { from: 0, to: 65535 },
            cidr("0.0.0.0/0"),
        );
        assert_eq!(full.port_count(), Some(65536));
        let sctp = rule(IpProtocol::Number(132), Ports::All, cidr("0.0.0.0/0"));
        assert_eq!(sctp.port_count(), Some(65536));
    }

    #[test]
    fn display() {
        assert_eq!(Ports::Range { from: 22, to: 22 }.to_string(), "22");
        assert_eq!(Ports::Range { from: 1, to: 9 }.to_string(), "1-9");
        let icmp = Ports::Icmp {
            icmp_type: Some(3),
            code: None,
        };
        assert_eq!(icmp.to_string(), "type 3");
        assert_eq!(cidr("10.0.0.0/8").to_string(), "10.0.0.0/8");
    }
}
