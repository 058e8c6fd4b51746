//! `talkers` and `audit ...`: the questions, the analyses and their output.

use std::collections::BTreeSet;

use anyhow::{Context, Result};

use super::{
    Environment, analysis_source, answer, parse_query, ports_report, template_query, template_specs,
};
use crate::analysis::optimizer::Constraints;
use crate::analysis::outbound::{self, OutboundOptions, PortSet, parse_allow};
use crate::analysis::ports::{ADDRESSES_TEMPLATE, PortsOptions, interface_addresses};
use crate::analysis::rules as rules_analysis;
use crate::analysis::talkers;
use crate::cli::{Emit, OutboundArgs, OutputFormat, RulesArgs, TalkersArgs};
use crate::error::UsageError;
use crate::flow::protocol_number;
use crate::insights::ast::{BinaryOp, Command, Expr, Literal};
use crate::insights::templates;
use crate::render::{self, csv_out, emit, stderr::Reporter, table};
use crate::settings::{self, Output};
use crate::source::local::QuerySpec;

/// Adds `filter` commands in front of a query.
fn with_filters(
    mut query: crate::insights::ast::Query,
    filters: Vec<Expr>,
) -> crate::insights::ast::Query {
    for (i, f) in filters.into_iter().enumerate() {
        query.commands.insert(i, Command::Filter(f));
    }
    query
}

fn equals(field: &str, value: Literal) -> Expr {
    Expr::Binary {
        left: Box::new(Expr::Field(field.to_owned())),
        op: BinaryOp::Eq,
        right: Box::new(Expr::Literal(value)),
    }
}

pub fn talkers(args: TalkersArgs, env: &Environment) -> Result<()> {
    let output = Output::new(&args.output, env.terminal);
    let source = analysis_source(&args.source)?;
    let window = settings::resolve_window(&args.window, env.now_s, source.default_since_s())?;
    let template = templates::get(talkers::TEMPLATE)?;
    let text = template.instantiate(&[("port".to_owned(), args.port.to_string())])?;
    let mut filters = Vec::new();
    if let Some(eni) = &args.interface {
        filters.push(equals("interfaceId", Literal::Str(eni.clone())));
    }
    if let Some(protocol) = &args.protocol {
        let number = protocol_number(protocol).ok_or_else(|| {
            UsageError(format!(
                "--protocol `{protocol}` is not tcp, udp, icmp, icmpv6 or a protocol number (0-255)"
            ))
        })?;
        filters.push(equals("protocol", Literal::Int(number)));
    }
    let query = with_filters(parse_query(&text, "template `talkers`")?, filters);
    let specs = [
        QuerySpec {
            query,
            records: false,
        },
        QuerySpec {
            query: template_query(ADDRESSES_TEMPLATE)?,
            records: false,
        },
    ];
    let mut reporter = Reporter::new(output);
    let answers = answer(&source, &specs, window, &mut reporter)?;
    let own = interface_addresses(&answers.outputs[1])?;
    let report = talkers::talkers(&answers.outputs[0], &own, window)?;
    // The answer (and the files its groups went to) is not needed while the report is written.
    drop(answers);
    // JSON and CSV list every talker: written as rendered, not held as text too.
    match output.format {
        OutputFormat::Table => render::write_stdout(&table::talkers_table(&report, args.top))?,
        OutputFormat::Json => render::with_stdout(|out| render::write_json(&report, out))?,
        OutputFormat::Csv => {
            render::with_stdout(|out| csv_out::write_talkers_csv(&report, out))?;
        }
    }
    Ok(())
}

fn read_file(path: &std::path::Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

pub fn outbound(args: OutboundArgs, env: &Environment) -> Result<()> {
    let output = Output::new(&args.output, env.terminal);
    let source = analysis_source(&args.source)?;
    let window = settings::resolve_window(&args.window, env.now_s, source.default_since_s())?;
    let admin_ports = PortSet::parse(&args.admin_ports).ok_or_else(|| {
        UsageError(format!(
            "--admin-ports `{}` is not a list of ports and ranges such as 22,3389,0-1023",
            args.admin_ports
        ))
    })?;
    let internal = if args.vpc_cidrs.is_empty() {
        outbound::rfc1918()
    } else {
        args.vpc_cidrs
            .iter()
            .map(|c| {
                c.parse().map_err(|_| {
                    UsageError(format!(
                        "--vpc-cidr `{c}` is not a CIDR block such as 10.0.0.0/16"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    let allow = match &args.allow {
        Some(path) => parse_allow(
            &path.display().to_string(),
            &read_file(path, "the allow file")?,
        )?,
        None => Vec::new(),
    };
    let mut nat_interfaces = BTreeSet::new();
    if !args.network_interfaces.is_empty() {
        let inventory = super::load_inventory(&[], &args.network_interfaces, &[])?;
        nat_interfaces.extend(
            inventory
                .interfaces
                .values()
                .filter(|i| i.interface_type.as_deref() == Some("nat_gateway"))
                .map(|i| i.interface_id.clone()),
        );
    }
    let specs = template_specs(&[outbound::TEMPLATE])?;
    let mut reporter = Reporter::new(output);
    let answers = answer(&source, &specs, window, &mut reporter)?;
    let ports = ports_report(
        &answers.outputs,
        &PortsOptions {
            constraints: Constraints {
                max_rules: 60,
                max_open_ports: 0,
            },
            interfaces: Vec::new(),
            window,
        },
    )?;
    let options = OutboundOptions {
        interfaces: args.interfaces.clone(),
        internal,
        admin_ports,
        allow,
        top: args.top,
        nat_interfaces,
    };
    let own = interface_addresses(&answers.outputs[1])?;
    let report = outbound::audit_outbound(
        &answers.outputs[3],
        &ports.interfaces,
        &own,
        &options,
        ports.window.clone(),
    )?;
    let text = match output.format {
        OutputFormat::Table => table::outbound_table(&report),
        OutputFormat::Json => render::json(&report)?,
        OutputFormat::Csv => csv_out::outbound_csv(&report)?,
    };
    render::write_stdout(&text)?;
    Ok(())
}

pub fn rules(args: RulesArgs, env: &Environment) -> Result<()> {
    let output = Output::new(&args.output, env.terminal);
    let source = analysis_source(&args.source)?;
    let window = settings::resolve_window(&args.window, env.now_s, source.default_since_s())?;
    let inventory = super::load_inventory(
        &args.security_groups,
        &args.network_interfaces,
        &args.config_items,
    )?;
    if inventory.interfaces.is_empty() {
        return Err(UsageError(
            "audit rules needs to know which groups each interface has: pass --network-interfaces (aws ec2 describe-network-interfaces output) or --config-items".to_owned(),
        )
        .into());
    }
    let specs = template_specs(&[rules_analysis::TEMPLATE])?;
    let mut reporter = Reporter::new(output);
    let answers = answer(&source, &specs, window, &mut reporter)?;
    let constraints = Constraints {
        max_rules: args.max_rules,
        max_open_ports: args.max_open_ports,
    };
    let ports = ports_report(
        &answers.outputs,
        &PortsOptions {
            constraints,
            interfaces: Vec::new(),
            window,
        },
    )?;
    let options = rules_analysis::RulesOptions {
        wildcard_threshold: args.wildcard_threshold,
        max_source_blocks: args.max_source_blocks.max(1),
        constraints,
    };
    let report = rules_analysis::audit_rules(
        &answers.outputs[3],
        &ports.interfaces,
        &inventory,
        &options,
        ports.window.clone(),
    )?;
    if !report.unknown_interfaces.is_empty() {
        reporter.warn(&format!(
            "{} interface(s) in the flow logs are not in the inventory, so their traffic was not matched to any group: {}",
            report.unknown_interfaces.len(),
            report.unknown_interfaces.join(", ")
        ));
    }
    let text = match (args.emit, output.format) {
        (Some(Emit::AwsCli), _) => emit::aws_cli(&report),
        (Some(Emit::Terraform), _) => emit::terraform(&report),
        (None, OutputFormat::Table) => table::rules_table(&report),
        (None, OutputFormat::Json) => render::json(&report)?,
        (None, OutputFormat::Csv) => csv_out::rules_csv(&report)?,
    };
    render::write_stdout(&text)?;
    Ok(())
}
