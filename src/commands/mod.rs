//! Runs a command: settings, the questions as queries, a source's answers, the analysis, and
//! the rendered result. The glue between the pure layers and the outside world.

use anyhow::{Context, Result};
use std::io::Write;

use crate::analysis::optimizer::Constraints;
use crate::analysis::ports::{
    ADDRESSES_TEMPLATE, INBOUND_TEMPLATE, PortsAnswers, PortsOptions, PortsReport,
    REPLIES_TEMPLATE, analyze_ports,
};
use crate::cli::{
    AuditCommand, Cli, Command, OutputFormat, PortsArgs, QueryArgs, SourceArgs, TemplatesArgs,
};
use crate::error::{Interrupted, UsageError};
use crate::flow::FlowRecord;
use crate::insights::{parser, templates};
use crate::render::{self, csv_out, stderr::Reporter, table};
use crate::settings::{self, CloudWatchSettings, Output, SourceSettings, Terminal};
use crate::source::cloudwatch::remote::{RemoteError, RemoteSource};
use crate::source::cloudwatch::{MAX_LIMIT, Runner, build_client, discover_log_groups};
use crate::source::local::{self, QuerySpec};
use crate::source::{QueryOutput, Render, RowSink, Table, Value, Window};

/// Everything a command needs from outside, passed in so commands are testable.
pub struct Environment {
    pub terminal: Terminal,
    pub now_s: i64,
}

pub fn run(cli: Cli, env: &Environment) -> Result<()> {
    match cli.command {
        Command::Ports(args) => ports(args, env),
        Command::Talkers(args) => audit::talkers(args, env),
        Command::Audit(AuditCommand::Outbound(args)) => audit::outbound(args, env),
        Command::Audit(AuditCommand::Rules(args)) => audit::rules(args, env),
        Command::Query(args) => query(args, env),
        Command::Templates(args) => list_templates(args, env),
    }
}

/// Parses a query, showing the caret display on error.
pub(crate) fn parse_query(text: &str, origin: &str) -> Result<crate::insights::ast::Query> {
    parser::parse(text).map_err(|e| {
        anyhow::Error::new(UsageError(format!(
            "{origin} is not a query flowsift can run:\n{}",
            e.display_with_source(text)
        )))
    })
}

mod audit;

/// Reads the inventory files a command was given; errors name the file.
pub(crate) fn load_inventory(
    security_groups: &[std::path::PathBuf],
    network_interfaces: &[std::path::PathBuf],
    config_items: &[std::path::PathBuf],
) -> Result<crate::inventory::Inventory> {
    let mut inventory = crate::inventory::Inventory::default();
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    };
    for path in security_groups {
        inventory.add_security_groups(&path.display().to_string(), &read(path)?)?;
    }
    for path in network_interfaces {
        inventory.add_network_interfaces(&path.display().to_string(), &read(path)?)?;
    }
    for path in config_items {
        inventory.add_config_items(&path.display().to_string(), &read(path)?)?;
    }
    Ok(inventory)
}

/// The answers to a command's queries, whatever the source.
pub(crate) struct Answers {
    pub(crate) outputs: Vec<QueryOutput>,
    pub(crate) warnings: Vec<String>,
}

pub(crate) fn answer(
    source: &SourceSettings,
    specs: &[QuerySpec],
    window: Window,
    reporter: &mut Reporter,
) -> Result<Answers> {
    match source {
        SourceSettings::Local(options) => {
            reporter.start_reading();
            let result = local::run(options, specs, window, &*reporter);
            reporter.finish();
            let run = result?;
            reporter.statistics(&run.statistics);
            Ok(Answers {
                outputs: run.outputs,
                warnings: run.warnings,
            })
        }
        SourceSettings::CloudWatch(settings) => answer_remote(settings, specs, window, reporter),
    }
}

/// A query Logs Insights refused is shown with a caret under the position it reported.
fn with_caret(error: RemoteError) -> anyhow::Error {
    let caret = match &error {
        RemoteError::CloudWatch(e) => e.caret_display(),
        _ => None,
    };
    match caret {
        Some(caret) => {
            anyhow::Error::new(error).context(format!("Logs Insights refused the query:\n{caret}"))
        }
        None => anyhow::Error::new(error),
    }
}

/// Runs the queries in CloudWatch Logs Insights. The async runtime exists only here. Ctrl-C,
/// like any error once queries started, stops every query still running before returning.
fn answer_remote(
    settings: &CloudWatchSettings,
    specs: &[QuerySpec],
    window: Window,
    reporter: &mut Reporter,
) -> Result<Answers> {
    let (Some(start_s), Some(end_s)) = (window.start_s, window.end_s) else {
        return Err(UsageError("a CloudWatch query needs a bounded window".to_owned()).into());
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    reporter.start_remote();
    let reporter_ref = &*reporter;
    let result = runtime.block_on(async {
        let client = build_client(&settings.client).await?;
        let mut log_groups = settings.log_groups.clone();
        if let Some(prefix) = &settings.log_group_prefix {
            log_groups = discover_log_groups(&client, prefix).await?;
            if log_groups.is_empty() {
                return Err(anyhow::Error::new(UsageError(format!(
                    "no log group name starts with `{prefix}` in this account and region; check --log-group-prefix, --region and --profile"
                ))));
            }
        }
        let runner = Runner::new(client, settings.options.clone());
        let source = RemoteSource {
            runner: &runner,
            log_groups,
            format: settings.format.clone(),
            custom_format: settings.custom_format,
            aggregate: settings.aggregate,
            strict: settings.strict,
            limit: MAX_LIMIT,
        };
        let progress = |event| reporter_ref.remote_event(event);
        let outcome = tokio::select! {
            answers = source.answer(specs, (start_s, end_s), &progress) => answers.map_err(with_caret),
            _ = tokio::signal::ctrl_c() => Err(anyhow::Error::new(Interrupted { stop_failures: Vec::new() })),
        };
        if outcome.is_err() {
            let failures: Vec<String> = runner.stop_all().await.iter().map(ToString::to_string).collect();
            if let Err(e) = &outcome
                && e.is::<Interrupted>() {
                    return Err(anyhow::Error::new(Interrupted { stop_failures: failures }));
                }
        }
        outcome
    });
    reporter.finish();
    let answers = result?;
    reporter.remote_statistics(
        &answers.statistics,
        answers.queries_run,
        settings.price_per_gb,
    );
    if let Some(local) = &answers.local {
        reporter.statistics(local);
    }
    Ok(Answers {
        outputs: answers.outputs,
        warnings: answers.warnings,
    })
}

/// The queries of `ports` (whose answers come first), then the given templates.
pub(crate) fn template_specs(more: &[&str]) -> Result<Vec<QuerySpec>> {
    [INBOUND_TEMPLATE, ADDRESSES_TEMPLATE, REPLIES_TEMPLATE]
        .iter()
        .chain(more)
        .map(|name| {
            Ok(QuerySpec {
                query: template_query(name)?,
                records: false,
            })
        })
        .collect()
}

/// The `ports` analysis of the first three answers of `template_specs`.
pub(crate) fn ports_report(outputs: &[QueryOutput], options: &PortsOptions) -> Result<PortsReport> {
    let [inbound, addresses, replies, ..] = outputs else {
        anyhow::bail!("internal error: the ports queries were not all answered");
    };
    Ok(analyze_ports(
        PortsAnswers {
            inbound,
            addresses,
            replies,
        },
        options,
    )?)
}

pub(crate) fn template_query(name: &str) -> Result<crate::insights::ast::Query> {
    let template = templates::get(name)?;
    let text = template.instantiate(&[])?;
    parse_query(&text, &format!("template `{name}`"))
}

/// The source for an analysis. Analyses read answers a row at a time (`Columns::new`), so
/// local `stats` answers are streamed to them: their rows, millions for large inputs, are
/// never all held.
pub(crate) fn analysis_source(args: &SourceArgs) -> Result<SourceSettings> {
    let mut source = settings::resolve_source(args)?;
    if let SourceSettings::Local(options) = &mut source {
        options.stream = true;
    }
    Ok(source)
}

fn ports(args: PortsArgs, env: &Environment) -> Result<()> {
    let output = Output::new(&args.output, env.terminal);
    let source = analysis_source(&args.source)?;
    let window = settings::resolve_window(&args.window, env.now_s, source.default_since_s())?;
    let specs = template_specs(&[])?;
    let mut reporter = Reporter::new(output);
    let run = answer(&source, &specs, window, &mut reporter)?;
    let options = PortsOptions {
        constraints: Constraints {
            max_rules: args.max_rules,
            max_open_ports: args.max_open_ports,
        },
        interfaces: args.interfaces.clone(),
        window,
    };
    let report = ports_report(&run.outputs, &options)?;
    for wanted in &args.interfaces {
        if !report.interfaces.iter().any(|e| &e.interface_id == wanted) {
            reporter.warn(&format!(
                "interface {wanted} has no accepted inbound traffic to report in this window"
            ));
        }
    }
    let text = match output.format {
        OutputFormat::Table => table::ports_table(&report),
        OutputFormat::Json => render::json(&report)?,
        OutputFormat::Csv => csv_out::ports_csv(&report)?,
    };
    render::write_stdout(&text)?;
    Ok(())
}

/// `query --input logs/ 'filter ...'`: --input takes several paths, so it also took the
/// query. A last value that is not a path on disk is the query.
fn take_trailing_query(args: &mut QueryArgs) {
    if args.query.is_some() || args.file.is_some() || args.template.is_some() {
        return;
    }
    if let Some(last) = args.source.inputs.last()
        && args.source.inputs.len() > 1
        && !last.exists()
    {
        args.query = args
            .source
            .inputs
            .pop()
            .map(|p| p.to_string_lossy().into_owned());
    }
    // Log group names hold only letters, digits and `_-/.#`; a query holds spaces.
    let is_group_name = |text: &str| {
        text.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-/.#".contains(c))
    };
    if args.query.is_none()
        && args.source.log_groups.len() > 1
        && args
            .source
            .log_groups
            .last()
            .is_some_and(|l| !is_group_name(l))
    {
        args.query = args.source.log_groups.pop();
    }
}

fn query_text(args: &QueryArgs) -> Result<(String, String)> {
    if let Some(text) = &args.query {
        return Ok((text.clone(), "the query".to_owned()));
    }
    if let Some(path) = &args.file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the query file {}", path.display()))?;
        return Ok((text, path.display().to_string()));
    }
    if let Some(name) = &args.template {
        let template = templates::get(name)?;
        let params = templates::parse_params(&args.params)?;
        return Ok((template.instantiate(&params)?, format!("template `{name}`")));
    }
    Err(UsageError(
        "give a query ('filter ... | stats ...'), --file PATH or --template NAME".to_owned(),
    )
    .into())
}

fn query(mut args: QueryArgs, env: &Environment) -> Result<()> {
    take_trailing_query(&mut args);
    let output = Output::new(&args.output, env.terminal);
    let mut source = settings::resolve_source(&args.source)?;
    if let SourceSettings::Local(options) = &mut source {
        // Rows are written as they are made (a table holds its first rows to size its columns).
        options.stream = !args.records;
    }
    let window = settings::resolve_window(&args.window, env.now_s, source.default_since_s())?;
    let (text, origin) = query_text(&args)?;
    let parsed = parse_query(&text, &origin)?;
    let mut reporter = Reporter::new(output);
    let specs = [QuerySpec {
        query: parsed,
        records: args.records,
    }];
    if let SourceSettings::Local(options) = &source
        && options.stream
        && write_local_rows(
            options,
            &specs[0],
            window,
            output,
            env.terminal,
            &mut reporter,
        )?
    {
        return Ok(());
    }
    let mut run = answer(&source, &specs, window, &mut reporter)?;
    for warning in &run.warnings {
        reporter.warn(warning);
    }
    let result = run.outputs.remove(0);
    if args.records {
        render::write_stdout(&records_output(&result.records, output.format)?)?;
        return Ok(());
    }
    // Rows are written as they are rendered: answers can hold millions of rows.
    let written = render::with_stdout(|out| -> Result<()> {
        match output.format {
            OutputFormat::Table => table::write_query_table(&result, out)?,
            OutputFormat::Json => render::write_query_json(&result, out)?,
            OutputFormat::Csv => csv_out::write_query_csv(&result, out)?,
        }
        Ok(())
    });
    // The process ends here and its memory with it: an answer held as millions of rows, each
    // an allocation somewhere in memory, would take a second or more to free one by one.
    std::mem::forget(result);
    written
}

/// Stdout for rows written while the files are read: on a terminal, the progress bar goes
/// before the first bytes of rows, which would otherwise be drawn among its updates.
struct RowsOut<'a> {
    out: &'a mut dyn Write,
    bar: Option<&'a Reporter>,
}

impl Write for RowsOut<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(reporter) = self.bar.take() {
            reporter.hide_bar();
        }
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Writes the rows of a local query without `stats` while the files are read, so that a
/// listing of any size is never held (`local::run_writing`). `Ok(false)`: the query is not
/// one of those, and nothing was written.
fn write_local_rows(
    options: &local::LocalOptions,
    spec: &QuerySpec,
    window: Window,
    output: Output,
    terminal: Terminal,
    reporter: &mut Reporter,
) -> Result<bool> {
    reporter.start_reading();
    let mut run = None;
    let written = render::with_stdout(|out| -> Result<()> {
        let shown = &*reporter;
        let out = &mut RowsOut {
            out,
            bar: terminal.stdout_is_tty.then_some(shown),
        };
        let (mut json, mut csv, mut grid);
        let (render, sink): (&Render<'_>, &mut dyn RowSink) = match output.format {
            OutputFormat::Json => {
                json = render::JsonRows::new(out);
                (&render::json_rows, &mut json)
            }
            OutputFormat::Csv => {
                csv = csv_out::CsvRows::new(out);
                (&csv_out::csv_rows, &mut csv)
            }
            OutputFormat::Table => {
                grid = table::TableRows::new(out, table::SIZING_ROWS);
                (&table::table_cells, &mut grid)
            }
        };
        match local::run_writing(options, spec, window, shown, render, &mut *sink) {
            Ok(written) => run = written,
            Err(e) => {
                // The rows before the error stay written, those a table holds too; a failure
                // to write them is not the error to report.
                let _ = sink.abandon();
                return Err(e.into());
            }
        }
        Ok(())
    });
    reporter.finish();
    written?;
    let Some(run) = run else { return Ok(false) };
    reporter.statistics(&run.statistics);
    for warning in &run.warnings {
        reporter.warn(warning);
    }
    Ok(true)
}

/// Records as a table: the union of their columns, in first-seen order.
fn records_table(records: &[FlowRecord]) -> Table {
    let mut columns: Vec<String> = Vec::new();
    for record in records {
        for (name, _) in record.iter() {
            if !columns.contains(&name) {
                columns.push(name);
            }
        }
    }
    let rows = records
        .iter()
        .map(|record| {
            let values: Vec<(String, &crate::flow::FieldValue)> = record.iter().collect();
            columns
                .iter()
                .map(
                    |c| match values.iter().find(|(n, _)| n == c).map(|(_, v)| *v) {
                        Some(crate::flow::FieldValue::Int(n)) => Value::Int(*n),
                        Some(crate::flow::FieldValue::Text(s)) => Value::Str(s.as_str().into()),
                        _ => Value::Null,
                    },
                )
                .collect()
        })
        .collect();
    Table { columns, rows }
}

fn records_output(records: &[FlowRecord], format: OutputFormat) -> Result<String> {
    Ok(match format {
        OutputFormat::Json => render::json(records)?,
        OutputFormat::Table => table::query_table(records_table(records))?,
        OutputFormat::Csv => csv_out::query_csv(&records_table(records))?,
    })
}

fn list_templates(args: TemplatesArgs, env: &Environment) -> Result<()> {
    let output = Output::new(&args.output, env.terminal);
    let all = templates::all();
    let text = match output.format {
        OutputFormat::Json => {
            let items: Vec<serde_json::Value> = all
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "name": t.name,
                        "description": t.description,
                        "params": t.params.iter().map(|(n, m)| serde_json::json!({"name": n, "description": m})).collect::<Vec<_>>(),
                        "query": t.text,
                    })
                })
                .collect();
            render::json(&items)?
        }
        OutputFormat::Table | OutputFormat::Csv => {
            let header = vec![
                "name".to_owned(),
                "params".to_owned(),
                "description".to_owned(),
            ];
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|t| {
                    vec![
                        t.name.to_owned(),
                        if t.params.is_empty() {
                            "-".to_owned()
                        } else {
                            t.params
                                .iter()
                                .map(|(n, _)| n.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        },
                        t.description.clone(),
                    ]
                })
                .collect();
            if output.format == OutputFormat::Csv {
                csv_out::query_csv(&Table {
                    columns: header,
                    rows: rows
                        .into_iter()
                        .map(|r| r.into_iter().map(|s| Value::Str(s.into())).collect())
                        .collect(),
                })?
            } else {
                table::grid(&header, &rows)
            }
        }
    };
    render::write_stdout(&text)?;
    Ok(())
}
