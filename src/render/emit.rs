//! Suggested rules as something to review and apply: AWS CLI commands or Terraform.
//!
//! flowsift never changes an account itself. The AWS CLI output adds the narrowed rules
//! (`authorize-security-group-ingress --ip-permissions`) and leaves the removal of the old
//! rules as commented commands, to run once the new ones are in place.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ipnet::IpNet;
use serde_json::json;

use crate::analysis::rules::{Replacement, RuleOut, RulesReport, replacements};

fn protocol_for_aws(protocol: &str) -> String {
    match protocol {
        "all" => "-1".to_owned(),
        other => other.to_owned(),
    }
}

fn revoke_comment(group_id: &str, rule: &RuleOut) -> String {
    match &rule.rule_id {
        Some(id) => format!(
            "# aws ec2 revoke-security-group-ingress --group-id {group_id} --security-group-rule-ids {id}"
        ),
        None => format!(
            "# aws ec2 revoke-security-group-ingress --group-id {group_id} --ip-permissions '{}'",
            serde_json::to_string(&[permission_of(rule)]).unwrap_or_default()
        ),
    }
}

/// The AWS form of an existing rule, for revoking it.
fn permission_of(rule: &RuleOut) -> serde_json::Value {
    let mut p = json!({ "IpProtocol": protocol_for_aws(&rule.protocol) });
    if let (Some(from), Some(to)) = (rule.from_port, rule.to_port) {
        p["FromPort"] = json!(from);
        p["ToPort"] = json!(to);
    }
    match rule.source.parse::<IpNet>() {
        Ok(IpNet::V4(net)) => p["IpRanges"] = json!([{ "CidrIp": net.to_string() }]),
        Ok(IpNet::V6(net)) => p["Ipv6Ranges"] = json!([{ "CidrIpv6": net.to_string() }]),
        Err(_) => {}
    }
    p
}

fn permission(r: &Replacement) -> serde_json::Value {
    let mut p = json!({ "IpProtocol": protocol_for_aws(&r.protocol) });
    if let (Some(from), Some(to)) = (r.from_port, r.to_port) {
        p["FromPort"] = json!(from);
        p["ToPort"] = json!(to);
    }
    let v4: Vec<_> = r
        .sources
        .iter()
        .filter_map(|n| match n {
            IpNet::V4(n) => Some(json!({ "CidrIp": n.to_string(), "Description": r.description })),
            IpNet::V6(_) => None,
        })
        .collect();
    let v6: Vec<_> = r
        .sources
        .iter()
        .filter_map(|n| match n {
            IpNet::V6(n) => {
                Some(json!({ "CidrIpv6": n.to_string(), "Description": r.description }))
            }
            IpNet::V4(_) => None,
        })
        .collect();
    if !v4.is_empty() {
        p["IpRanges"] = json!(v4);
    }
    if !v6.is_empty() {
        p["Ipv6Ranges"] = json!(v6);
    }
    p
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The rules of a group that narrowing findings would replace, in report order.
fn replaced_rules<'r>(report: &'r RulesReport, group: &str) -> Vec<&'r RuleOut> {
    let mut rules: Vec<&RuleOut> = Vec::new();
    for f in &report.findings {
        if f.group_id == group && f.suggestion.is_some() && !rules.contains(&&f.rule) {
            rules.push(&f.rule);
        }
    }
    rules
}

pub fn aws_cli(report: &RulesReport) -> String {
    let mut out = String::from(
        "#!/bin/sh\n# Suggested by flowsift from observed traffic. Review before running; flowsift changes nothing itself.\n",
    );
    let mut by_group: BTreeMap<&str, Vec<&Replacement>> = BTreeMap::new();
    let all = replacements(report);
    for r in &all {
        by_group.entry(&r.group_id).or_default().push(r);
    }
    for (group, list) in by_group {
        let permissions: Vec<_> = list.iter().map(|r| permission(r)).collect();
        let _ = writeln!(out, "\n# {group}: narrower rules for what the traffic used");
        let _ = writeln!(
            out,
            "aws ec2 authorize-security-group-ingress --group-id {group} --ip-permissions {}",
            shell_quote(&serde_json::to_string(&permissions).unwrap_or_default())
        );
        let replaced = replaced_rules(report, group);
        let _ = writeln!(out, "# then remove the rules they replace:");
        for rule in replaced {
            let _ = writeln!(out, "{}", revoke_comment(group, rule));
        }
    }
    let unused: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.kind == "unused")
        .collect();
    if !unused.is_empty() {
        let _ = writeln!(
            out,
            "\n# Rules no accepted traffic used in the window (check the reasons in the report first):"
        );
        for f in unused {
            let _ = writeln!(out, "{}", revoke_comment(&f.group_id, &f.rule));
        }
    }
    out
}

fn terraform_name(r: &Replacement, net: &IpNet, n: usize) -> String {
    let raw = format!(
        "{}_{}_{}_{}",
        r.group_id,
        r.protocol,
        r.from_port
            .map_or_else(|| "all".to_owned(), |p| p.to_string()),
        net.addr()
    );
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if n > 0 {
        name.push_str(&format!("_{n}"));
    }
    name
}

pub fn terraform(report: &RulesReport) -> String {
    let mut out =
        String::from("# Suggested by flowsift from observed traffic. Review before applying.\n");
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for r in replacements(report) {
        for net in &r.sources {
            let base = terraform_name(&r, net, 0);
            let count = names.entry(base.clone()).or_insert(0);
            let name = terraform_name(&r, net, *count);
            *count += 1;
            let _ = writeln!(
                out,
                "\nresource \"aws_vpc_security_group_ingress_rule\" \"{name}\" {{"
            );
            let _ = writeln!(out, "  security_group_id = \"{}\"", r.group_id);
            let _ = writeln!(
                out,
                "  ip_protocol       = \"{}\"",
                protocol_for_aws(&r.protocol)
            );
            if let (Some(from), Some(to)) = (r.from_port, r.to_port) {
                let _ = writeln!(out, "  from_port         = {from}");
                let _ = writeln!(out, "  to_port           = {to}");
            }
            match net {
                IpNet::V4(n) => {
                    let _ = writeln!(out, "  cidr_ipv4         = \"{n}\"");
                }
                IpNet::V6(n) => {
                    let _ = writeln!(out, "  cidr_ipv6         = \"{n}\"");
                }
            }
            let _ = writeln!(
                out,
                "  description       = \"{}\"",
                r.description.replace('"', "'")
            );
            let _ = writeln!(out, "}}");
        }
    }
    out
}
