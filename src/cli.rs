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
    max_term_width = 100,
    after_help = "Examples:
  flowsift ports --input AWSLogs/ --max-rules 20 --max-open-ports 5
  flowsift ports --log-group /vpc/flow-logs --since 7d -o json
  flowsift talkers --input flows/ --port 22
  flowsift audit rules --input flows/ --security-groups sgs.json --network-interfaces enis.json
  flowsift query --input flows/ 'filter action = \"REJECT\" | stats count(*) by dstPort'"
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
    /// Who reached a port: source address, action, flows, packets, bytes, first and last seen.
    Talkers(TalkersArgs),
    /// Reviews of observed traffic: what interfaces sent, and existing rules against use.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Runs any supported Logs Insights query and prints typed rows or flow records.
    ///
    /// From files, the rows of a query without `stats` are written while the files are read,
    /// in file and line order, so a listing of any size takes little memory; a `limit` stops
    /// the reading once it is full. A `stats` answer is written as its rows are made. A `sort`
    /// holds half of --memory-limit of rows and sorts the rest through temporary files, read
    /// back as the rows are written. The table output sizes its columns by its first 1,000
    /// rows; --records holds the records first.
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

    /// Memory the groups of the answers may take when reading files (such as 128MiB, 2GiB or
    /// 500MB); beyond it they are kept in temporary files (in TMPDIR) and merged as the answers
    /// are written, so a larger limit is faster on answers of millions of groups. The rows a
    /// `sort` holds take half of it at most (beyond, they are sorted through temporary files
    /// too). A gzip file that fits half a core's share (and 64 MiB) is decompressed whole, its
    /// buffers counted in the limit.
    /// The whole process takes a few tens of MB more.
    #[arg(long, value_name = "SIZE", default_value = "128MiB", value_parser = parse_size, env = "FLOWSIFT_MEMORY_LIMIT", help_heading = "Source")]
    pub memory_limit: u64,

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

#[derive(Debug, Args)]
pub struct TalkersArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub window: WindowArgs,

    /// The destination port.
    #[arg(long, value_name = "PORT")]
    pub port: u16,

    /// Only traffic logged by this interface.
    #[arg(long = "interface", value_name = "ENI")]
    pub interface: Option<String>,

    /// Only this protocol: tcp, udp, icmp, icmpv6 or a number.
    #[arg(long, value_name = "PROTOCOL")]
    pub protocol: Option<String>,

    /// Rows shown in the table; the rest are summed in one line (JSON and CSV have every row).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// What each interface sent: admin ports, top external destinations, rejected outbound
    /// traffic, and NAT gateway traffic (the review AWS Prescriptive Guidance describes).
    Outbound(OutboundArgs),
    /// Existing inbound security-group rules against observed traffic: unused rules, ports or
    /// sources wider than used, rules open to the world that few sources use, and rules that
    /// cannot be checked (referenced groups, prefix lists).
    Rules(RulesArgs),
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub window: WindowArgs,

    /// `aws ec2 describe-security-groups` or `describe-security-group-rules` output (repeatable).
    #[arg(long = "security-groups", value_name = "FILE", required = true)]
    pub security_groups: Vec<PathBuf>,

    /// `aws ec2 describe-network-interfaces` output: which groups each interface has (repeatable).
    #[arg(long = "network-interfaces", value_name = "FILE")]
    pub network_interfaces: Vec<PathBuf>,

    /// AWS Config configuration items (get-resource-config-history or select-resource-config
    /// output) for interfaces and groups that no longer exist (repeatable).
    #[arg(long = "config-items", value_name = "FILE")]
    pub config_items: Vec<PathBuf>,

    /// Report a rule open to 0.0.0.0/0 or ::/0 that fewer distinct sources than this used.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub wildcard_threshold: usize,

    /// At most this many CIDR blocks in a suggested source list.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub max_source_blocks: usize,

    /// Limits for suggested port ranges, as in `ports`.
    #[arg(long, value_name = "N", default_value_t = 60)]
    pub max_rules: usize,

    /// Limits for suggested port ranges, as in `ports`.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_open_ports: u32,

    /// Print the suggested rules for review and applying instead of the report.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub emit: Option<Emit>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// `aws ec2 authorize-security-group-ingress --ip-permissions` commands.
    AwsCli,
    /// `aws_vpc_security_group_ingress_rule` resources.
    Terraform,
}

#[derive(Debug, Args)]
pub struct OutboundArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub window: WindowArgs,

    /// Review only this interface (repeatable). Default: every interface.
    #[arg(long = "interface", value_name = "ENI")]
    pub interfaces: Vec<String>,

    /// Expected destinations left out of the findings: lines of `CIDR PORTS PROTOCOL [note]`,
    /// e.g. `0.0.0.0/0 443 tcp HTTPS APIs`, `10.0.4.53 53 udp resolver` (PORTS and PROTOCOL may be *).
    #[arg(long, value_name = "FILE")]
    pub allow: Option<PathBuf>,

    /// The VPC's CIDR blocks (repeatable): addresses outside them are external. Default: the
    /// RFC 1918 private ranges.
    #[arg(long = "vpc-cidr", value_name = "CIDR")]
    pub vpc_cidrs: Vec<String>,

    /// Destination ports that count as admin or system ports, e.g. 22,3389,5985-5986.
    #[arg(long, value_name = "PORTS", default_value = "0-1023")]
    pub admin_ports: String,

    /// External destinations listed per interface, by bytes.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,

    /// `aws ec2 describe-network-interfaces` output, to recognize NAT gateway interfaces.
    #[arg(long = "network-interfaces", value_name = "FILE")]
    pub network_interfaces: Vec<PathBuf>,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// A size in bytes: a number with an optional unit, `K`, `M` or `G` and `KiB`, `MiB`, `GiB`
/// counting in 1024s, `KB`, `MB`, `GB` in 1000s, `B` for bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let unit_bytes: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => {
            return Err(format!(
                "`{text}` is not a size such as 128MiB, 2GiB or 500MB"
            ));
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_bytes))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("`{text}` is not a size above zero such as 128MiB, 2GiB or 500MB"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_count_in_1024s_or_1000s_as_their_unit_says() {
        assert_eq!(parse_size("160MiB"), Ok(160 << 20));
        assert_eq!(parse_size("160m"), Ok(160 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("64kb"), Ok(64_000));
        assert_eq!(parse_size(" 4096 "), Ok(4096));
        assert_eq!(parse_size("1B"), Ok(1));
        for bad in ["", "MiB", "0", "12XB", "1.5G", "-1G", "99999999999G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
