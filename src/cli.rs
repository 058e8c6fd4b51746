//! Command-line arguments as typed, before any validation.
//!
//! clap derive definitions only: the doc comments are the `--help` text. Checking and
//! combining arguments happens in `settings`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Least-privilege security-group rules and traffic audits from VPC Flow Logs.
///
/// flowsift asks what happened in a time window, in the CloudWatch Logs Insights query
/// language, and turns the answer into decisions. It asks CloudWatch Logs Insights
/// (--log-group) or reads flow-log files itself (--input: plain, gzip or Parquet, e.g. the S3
/// layout AWSLogs/<account>/vpcflowlogs/...).
#[derive(Debug, Parser)]
#[command(
    name = "flowsift",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Least-privilege inbound rules per interface and protocol, from the ports that served traffic.
    ///
    /// A port is a service port when accepted inbound traffic reached it and the interface did
    /// not start that connection (evidence: TCP flags and flow direction where the format has
    /// them; otherwise the interface's own address, peer and peer-port counts and ephemeral
    /// ranges). Ports that cannot be decided are listed as uncertain, never allowed silently.
    /// The ranges are chosen by an exact optimizer under --max-rules and --max-open-ports.
    Ports(PortsArgs),
    /// Runs any supported Logs Insights query and prints typed rows or flow records.
    Query(QueryArgs),
    /// Lists the bundled query templates.
    Templates(TemplatesArgs),
}

#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Flow-log files or folders (searched recursively): plain, gzip or Parquet.
    #[arg(short, long = "input", value_name = "PATH", num_args = 1.., help_heading = "Source")]
    pub inputs: Vec<PathBuf>,

    /// CloudWatch Logs log groups holding flow logs (repeatable; more than 50 are spread over
    /// several queries).
    #[arg(long = "log-group", value_name = "NAME", num_args = 1.., conflicts_with = "inputs", help_heading = "Source")]
    pub log_groups: Vec<String>,

    /// Every log group whose name starts with PREFIX (found with DescribeLogGroups).
    #[arg(long, value_name = "PREFIX", conflicts_with_all = ["inputs", "log_groups"], help_heading = "Source")]
    pub log_group_prefix: Option<String>,

    /// The layout of records without a header line, as describe-flow-logs returns it
    /// ('${version} ${account-id} ...'). Default: the version 2 format. Header lines win. For
    /// log groups, queries get a `parse @message` prefix that names these fields.
    #[arg(long, value_name = "FORMAT", help_heading = "Source")]
    pub log_format: Option<String>,

    /// Stop at the first malformed record instead of counting and skipping it.
    #[arg(long, help_heading = "Source")]
    pub strict: bool,

    #[command(flatten)]
    pub aws: AwsArgs,
}

/// How CloudWatch Logs is reached; ignored for files.
#[derive(Debug, Args)]
pub struct AwsArgs {
    /// The AWS profile to use (default: AWS_PROFILE, else the default profile).
    #[arg(long, value_name = "NAME", help_heading = "CloudWatch")]
    pub profile: Option<String>,

    /// The AWS region (default: AWS_REGION, else the profile's region).
    #[arg(long, value_name = "REGION", help_heading = "CloudWatch")]
    pub region: Option<String>,

    /// Send requests to this URL instead of the regional endpoint (default: AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL", help_heading = "CloudWatch")]
    pub endpoint_url: Option<String>,

    /// Where stats run: in Logs Insights (remote), or here over the window's raw records (local).
    #[arg(long, value_enum, default_value_t = AggregateArg::Remote, help_heading = "CloudWatch")]
    pub aggregate: AggregateArg,

    /// At most this many Logs Insights queries running at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=30), help_heading = "CloudWatch")]
    pub concurrency: u16,

    /// Give up (and stop the queries) after this long, e.g. 15m.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "15m",
        help_heading = "CloudWatch"
    )]
    pub timeout: String,

    /// The Logs Insights price per GB scanned, for the cost estimate printed at the end.
    #[arg(
        long,
        value_name = "USD",
        default_value_t = 0.005,
        help_heading = "CloudWatch"
    )]
    pub price_per_gb: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AggregateArg {
    Remote,
    Local,
}

#[derive(Debug, Args)]
pub struct WindowArgs {
    /// Only the last DURATION before now (e.g. 30m, 6h, 7d).
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["start", "end"])]
    pub since: Option<String>,

    /// Window start: RFC 3339 (2026-11-20T00:00:00Z) or epoch seconds. Inclusive. Default:
    /// everything in files; the last 24 hours in CloudWatch.
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,

    /// Window end: RFC 3339 or epoch seconds. Inclusive. Default: now when --start is given.
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// No progress or statistics on stderr (warnings and errors still print).
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct PortsArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub window: WindowArgs,

    /// Report only this interface (repeatable). Default: every interface in the data.
    #[arg(long = "interface", value_name = "ENI")]
    pub interfaces: Vec<String>,

    /// At most this many rules per interface and protocol (a security group holds 60 inbound rules by default).
    #[arg(long, value_name = "N", default_value_t = 60)]
    pub max_rules: usize,

    /// At most this many ports per rule that no traffic used.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_open_ports: u32,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub window: WindowArgs,

    /// The query text, e.g. 'filter action = "REJECT" | stats count(*) by dstPort'. It may also
    /// follow --input's paths: a last value that is not an existing path is taken as the query.
    #[arg(value_name = "QUERY", conflicts_with_all = ["file", "template"])]
    pub query: Option<String>,

    /// Read the query from a file.
    #[arg(long, value_name = "PATH", conflicts_with = "template")]
    pub file: Option<PathBuf>,

    /// Run a bundled template (see `flowsift templates`).
    #[arg(long, value_name = "NAME")]
    pub template: Option<String>,

    /// A template parameter (repeatable), e.g. --param port=22.
    #[arg(long = "param", value_name = "NAME=VALUE", requires = "template")]
    pub params: Vec<String>,

    /// Print the matching flow records themselves instead of the query's columns.
    #[arg(long)]
    pub records: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct TemplatesArgs {
    #[command(flatten)]
    pub output: OutputArgs,
}
