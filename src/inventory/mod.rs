//! The AWS inventory: security groups and network interfaces, read from AWS CLI and AWS Config
//! JSON.
//!
//! Pure: the readers take `(source, text)` (the caller reads the file; `source` is the name
//! errors give) and never touch the file system, the network or the environment. A reader that
//! fails leaves the inventory as it was.
//!
//! Inputs and how they combine:
//! - `add_security_groups`: `aws ec2 describe-security-groups` or `aws ec2
//!   describe-security-group-rules` output, told apart by the top-level key. Both describe the
//!   rules of a group; when both are given for a group, the rules from
//!   describe-security-group-rules win whichever came first, because they carry rule ids
//!   (`sgr-...`) that a report can point at. Its rules for one group from several files are
//!   merged (a rule id seen again replaces the earlier copy), so paginated output can be passed
//!   page by page. describe-security-groups still supplies the group's name and VPC. A group
//!   described twice by describe-security-groups keeps the later description.
//! - `add_network_interfaces`: `aws ec2 describe-network-interfaces`; a later entry for the
//!   same interface replaces the earlier.
//! - `add_config_items`: AWS Config items for interfaces and groups that may no longer exist
//!   (see the `config` module for the accepted documents). Per resource the latest item wins,
//!   by `configurationItemCaptureTime` when both items have one, else the one read later. A
//!   deletion item carries no configuration, so a deleted interface keeps the addresses of its
//!   last recorded configuration with `deleted` set. A live describe-* entry always wins over
//!   Config, whichever is read first.

mod config;
mod error;
mod groups;
mod interfaces;
mod json;
mod rules;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

pub use error::{Input, InventoryError};
pub use rules::{IpProtocol, Peer, Ports, Rule};

use config::{Kind, Recorded, Timestamp};

/// A security group and its rules, inbound and outbound (`Rule::egress`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityGroup {
    pub group_id: String,
    pub group_name: Option<String>,
    pub vpc_id: Option<String>,
    pub rules: Vec<Rule>,
}

/// A network interface (ENI): the addresses flow logs show, and the groups that guard it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkInterface {
    pub interface_id: String,
    /// Primary private IPv4 first, then secondary private addresses, then IPv6 addresses.
    pub private_addresses: Vec<IpAddr>,
    pub public_address: Option<IpAddr>,
    pub group_ids: Vec<String>,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub interface_type: Option<String>,
    pub description: Option<String>,
    pub instance_id: Option<String>,
    /// Created by an AWS service (load balancer, NAT gateway, Lambda, ...), not by the account.
    pub requester_managed: bool,
    /// Known from AWS Config only, whose latest item says `ResourceDeleted`.
    pub deleted: bool,
}

/// Security groups and interfaces by id.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub groups: BTreeMap<String, SecurityGroup>,
    pub interfaces: BTreeMap<String, NetworkInterface>,
    /// Where each entry came from, for the merge rules above. Bookkeeping only: editing the
    /// public maps directly is fine, later `add_*` calls just merge by these records.
    provenance: Provenance,
}

#[derive(Debug, Clone, Default)]
struct Provenance {
    group_rules: BTreeMap<String, RulesFrom>,
    live_interfaces: BTreeSet<String>,
    config_groups: BTreeMap<String, History<SecurityGroup>>,
    config_interfaces: BTreeMap<String, History<NetworkInterface>>,
    /// Input order of Config items across calls: the tie-breaker when capture times are
    /// missing or equal.
    next_seq: u64,
}

/// Which input a group's rules came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RulesFrom {
    Config,
    DescribeGroups,
    DescribeRules,
}

/// When a Config item was captured, and where it stood in the input.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    captured: Option<Timestamp>,
    seq: u64,
}

impl Stamp {
    fn newer_than(self, other: Stamp) -> bool {
        match (self.captured, other.captured) {
            (Some(a), Some(b)) if a != b => a > b,
            _ => self.seq > other.seq,
        }
    }
}

/// What Config says of one resource: whether its latest item is a deletion, and its latest
/// recorded configuration (deletion items have none).
#[derive(Debug, Clone)]
struct History<T> {
    latest: Stamp,
    deleted: bool,
    recorded: Option<(Stamp, T)>,
}

impl<T> History<T> {
    fn new(stamp: Stamp, deleted: bool, recorded: Option<T>) -> Self {
        History {
            latest: stamp,
            deleted,
            recorded: recorded.map(|r| (stamp, r)),
        }
    }

    fn record(&mut self, stamp: Stamp, deleted: bool, recorded: Option<T>) {
        if stamp.newer_than(self.latest) {
            self.latest = stamp;
            self.deleted = deleted;
        }
        if let Some(value) = recorded {
            let newer = match &self.recorded {
                Some((at, _)) => stamp.newer_than(*at),
                None => true,
            };
            if newer {
                self.recorded = Some((stamp, value));
            }
        }
    }
}

impl Inventory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `aws ec2 describe-security-groups` or `aws ec2 describe-security-group-rules`
    /// output (see the module docs for how they combine).
    pub fn add_security_groups(&mut self, source: &str, text: &str) -> Result<(), InventoryError> {
        let document = groups::parse(source, text)?;
        for group in document.groups {
            self.merge_described_group(group);
        }
        self.merge_rule_list(document.rules);
        Ok(())
    }

    /// Adds `aws ec2 describe-network-interfaces` output.
    pub fn add_network_interfaces(
        &mut self,
        source: &str,
        text: &str,
    ) -> Result<(), InventoryError> {
        for interface in interfaces::parse(source, text)? {
            self.provenance
                .live_interfaces
                .insert(interface.interface_id.clone());
            self.interfaces
                .insert(interface.interface_id.clone(), interface);
        }
        Ok(())
    }

    /// Adds AWS Config configuration items of network interfaces and security groups; items
    /// of other resource types are skipped.
    pub fn add_config_items(&mut self, source: &str, text: &str) -> Result<(), InventoryError> {
        let items = config::parse(source, text)?;
        let mut touched = BTreeSet::new();
        for item in items {
            let stamp = Stamp {
                captured: item.captured,
                seq: self.provenance.next_seq,
            };
            self.provenance.next_seq += 1;
            touched.insert((item.kind == Kind::Group, item.resource_id.clone()));
            match item.kind {
                Kind::Interface => {
                    let recorded = match item.recorded {
                        Some(Recorded::Interface(i)) => Some(i),
                        _ => None,
                    };
                    record(
                        &mut self.provenance.config_interfaces,
                        item.resource_id,
                        stamp,
                        item.deleted,
                        recorded,
                    );
                }
                Kind::Group => {
                    let recorded = match item.recorded {
                        Some(Recorded::Group(g)) => Some(g),
                        _ => None,
                    };
                    record(
                        &mut self.provenance.config_groups,
                        item.resource_id,
                        stamp,
                        item.deleted,
                        recorded,
                    );
                }
            }
        }
        for (is_group, id) in touched {
            if is_group {
                self.materialize_config_group(&id);
            } else {
                self.materialize_config_interface(&id);
            }
        }
        Ok(())
    }

    /// The groups of an interface that the inventory knows, in the interface's order. Empty
    /// for an unknown interface.
    pub fn groups_of(&self, interface_id: &str) -> Vec<&SecurityGroup> {
        self.interfaces
            .get(interface_id)
            .map(|interface| {
                interface
                    .group_ids
                    .iter()
                    .filter_map(|id| self.groups.get(id))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The interface that owns an address. Private addresses first (flow logs record an
    /// interface's own traffic by its private address), then public ones; a live interface
    /// before a deleted one, since AWS hands a deleted interface's address out again. Scans
    /// every interface: for many look-ups, build `address_index` once.
    pub fn interface_by_address(&self, addr: IpAddr) -> Option<&NetworkInterface> {
        let private = |deleted: bool| {
            self.interfaces
                .values()
                .find(|i| i.deleted == deleted && i.private_addresses.contains(&addr))
        };
        let public = |deleted: bool| {
            self.interfaces
                .values()
                .find(|i| i.deleted == deleted && i.public_address == Some(addr))
        };
        private(false)
            .or_else(|| private(true))
            .or_else(|| public(false))
            .or_else(|| public(true))
    }

    /// Every known address and its interface, with the same precedence as
    /// `interface_by_address`.
    pub fn address_index(&self) -> HashMap<IpAddr, &NetworkInterface> {
        let mut index = HashMap::new();
        for public in [false, true] {
            for deleted in [false, true] {
                for interface in self.interfaces.values().filter(|i| i.deleted == deleted) {
                    let addresses: Vec<IpAddr> = if public {
                        interface.public_address.into_iter().collect()
                    } else {
                        interface.private_addresses.clone()
                    };
                    for addr in addresses {
                        index.entry(addr).or_insert(interface);
                    }
                }
            }
        }
        index
    }

    fn merge_described_group(&mut self, group: SecurityGroup) {
        let from = self.provenance.group_rules.get(&group.group_id).copied();
        match (from, self.groups.get_mut(&group.group_id)) {
            // Rules with ids stay; the description still names the group.
            (Some(RulesFrom::DescribeRules), Some(existing)) => {
                existing.group_name = group.group_name;
                existing.vpc_id = group.vpc_id;
            }
            _ => {
                self.provenance
                    .group_rules
                    .insert(group.group_id.clone(), RulesFrom::DescribeGroups);
                self.groups.insert(group.group_id.clone(), group);
            }
        }
    }

    fn merge_rule_list(&mut self, rules: Vec<Rule>) {
        let mut by_group: BTreeMap<String, Vec<Rule>> = BTreeMap::new();
        for rule in rules {
            by_group
                .entry(rule.group_id.clone())
                .or_default()
                .push(rule);
        }
        for (group_id, rules) in by_group {
            let from = self.provenance.group_rules.get(&group_id).copied();
            let group = self
                .groups
                .entry(group_id.clone())
                .or_insert_with(|| SecurityGroup {
                    group_id: group_id.clone(),
                    ..SecurityGroup::default()
                });
            if from != Some(RulesFrom::DescribeRules) {
                group.rules.clear();
            }
            for rule in rules {
                merge_by_id(&mut group.rules, rule);
            }
            self.provenance
                .group_rules
                .insert(group_id, RulesFrom::DescribeRules);
        }
    }

    fn materialize_config_interface(&mut self, id: &str) {
        if self.provenance.live_interfaces.contains(id) {
            return;
        }
        let Some(history) = self.provenance.config_interfaces.get(id) else {
            return;
        };
        let interface = match &history.recorded {
            Some((_, recorded)) => NetworkInterface {
                deleted: history.deleted,
                ..recorded.clone()
            },
            // Known only as deleted: no addresses, but the id is real.
            None if history.deleted => NetworkInterface {
                interface_id: id.to_owned(),
                deleted: true,
                ..NetworkInterface::default()
            },
            // ResourceNotRecorded: nothing to say.
            None => return,
        };
        self.interfaces.insert(id.to_owned(), interface);
    }

    fn materialize_config_group(&mut self, id: &str) {
        let live = matches!(
            self.provenance.group_rules.get(id),
            Some(RulesFrom::DescribeGroups | RulesFrom::DescribeRules)
        );
        if live {
            return;
        }
        // A group known only from a deletion item is left out: with no rules it would read
        // as a group that allows nothing.
        let Some((_, group)) = self
            .provenance
            .config_groups
            .get(id)
            .and_then(|h| h.recorded.as_ref())
        else {
            return;
        };
        self.groups.insert(id.to_owned(), group.clone());
        self.provenance
            .group_rules
            .insert(id.to_owned(), RulesFrom::Config);
    }
}

fn record<T>(
    histories: &mut BTreeMap<String, History<T>>,
    id: String,
    stamp: Stamp,
    deleted: bool,
    recorded: Option<T>,
) {
    match histories.get_mut(&id) {
        Some(history) => history.record(stamp, deleted, recorded),
        None => {
            histories.insert(id, History::new(stamp, deleted, recorded));
        }
    }
}

/// Adds a rule to a group's list; a rule whose id is already there replaces that copy.
fn merge_by_id(rules: &mut Vec<Rule>, rule: Rule) {
    let existing = rule
        .rule_id
        .as_ref()
        .and_then(|id| rules.iter().position(|r| r.rule_id.as_ref() == Some(id)));
    match existing {
        Some(i) => rules[i] = rule,
        None => rules.push(rule),
    }
}

#[cfg(test)]
mod tests;
