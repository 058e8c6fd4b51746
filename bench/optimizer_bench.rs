#![allow(clippy::print_stdout, clippy::print_stderr)] // A benchmark program: printing is its job.
//! Times the port-range optimizer (`flowsift::analysis::optimizer`) on its largest inputs.
//!
//! Registered in Cargo.toml as the example `optimizer_bench`; `bench/run` runs it, or by hand:
//!
//! ```sh
//! cargo run --release --example optimizer_bench              # every case, best of 5
//! cargo run --release --example optimizer_bench -- --reps 1 spread
//! ```
//!
//! Cases: `full` (all 65,536 ports), `even` (every other port: 32,768 one-port blocks, the
//! most the optimizer can face), `half` (a random half of all ports), `spread` (5,000 ports
//! with random gaps of 1..13). Each prints the best of `--reps` runs, and one PASS or FAIL line
//! against the target: every case well under a second (a build without optimizations is timed
//! but not judged).

use std::process::ExitCode;
use std::time::Instant;

use flowsift::analysis::optimizer::{Constraints, Plan, optimize_ranges};

/// Every case must finish in less than this (seconds), best of the repetitions.
const TARGET_SECONDS: f64 = 1.0;

/// Deterministic pseudo-random numbers (SplitMix64), so every run times the same inputs.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 5,000 ports from 1 upwards with gaps of 1 to 13 (so at most 65,000).
fn spread() -> Vec<u16> {
    let mut seed = 7;
    let mut port = 0u16;
    (0..5000)
        .map(|_| {
            port += u16::try_from(1 + splitmix(&mut seed) % 13).unwrap_or(1);
            port
        })
        .collect()
}

/// Each of the 65,536 ports with probability 1/2.
fn half() -> Vec<u16> {
    let mut seed = 11;
    (0..=u16::MAX)
        .filter(|_| splitmix(&mut seed) & 1 == 0)
        .collect()
}

/// The smallest `max_open_ports` with which `max_rules` rules cover `ports` (0 if any does).
fn tightest_cap(ports: &[u16], max_rules: usize) -> u32 {
    let cons = Constraints {
        max_rules,
        max_open_ports: 0,
    };
    match optimize_ranges(ports, cons) {
        Plan::Infeasible {
            min_max_open_at_this_max_rules,
            ..
        } => min_max_open_at_this_max_rules,
        Plan::Feasible { .. } => 0,
    }
}

struct Outcome {
    name: String,
    seconds: f64,
}

fn run(name: &str, ports: &[u16], max_rules: usize, max_open_ports: u32, reps: usize) -> Outcome {
    let cons = Constraints {
        max_rules,
        max_open_ports,
    };
    let mut best = f64::INFINITY;
    let mut summary = String::new();
    for _ in 0..reps {
        let start = Instant::now();
        let plan = optimize_ranges(ports, cons);
        best = best.min(start.elapsed().as_secs_f64());
        summary = match plan {
            Plan::Feasible {
                ranges,
                unused_ports,
            } => format!(
                "feasible: {} rule{}, {unused_ports} unused",
                ranges.len(),
                if ranges.len() == 1 { "" } else { "s" }
            ),
            Plan::Infeasible {
                min_rules_at_this_max_open,
                min_max_open_at_this_max_rules,
            } => format!(
                "infeasible: needs {min_rules_at_this_max_open} rules, or max-open {min_max_open_at_this_max_rules}"
            ),
        };
    }
    println!(
        "{name:<46} {:>6} {max_rules:>6} {max_open_ports:>9} {:>10.2}   {summary}",
        ports.len(),
        best * 1e3
    );
    Outcome {
        name: format!(
            "{} ({} ports, {max_rules} rules, max-open {max_open_ports})",
            name.trim(),
            ports.len()
        ),
        seconds: best,
    }
}

const USAGE: &str = "usage: optimizer_bench [--reps N] [all|full|even|half|spread]";

fn main() -> ExitCode {
    let mut reps = 5usize;
    let mut case = "all".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--reps" => match args.next().and_then(|v| v.parse().ok()).filter(|n| *n > 0) {
                Some(n) => reps = n,
                None => {
                    eprintln!("--reps needs a positive number\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "all" | "full" | "even" | "half" | "spread" => case = a,
            other => {
                eprintln!("unknown argument `{other}`\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let want = |name: &str| case == "all" || case == name;
    println!(
        "{:<46} {:>6} {:>6} {:>9} {:>10}   plan (best of {reps})",
        "case", "ports", "rules", "max-open", "ms"
    );
    let mut outcomes = Vec::new();
    if want("full") {
        let all: Vec<u16> = (0..=u16::MAX).collect();
        outcomes.push(run("65,536 ports (one block)", &all, 1000, 0, reps));
    }
    if want("even") {
        let even: Vec<u16> = (0..=u16::MAX).step_by(2).collect();
        let tight = tightest_cap(&even, 1000);
        outcomes.push(run(
            "every other port (32,768 blocks)",
            &even,
            1000,
            64,
            reps,
        ));
        outcomes.push(run("  same, cap 1000", &even, 1000, 1000, reps));
        outcomes.push(run("  same, tightest cap", &even, 1000, tight, reps));
        outcomes.push(run("  same, infeasible cap", &even, 1000, tight / 3, reps));
    }
    if want("half") {
        let ports = half();
        let tight = tightest_cap(&ports, 1000);
        outcomes.push(run("random half of all ports", &ports, 1000, tight, reps));
    }
    if want("spread") {
        let ports = spread();
        let tight = tightest_cap(&ports, 60);
        outcomes.push(run("5,000 ports, random gaps", &ports, 60, 2000, reps));
        outcomes.push(run("  same, tightest cap", &ports, 60, tight, reps));
    }
    println!();
    if cfg!(debug_assertions) {
        println!("note: built without optimizations; times are not judged (use --release)");
        return ExitCode::SUCCESS;
    }
    for o in &outcomes {
        let verdict = if o.seconds < TARGET_SECONDS {
            "PASS"
        } else {
            "FAIL"
        };
        println!(
            "{verdict}  optimizer under {TARGET_SECONDS} s: {}: {:.3} s",
            o.name, o.seconds
        );
    }
    ExitCode::SUCCESS
}
