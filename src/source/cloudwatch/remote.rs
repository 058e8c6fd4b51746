//! Answering flowsift's queries from CloudWatch Logs Insights.
//!
//! Two ways, chosen with `--aggregate`:
//! - `remote` (default): each query's record stage and `stats` run inside Logs Insights; when a
//!   truncated window was split, the parts merge group by group here, then the commands after
//!   `stats` (sort, limit, ...) run here over the merged rows, so a split never changes the answer.
//! - `local`: the window's raw records are fetched (`fields @timestamp, @message`, paged and
//!   split like any query) and the embedded engine evaluates the same queries over them.
//!
//! With a custom `--log-format`, every query sent starts with the `parse @message` command that
//! names the format's fields, so the same templates work whatever the format.

use std::sync::Arc;

use futures_util::future::try_join_all;

use super::CloudWatchError;
use super::results::rows_to_table;
use super::runner::{MAX_LIMIT, Progress, RemoteQuery, Runner, Statistics};
use crate::flow::{FlowRecord, LogFormat};
use crate::insights::ast::{Command, Expr, Parse, ParsePattern, Projection, Query};
use crate::insights::render;
use crate::source::local::eval::{self, PlanError, QueryShape};
use crate::source::local::{self, LocalError, LocalRun, QuerySpec};
use crate::source::{QueryOutput, Table, Value, Window};

/// Where `stats` run for CloudWatch sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Remote,
    Local,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(transparent)]
    CloudWatch(#[from] CloudWatchError),
    #[error("{0}")]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Local(#[from] LocalError),
}

/// The log groups to ask and how.
pub struct RemoteSource<'a> {
    pub runner: &'a Runner,
    pub log_groups: Vec<String>,
    /// The records' layout (for `--records` and local aggregation).
    pub format: LogFormat,
    /// Whether the format is a custom one given with `--log-format`: queries then carry a
    /// `parse @message` prefix, since Logs Insights discovers fields only for the default format.
    pub custom_format: bool,
    pub aggregate: Aggregate,
    pub strict: bool,
    /// Rows per StartQuery before a window counts as truncated and is split (at most 10,000).
    pub limit: i32,
}

/// The answers, with what they cost.
#[derive(Debug, Default)]
pub struct RemoteAnswers {
    pub outputs: Vec<QueryOutput>,
    pub statistics: Statistics,
    pub queries_run: usize,
    /// What the embedded engine read, for `--aggregate local` and `--records`.
    pub local: Option<crate::source::Statistics>,
    pub warnings: Vec<String>,
}

impl RemoteSource<'_> {
    fn prefix(&self) -> Vec<Command> {
        if !self.custom_format {
            return Vec::new();
        }
        let names = self
            .format
            .columns()
            .iter()
            .map(|c| c.insights_name().to_owned())
            .collect::<Vec<_>>();
        vec![Command::Parse(Parse {
            field: "@message".to_owned(),
            pattern: ParsePattern::Glob {
                pattern: vec!["*"; names.len()].join(" "),
                names,
            },
        })]
    }

    /// With `--log-format`, leaves out `stats ... by` keys that are fields the format does not
    /// have (such as `tcpFlags` in a custom v2-only format): they would be null in every row,
    /// and Logs Insights need not be trusted to group events by a field they lack. The merge
    /// puts them back as null columns.
    fn without_absent_keys(&self, mut commands: Vec<Command>) -> Vec<Command> {
        // Only a format the user gave is known; the v2 default is an assumption, and a log
        // group of another format would lose real group keys.
        if !self.custom_format {
            return commands;
        }
        let mut defined: Vec<String> = Vec::new();
        for command in &commands {
            match command {
                Command::Parse(Parse {
                    pattern: ParsePattern::Glob { names, .. },
                    ..
                }) => defined.extend(names.iter().cloned()),
                Command::Parse(Parse {
                    pattern: ParsePattern::Regex(text),
                    ..
                }) => {
                    if let Ok(regex) = regex::Regex::new(text) {
                        defined.extend(regex.capture_names().flatten().map(str::to_owned));
                    }
                }
                Command::Fields(list) | Command::Display(list) => {
                    defined.extend(list.iter().filter_map(|p| p.alias.clone()));
                }
                _ => {}
            }
        }
        for command in &mut commands {
            if let Command::Stats(stats) = command {
                stats.by.retain(|key| {
                    !matches!(&key.expr, Expr::Field(name)
                        if !name.starts_with('@')
                            && !defined.contains(name)
                            && self.format.resolve(name).is_none())
                });
            }
        }
        commands
    }

    fn text(&self, commands: Vec<Command>) -> String {
        let mut all = self.prefix();
        all.extend(commands);
        render(&Query { commands: all })
    }

    async fn fetch(
        &self,
        query_string: String,
        window: (i64, i64),
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<(Table, Statistics, usize, usize), CloudWatchError> {
        let query = RemoteQuery {
            log_groups: self.log_groups.clone(),
            query_string,
            start_s: window.0,
            end_s: window.1,
            limit: self.limit.clamp(1, MAX_LIMIT),
        };
        let outcome = self.runner.run(&query, progress).await?;
        let parts = outcome.parts.len();
        let table = rows_to_table(outcome.parts.iter().flat_map(|p| p.rows.iter()));
        let tables = parts;
        Ok((table, outcome.statistics, outcome.queries_run, tables))
    }

    /// Asks every query over the window `[start_s, end_s]` (inclusive, epoch seconds).
    pub async fn answer(
        &self,
        specs: &[QuerySpec],
        window: (i64, i64),
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<RemoteAnswers, RemoteError> {
        match self.aggregate {
            Aggregate::Local => self.answer_locally(specs, window, progress).await,
            Aggregate::Remote => {
                let answers = try_join_all(
                    specs
                        .iter()
                        .map(|spec| self.answer_one(spec, window, progress)),
                )
                .await?;
                let mut total = RemoteAnswers::default();
                for (output, statistics, queries, warnings) in answers {
                    total.outputs.push(output);
                    add(&mut total.statistics, statistics);
                    total.queries_run += queries;
                    total.warnings.extend(warnings);
                }
                Ok(total)
            }
        }
    }

    async fn answer_one(
        &self,
        spec: &QuerySpec,
        window: (i64, i64),
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<(QueryOutput, Statistics, usize, Vec<String>), RemoteError> {
        let shape = QueryShape::new(&spec.query, spec.records)?;
        let mut warnings = Vec::new();
        if spec.records {
            // The records' messages, and whatever the commands after the record stage use.
            let mut names = vec!["@timestamp".to_owned(), "@message".to_owned()];
            names.extend(shape.hidden_columns().iter().cloned());
            names.dedup();
            let mut commands = shape.record_filters();
            commands.push(fields(&names));
            commands.extend(shape.post().iter().filter(|c| !is_projection(c)).cloned());
            let (table, statistics, queries, _) =
                self.fetch(self.text(commands), window, progress).await?;
            let table = eval::post_process_columns(&shape, table, &names, 2)?;
            let (records, malformed) = self.records(&table);
            if malformed > 0 {
                warnings.push(format!(
                    "{malformed} @message value(s) did not fit the log format {}; pass the flow log's format with --log-format",
                    self.format
                ));
            }
            let output = QueryOutput {
                records_matched: records.len() as u64,
                table,
                records,
                stream: None,
            };
            return Ok((output, statistics, queries, warnings));
        }
        let text = match shape.stats() {
            Some(_) => self.text(self.without_absent_keys(shape.remote_part().commands)),
            None => {
                // Ask for the shown columns and those the later commands use, so that after a
                // split the parts can be sorted, filtered and limited here like in one answer.
                let mut commands = shape.record_stage().to_vec();
                commands.push(fields(&shape.row_columns()));
                commands.extend(shape.post().iter().filter(|c| !is_projection(c)).cloned());
                self.text(commands)
            }
        };
        let (table, statistics, queries, parts) = self.fetch(text, window, progress).await?;
        let table = match shape.stats() {
            Some(stats) => {
                let (merged, approximate) = eval::merge_stats(stats, vec![table]);
                if approximate && parts > 1 {
                    warnings.push(format!(
                        "the window was split into {parts} queries to stay under the row limit; avg and count_distinct were combined from the parts and are approximate"
                    ));
                }
                eval::post_process(&shape, merged)?
            }
            None => {
                let names = shape.row_columns();
                eval::post_process_columns(&shape, table, &names, shape.shown_columns())?
            }
        };
        let output = QueryOutput {
            records_matched: statistics.records_matched.max(0.0) as u64,
            table,
            records: Vec::new(),
            stream: None,
        };
        Ok((output, statistics, queries, warnings))
    }

    /// `@message` values parsed as flow records; those that do not fit are counted.
    fn records(&self, table: &Table) -> (Vec<FlowRecord>, usize) {
        let format = Arc::new(self.format.clone());
        let mut malformed = 0;
        let mut records = Vec::new();
        let Some(column) = table.column("@message") else {
            return (records, 0);
        };
        for row in &table.rows {
            match row.get(column) {
                Some(Value::Str(message)) => match FlowRecord::parse(message, &format) {
                    Ok(record) => records.push(record),
                    Err(_) => malformed += 1,
                },
                _ => malformed += 1,
            }
        }
        (records, malformed)
    }

    async fn answer_locally(
        &self,
        specs: &[QuerySpec],
        window: (i64, i64),
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<RemoteAnswers, RemoteError> {
        let fetch = vec![Command::Fields(vec![
            Projection {
                expr: Expr::Field("@timestamp".to_owned()),
                alias: None,
            },
            Projection {
                expr: Expr::Field("@message".to_owned()),
                alias: None,
            },
        ])];
        let text = render(&Query { commands: fetch });
        let (table, statistics, queries_run, _) = self.fetch(text, window, progress).await?;
        let messages: Vec<String> = table
            .column("@message")
            .map(|c| {
                table
                    .rows
                    .iter()
                    .filter_map(|r| r.get(c).and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let origin = format!("log group {}", self.log_groups.join(", "));
        let bounded = Window {
            start_s: Some(window.0),
            end_s: Some(window.1),
        };
        let LocalRun {
            outputs,
            statistics: local,
            warnings,
        } = local::run_messages(
            &origin,
            &messages,
            &self.format,
            self.strict,
            specs,
            bounded,
        )?;
        Ok(RemoteAnswers {
            outputs,
            statistics,
            queries_run,
            local: Some(local),
            warnings,
        })
    }
}

/// `fields a, b, ...`
fn fields(names: &[String]) -> Command {
    Command::Fields(
        names
            .iter()
            .map(|n| Projection {
                expr: Expr::Field(n.clone()),
                alias: None,
            })
            .collect(),
    )
}

fn is_projection(command: &Command) -> bool {
    matches!(command, Command::Fields(_) | Command::Display(_))
}

fn add(total: &mut Statistics, more: Statistics) {
    total.records_matched += more.records_matched;
    total.records_scanned += more.records_scanned;
    total.bytes_scanned += more.bytes_scanned;
}
