//! Port-range optimizer: chooses the security-group port ranges for the
//! service ports of one interface and protocol.
//!
//! This module owns only that combinatorial choice. It is pure: no I/O, no
//! printing, no global state, and the same input always gives the same plan.
//!
//! # Model
//! Input ports are sorted and distinct (anything else is sorted and
//! deduplicated into a private copy first). Maximal runs of adjacent ports are
//! collapsed into *blocks*; between consecutive blocks lies a *gap* of at least
//! one port no traffic used. With `prefix[i]` = the sum of the first `i` gaps,
//! a range from the start of block `i` to the end of block `j` leaves exactly
//! `prefix[j] - prefix[i]` ports unused.
//!
//! # Facts the algorithm relies on
//! 1. **Optimal plans cut only between blocks.** Suppose range A ends at port
//!    `x` and range B starts at `x + 1` inside the same block. Move the rest of
//!    that block from B into A: A gains only used ports (its unused count and
//!    cap check are unchanged); B either becomes empty (one rule fewer, same
//!    unused) or now starts at the next block (at least one unused port fewer).
//!    Either way the plan strictly improves on (unused, rules), so no optimal
//!    plan cuts inside a block, and we may work on blocks.
//! 2. **A feasible optimum uses exactly `k* = min(max_rules, blocks)` rules.**
//!    A plan with `k < k*` rules has, since `k < blocks`, a range spanning two
//!    or more blocks; cutting it at one of its gaps keeps both halves under the
//!    cap and removes at least one unused port, using `k + 1 <= max_rules`
//!    rules. So every plan with fewer than `k*` rules is beaten, and by fact 1
//!    no optimal plan has more than `blocks` rules. Hence "fewest rules at the
//!    optimum" is `k*`, and the DP only needs plans of exactly `k*` ranges.
//! 3. **Greedy extension gives the fewest rules for a cap.** See [`Blocks::min_rules`].
//!
//! # Algorithm, cost and memory
//! Feasibility is decided first by the greedy count (O(m), m = blocks). Then a
//! suffix DP `g_k(i)` = least unused ports covering blocks `i..m` with exactly
//! `k` ranges: `g_k(i) = min_{j in [i, reach(i)]} prefix[j] - prefix[i] +
//! g_{k-1}(j + 1)`, where `reach(i)` is the last block a range starting at `i`
//! may end on under the cap. `reach` is non-decreasing, so as `i` falls the
//! window slides left and a monotone deque yields each cell in O(1) amortized.
//! Layer `k` is only needed for `i` in `[k* - k, m - k]` (the earlier `k* - k`
//! ranges each take a block; the remaining `k` each need one), a band of width
//! `w = m - k* + 1`. Time is O(k* * w) <= O(m * max_rules) for the forward
//! pass, and the same again for reconstruction.
//!
//! Memory stays O(sqrt(k*) * w) u32s: the forward pass keeps every
//! `s = ceil(sqrt(k*))`-th layer as a checkpoint; reconstruction walks layers
//! downwards, recomputing each run of `s` layers from its checkpoint once. For
//! 32,768 blocks and 1,000 rules that is about 64 layers of 31,769 u32s (8 MB)
//! instead of a 131 MB full table.
//!
//! # Tie-breaking
//! Among plans with equal (unused ports, rules) the result is the
//! lexicographically smallest list of ranges, compared by `from_port` then
//! `to_port`: reconstruction runs from the lowest port upwards and ends each
//! range on the earliest block that still allows an optimal completion (the DP
//! value of the remaining suffix is exact, so this test is exact).

use std::borrow::Cow;

use serde::Serialize;

/// One allow rule: ports `from_port..=to_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PortRange {
    pub from_port: u16,
    pub to_port: u16,
    /// Ports inside the range that no observed traffic used.
    pub unused_ports: u32,
}

/// Limits a plan must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constraints {
    /// Most ranges (rules) the plan may use.
    pub max_rules: usize,
    /// Most unused ports any single range may leave open.
    pub max_open_ports: u32,
}

/// Outcome of [`optimize_ranges`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Ranges sorted by port, disjoint, each starting and ending on a service
    /// port; `unused_ports` is their total.
    Feasible {
        ranges: Vec<PortRange>,
        unused_ports: u32,
    },
    /// No plan fits; the hint names settings that would work.
    ///
    /// `min_rules_at_this_max_open` is the fewest rules that cover the ports
    /// under the given `max_open_ports`. `min_max_open_at_this_max_rules` is
    /// the smallest `max_open_ports` that makes `max_rules` rules enough; when
    /// `max_rules` is 0 no cap can help and it is reported as 0.
    Infeasible {
        min_rules_at_this_max_open: usize,
        min_max_open_at_this_max_rules: u32,
    },
}

/// Marks a DP cell with no valid plan.
const INF: u32 = u32::MAX;

/// Chooses at most `max_rules` ranges covering every port in `ports`, each
/// leaving at most `max_open_ports` unused ports, minimizing total unused
/// ports and then the number of rules (ties: see the module docs).
///
/// `ports` should be sorted ascending and distinct; other input is sorted and
/// deduplicated into a copy first, so it is handled correctly, just slower.
/// Empty `ports` give a feasible plan with no ranges.
pub fn optimize_ranges(ports: &[u16], constraints: Constraints) -> Plan {
    let ports = normalized(ports);
    if ports.is_empty() {
        return Plan::Feasible {
            ranges: Vec::new(),
            unused_ports: 0,
        };
    }
    let blocks = Blocks::new(&ports);
    let Constraints {
        max_rules,
        max_open_ports: cap,
    } = constraints;

    let needed = blocks.min_rules(cap);
    if needed > max_rules {
        return Plan::Infeasible {
            min_rules_at_this_max_open: needed,
            min_max_open_at_this_max_rules: if max_rules == 0 {
                0
            } else {
                blocks.min_cap(max_rules)
            },
        };
    }

    // Fact 2: a feasible optimum has exactly this many rules (>= 1 here since
    // `needed >= 1` and `needed <= max_rules`).
    let rules = max_rules.min(blocks.len());
    let reach = blocks.reach(cap);
    let solver = Solver {
        prefix: &blocks.prefix,
        reach: &reach,
        blocks: blocks.len(),
        rules,
        width: blocks.len() - rules + 1,
    };
    match solver.solve() {
        Some((unused_ports, spans)) => Plan::Feasible {
            ranges: spans
                .into_iter()
                .map(|(i, j)| PortRange {
                    from_port: blocks.first[i],
                    to_port: blocks.last[j],
                    unused_ports: blocks.cost(i, j),
                })
                .collect(),
            unused_ports,
        },
        // Unreachable: the greedy plan above proves a plan with at most
        // `rules` ranges exists, and splitting ranges at gaps turns it into
        // one with exactly `rules`. Report the honest hint rather than panic.
        None => Plan::Infeasible {
            min_rules_at_this_max_open: needed,
            min_max_open_at_this_max_rules: blocks.min_cap(max_rules),
        },
    }
}

/// Maximal runs of consecutive unused ports inside the chosen ranges, sorted,
/// e.g. `[(83, 84)]`. Runs from overlapping or touching ranges are merged.
/// `ports` is normalized like in [`optimize_ranges`].
pub fn unused_runs(ports: &[u16], ranges: &[PortRange]) -> Vec<(u16, u16)> {
    let ports = normalized(ports);
    let mut runs: Vec<(u16, u16)> = Vec::new();
    for range in ranges {
        if range.from_port > range.to_port {
            continue; // malformed range: covers nothing
        }
        let start = ports.partition_point(|&p| p < range.from_port);
        let end = ports.partition_point(|&p| p <= range.to_port);
        // `next` is the lowest port not yet classified; None once past 65535.
        let mut next = Some(range.from_port);
        for &port in &ports[start..end] {
            if let Some(n) = next
                && n < port
            {
                // `port > n >= 0`, so `port - 1` cannot underflow.
                runs.push((n, port - 1));
            }
            next = port.checked_add(1);
        }
        if let Some(n) = next
            && n <= range.to_port
        {
            runs.push((n, range.to_port));
        }
    }
    runs.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::with_capacity(runs.len());
    for (lo, hi) in runs {
        match merged.last_mut() {
            // Widened to u32 so `last.1 + 1` cannot overflow at 65535.
            Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    merged
}

/// Borrows already sorted, distinct input; otherwise sorts and dedups a copy.
fn normalized(ports: &[u16]) -> Cow<'_, [u16]> {
    if ports.windows(2).all(|w| w[0] < w[1]) {
        Cow::Borrowed(ports)
    } else {
        let mut owned = ports.to_vec();
        owned.sort_unstable();
        owned.dedup();
        Cow::Owned(owned)
    }
}

/// Maximal runs of adjacent service ports and the gaps between them.
struct Blocks {
    first: Vec<u16>,
    last: Vec<u16>,
    /// `prefix[i]` = sum of the gaps before block `i`. All gaps are disjoint
    /// sets of ports in 0..=65535, so every prefix is below 65,536 and no u32
    /// sum or difference of them in this module can overflow.
    prefix: Vec<u32>,
}

impl Blocks {
    /// `ports` must be sorted and distinct.
    fn new(ports: &[u16]) -> Self {
        let mut blocks = Blocks {
            first: Vec::new(),
            last: Vec::new(),
            prefix: Vec::new(),
        };
        let mut total_gap = 0u32;
        for &port in ports {
            match blocks.last.last_mut() {
                // Widened to u32 so `end + 1` cannot overflow at 65535.
                Some(end) if u32::from(*end) + 1 == u32::from(port) => *end = port,
                Some(end) => {
                    // Sorted and distinct, not adjacent: port >= end + 2.
                    total_gap += u32::from(port) - u32::from(*end) - 1;
                    blocks.first.push(port);
                    blocks.last.push(port);
                    blocks.prefix.push(total_gap);
                }
                None => {
                    blocks.first.push(port);
                    blocks.last.push(port);
                    blocks.prefix.push(0);
                }
            }
        }
        blocks
    }

    fn len(&self) -> usize {
        self.first.len()
    }

    /// Unused ports of the range over blocks `i..=j` (`i <= j`).
    fn cost(&self, i: usize, j: usize) -> u32 {
        self.prefix[j] - self.prefix[i]
    }

    /// `reach[i]` = last block a range starting at block `i` may end on
    /// without leaving more than `cap` unused ports. Non-decreasing in `i`,
    /// so two pointers compute it in O(m).
    fn reach(&self, cap: u32) -> Vec<usize> {
        let m = self.len();
        let mut out = Vec::with_capacity(m);
        let mut j = 0;
        for i in 0..m {
            j = j.max(i);
            while j + 1 < m && self.cost(i, j + 1) <= cap {
                j += 1;
            }
            out.push(j);
        }
        out
    }

    /// Fewest rules covering all blocks with at most `cap` unused per rule.
    ///
    /// Greedy: each range starts at the first uncovered block and extends as
    /// far as the cap allows. Optimal by a "stays ahead" argument: if a range
    /// starting at block `i` may end at `j`, so may any range starting at
    /// `i' >= i` (its cost `prefix[j] - prefix[i']` is no larger). By
    /// induction the greedy's `t`-th range ends at or after the `t`-th range
    /// of any valid plan (its start is no later, so its reach is no shorter),
    /// hence the greedy finishes with no more ranges than any plan. Cutting
    /// inside blocks never helps (fact 1), so this is also the fewest over
    /// port-level plans. O(m): `j` only moves forward.
    fn min_rules(&self, cap: u32) -> usize {
        let m = self.len();
        let (mut count, mut i, mut j) = (0, 0, 0);
        while i < m {
            j = j.max(i);
            while j + 1 < m && self.cost(i, j + 1) <= cap {
                j += 1;
            }
            count += 1;
            i = j + 1;
        }
        count
    }

    /// Smallest cap for which `max_rules >= 1` rules suffice. `min_rules` is
    /// non-increasing in the cap and one rule suffices at the total gap, so
    /// binary search over `0..=total` (at most 17 greedy passes).
    fn min_cap(&self, max_rules: usize) -> u32 {
        let (mut lo, mut hi) = (0u32, self.prefix.last().copied().unwrap_or(0));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.min_rules(mid) <= max_rules {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }
}

/// Sliding-window minimum over `(block, value)` pairs pushed with falling
/// block index. Values are kept strictly increasing from front to back, so
/// the front is the window minimum.
struct MinDeque {
    items: Vec<(usize, u32)>,
    head: usize,
}

impl MinDeque {
    fn with_capacity(capacity: usize) -> Self {
        MinDeque {
            items: Vec::with_capacity(capacity),
            head: 0,
        }
    }

    fn clear(&mut self) {
        self.items.clear();
        self.head = 0;
    }

    /// A newly pushed (lower) block stays in the window at least as long as
    /// every older one, so older entries with values >= `value` are useless.
    fn push(&mut self, block: usize, value: u32) {
        while self.items.len() > self.head && self.items.last().is_some_and(|e| e.1 >= value) {
            self.items.pop();
        }
        self.items.push((block, value));
    }

    /// Drops entries whose block lies beyond `limit`.
    fn expire_above(&mut self, limit: usize) {
        while self.items.get(self.head).is_some_and(|e| e.0 > limit) {
            self.head += 1;
        }
    }

    fn min(&self) -> Option<u32> {
        self.items.get(self.head).map(|e| e.1)
    }
}

/// The banded suffix DP for exactly `rules` ranges (see the module docs).
/// Layer `k` holds `g_k(i)` at index `i - (rules - k)` for `i` in
/// `[rules - k, blocks - k]`.
struct Solver<'a> {
    prefix: &'a [u32],
    reach: &'a [usize],
    blocks: usize,
    /// k* >= 1.
    rules: usize,
    /// `blocks - rules + 1` >= 1.
    width: usize,
}

impl Solver<'_> {
    /// Layer 0: only the empty suffix (i = blocks, the last band index) is
    /// covered by zero ranges.
    fn layer0(&self, out: &mut [u32]) {
        out.fill(INF);
        if let Some(cell) = out.last_mut() {
            *cell = 0;
        }
    }

    /// Computes layer `k >= 1` from layer `k - 1` in O(width).
    ///
    /// For `i = base + t` the range over blocks `i..=j` is followed by layer
    /// `k - 1` at block `j + 1`, whose band index is `j + 1 - (base + 1)` =
    /// `j - base`: the two layers share an index origin, which keeps this
    /// loop simple. `j <= blocks - k` leaves a block for each later range.
    fn step(&self, k: usize, prev: &[u32], out: &mut [u32], deque: &mut MinDeque) {
        let base = self.rules - k;
        let last_end = self.blocks - k;
        deque.clear();
        for t in (0..self.width).rev() {
            let i = base + t;
            let after = prev[t];
            if after != INF {
                deque.push(i, self.prefix[i] + after);
            }
            deque.expire_above(self.reach[i].min(last_end));
            // Every value in the window is `prefix[j] + g >= prefix[i]`
            // because j >= i and prefix is non-decreasing: no underflow.
            out[t] = deque.min().map_or(INF, |v| v - self.prefix[i]);
        }
    }

    /// Returns the optimal total and the ranges as inclusive block spans, or
    /// None if no plan of exactly `rules` ranges exists.
    fn solve(&self) -> Option<(u32, Vec<(usize, usize)>)> {
        let (w, rules) = (self.width, self.rules);
        let stride = ceil_sqrt(rules).max(1);
        // Checkpoints: layers 0, stride, 2*stride, ... below `rules`.
        let mut checkpoints = vec![INF; ((rules - 1) / stride + 1) * w];
        let mut deque = MinDeque::with_capacity(w);
        let mut prev = vec![INF; w];
        let mut cur = vec![INF; w];
        self.layer0(&mut prev);
        checkpoints[..w].copy_from_slice(&prev);
        for k in 1..=rules {
            self.step(k, &prev, &mut cur, &mut deque);
            std::mem::swap(&mut prev, &mut cur);
            if k < rules && k % stride == 0 {
                checkpoints[k / stride * w..][..w].copy_from_slice(&prev);
            }
        }
        let total = prev[0]; // layer `rules`, block 0
        if total == INF {
            return None;
        }
        drop((prev, cur));

        // Walk from block 0 with `k` ranges left; layers are needed in the
        // order rules-1, rules-2, ..., 0, one stride-long segment at a time.
        let mut segment = vec![INF; stride * w];
        let mut segment_base = usize::MAX; // nothing loaded yet
        let mut spans = Vec::with_capacity(rules);
        let (mut i, mut value) = (0usize, total);
        for k in (1..=rules).rev() {
            let layer = k - 1;
            let base_layer = layer / stride * stride;
            if base_layer != segment_base {
                segment_base = base_layer;
                segment[..w].copy_from_slice(&checkpoints[base_layer / stride * w..][..w]);
                for s in 1..=layer - base_layer {
                    let (done, rest) = segment.split_at_mut(s * w);
                    self.step(
                        base_layer + s,
                        &done[(s - 1) * w..],
                        &mut rest[..w],
                        &mut deque,
                    );
                }
            }
            let next = &segment[(layer - base_layer) * w..][..w];
            // `i >= rules - k` since each earlier range used a block, so the
            // index `j - (rules - k)` is in bounds for j in i..=blocks-k.
            let base = rules - k;
            let last_end = self.reach[i].min(self.blocks - k);
            let (j, rest) = (i..=last_end).find_map(|j| {
                let rest = next[j - base];
                (rest != INF && self.prefix[j] - self.prefix[i] + rest == value)
                    .then_some((j, rest))
            })?;
            spans.push((i, j));
            i = j + 1;
            value = rest;
        }
        Some((total, spans))
    }
}

/// Smallest `r` with `r * r >= n`; integer-only to avoid float casts.
fn ceil_sqrt(n: usize) -> usize {
    let mut r = 0usize;
    while r.saturating_mul(r) < n {
        r += 1;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: [u16; 8] = [80, 81, 82, 85, 86, 1001, 1002, 1020];

    fn c(max_rules: usize, max_open_ports: u32) -> Constraints {
        Constraints {
            max_rules,
            max_open_ports,
        }
    }

    fn r(from_port: u16, to_port: u16, unused_ports: u32) -> PortRange {
        PortRange {
            from_port,
            to_port,
            unused_ports,
        }
    }

    fn feasible(ports: &[u16], cons: Constraints) -> (Vec<PortRange>, u32) {
        match optimize_ranges(ports, cons) {
            Plan::Feasible {
                ranges,
                unused_ports,
            } => (ranges, unused_ports),
            other => panic!("expected feasible, got {other:?}"),
        }
    }

    /// Checks every structural promise of a feasible plan.
    fn assert_valid(ports: &[u16], cons: Constraints, ranges: &[PortRange], total: u32) {
        assert!(ranges.len() <= cons.max_rules);
        let mut sum = 0u32;
        let mut next_port = 0usize;
        for (n, range) in ranges.iter().enumerate() {
            assert!(range.from_port <= range.to_port);
            if n > 0 {
                assert!(ranges[n - 1].to_port < range.from_port, "sorted, disjoint");
            }
            assert!(ports.binary_search(&range.from_port).is_ok());
            assert!(ports.binary_search(&range.to_port).is_ok());
            let lo = ports.partition_point(|&p| p < range.from_port);
            let hi = ports.partition_point(|&p| p <= range.to_port);
            assert_eq!(lo, next_port, "every port covered");
            next_port = hi;
            let width = u32::from(range.to_port) - u32::from(range.from_port) + 1;
            let used = u32::try_from(hi - lo).unwrap();
            assert_eq!(range.unused_ports, width - used);
            assert!(range.unused_ports <= cons.max_open_ports);
            sum += range.unused_ports;
        }
        assert_eq!(next_port, ports.len(), "every port covered");
        assert_eq!(sum, total);
        let runs = unused_runs(ports, ranges);
        let run_total: u32 = runs
            .iter()
            .map(|&(a, b)| u32::from(b) - u32::from(a) + 1)
            .sum();
        assert_eq!(run_total, total);
        for &(a, b) in &runs {
            assert_eq!(
                ports.partition_point(|&p| p < a),
                ports.partition_point(|&p| p <= b),
                "runs hold no service port"
            );
        }
    }

    #[test]
    fn example_three_rules() {
        let (ranges, total) = feasible(&EXAMPLE, c(3, 3));
        assert_eq!(
            ranges,
            vec![r(80, 86, 2), r(1001, 1002, 0), r(1020, 1020, 0)]
        );
        assert_eq!(total, 2);
        assert_eq!(unused_runs(&EXAMPLE, &ranges), vec![(83, 84)]);
    }

    #[test]
    fn example_many_rules_uses_fewest_at_zero_unused() {
        let (ranges, total) = feasible(&EXAMPLE, c(10, 3));
        assert_eq!(
            ranges,
            vec![
                r(80, 82, 0),
                r(85, 86, 0),
                r(1001, 1002, 0),
                r(1020, 1020, 0)
            ]
        );
        assert_eq!(total, 0);
        assert!(unused_runs(&EXAMPLE, &ranges).is_empty());
    }

    #[test]
    fn example_one_rule_infeasible_hint() {
        assert_eq!(
            optimize_ranges(&EXAMPLE, c(1, 3)),
            Plan::Infeasible {
                min_rules_at_this_max_open: 3,
                min_max_open_at_this_max_rules: 933,
            }
        );
    }

    #[test]
    fn example_one_wide_rule() {
        let (ranges, total) = feasible(&EXAMPLE, c(1, 1000));
        assert_eq!(ranges, vec![r(80, 1020, 933)]);
        assert_eq!(total, 933);
    }

    #[test]
    fn empty_and_zero_rules() {
        assert_eq!(
            optimize_ranges(&[], c(0, 0)),
            Plan::Feasible {
                ranges: vec![],
                unused_ports: 0
            }
        );
        assert_eq!(
            optimize_ranges(&EXAMPLE, c(0, 3)),
            Plan::Infeasible {
                min_rules_at_this_max_open: 3,
                min_max_open_at_this_max_rules: 0,
            }
        );
        assert!(unused_runs(&EXAMPLE, &[]).is_empty());
    }

    #[test]
    fn unsorted_input_is_normalized() {
        let messy = [1020, 86, 80, 1001, 81, 82, 85, 80, 1002, 1020];
        assert_eq!(
            optimize_ranges(&messy, c(3, 3)),
            optimize_ranges(&EXAMPLE, c(3, 3))
        );
        assert_eq!(unused_runs(&messy, &[r(80, 86, 2)]), vec![(83, 84)]);
    }

    #[test]
    fn port_space_edges() {
        let ports = [0, 1, 65533, 65535];
        let (ranges, total) = feasible(&ports, c(1, u32::MAX));
        assert_eq!(ranges, vec![r(0, 65535, 65532)]);
        assert_eq!(total, 65532);
        assert_eq!(
            unused_runs(&ports, &ranges),
            vec![(2, 65532), (65534, 65534)]
        );
        // Foreign ranges: edges and ranges without service ports.
        assert_eq!(
            unused_runs(&[10], &[r(8, 12, 0), r(13, 13, 0), r(65535, 65535, 0)]),
            vec![(8, 9), (11, 13), (65535, 65535)]
        );
        let (ranges, _) = feasible(&ports, c(usize::MAX, 0));
        assert_eq!(ranges.len(), 3);
    }

    /// Tiny deterministic PRNG so tests need no extra dependency.
    fn splitmix(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Not timed (see examples/optimizer_speed.rs for speed): checks the big
    /// cases produce valid plans with the values known in closed form.
    #[test]
    fn big_cases_are_valid() {
        let all: Vec<u16> = (0..=u16::MAX).collect();
        let (ranges, total) = feasible(&all, c(1000, 0));
        assert_eq!((ranges, total), (vec![r(0, 65535, 0)], 0));

        // 32,768 one-port blocks, all gaps 1: 1,000 rules cut 999 gaps.
        let even: Vec<u16> = (0..=u16::MAX).step_by(2).collect();
        let cons = c(1000, 64);
        let (ranges, total) = feasible(&even, cons);
        assert_valid(&even, cons, &ranges, total);
        assert_eq!((ranges.len(), total), (1000, 32_767 - 999));
        assert_eq!(
            optimize_ranges(&even, c(1000, 10)),
            Plan::Infeasible {
                min_rules_at_this_max_open: 32_768usize.div_ceil(11),
                min_max_open_at_this_max_rules: 32,
            }
        );

        // 5,000 ports with random gaps, at the tightest feasible cap and a
        // looser one.
        let mut seed = 7;
        let mut spread = Vec::with_capacity(5000);
        let mut port = 0u16;
        for _ in 0..5000 {
            port += u16::try_from(1 + splitmix(&mut seed) % 13).unwrap();
            spread.push(port);
        }
        let Plan::Infeasible {
            min_max_open_at_this_max_rules: tight,
            ..
        } = optimize_ranges(&spread, c(60, 0))
        else {
            panic!("cap 0 with 60 rules must be infeasible");
        };
        for cap in [tight, tight * 2] {
            let cons = c(60, cap);
            let (ranges, total) = feasible(&spread, cons);
            assert_valid(&spread, cons, &ranges, total);
            assert_eq!(ranges.len(), 60);
        }
        assert!(matches!(
            optimize_ranges(&spread, c(60, tight - 1)),
            Plan::Infeasible { .. }
        ));
    }

    /// Brute-force reference over every subset of cut points between ports.
    struct Reference {
        /// Best (unused, rules, lexicographically smallest ranges).
        best: Option<(u32, usize, Vec<PortRange>)>,
        min_rules_at_cap: Option<usize>,
        min_cap_at_rules: Option<u32>,
    }

    fn brute(ports: &[u16], cons: Constraints) -> Reference {
        let mut out = Reference {
            best: None,
            min_rules_at_cap: None,
            min_cap_at_rules: None,
        };
        if ports.is_empty() {
            out.best = Some((0, 0, vec![]));
            return out;
        }
        let cuts = ports.len() - 1;
        for mask in 0u32..(1 << cuts) {
            let mut ranges = Vec::new();
            let mut start = 0;
            for end in 0..ports.len() {
                if end == cuts || mask & (1 << end) != 0 {
                    let width = u32::from(ports[end]) - u32::from(ports[start]) + 1;
                    let used = u32::try_from(end - start + 1).unwrap();
                    ranges.push(r(ports[start], ports[end], width - used));
                    start = end + 1;
                }
            }
            let worst = ranges.iter().map(|x| x.unused_ports).max().unwrap();
            let total: u32 = ranges.iter().map(|x| x.unused_ports).sum();
            let count = ranges.len();
            if worst <= cons.max_open_ports {
                out.min_rules_at_cap = Some(out.min_rules_at_cap.map_or(count, |m| m.min(count)));
            }
            if count <= cons.max_rules {
                out.min_cap_at_rules = Some(out.min_cap_at_rules.map_or(worst, |m| m.min(worst)));
            }
            if worst <= cons.max_open_ports && count <= cons.max_rules {
                let key = |rs: &[PortRange]| -> Vec<(u16, u16)> {
                    rs.iter().map(|x| (x.from_port, x.to_port)).collect()
                };
                let better = match &out.best {
                    None => true,
                    Some((bt, bc, br)) => (total, count, key(&ranges)) < (*bt, *bc, key(br)),
                };
                if better {
                    out.best = Some((total, count, ranges));
                }
            }
        }
        out
    }

    /// Straightforward O(m^2 * k) full-table reference (no band, deque or
    /// checkpoints), reconstructing the same lexicographic tie-break. Used
    /// on inputs too large for the brute force, to exercise many
    /// checkpoint segments.
    fn full_table(ports: &[u16], cons: Constraints) -> Option<Vec<PortRange>> {
        let b = Blocks::new(ports);
        let m = b.len();
        let kmax = cons.max_rules.min(m);
        // g[k][i]: least unused covering blocks i..m with exactly k ranges.
        let mut g = vec![vec![INF; m + 1]; kmax + 1];
        g[0][m] = 0;
        for k in 1..=kmax {
            for i in 0..m {
                for j in i..m {
                    if b.cost(i, j) > cons.max_open_ports {
                        break;
                    }
                    if g[k - 1][j + 1] != INF {
                        g[k][i] = g[k][i].min(b.cost(i, j) + g[k - 1][j + 1]);
                    }
                }
            }
        }
        let (best, k) = (1..=kmax)
            .filter(|&k| g[k][0] != INF)
            .map(|k| (g[k][0], k))
            .min()?;
        let (mut i, mut value, mut out) = (0, best, Vec::new());
        for k in (1..=k).rev() {
            let j = (i..m)
                .find(|&j| {
                    b.cost(i, j) <= cons.max_open_ports
                        && g[k - 1][j + 1] != INF
                        && b.cost(i, j) + g[k - 1][j + 1] == value
                })
                .unwrap();
            out.push(r(b.first[i], b.last[j], b.cost(i, j)));
            value -= b.cost(i, j);
            i = j + 1;
        }
        Some(out)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn matches_brute_force(
            ports in prop::collection::btree_set(0u16..200, 0..=12),
            max_rules in 0usize..=6,
            max_open in 0u32..=60,
        ) {
            let ports: Vec<u16> = ports.into_iter().collect();
            let cons = c(max_rules, max_open);
            let reference = brute(&ports, cons);
            match (optimize_ranges(&ports, cons), reference.best) {
                (Plan::Feasible { ranges, unused_ports }, Some((ref_total, ref_count, ref_ranges))) => {
                    assert_valid(&ports, cons, &ranges, unused_ports);
                    prop_assert_eq!(unused_ports, ref_total);
                    prop_assert_eq!(ranges.len(), ref_count);
                    prop_assert_eq!(ranges, ref_ranges);
                }
                (Plan::Infeasible { min_rules_at_this_max_open, min_max_open_at_this_max_rules }, None) => {
                    prop_assert_eq!(Some(min_rules_at_this_max_open), reference.min_rules_at_cap);
                    prop_assert!(min_rules_at_this_max_open > max_rules);
                    let expected_cap = if max_rules == 0 { Some(0) } else { reference.min_cap_at_rules };
                    prop_assert_eq!(Some(min_max_open_at_this_max_rules), expected_cap);
                }
                (plan, best) => prop_assert!(false, "feasibility disagrees: {:?} vs {:?}", plan, best),
            }
        }
    }

    proptest! {
        // The reference is O(m^2 * k): fewer, larger cases.
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn matches_full_table(
            ports in prop::collection::btree_set(0u16..3000, 1..=160),
            max_rules in 1usize..=60,
            max_open in 0u32..=400,
        ) {
            let ports: Vec<u16> = ports.into_iter().collect();
            let cons = c(max_rules, max_open);
            match (optimize_ranges(&ports, cons), full_table(&ports, cons)) {
                (Plan::Feasible { ranges, unused_ports }, Some(expected)) => {
                    assert_valid(&ports, cons, &ranges, unused_ports);
                    prop_assert_eq!(ranges, expected);
                }
                (Plan::Infeasible { min_rules_at_this_max_open, .. }, None) => {
                    prop_assert!(min_rules_at_this_max_open > max_rules);
                }
                (plan, expected) => prop_assert!(false, "disagree: {:?} vs {:?}", plan, expected),
            }
        }

        #[test]
        fn unsorted_duplicates_match_sorted(
            ports in prop::collection::vec(0u16..300, 0..30),
            max_rules in 0usize..=8,
            max_open in 0u32..=80,
        ) {
            let mut sorted = ports.clone();
            sorted.sort_unstable();
            sorted.dedup();
            let cons = c(max_rules, max_open);
            prop_assert_eq!(optimize_ranges(&ports, cons), optimize_ranges(&sorted, cons));
        }
    }
}
