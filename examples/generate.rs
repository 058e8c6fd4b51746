#![allow(clippy::print_stdout, clippy::print_stderr)] // A command-line program: printing is its job.
//! Synthetic AWS VPC Flow Logs for flowsift's tests, docs and benchmarks.
//!
//! flowsift infers least-privilege security-group rules from the ports that
//! really served traffic, so it needs flow logs whose ground truth is known.
//! Real flow logs can't be shipped, so this example writes two kinds:
//!
//! * `generate sample DIR`: the small bundled sample. It is deterministic
//!   (the same bytes on every run). It covers one day (2026-11-20 UTC) of a
//!   six-interface VPC (web, app, db, bastion, a UDP log collector and an idle
//!   spare), with both legs of every connection, per-leg TCP flags, long-lived
//!   connections, rejected scans, NODATA and SKIPDATA records. It writes the
//!   morning as a CloudWatch Logs export (default v2 format, no header) and the
//!   afternoon as S3 deliveries (v5 custom format, header line, gzip). It also
//!   writes `truth.json`, the service ports each interface really served, and
//!   a README.
//! * `generate bulk --bytes SIZE --out DIR [--gzip --files N] [--seed S]`:
//!   benchmark input of about SIZE bytes of default-format records from a
//!   few hundred interfaces. Port popularity is skewed, every connection has
//!   both legs, about 3% of the records are REJECT, and there are a few
//!   NODATA and SKIPDATA records. Each seed always gives the same bytes.
//!
//! Run `cargo run --release --example generate -- --help` for usage.

use flate2::Compression;
use flate2::write::GzEncoder;
use std::collections::BTreeSet;
use std::error::Error;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Instant;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const FLOW_LOG_ID: &str = "fl-0123456789abcdef0";
const VPC_ID: &str = "vpc-0a9b8c7d6e5f40312";
const V2_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport \
                         protocol packets bytes start end action log-status";
const V5_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport \
                         protocol packets bytes start end action log-status vpc-id subnet-id \
                         instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id \
                         sublocation-type sublocation-id pkt-src-aws-service \
                         pkt-dst-aws-service flow-direction traffic-path";
/// Maximum aggregation interval of the flow logs (the default, 10 minutes).
const INTERVAL: u64 = 600;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
/// TCP flag bits as flow logs report them.
const FIN: u16 = 1;
const SYN: u16 = 2;
const SYN_ACK: u16 = 18;

const USAGE: &str = "\
usage:
  generate sample DIR
      Write the deterministic bundled sample (flow logs, truth.json, README.md) into DIR.
  generate bulk --bytes SIZE --out DIR [--gzip [--files N]] [--seed S]
      Write about SIZE bytes (suffix K, M or G, powers of 1024) of default-format
      flow log records: DIR/flows.log, or with --gzip N gzip files (default 1) in
      the S3 layout under DIR/AWSLogs/ (SIZE then counts the uncompressed text).
      The same seed (default 1) always gives the same bytes.";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("generate: error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Res<()> {
    match args.first().map(String::as_str) {
        Some("sample") => match args.get(1..) {
            Some([dir]) => write_sample(Path::new(dir)),
            _ => {
                Err(format!("`sample` takes exactly one argument, the output DIR\n{USAGE}").into())
            }
        },
        Some("bulk") => run_bulk(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n{USAGE}").into()),
        None => Err(format!("missing command\n{USAGE}").into()),
    }
}

/// Adds what was being done to an I/O error.
trait Ctx<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Res<T>;
}

impl<T> Ctx<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Res<T> {
        self.map_err(|e| format!("{}: {e}", what()).into())
    }
}

fn create_file(path: &Path) -> Res<File> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .ctx(|| format!("cannot create directory {}", parent.display()))?;
    }
    File::create(path).ctx(|| format!("cannot create {}", path.display()))
}

fn write_whole(path: &Path, bytes: &[u8]) -> Res<()> {
    let mut f = create_file(path)?;
    f.write_all(bytes)
        .ctx(|| format!("cannot write {}", path.display()))
}

fn write_gzip(path: &Path, text: &[u8], level: Compression) -> Res<()> {
    let f = create_file(path)?;
    // GzEncoder writes mtime 0 and no file name: the output is reproducible.
    let mut gz = GzEncoder::new(BufWriter::new(f), level);
    gz.write_all(text)
        .ctx(|| format!("cannot write {}", path.display()))?;
    let mut inner = gz
        .finish()
        .ctx(|| format!("cannot finish {}", path.display()))?;
    inner
        .flush()
        .ctx(|| format!("cannot write {}", path.display()))
}

// ---------------------------------------------------------------------------
// Deterministic PRNG and time helpers
// ---------------------------------------------------------------------------

/// splitmix64: tiny, fast, and good enough for synthetic traffic.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0); the multiply-shift bias is negligible here.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in lo..=hi.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability num/den.
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    fn port(&mut self, lo: u16, hi: u16) -> u16 {
        self.range(u64::from(lo), u64::from(hi)) as u16
    }

    /// A Linux ephemeral port (net.ipv4.ip_local_port_range default).
    fn linux_ephemeral(&mut self) -> u16 {
        self.port(32768, 60999)
    }
}

/// Mixes a seed with a stream number into an independent seed.
fn mix_seed(seed: u64, stream: u64) -> u64 {
    let mut r = Rng::new(seed ^ stream.wrapping_mul(0xd6e8_feb8_6659_fd93));
    r.next()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn epoch(y: i64, mo: u32, d: u32, h: u64, mi: u64, s: u64) -> u64 {
    days_from_civil(y, mo, d) as u64 * 86_400 + h * 3600 + mi * 60 + s
}

/// S3 key prefix and file name of one delivered flow log file whose name
/// carries the UTC time `t`.
fn s3_path(dir: &Path, t: u64, hash: u32) -> PathBuf {
    let (y, m, d) = civil_from_days((t / 86_400) as i64);
    let (hh, mm) = (t % 86_400 / 3600, t % 3600 / 60);
    dir.join(format!("AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/{y:04}/{m:02}/{d:02}"))
        .join(format!(
            "{ACCOUNT}_vpcflowlogs_{REGION}_{FLOW_LOG_ID}_{y:04}{m:02}{d:02}T{hh:02}{mm:02}Z_{hash:08x}.log.gz"
        ))
}

// ---------------------------------------------------------------------------
// Mode 1: the bundled sample
// ---------------------------------------------------------------------------

struct Iface {
    id: &'static str,
    role: &'static str,
    addr: Ipv4Addr,
    subnet: &'static str,
    instance: &'static str,
    az: &'static str,
    /// In a public subnet whose default route is the internet gateway (the
    /// others reach the internet through a NAT gateway in the VPC).
    public: bool,
}

const WEB: usize = 0;
const APP: usize = 1;
const DB: usize = 2;
const BASTION: usize = 3;
const LOGS: usize = 4;
const SPARE: usize = 5;

const IFACES: [Iface; 6] = [
    Iface {
        id: "eni-0a1b2c3d4e5f60718",
        role: "web",
        addr: Ipv4Addr::new(10, 0, 1, 10),
        subnet: "subnet-0f1e2d3c4b5a69788",
        instance: "i-0c4a7e2b9d1f35a60",
        az: "use1-az1",
        public: true,
    },
    Iface {
        id: "eni-0b7e4c19a2d35f861",
        role: "app",
        addr: Ipv4Addr::new(10, 0, 2, 20),
        subnet: "subnet-07a6b5c4d3e2f1a09",
        instance: "i-0e5b8f3c2a1d46b71",
        az: "use1-az2",
        public: false,
    },
    Iface {
        id: "eni-0c93d1f5e7a28b402",
        role: "db",
        addr: Ipv4Addr::new(10, 0, 3, 30),
        subnet: "subnet-0b9c8d7e6f5a4b3c2",
        instance: "i-0f6c9a4d3b2e57c82",
        az: "use1-az2",
        public: false,
    },
    Iface {
        id: "eni-0d25e8a6f3b49c173",
        role: "bastion",
        addr: Ipv4Addr::new(10, 0, 0, 5),
        subnet: "subnet-0a1b2c3d4e5f6a7b8",
        instance: "i-0a7d1b5e4c3f68d93",
        az: "use1-az1",
        public: true,
    },
    Iface {
        id: "eni-0e48f2b7c6d5a1e94",
        role: "logs",
        addr: Ipv4Addr::new(10, 0, 2, 40),
        subnet: "subnet-07a6b5c4d3e2f1a09",
        instance: "i-0b8e2c6f5d4a79ea4",
        az: "use1-az2",
        public: false,
    },
    Iface {
        id: "eni-0f61a3c8d9e7b2f05",
        role: "spare",
        addr: Ipv4Addr::new(10, 0, 2, 50),
        subnet: "subnet-07a6b5c4d3e2f1a09",
        instance: "i-0c9f3d7a6e5b8afb5",
        az: "use1-az2",
        public: false,
    },
];

/// Peers outside the data. Every public address is in a documentation range.
const RESOLVER: Ipv4Addr = Ipv4Addr::new(10, 0, 4, 53);
const API: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 200);
const NTP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 123);
const SMTP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 25);
const ADMINS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(198, 51, 100, 7),
    Ipv4Addr::new(203, 0, 113, 45),
    Ipv4Addr::new(192, 0, 2, 77),
];
/// Ports internet scanners probe (all closed on web and bastion, except
/// bastion's 22, which only the admin addresses may reach).
const SCAN_PORTS: [u16; 16] = [
    23, 445, 3389, 1433, 8080, 22, 5900, 3306, 6379, 25, 2323, 5432, 9200, 27017, 8443, 5555,
];
/// Fixed UDP source ports of the one-way senders: rsyslog and the statsd
/// client keep one socket for their whole life.
const APP_SYSLOG_SPORT: u16 = 45_110;
const WEB_SYSLOG_SPORT: u16 = 38_822;
const APP_STATSD_SPORT: u16 = 51_943;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    Ok,
    NoData,
    SkipData,
}

#[derive(Clone, Copy)]
struct Flow {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    proto: u8,
    packets: u64,
    bytes: u64,
    accept: bool,
    flags: u16,
    egress: bool,
    /// traffic-path for egress records.
    path: Option<u8>,
    /// This leg is a server's interface receiving a request on its service port.
    served: bool,
}

/// An SSH hop from the bastion: (target interface, minutes into the
/// admin's session, minutes long).
type Hop = (usize, u64, u64);

/// (packets, bytes) of the request and of the reply, if any.
type Vol = ((u64, u64), Option<(u64, u64)>);

#[derive(Clone, Copy)]
struct Rec {
    iface: usize,
    start: u64,
    end: u64,
    status: Status,
    flow: Option<Flow>,
    seq: u64,
}

/// One end of a connection: an address, and its interface if it is in the data.
#[derive(Clone, Copy)]
struct Ep {
    addr: Ipv4Addr,
    iface: Option<usize>,
}

fn ep_if(i: usize) -> Ep {
    Ep {
        addr: IFACES[i].addr,
        iface: Some(i),
    }
}

fn ep_ext(addr: Ipv4Addr) -> Ep {
    Ep { addr, iface: None }
}

/// A connection (TCP) or a request/response exchange (UDP, ICMP) from client
/// `c` to server `s`, active over t0..=t1; `req` and `resp` are total
/// (packets, bytes) in each direction, `resp` None for one-way traffic.
#[derive(Clone, Copy)]
struct Conn {
    c: Ep,
    s: Ep,
    proto: u8,
    sport: u16,
    dport: u16,
    t0: u64,
    t1: u64,
    req: (u64, u64),
    resp: Option<(u64, u64)>,
}

/// Shorthand for building a [`Conn`].
fn conn(
    c: Ep,
    s: Ep,
    proto: u8,
    (sport, dport): (u16, u16),
    (t0, t1): (u64, u64),
    (req, resp): Vol,
) -> Conn {
    Conn {
        c,
        s,
        proto,
        sport,
        dport,
        t0,
        t1,
        req,
        resp,
    }
}

struct Sim {
    rng: Rng,
    recs: Vec<Rec>,
    day0: u64,
    day1: u64,
}

impl Sim {
    fn push(&mut self, iface: usize, start: u64, end: u64, status: Status, flow: Option<Flow>) {
        let seq = self.recs.len() as u64;
        self.recs.push(Rec {
            iface,
            start,
            end,
            status,
            flow,
            seq,
        });
    }

    /// traffic-path of traffic leaving interface `i` for `dst`: 1 inside the
    /// VPC or through the NAT gateway, 2 through the internet gateway (these
    /// Xen instances aggregate over 10 minutes, so not the Nitro-only 8).
    fn path(i: usize, dst: Ipv4Addr) -> u8 {
        let o = dst.octets();
        if (o[0], o[1]) == (10, 0) || !IFACES[i].public {
            1
        } else {
            2
        }
    }

    /// Records the legs of one aggregation interval of `c`.
    fn legs(&mut self, c: &Conn, (start, end): (u64, u64), (req, resp): Vol, (cf, sf): (u16, u16)) {
        let mk = |src: Ipv4Addr,
                  dst: Ipv4Addr,
                  sport,
                  dport,
                  (packets, bytes): (u64, u64),
                  flags,
                  egress,
                  path,
                  served| Flow {
            src,
            dst,
            sport,
            dport,
            proto: c.proto,
            packets,
            bytes,
            accept: true,
            flags,
            egress,
            path,
            served,
        };
        let (ca, sa) = (c.c.addr, c.s.addr);
        if let Some(i) = c.c.iface {
            let f = mk(
                ca,
                sa,
                c.sport,
                c.dport,
                req,
                cf,
                true,
                Some(Self::path(i, sa)),
                false,
            );
            self.push(i, start, end, Status::Ok, Some(f));
        }
        if let Some(i) = c.s.iface {
            let f = mk(ca, sa, c.sport, c.dport, req, cf, false, None, true);
            self.push(i, start, end, Status::Ok, Some(f));
        }
        if let Some(resp) = resp {
            if let Some(i) = c.s.iface {
                let f = mk(
                    sa,
                    ca,
                    c.dport,
                    c.sport,
                    resp,
                    sf,
                    true,
                    Some(Self::path(i, ca)),
                    false,
                );
                self.push(i, start, end, Status::Ok, Some(f));
            }
            if let Some(i) = c.c.iface {
                let f = mk(sa, ca, c.dport, c.sport, resp, sf, false, None, false);
                self.push(i, start, end, Status::Ok, Some(f));
            }
        }
    }

    /// Splits `c` over the aggregation intervals it spans (clipped to the
    /// day) and records every leg in each, with TCP flags ORed per interval.
    fn conn(&mut self, c: Conn) {
        let t0 = c.t0.max(self.day0);
        let t1 = c.t1.min(self.day1 - 1).max(t0);
        let (opened, closed) = (c.t0 >= self.day0, c.t1 < self.day1);
        let (k0, k1) = (t0 / INTERVAL, t1 / INTERVAL);
        let span = t1 - t0 + 1;
        let full = c.t1 - c.t0 + 1;
        for k in k0..=k1 {
            let (ks, ke) = (k * INTERVAL, k * INTERVAL + INTERVAL - 1);
            let (s, e) = (t0.max(ks), t1.min(ke));
            // Long-lived connections show keepalive/ack traffic a few seconds
            // into an interval, not exactly on its boundary.
            let (s, e) = if k0 == k1 {
                (s, e)
            } else {
                let s = if k == k0 {
                    s
                } else {
                    (s + self.rng.below(5)).min(e)
                };
                let e = if k == k1 {
                    e
                } else {
                    e.saturating_sub(self.rng.below(5)).max(s)
                };
                (s, e)
            };
            let share = |(p, b): (u64, u64)| {
                if c.t0 >= self.day0 && k0 == k1 {
                    (p, b)
                } else {
                    let frac = |x: u64| x * (e - s + 1) / full.max(span);
                    let p = frac(p).max(1);
                    (p, frac(b).max(p * 52))
                }
            };
            let (req, resp) = (share(c.req), c.resp.map(share));
            let (cf, sf) = if c.proto == TCP {
                let first = k == k0 && opened;
                let last = k == k1 && closed;
                (
                    if first { SYN } else { 0 } | if last { FIN } else { 0 },
                    if first { SYN_ACK } else { 0 } | if last { FIN } else { 0 },
                )
            } else {
                (0, 0)
            };
            self.legs(&c, (s, e), (req, resp), (cf, sf));
        }
    }

    /// A probe from the internet that the target's security group rejects:
    /// one inbound record, no reply.
    fn reject_in(
        &mut self,
        src: Ipv4Addr,
        target: usize,
        proto: u8,
        sport: u16,
        dport: u16,
        t: u64,
    ) {
        let (packets, bytes) = match proto {
            ICMP => (1, 84),
            _ if self.rng.chance(1, 4) => (2, 88),
            _ => (1, 40 + 4 * self.rng.below(2)),
        };
        let f = Flow {
            src,
            dst: IFACES[target].addr,
            sport,
            dport,
            proto,
            packets,
            bytes,
            accept: false,
            flags: if proto == TCP { SYN } else { 0 },
            egress: false,
            path: None,
            served: false,
        };
        let end = t + self.rng.below(3);
        self.push(target, t, end, Status::Ok, Some(f));
    }

    /// An outbound connection attempt that the source's security group
    /// rejects: the SYN and its retransmissions, one record.
    fn reject_out(&mut self, from: usize, dst: Ipv4Addr, dport: u16, t: u64) {
        let f = Flow {
            src: IFACES[from].addr,
            dst,
            sport: self.rng.linux_ephemeral(),
            dport,
            proto: TCP,
            packets: 3,
            bytes: 180,
            accept: false,
            flags: SYN,
            egress: true,
            path: Some(Self::path(from, dst)),
            served: false,
        };
        self.push(from, t, t + 3, Status::Ok, Some(f));
    }

    /// Replaces every record of interface `i` in interval `k` with one SKIPDATA record.
    fn skip(&mut self, i: usize, k: u64) {
        let (ks, ke) = (k * INTERVAL, k * INTERVAL + INTERVAL - 1);
        self.recs
            .retain(|r| !(r.iface == i && (ks..=ke).contains(&r.start)));
        let (s, e) = (ks + self.rng.below(20), ke - self.rng.below(20));
        self.push(i, s, e, Status::SkipData, None);
    }
}

/// A distinct set of documentation-range addresses, none of the special ones.
fn doc_pool(rng: &mut Rng, n: usize, avoid: &BTreeSet<Ipv4Addr>) -> Vec<Ipv4Addr> {
    const NETS: [[u8; 3]; 3] = [[198, 51, 100], [203, 0, 113], [192, 0, 2]];
    let mut seen = avoid.clone();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let net = NETS[rng.below(3) as usize];
        let a = Ipv4Addr::new(net[0], net[1], net[2], rng.range(1, 254) as u8);
        if seen.insert(a) {
            out.push(a);
        }
    }
    out
}

/// A client port on an internet host: Linux, or Windows/macOS (49152-65535).
fn internet_client_port(rng: &mut Rng) -> u16 {
    if rng.chance(1, 2) {
        rng.linux_ephemeral()
    } else {
        rng.port(49152, 65535)
    }
}

/// Total (packets, bytes) of `pkts` packets averaging `payload` bytes of
/// payload each (plus 52 bytes of IP and TCP headers), with some noise.
fn volume(rng: &mut Rng, pkts: u64, payload: u64) -> (u64, u64) {
    let per = 52 + payload * (80 + rng.below(41)) / 100;
    (pkts, pkts * per)
}

struct Sample {
    recs: Vec<Rec>,
    day0: u64,
    noon: u64,
    /// The 8-hex-digit suffixes of the S3 file names of the afternoon.
    hashes: Vec<u32>,
}

/// Simulates the day; records are unsorted.
fn simulate() -> Sample {
    let day0 = epoch(2026, 11, 20, 0, 0, 0);
    let mut sim = Sim {
        rng: Rng::new(0xf10f_51f7_2026_1120),
        recs: Vec::new(),
        day0,
        day1: day0 + 86_400,
    };
    let mut avoid: BTreeSet<Ipv4Addr> = ADMINS.iter().copied().collect();
    avoid.extend([API, NTP, SMTP]);
    let clients = doc_pool(&mut sim.rng, 150, &avoid);
    avoid.extend(clients.iter().copied());
    let scanners = doc_pool(&mut sim.rng, 40, &avoid);
    let at = |h: u64, m: u64, s: u64| day0 + h * 3600 + m * 60 + s;

    // Prometheus on the bastion keeps one connection to app:9100 open and
    // scrapes every 15 s. The first one was opened the evening before, so the
    // sample begins without its SYN; the last one is still open at midnight.
    let scrapes = [
        (day0 - 10_018, at(5, 42, 13)),
        (at(5, 42, 14), at(13, 5, 50)),
        (at(13, 5, 51), day0 + 86_400 + 7200),
    ];
    for (t0, t1) in scrapes {
        let n = (t1 - t0) / 15;
        let req = (n * 3, n * (280 + 104));
        let resp = (n * 9, n * 12_400);
        let c = conn(
            ep_if(BASTION),
            ep_if(APP),
            TCP,
            (sim.rng.linux_ephemeral(), 9100),
            (t0, t1),
            (req, Some(resp)),
        );
        sim.conn(c);
    }

    // Long-lived database pool connections from app, beside short ones below.
    for (t0, t1) in [
        (at(1, 10, 4), at(2, 55, 31)),
        (at(6, 2, 40), at(7, 20, 2)),
        (at(14, 20, 9), at(16, 41, 57)),
    ] {
        let q = (t1 - t0) / 4;
        let (req, resp) = (
            volume(&mut sim.rng, q * 2, 300),
            volume(&mut sim.rng, q * 2, 900),
        );
        let c = conn(
            ep_if(APP),
            ep_if(DB),
            TCP,
            (sim.rng.linux_ephemeral(), 5432),
            (t0, t1),
            (req, Some(resp)),
        );
        sim.conn(c);
    }

    // Admin SSH sessions to the bastion, with hops to app and db inside them.
    // (start, minutes, admin, hops as (target, offset min, minutes))
    let sessions: [(u64, u64, usize, &[Hop]); 6] = [
        (at(2, 14, 37), 38, 0, &[(APP, 3, 21)]),
        (at(8, 31, 2), 22, 1, &[(DB, 2, 9), (APP, 12, 6)]),
        (at(10, 6, 48), 12, 2, &[]),
        (at(15, 0, 19), 47, 0, &[(DB, 5, 30)]),
        (at(20, 17, 55), 25, 2, &[(APP, 1, 14), (DB, 16, 7)]),
        (at(23, 31, 12), 8, 1, &[(APP, 2, 4)]),
    ];
    for (t0, mins, admin, hops) in sessions {
        let dur = mins * 60 + sim.rng.below(60);
        let n = dur / 2;
        let (req, resp) = (
            volume(&mut sim.rng, n, 60),
            volume(&mut sim.rng, n + n / 2, 220),
        );
        let sport = internet_client_port(&mut sim.rng);
        let c = conn(
            ep_ext(ADMINS[admin]),
            ep_if(BASTION),
            TCP,
            (sport, 22),
            (t0, t0 + dur),
            (req, Some(resp)),
        );
        sim.conn(c);
        for &(target, off, hmins) in hops {
            let h0 = t0 + off * 60 + sim.rng.below(40);
            let hdur = hmins * 60 + sim.rng.below(50);
            let n = hdur / 2;
            let (req, resp) = (
                volume(&mut sim.rng, n, 60),
                volume(&mut sim.rng, n + n / 2, 200),
            );
            let c = conn(
                ep_if(BASTION),
                ep_if(target),
                TCP,
                (sim.rng.linux_ephemeral(), 22),
                (h0, h0 + hdur),
                (req, Some(resp)),
            );
            sim.conn(c);
        }
    }

    // A misconfigured mailer on app tries to send mail directly; egress is denied.
    for (t, tries) in [(at(3, 17, 41), 2), (at(17, 2, 9), 3)] {
        for i in 0..tries {
            sim.reject_out(APP, SMTP, 25, t + i * 31);
        }
    }

    for k in 0..144 {
        let ts = day0 + k * INTERVAL;
        let hour = k / 6;
        let rng = &mut sim.rng;
        let mut conns: Vec<Conn> = Vec::new();

        // Internet clients of web, busier in the (US) daytime.
        let n_web = if (13..=23).contains(&hour) {
            rng.range(1, 4)
        } else {
            rng.range(0, 2)
        };
        for _ in 0..n_web {
            let t0 = ts + rng.below(590);
            let client = clients[rng.below(150).min(rng.below(150)) as usize];
            let https = rng.chance(4, 5);
            let sport = internet_client_port(rng);
            let (dport, dur, req, resp) = if https {
                let n = rng.range(8, 30);
                let m = n + rng.range(2, 50);
                (
                    443,
                    rng.range(1, 40),
                    volume(rng, n, 180),
                    volume(rng, m, 1100),
                )
            } else {
                // Plain HTTP: a redirect to https.
                let (n, m) = (rng.range(5, 7), rng.range(4, 6));
                (80, rng.below(2), volume(rng, n, 60), volume(rng, m, 90))
            };
            conns.push(conn(
                ep_ext(client),
                ep_if(WEB),
                TCP,
                (sport, dport),
                (t0, t0 + dur),
                (req, Some(resp)),
            ));
            if https && rng.chance(11, 20) {
                let dport = if rng.chance(3, 4) { 8080 } else { 8081 };
                let t = t0 + rng.below(dur.min(5) + 1);
                let n = rng.range(6, 14);
                let m = n + rng.range(0, 20);
                let (req, resp) = (volume(rng, n, 220), volume(rng, m, 900));
                conns.push(conn(
                    ep_if(WEB),
                    ep_if(APP),
                    TCP,
                    (rng.linux_ephemeral(), dport),
                    (t, t + rng.below(3)),
                    (req, Some(resp)),
                ));
            }
        }
        // The rarely used admin API of app, every two hours.
        if k % 12 == 5 {
            let t = ts + rng.below(590);
            let (req, resp) = (volume(rng, 7, 150), volume(rng, 9, 400));
            conns.push(conn(
                ep_if(WEB),
                ep_if(APP),
                TCP,
                (rng.linux_ephemeral(), 8083),
                (t, t + 1),
                (req, Some(resp)),
            ));
        }
        // Short queries from app to db.
        for _ in 0..rng.range(0, 2) {
            let t = ts + rng.below(595);
            let n = rng.range(8, 20);
            let m = n + rng.range(0, 12);
            let (req, resp) = (volume(rng, n, 120), volume(rng, m, 600));
            conns.push(conn(
                ep_if(APP),
                ep_if(DB),
                TCP,
                (rng.linux_ephemeral(), 5432),
                (t, t + rng.below(3)),
                (req, Some(resp)),
            ));
        }
        // DNS lookups from app, each from a new source port.
        for _ in 0..rng.range(0, 2) {
            let t = ts + rng.below(599);
            let (req, resp) = ((1, rng.range(60, 90)), (1, rng.range(90, 250)));
            conns.push(conn(
                ep_if(APP),
                ep_ext(RESOLVER),
                UDP,
                (rng.linux_ephemeral(), 53),
                (t, t),
                (req, Some(resp)),
            ));
        }
        // Calls to an external HTTPS API (through the NAT gateway).
        if rng.chance(1, 2) {
            let t = ts + rng.below(590);
            let n = rng.range(10, 16);
            let (req, resp) = (volume(rng, n, 250), volume(rng, n + 2, 1300));
            conns.push(conn(
                ep_if(APP),
                ep_ext(API),
                TCP,
                (rng.linux_ephemeral(), 443),
                (t, t + rng.range(1, 4)),
                (req, Some(resp)),
            ));
        }
        // One-way UDP: syslog from app and web, statsd from app (no replies).
        let (s, e) = (ts + rng.below(15), ts + INTERVAL - 1 - rng.below(15));
        for (from, sport, dport, pkts, size) in [
            (APP, APP_SYSLOG_SPORT, 514, 15 + rng.below(46), 190),
            (WEB, WEB_SYSLOG_SPORT, 514, 10 + rng.below(31), 240),
            (APP, APP_STATSD_SPORT, 8125, 60, 110),
        ] {
            let v = volume(rng, pkts, size);
            conns.push(conn(
                ep_if(from),
                ep_if(LOGS),
                UDP,
                (sport, dport),
                (s, e),
                (v, None),
            ));
        }
        // chrony on the logs host polls a public NTP server from random ports.
        if rng.chance(3, 5) {
            let t = ts + rng.below(599);
            conns.push(conn(
                ep_if(LOGS),
                ep_ext(NTP),
                UDP,
                (rng.linux_ephemeral(), 123),
                (t, t),
                ((1, 76), Some((1, 76))),
            ));
        }
        for c in conns {
            sim.conn(c);
        }

        // Internet scanners, rejected by the security groups.
        for _ in 0..sim.rng.range(0, 2) {
            let t = ts + sim.rng.below(597);
            let src = scanners[sim.rng.below(scanners.len() as u64) as usize];
            let target = if sim.rng.chance(1, 2) { WEB } else { BASTION };
            if sim.rng.chance(1, 10) {
                sim.reject_in(src, target, ICMP, 0, 0, t);
            } else {
                let dport = if sim.rng.chance(9, 10) {
                    SCAN_PORTS[sim.rng.below(16) as usize]
                } else {
                    sim.rng.port(1, 65535)
                };
                let dport = if target == WEB && (dport == 80 || dport == 443) {
                    8080
                } else {
                    dport
                };
                let sport = if sim.rng.chance(1, 3) {
                    54321
                } else {
                    sim.rng.port(1024, 65535)
                };
                sim.reject_in(src, target, TCP, sport, dport, t);
            }
        }

        // The spare interface never sees a packet.
        let (s, e) = (
            ts + sim.rng.below(30),
            ts + INTERVAL - 1 - sim.rng.below(30),
        );
        sim.push(SPARE, s, e, Status::NoData, None);
    }

    // Flow Logs could not capture app at 04:20 and web at 19:40.
    sim.skip(APP, (day0 + 4 * 3600 + 20 * 60) / INTERVAL);
    sim.skip(WEB, (day0 + 19 * 3600 + 40 * 60) / INTERVAL);

    let hashes = (0..4).map(|_| sim.rng.next() as u32).collect();
    Sample {
        recs: sim.recs,
        day0,
        noon: day0 + 43_200,
        hashes,
    }
}

fn fmt_v2(r: &Rec, out: &mut String) {
    let id = IFACES[r.iface].id;
    match r.flow {
        Some(f) => {
            let action = if f.accept { "ACCEPT" } else { "REJECT" };
            let _ = writeln!(
                out,
                "2 {ACCOUNT} {id} {} {} {} {} {} {} {} {} {} {action} OK",
                f.src, f.dst, f.sport, f.dport, f.proto, f.packets, f.bytes, r.start, r.end
            );
        }
        None => {
            let _ = writeln!(
                out,
                "2 {ACCOUNT} {id} - - - - - - - {} {} - {}",
                r.start,
                r.end,
                status_name(r.status)
            );
        }
    }
}

fn fmt_v5(r: &Rec, out: &mut String) {
    let i = &IFACES[r.iface];
    let meta = format!("{VPC_ID} {} {}", i.subnet, i.instance);
    match r.flow {
        Some(f) => {
            let action = if f.accept { "ACCEPT" } else { "REJECT" };
            let dir = if f.egress { "egress" } else { "ingress" };
            let path = f.path.map_or_else(|| "-".to_string(), |p| p.to_string());
            let _ = writeln!(
                out,
                "5 {ACCOUNT} {} {} {} {} {} {} {} {} {} {} {action} OK {meta} {} IPv4 {} {} {REGION} {} - - - - {dir} {path}",
                i.id,
                f.src,
                f.dst,
                f.sport,
                f.dport,
                f.proto,
                f.packets,
                f.bytes,
                r.start,
                r.end,
                f.flags,
                f.src,
                f.dst,
                i.az
            );
        }
        None => {
            let _ = writeln!(
                out,
                "5 {ACCOUNT} {} - - - - - - - {} {} - {} {meta} - - - - {REGION} {} - - - - - -",
                i.id,
                r.start,
                r.end,
                status_name(r.status),
                i.az
            );
        }
    }
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Ok => "OK",
        Status::NoData => "NODATA",
        Status::SkipData => "SKIPDATA",
    }
}

/// Per interface, the (protocol, port) pairs that served accepted inbound traffic.
fn served(recs: &[Rec]) -> Vec<BTreeSet<(u8, u16)>> {
    let mut out = vec![BTreeSet::new(); IFACES.len()];
    for r in recs {
        if let Some(f) = r.flow
            && f.served
            && f.accept
        {
            out[r.iface].insert((f.proto, f.dport));
        }
    }
    out
}

fn truth_json(sv: &[BTreeSet<(u8, u16)>], day0: u64) -> String {
    let mut j = String::new();
    let _ = writeln!(j, "{{");
    let _ = writeln!(j, "  \"account_id\": \"{ACCOUNT}\",");
    let _ = writeln!(j, "  \"region\": \"{REGION}\",");
    let _ = writeln!(j, "  \"vpc_id\": \"{VPC_ID}\",");
    let _ = writeln!(j, "  \"vpc_cidr\": \"10.0.0.0/16\",");
    let _ = writeln!(
        j,
        "  \"window\": {{ \"start\": {day0}, \"end\": {} }},",
        day0 + 86_400
    );
    let _ = writeln!(j, "  \"interfaces\": [");
    for (n, (i, ports)) in IFACES.iter().zip(sv).enumerate() {
        let list = |p: u8| {
            ports
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, port)| port.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(j, "    {{");
        let _ = writeln!(j, "      \"id\": \"{}\",", i.id);
        let _ = writeln!(j, "      \"role\": \"{}\",", i.role);
        let _ = writeln!(j, "      \"private_address\": \"{}\",", i.addr);
        let _ = writeln!(
            j,
            "      \"service_ports\": {{ \"tcp\": [{}], \"udp\": [{}] }}",
            list(TCP),
            list(UDP)
        );
        let _ = writeln!(j, "    }}{}", if n + 1 < IFACES.len() { "," } else { "" });
    }
    let _ = writeln!(j, "  ]");
    let _ = writeln!(j, "}}");
    j
}

/// The files of the sample, as (path relative to DIR, contents, gzip?).
fn sample_files() -> Res<Vec<(PathBuf, Vec<u8>, bool)>> {
    let mut sample = simulate();
    sample
        .recs
        .sort_by_key(|r| (r.start, r.end, r.iface, r.seq));
    let (am, pm): (Vec<Rec>, Vec<Rec>) = sample.recs.iter().partition(|r| r.start < sample.noon);
    // Each half on its own must show every service port of the truth.
    let (all, sv_am, sv_pm) = (served(&sample.recs), served(&am), served(&pm));
    if all != sv_am || all != sv_pm {
        return Err("internal error: the two halves of the sample serve different ports".into());
    }

    let mut files = Vec::new();
    let mut cw = String::new();
    for r in &am {
        fmt_v2(r, &mut cw);
    }
    files.push((
        PathBuf::from("cloudwatch-export/flows-default.log"),
        cw.into_bytes(),
        false,
    ));
    for (j, hash) in sample.hashes.iter().enumerate() {
        let from = sample.noon + j as u64 * 3 * 3600;
        let mut text = format!("{V5_HEADER}\n");
        for r in pm
            .iter()
            .filter(|r| (from..from + 3 * 3600).contains(&r.start))
        {
            fmt_v5(r, &mut text);
        }
        let path = s3_path(Path::new(""), from, *hash);
        files.push((path, text.into_bytes(), true));
    }
    files.push((
        PathBuf::from("truth.json"),
        truth_json(&all, sample.day0).into_bytes(),
        false,
    ));
    files.push((
        PathBuf::from("README.md"),
        sample_readme(&all).into_bytes(),
        false,
    ));
    Ok(files)
}

fn sample_readme(sv: &[BTreeSet<(u8, u16)>]) -> String {
    let mut rows = String::new();
    for (i, ports) in IFACES.iter().zip(sv) {
        let list: Vec<String> = ports
            .iter()
            .map(|(p, port)| format!("{}/{port}", if *p == TCP { "tcp" } else { "udp" }))
            .collect();
        let list = if list.is_empty() {
            "none (idle: NODATA only)".to_string()
        } else {
            list.join(", ")
        };
        let _ = writeln!(rows, "| {} | `{}` | {} | {} |", i.role, i.id, i.addr, list);
    }
    format!(
        r#"# flowsift sample flow logs

Synthetic AWS VPC Flow Logs for one day, 2026-11-20 00:00 to 24:00 UTC. They
come from account {ACCOUNT} in {REGION}, VPC {VPC_ID} (10.0.0.0/16). Every
public address is in a documentation range (192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24). `examples/generate.rs` wrote these files, and every run writes
the same bytes:

    cargo run --release --example generate -- sample DIR

## Interfaces and the ports that served accepted inbound traffic

| role | interface | address | served |
| --- | --- | --- | --- |
{rows}
`truth.json` holds the same table for tests.

## Traffic

- Internet clients (150 addresses, many client ports) reach web on tcp/443
  and tcp/80. Web calls app on tcp/8080 and tcp/8081, and every two hours on
  tcp/8083 (a rarely used port).
- App queries db on tcp/5432: short connections, plus pool connections that
  stay open for hours. App resolves names at 10.0.4.53 (udp/53) and calls an
  external HTTPS API at 203.0.113.200:443. It sends syslog (udp/514) and
  statsd (udp/8125) to logs. Web also sends syslog to logs.
- Three admin addresses (198.51.100.7, 203.0.113.45, 192.0.2.77) open SSH
  sessions to the bastion, and from there to app and db. Prometheus on the
  bastion keeps a connection open to app:9100 and reconnects twice during the
  day.
- Logs polls a public NTP server (192.0.2.123, udp/123).
- REJECT records: internet scanners probe web and the bastion on closed ports
  (the bastion's tcp/22 too, since only the admins may reach it). There are
  ICMP pings, and app tries to send mail to 198.51.100.25:25, which its
  security group denies.
- The spare interface is idle: one NODATA record per interval. A SKIPDATA
  record replaces app's records at 04:20 and web's at 19:40.

## How the records are built

- Aggregation interval of 10 minutes. A connection spanning several intervals
  has one record per interval and leg.
- Each connection gives up to four records. The client's interface logs the
  request leg (egress) and the reply leg (ingress, to its ephemeral port). The
  server's interface logs the request (ingress) and the reply (egress).
  Peers outside the data (internet hosts, the resolver, the API) log nothing.
- Ephemeral ports come from the Linux range 32768-60999, a new one per
  connection. Internet clients also use 49152-65535. UDP syslog and statsd
  are one-way: they have no reply leg, and their senders keep one source port
  all day.
- TCP flags are ORed per record. The initiator's legs show SYN (2), or 3 with
  FIN. The responder's legs show SYN-ACK (18), or 19 with FIN. Later intervals
  of a long connection show 0, or 1 when it closes. The first scrape
  connection was opened before midnight, so the sample never shows its SYN.
  The last one is still open at 24:00.
- traffic-path is 1 inside the VPC and through the NAT gateway (private
  subnets). It is 2 through the internet gateway (web and bastion). The
  instances aggregate over 10 minutes, so they are not Nitro, and the
  Nitro-only value 8 does not apply.

## Files

- `cloudwatch-export/flows-default.log`: 00:00 to 12:00 in the default v2
  format (14 fields) with no header line, as exported from CloudWatch Logs.
- `AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/2026/11/20/*.log.gz`: 12:00 to 24:00,
  one gzip file per 3 hours (the name carries the start of its window). The
  files use the S3 layout of flow log {FLOW_LOG_ID}, in a custom format with
  every field up to version 5 and a header line first.

Each half alone shows every service port in the table above, so either format
can be tested by itself. Records are sorted by start time, then end time, then
interface.

Deliberate departures from real AWS, to make the data test more:

- The DNS server at 10.0.4.53 is a self-managed resolver outside the data (flow
  logs never record traffic to the Amazon DNS server, so the sample uses one).
- A VPC flow log would also record the NAT gateway's interface. The sample
  keeps only the instances' interfaces.
"#
    )
}

fn write_sample(dir: &Path) -> Res<()> {
    let files = sample_files()?;
    let mut total = 0u64;
    for (rel, bytes, gz) in &files {
        let path = dir.join(rel);
        if *gz {
            write_gzip(&path, bytes, Compression::default())?;
        } else {
            write_whole(&path, bytes)?;
        }
        let size = fs::metadata(&path)
            .ctx(|| format!("cannot stat {}", path.display()))?
            .len();
        total += size;
        eprintln!("{:>8} bytes  {}", size, path.display());
    }
    eprintln!("{total:>8} bytes in total");
    Ok(())
}

// ---------------------------------------------------------------------------
// Mode 2: bulk benchmark input
// ---------------------------------------------------------------------------

fn run_bulk(args: &[String]) -> Res<()> {
    let (mut bytes, mut out, mut gzip, mut files, mut seed) = (None, None, false, None, 1u64);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--bytes" => bytes = Some(parse_size(&value("--bytes")?)?),
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--gzip" => gzip = true,
            "--files" => {
                let v = value("--files")?;
                files = Some(
                    v.parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("--files: `{v}` is not a positive number"))?,
                );
            }
            "--seed" => {
                let v = value("--seed")?;
                let parsed = match v.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => v.parse(),
                };
                seed = parsed.map_err(|_| format!("--seed: `{v}` is not a number"))?;
            }
            other => return Err(format!("bulk: unknown argument `{other}`\n{USAGE}").into()),
        }
    }
    let bytes = bytes.ok_or_else(|| format!("bulk needs --bytes SIZE\n{USAGE}"))?;
    let out = out.ok_or_else(|| format!("bulk needs --out DIR\n{USAGE}"))?;
    if files.is_some() && !gzip {
        return Err("--files needs --gzip (without it bulk writes one plain file)".into());
    }
    let topo = Topology::new(seed);
    let started = Instant::now();
    let written = if gzip {
        bulk_gzip(&topo, &out, bytes, files.unwrap_or(1), seed)?
    } else {
        let path = out.join("flows.log");
        let mut f = BufWriter::with_capacity(1 << 20, create_file(&path)?);
        let n = topo
            .stream(
                &mut Rng::new(mix_seed(seed, 0)),
                &mut f,
                bytes,
                bulk_t0(),
                false,
            )
            .ctx(|| format!("cannot write {}", path.display()))?;
        f.flush()
            .ctx(|| format!("cannot write {}", path.display()))?;
        n
    };
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "wrote {written} bytes of records in {secs:.2} s ({:.0} MB/s) under {}",
        written as f64 / 1e6 / secs.max(1e-9),
        out.display()
    );
    Ok(())
}

fn parse_size(s: &str) -> Res<u64> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix(['B', 'b']))
        .unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("--bytes: `{s}` is not a size like 500K, 50M or 1G").into())
}

fn bulk_t0() -> u64 {
    epoch(2026, 11, 20, 0, 0, 0)
}

/// Writes `files` gzip files in the S3 layout, spread over threads; each
/// file has its own time window and random stream, so the output does not
/// depend on the number of threads.
fn bulk_gzip(topo: &Topology, out: &Path, bytes: u64, files: usize, seed: u64) -> Res<u64> {
    let per_file = bytes / files as u64;
    // Give each file enough 10-minute intervals that windows never overlap.
    let intervals = per_file / (CONNS_PER_INTERVAL * 250) + 1;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files);
    let results: Vec<Res<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|w| {
                s.spawn(move || -> Res<u64> {
                    let mut total = 0;
                    for f in (w..files).step_by(threads) {
                        let mut rng = Rng::new(mix_seed(seed, f as u64 + 1));
                        let t0 = bulk_t0() + f as u64 * intervals * INTERVAL;
                        let path = s3_path(out, t0, rng.next() as u32);
                        let target = if f + 1 == files {
                            bytes - per_file * (files as u64 - 1)
                        } else {
                            per_file
                        };
                        let mut gz = GzEncoder::new(
                            BufWriter::with_capacity(1 << 20, create_file(&path)?),
                            Compression::fast(),
                        );
                        total += topo
                            .stream(&mut rng, &mut gz, target, t0, true)
                            .ctx(|| format!("cannot write {}", path.display()))?;
                        let mut inner = gz
                            .finish()
                            .ctx(|| format!("cannot finish {}", path.display()))?;
                        inner
                            .flush()
                            .ctx(|| format!("cannot write {}", path.display()))?;
                    }
                    Ok(total)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a writer thread panicked".into()))
            })
            .collect()
    });
    let mut total = 0;
    for r in results {
        total += r?;
    }
    Ok(total)
}

/// Connections started per aggregation interval (about 2.7 MB of records).
const CONNS_PER_INTERVAL: u64 = 8000;
/// Out of 1000 connection slots, how many are rejected probes (about 3% of records).
const REJECT_PER_MILLE: u64 = 84;

#[derive(Clone, Copy)]
enum Peer {
    /// An interface in the data.
    If(u32),
    /// A random internet host from the public pool.
    Internet,
    /// A fixed address outside the data (resolver, external API, admin).
    Ext(u32),
}

#[derive(Clone, Copy)]
enum Class {
    Https,
    Http,
    Rpc,
    Db,
    Dns,
    Ssh,
    Metrics,
    Statsd,
}

struct Edge {
    client: Peer,
    server: Peer,
    port: u16,
    proto: u8,
    class: Class,
}

struct BIf {
    /// "2 123456789012 eni-... " ready to copy.
    prefix: Vec<u8>,
    addr: u32,
}

/// The simulated VPC of the bulk mode: interfaces, and weighted client to
/// server edges.
struct Topology {
    ifaces: Vec<BIf>,
    edges: Vec<Edge>,
    /// Cumulative edge weights, for sampling.
    cum: Vec<u64>,
    /// Interfaces that only log NODATA.
    spare: Vec<u32>,
    /// Internet-facing interfaces (web and bastion), the scanners' targets.
    exposed: Vec<u32>,
    public: Vec<u32>,
}

fn ip_u32(a: [u8; 4]) -> u32 {
    u32::from_be_bytes(a)
}

fn random_public(rng: &mut Rng) -> u32 {
    loop {
        let a = rng.next() as u32;
        let o = a.to_be_bytes();
        let private = matches!(o[0], 0 | 10 | 127)
            || o[0] >= 224
            || (o[0] == 172 && (16..32).contains(&o[1]))
            || (o[0] == 192 && o[1] == 168)
            || (o[0] == 169 && o[1] == 254)
            || (o[0] == 100 && (64..128).contains(&o[1]));
        if !private {
            return a;
        }
    }
}

impl Topology {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(mix_seed(seed, 0x7090));
        const N: u32 = 320;
        let ifaces: Vec<BIf> = (0..N)
            .map(|i| {
                let id = rng.next();
                let prefix = format!("2 {ACCOUNT} eni-0{id:016x} ").into_bytes();
                // 10.0.<subnet>.<host>: 8 subnets of 40 interfaces.
                let addr = ip_u32([
                    10,
                    0,
                    (i / 40) as u8 * 16 + 1,
                    10 + (i % 40) as u8 * 5 + rng.below(5) as u8,
                ]);
                BIf { prefix, addr }
            })
            .collect();
        let web: Vec<u32> = (0..30).collect();
        let app: Vec<u32> = (30..130).collect();
        let db: Vec<u32> = (130..170).collect();
        let bastion: Vec<u32> = (170..173).collect();
        let monitor: Vec<u32> = (173..175).collect();
        let worker: Vec<u32> = (175..314).collect();
        let spare: Vec<u32> = (314..N).collect();
        let pick = |rng: &mut Rng, xs: &[u32]| xs[rng.below(xs.len() as u64) as usize];

        let mut edges: Vec<(Edge, u64)> = Vec::new();
        let mut add = |client, server, port, proto, class, w| {
            edges.push((
                Edge {
                    client,
                    server,
                    port,
                    proto,
                    class,
                },
                w,
            ))
        };
        for &w in &web {
            add(Peer::Internet, Peer::If(w), 443, TCP, Class::Https, 400);
            add(Peer::Internet, Peer::If(w), 80, TCP, Class::Http, 40);
        }
        const APP_PORTS: [u16; 12] = [
            8080, 8080, 8080, 8080, 8080, 8443, 8443, 3000, 9000, 8081, 5000, 50051,
        ];
        for &a in &app {
            let port = APP_PORTS[rng.below(12) as usize];
            for _ in 0..rng.range(1, 3) {
                add(
                    Peer::If(pick(&mut rng, &web)),
                    Peer::If(a),
                    port,
                    TCP,
                    Class::Rpc,
                    60,
                );
            }
            for _ in 0..rng.range(0, 2) {
                add(
                    Peer::If(pick(&mut rng, &worker)),
                    Peer::If(a),
                    port,
                    TCP,
                    Class::Rpc,
                    20,
                );
            }
            for &m in &monitor {
                add(Peer::If(m), Peer::If(a), 9100, TCP, Class::Metrics, 3);
            }
            add(
                Peer::If(a),
                Peer::If(pick(&mut rng, &monitor)),
                8125,
                UDP,
                Class::Statsd,
                6,
            );
        }
        const DB_PORTS: [u16; 12] = [
            5432, 5432, 5432, 5432, 3306, 3306, 6379, 6379, 6379, 27017, 9200, 11211,
        ];
        for &d in &db {
            let port = DB_PORTS[rng.below(12) as usize];
            for _ in 0..rng.range(2, 5) {
                add(
                    Peer::If(pick(&mut rng, &app)),
                    Peer::If(d),
                    port,
                    TCP,
                    Class::Db,
                    40,
                );
            }
        }
        let admins: Vec<u32> = (0..5).map(|_| random_public(&mut rng)).collect();
        for &b in &bastion {
            for &ad in &admins {
                add(Peer::Ext(ad), Peer::If(b), 22, TCP, Class::Ssh, 1);
            }
            for _ in 0..20 {
                add(
                    Peer::If(b),
                    Peer::If(rng.below(170) as u32),
                    22,
                    TCP,
                    Class::Ssh,
                    1,
                );
            }
        }
        let apis: Vec<u32> = (0..25).map(|_| random_public(&mut rng)).collect();
        for i in web.iter().chain(&app).chain(&worker).chain(&db) {
            add(
                Peer::If(*i),
                Peer::Ext(ip_u32([10, 0, 4, 53])),
                53,
                UDP,
                Class::Dns,
                15,
            );
            if !db.contains(i) {
                add(
                    Peer::If(*i),
                    Peer::Ext(pick(&mut rng, &apis)),
                    443,
                    TCP,
                    Class::Https,
                    10,
                );
            }
            if worker.contains(i) {
                let a = pick(&mut rng, &app);
                add(Peer::If(*i), Peer::If(a), 8080, TCP, Class::Rpc, 15);
            }
        }
        // Skew: a few edges carry much of the traffic (Zipf-like over a random order).
        let mut order: Vec<usize> = (0..edges.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut cum = Vec::with_capacity(edges.len());
        let mut acc = 0u64;
        let mut boost = vec![0u64; edges.len()];
        for (rank, &e) in order.iter().enumerate() {
            boost[e] = 10 + 500 / (rank as u64 + 5);
        }
        for (e, (_, w)) in edges.iter().enumerate() {
            acc += w * boost[e];
            cum.push(acc);
        }
        let public = (0..200_000).map(|_| random_public(&mut rng)).collect();
        let exposed = web.iter().chain(&bastion).copied().collect();
        Topology {
            ifaces,
            edges: edges.into_iter().map(|(e, _)| e).collect(),
            cum,
            spare,
            exposed,
            public,
        }
    }

    fn internet_host(&self, rng: &mut Rng) -> u32 {
        // Half of the connections come from a small set of returning clients.
        let n = if rng.chance(1, 2) {
            2000
        } else {
            self.public.len() as u64
        };
        self.public[rng.below(n) as usize]
    }

    /// Writes records of consecutive intervals from `t0` until about
    /// `target` bytes; returns the bytes written.
    fn stream<W: Write>(
        &self,
        rng: &mut Rng,
        w: &mut W,
        target: u64,
        t0: u64,
        header: bool,
    ) -> io::Result<u64> {
        const CHUNK: usize = 1 << 20;
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
        let mut written = 0u64;
        if header {
            buf.extend_from_slice(V2_HEADER.as_bytes());
            buf.push(b'\n');
        }
        let mut ts = t0;
        'outer: loop {
            for &s in &self.spare {
                self.status_line(
                    &mut buf,
                    s,
                    ts + rng.below(30),
                    ts + 599 - rng.below(30),
                    b"NODATA",
                );
            }
            if rng.chance(1, 8) {
                let i = rng.below(314) as u32;
                self.status_line(
                    &mut buf,
                    i,
                    ts + rng.below(30),
                    ts + 599 - rng.below(30),
                    b"SKIPDATA",
                );
            }
            for j in 0..CONNS_PER_INTERVAL {
                let t = ts + j * INTERVAL / CONNS_PER_INTERVAL;
                self.connection(rng, &mut buf, t, ts + INTERVAL - 1);
                if buf.len() >= CHUNK {
                    w.write_all(&buf)?;
                    written += buf.len() as u64;
                    buf.clear();
                }
                if written + buf.len() as u64 >= target {
                    break 'outer;
                }
            }
            ts += INTERVAL;
        }
        w.write_all(&buf)?;
        Ok(written + buf.len() as u64)
    }

    fn status_line(&self, buf: &mut Vec<u8>, i: u32, s: u64, e: u64, status: &[u8]) {
        buf.extend_from_slice(&self.ifaces[i as usize].prefix);
        buf.extend_from_slice(b"- - - - - - - ");
        push_u64(buf, s);
        buf.push(b' ');
        push_u64(buf, e);
        buf.extend_from_slice(b" - ");
        buf.extend_from_slice(status);
        buf.push(b'\n');
    }

    fn resolve(&self, p: Peer, rng: &mut Rng) -> (u32, Option<u32>) {
        match p {
            Peer::If(i) => (self.ifaces[i as usize].addr, Some(i)),
            Peer::Internet => (self.internet_host(rng), None),
            Peer::Ext(a) => (a, None),
        }
    }

    fn connection(&self, rng: &mut Rng, buf: &mut Vec<u8>, t: u64, ts_end: u64) {
        if rng.below(1000) < REJECT_PER_MILLE {
            self.rejected(rng, buf, t);
            return;
        }
        let x = rng.below(*self.cum.last().unwrap_or(&1));
        let e = &self.edges[self
            .cum
            .partition_point(|&c| c <= x)
            .min(self.edges.len() - 1)];
        let (ca, ci) = self.resolve(e.client, rng);
        let (sa, si) = self.resolve(e.server, rng);
        let sport = match e.client {
            Peer::If(_) => rng.linux_ephemeral(),
            _ => rng.port(1024, 65535),
        };
        let (dur, rq, rs, payload_q, payload_s) = match e.class {
            Class::Https => (rng.below(30), rng.range(5, 25), rng.range(6, 80), 200, 1100),
            Class::Http => (rng.below(2), rng.range(4, 7), rng.range(3, 6), 80, 120),
            Class::Rpc => (rng.below(3), rng.range(4, 14), rng.range(4, 30), 250, 800),
            Class::Db => (rng.below(2), rng.range(6, 20), rng.range(6, 40), 150, 600),
            Class::Dns => (0, 1, 1, 30, 120),
            Class::Ssh => (
                rng.range(60, 599),
                rng.range(100, 900),
                rng.range(100, 1500),
                60,
                200,
            ),
            Class::Metrics => (rng.below(2), rng.range(3, 5), rng.range(5, 20), 250, 1300),
            Class::Statsd => (rng.range(100, 590), rng.range(10, 60), 0, 60, 0),
        };
        let end = (t + dur).min(ts_end);
        let q = (rq, rq * (52 + rng.below(payload_q)));
        let r = (rs, rs * (52 + rng.below(payload_s + 1)));
        let req = Line {
            src: ca,
            dst: sa,
            sport,
            dport: e.port,
            proto: e.proto,
            packets: q.0,
            bytes: q.1,
            start: t,
            end,
            accept: true,
        };
        let resp = Line {
            src: sa,
            dst: ca,
            sport: e.port,
            dport: sport,
            packets: r.0,
            bytes: r.1,
            ..req
        };
        let one_way = rs == 0;
        if let Some(i) = ci {
            self.line(buf, i, &req);
        }
        if let Some(i) = si {
            self.line(buf, i, &req);
            if !one_way {
                self.line(buf, i, &resp);
            }
        }
        if let (Some(i), false) = (ci, one_way) {
            self.line(buf, i, &resp);
        }
    }

    /// A rejected attempt: mostly internet scanners probing the exposed
    /// interfaces, sometimes an internal host trying a port the target's
    /// security group does not allow (the sender logs its egress as ACCEPT).
    fn rejected(&self, rng: &mut Rng, buf: &mut Vec<u8>, t: u64) {
        const PORTS: [u16; 16] = [
            23, 22, 445, 3389, 1433, 3306, 5900, 8080, 6379, 25, 2323, 5432, 9200, 27017, 8443,
            5555,
        ];
        let dport = if rng.chance(4, 5) {
            PORTS[rng.below(16) as usize]
        } else {
            rng.port(1, 65535)
        };
        let (packets, bytes) = if rng.chance(1, 4) { (2, 88) } else { (1, 44) };
        if rng.chance(4, 5) {
            let target = self.exposed[rng.below(self.exposed.len() as u64) as usize];
            let src = self.internet_host(rng);
            let sport = rng.port(1024, 65535);
            let l = Line {
                src,
                dst: self.ifaces[target as usize].addr,
                sport,
                dport,
                proto: TCP,
                packets,
                bytes,
                start: t,
                end: t + rng.below(3),
                accept: false,
            };
            self.line(buf, target, &l);
        } else {
            let from = rng.below(314) as u32;
            let target = rng.below(314) as u32;
            let sport = rng.linux_ephemeral();
            let l = Line {
                src: self.ifaces[from as usize].addr,
                dst: self.ifaces[target as usize].addr,
                sport,
                dport,
                proto: TCP,
                packets,
                bytes,
                start: t,
                end: t + rng.below(3),
                accept: true,
            };
            self.line(buf, from, &l);
            self.line(buf, target, &Line { accept: false, ..l });
        }
    }

    #[inline]
    fn line(&self, buf: &mut Vec<u8>, i: u32, l: &Line) {
        buf.extend_from_slice(&self.ifaces[i as usize].prefix);
        push_ip(buf, l.src);
        buf.push(b' ');
        push_ip(buf, l.dst);
        buf.push(b' ');
        push_u64(buf, u64::from(l.sport));
        buf.push(b' ');
        push_u64(buf, u64::from(l.dport));
        buf.push(b' ');
        push_u64(buf, u64::from(l.proto));
        buf.push(b' ');
        push_u64(buf, l.packets);
        buf.push(b' ');
        push_u64(buf, l.bytes);
        buf.push(b' ');
        push_u64(buf, l.start);
        buf.push(b' ');
        push_u64(buf, l.end);
        buf.extend_from_slice(if l.accept {
            b" ACCEPT OK\n"
        } else {
            b" REJECT OK\n"
        });
    }
}

/// The fields of one bulk record after the interface prefix.
#[derive(Clone, Copy)]
struct Line {
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
    proto: u8,
    packets: u64,
    bytes: u64,
    start: u64,
    end: u64,
    accept: bool,
}

/// Appends the decimal digits of `v` without allocating.
#[inline]
fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

#[inline]
fn push_octet(buf: &mut Vec<u8>, o: u8) {
    if o >= 100 {
        buf.extend_from_slice(&[b'0' + o / 100, b'0' + o / 10 % 10, b'0' + o % 10]);
    } else if o >= 10 {
        buf.extend_from_slice(&[b'0' + o / 10, b'0' + o % 10]);
    } else {
        buf.push(b'0' + o);
    }
}

#[inline]
fn push_ip(buf: &mut Vec<u8>, a: u32) {
    let o = a.to_be_bytes();
    push_octet(buf, o[0]);
    buf.push(b'.');
    push_octet(buf, o[1]);
    buf.push(b'.');
    push_octet(buf, o[2]);
    buf.push(b'.');
    push_octet(buf, o[3]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        assert_eq!(epoch(2026, 11, 20, 0, 0, 0), 1_795_132_800);
        assert_eq!(epoch(1970, 1, 1, 0, 0, 0), 0);
        for z in [-1, 0, 59, 10_956, 20_777, 20_778, 60_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn formats_numbers_and_addresses() {
        let mut b = Vec::new();
        for v in [0, 7, 10, 99, 65535, u64::MAX] {
            b.clear();
            push_u64(&mut b, v);
            assert_eq!(b, v.to_string().as_bytes());
        }
        for a in [
            [0, 0, 0, 0],
            [10, 0, 2, 20],
            [255, 255, 255, 255],
            [198, 51, 100, 7],
        ] {
            b.clear();
            push_ip(&mut b, ip_u32(a));
            assert_eq!(b, Ipv4Addr::from(a).to_string().as_bytes());
        }
    }

    #[test]
    fn ids_look_like_aws_ids() {
        let hex = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        };
        assert!(hex(&VPC_ID[4..], 17));
        for i in &IFACES {
            assert!(hex(i.id.strip_prefix("eni-").unwrap_or(""), 17), "{}", i.id);
            assert!(
                hex(i.instance.strip_prefix("i-").unwrap_or(""), 17),
                "{}",
                i.instance
            );
            assert!(
                hex(i.subnet.strip_prefix("subnet-").unwrap_or(""), 17),
                "{}",
                i.subnet
            );
        }
    }

    #[test]
    fn sample_is_deterministic_and_well_formed() {
        let (a, b) = (sample_files().unwrap(), sample_files().unwrap());
        assert_eq!(a, b);
        let cw = std::str::from_utf8(&a[0].1).unwrap();
        assert!(cw.lines().all(|l| l.split(' ').count() == 14));
        for (_, text, gz) in &a {
            if *gz {
                let text = std::str::from_utf8(text).unwrap();
                assert!(text.starts_with("version "));
                assert!(text.lines().all(|l| l.split(' ').count() == 29));
            }
        }
    }

    #[test]
    fn bulk_is_deterministic_and_sized() {
        let topo = Topology::new(7);
        let run = || {
            let mut out = Vec::new();
            topo.stream(&mut Rng::new(3), &mut out, 3 << 20, bulk_t0(), false)
                .unwrap();
            out
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.len() >= 3 << 20 && a.len() < (3 << 20) + 1000);
        let text = std::str::from_utf8(&a).unwrap();
        let lines = text.lines().count();
        let rejects = text.lines().filter(|l| l.ends_with("REJECT OK")).count();
        assert!(text.lines().all(|l| l.split(' ').count() == 14));
        let pct = rejects as f64 * 100.0 / lines as f64;
        assert!((2.0..4.0).contains(&pct), "{pct}% REJECT");
    }

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("50M").unwrap(), 50 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("2MB").unwrap(), 2 << 20);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("x").is_err());
        assert!(parse_size("0").is_err());
    }
}
