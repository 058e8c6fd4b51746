//! Terminal tables.

use tabled::builder::Builder;
use tabled::settings::Style;

use crate::analysis::ports::{InterfacePorts, PortsReport, Rule};
use crate::error::escape_control;
use crate::source::Table;

/// A plain table with a header row; control characters in cells are escaped.
pub fn grid(header: &[String], rows: &[Vec<String>]) -> String {
    let mut builder = Builder::default();
    builder.push_record(header.iter().map(|h| h.to_uppercase()));
    for row in rows {
        builder.push_record(row.iter().map(|c| escape_control(c)));
    }
    let mut table = builder.build();
    table.with(Style::blank());
    // The blank style pads the last column; trailing spaces only get in the way.
    let mut text: String = table
        .to_string()
        .lines()
        .map(|line| format!("{}\n", line.trim_end()))
        .collect();
    if text.is_empty() {
        text.push('\n');
    }
    text
}

pub fn query_table(table: &Table) -> String {
    if table.rows.is_empty() {
        return "no rows\n".to_owned();
    }
    let rows: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|r| r.iter().map(ToString::to_string).collect())
        .collect();
    grid(&table.columns, &rows)
}

fn rule_text(rule: &Rule) -> String {
    match (rule.from_port, rule.to_port) {
        (-1, _) => "all".to_owned(),
        (a, b) if a == b => a.to_string(),
        (a, b) => format!("{a}-{b}"),
    }
}

fn join<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.iter().map(f).collect::<Vec<_>>().join(", ")
    }
}

fn rules_cell(entry: &InterfacePorts) -> String {
    if !entry.feasible {
        return match &entry.hint {
            Some(h) => format!(
                "infeasible: needs --max-rules {} or --max-open-ports {}",
                h.max_rules, h.max_open_ports
            ),
            None => "infeasible".to_owned(),
        };
    }
    join(&entry.rules, rule_text)
}

pub fn ports_table(report: &PortsReport) -> String {
    let header: Vec<String> = [
        "interface",
        "address",
        "protocol",
        "rules",
        "unused ports",
        "uncertain",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = report
        .interfaces
        .iter()
        .map(|e| {
            vec![
                e.interface_id.clone(),
                e.own_address.clone().unwrap_or_else(|| "?".to_owned()),
                e.protocol.clone(),
                rules_cell(e),
                join(&e.unused_ranges, |[a, b]| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                }),
                join(&e.uncertain_ports, |u| {
                    u.port.map_or("all".to_owned(), |p| p.to_string())
                }),
            ]
        })
        .collect();
    let mut text = format!(
        "window {} .. {}   at most {} rules, {} unused ports per rule\n\n",
        report.window.start.as_deref().unwrap_or("?"),
        report.window.end.as_deref().unwrap_or("?"),
        report.constraints.max_rules,
        report.constraints.max_open_ports
    );
    if report.interfaces.is_empty() {
        text.push_str("no accepted inbound traffic to any service port\n");
        return text;
    }
    text.push_str(&grid(&header, &rows));
    text.push('\n');
    let mut current: Option<&str> = None;
    for e in &report.interfaces {
        if current != Some(e.interface_id.as_str()) {
            current = Some(&e.interface_id);
            let parts: Vec<String> = report
                .interfaces
                .iter()
                .filter(|x| x.interface_id == e.interface_id)
                .map(summary)
                .collect();
            text.push_str(&format!("{}: {}\n", e.interface_id, parts.join("; ")));
        }
    }
    let uncertain: Vec<String> = report
        .interfaces
        .iter()
        .flat_map(|e| {
            e.uncertain_ports.iter().map(move |u| {
                format!(
                    "  {} {} {}: {}",
                    e.interface_id,
                    e.protocol,
                    u.port.map_or("(all)".to_owned(), |p| p.to_string()),
                    u.reason
                )
            })
        })
        .collect();
    if !uncertain.is_empty() {
        text.push_str("\nuncertain ports (not allowed; check them):\n");
        text.push_str(&uncertain.join("\n"));
        text.push('\n');
    }
    text
}

fn summary(e: &InterfacePorts) -> String {
    let n = |count: usize, what: &str| {
        if count == 1 {
            format!("1 {what}")
        } else {
            format!("{count} {what}s")
        }
    };
    let mut s = if !e.feasible {
        format!(
            "{} infeasible for {}",
            e.protocol,
            n(e.service_ports.len(), "port")
        )
    } else if e.rules.iter().any(|r| r.from_port < 0) {
        format!("{} allowed as a whole", e.protocol)
    } else {
        format!(
            "{} for {}, {} open but unused",
            n(e.rules.len(), &format!("{} rule", e.protocol)),
            n(e.service_ports.len(), "service port"),
            e.unused_port_count
        )
    };
    if !e.uncertain_ports.is_empty() {
        s.push_str(&format!(", {} uncertain", e.uncertain_ports.len()));
    }
    if e.reply_flows_ignored > 0 {
        s.push_str(&format!(
            ", {} reply flows of its own connections left out",
            e.reply_flows_ignored
        ));
    }
    if e.client_ports_ignored > 0 {
        s.push_str(&format!(
            ", {} client ports left out",
            e.client_ports_ignored
        ));
    }
    s
}

pub fn talkers_table(report: &crate::analysis::talkers::TalkersReport, top: usize) -> String {
    let mut text = format!(
        "window {} .. {}\n\n",
        report.window.start.as_deref().unwrap_or("?"),
        report.window.end.as_deref().unwrap_or("?"),
    );
    if report.is_empty() {
        text.push_str("no traffic to this port\n");
        return text;
    }
    let (shown, rest) = report.top(top);
    let header: Vec<String> = [
        "interface",
        "protocol",
        "port",
        "source",
        "action",
        "flows",
        "packets",
        "bytes",
        "first seen",
        "last seen",
    ]
    .map(String::from)
    .to_vec();
    let mut rows: Vec<Vec<String>> = shown
        .iter()
        .chain(rest.iter())
        .map(|r| {
            vec![
                r.interface_id.clone(),
                r.protocol.clone(),
                if r.port < 0 {
                    String::new()
                } else {
                    r.port.to_string()
                },
                r.srcaddr.clone(),
                r.action.clone(),
                r.flows.to_string(),
                r.packets.to_string(),
                r.bytes.to_string(),
                r.first_seen.clone().unwrap_or_default(),
                r.last_seen.clone().unwrap_or_default(),
            ]
        })
        .collect();
    if rows.is_empty() {
        rows.push(vec![String::new(); header.len()]);
    }
    text.push_str(&grid(&header, &rows));
    text
}

pub fn outbound_table(report: &crate::analysis::outbound::OutboundReport) -> String {
    let mut text = format!(
        "window {} .. {}   internal: {}   admin ports: {}\n\n",
        report.window.start.as_deref().unwrap_or("?"),
        report.window.end.as_deref().unwrap_or("?"),
        report.internal_cidrs.join(", "),
        report.admin_ports,
    );
    if report.findings.is_empty() {
        text.push_str("no findings\n");
    }
    let header: Vec<String> = ["kind", "destination", "action", "flows", "bytes", "why"]
        .map(String::from)
        .to_vec();
    let mut current: Option<&str> = None;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let flush = |text: &mut String, interface: Option<&str>, rows: &mut Vec<Vec<String>>| {
        if let Some(interface) = interface {
            text.push_str(&format!("{interface}\n"));
            text.push_str(&grid(&header, rows));
            text.push('\n');
        }
        rows.clear();
    };
    for f in &report.findings {
        if current != Some(f.interface_id.as_str()) {
            flush(&mut text, current, &mut rows);
            current = Some(&f.interface_id);
        }
        let port = f.port.map_or_else(String::new, |p| format!(":{p}"));
        rows.push(vec![
            f.kind.to_owned(),
            format!("{}{port}/{}", f.destination, f.protocol),
            f.action.clone(),
            f.flows.to_string(),
            f.bytes.to_string(),
            f.reason.clone(),
        ]);
    }
    flush(&mut text, current, &mut rows);
    text.push_str(&format!(
        "{} finding(s); {} left out by the allow file; {} reply flows of the interfaces' own services ignored\n",
        report.findings.len(),
        report.allowed,
        report.replies_ignored
    ));
    text
}

pub fn rules_table(report: &crate::analysis::rules::RulesReport) -> String {
    let mut text = format!(
        "window {} .. {}   {} inbound rule(s) checked\n\n",
        report.window.start.as_deref().unwrap_or("?"),
        report.window.end.as_deref().unwrap_or("?"),
        report.rules_checked
    );
    if report.findings.is_empty() {
        text.push_str("no findings: every rule matched traffic as narrow as the rule\n");
        return text;
    }
    let header: Vec<String> = ["group", "rule", "finding", "flows", "suggestion", "why"]
        .map(String::from)
        .to_vec();
    let rows: Vec<Vec<String>> = report
        .findings
        .iter()
        .map(|f| {
            let ports = match (f.rule.from_port, f.rule.to_port) {
                (Some(a), Some(b)) if a == b => format!(" {a}"),
                (Some(a), Some(b)) => format!(" {a}-{b}"),
                _ => String::new(),
            };
            let suggestion = f.suggestion.as_ref().map_or_else(String::new, |s| {
                let mut parts = Vec::new();
                if let Some(ranges) = &s.port_ranges {
                    parts.push(
                        ranges
                            .iter()
                            .map(|r| {
                                if r.from_port == r.to_port {
                                    format!("{} {}", r.protocol, r.from_port)
                                } else {
                                    format!("{} {}-{}", r.protocol, r.from_port, r.to_port)
                                }
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                    );
                }
                if let Some(sources) = &s.sources {
                    parts.push(format!("from {}", sources.join(", ")));
                }
                parts.join(" ")
            });
            vec![
                f.group_id.clone(),
                format!("{}{ports} from {}", f.rule.protocol, f.rule.source),
                f.kind.to_owned(),
                f.observed.flows.to_string(),
                suggestion,
                f.reason.clone(),
            ]
        })
        .collect();
    text.push_str(&grid(&header, &rows));
    text
}
