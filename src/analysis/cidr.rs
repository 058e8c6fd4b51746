//! CIDR arithmetic over sets of addresses: the smallest block that covers them, and the best
//! cover by a bounded number of blocks (for rules that name peers by CIDR).
//!
//! Pure: addresses in, blocks out. IPv4 and IPv6 are separate spaces: every function answers
//! per family, IPv4 blocks first, and no block ever spans both.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::rc::Rc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The smallest single CIDR block containing every address: one block per address family
/// present (IPv4 first), none for an empty slice. A single address gives its /32 or /128.
pub fn covering_cidr(addrs: &[IpAddr]) -> Vec<IpNet> {
    families(addrs)
        .into_iter()
        .filter_map(|(family, keys)| {
            let (&first, &last) = (keys.first()?, keys.last()?);
            let len = common_prefix(first, last, family.width());
            Some(block(family, first, len))
        })
        .collect()
}

/// At most `max_blocks` CIDR blocks per address family that cover every address while
/// covering the fewest addresses in total. Exact: a dynamic program over the binary trie of
/// the addresses, where a block is either a trie node taken whole or split between its two
/// children. Ties go to fewer blocks, then to the lexicographically smallest list of blocks
/// (sorted by address, compared block by block). The blocks returned are disjoint and sorted;
/// IPv4 blocks come first. `max_blocks` 0 is read as 1, since no cover has zero blocks.
///
/// Cost: O(n·k) combinations for n distinct addresses and k = `max_blocks` (each trie node
/// combines at most min(k, left)·min(k, right) pairs), plus list comparisons on exact ties.
pub fn cover(addrs: &[IpAddr], max_blocks: usize) -> Vec<IpNet> {
    let max_blocks = max_blocks.max(1);
    let mut out = Vec::new();
    for (family, keys) in families(addrs) {
        if keys.is_empty() {
            continue;
        }
        if let Some(best) = solve(&keys, family, max_blocks).pop() {
            out.extend(BlockIter::new(&best.blocks));
        }
    }
    out
}

/// Number of addresses in a block (an IPv6 /0 saturates at `u128::MAX`).
pub fn size(net: &IpNet) -> u128 {
    let width = match net {
        IpNet::V4(_) => 32,
        IpNet::V6(_) => 128,
    };
    span(width - u32::from(net.prefix_len()).min(width))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn width(self) -> u32 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// Addresses as sorted, distinct integers per family (IPv4 in the low 32 bits).
fn families(addrs: &[IpAddr]) -> [(Family, Vec<u128>); 2] {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for addr in addrs {
        match addr {
            IpAddr::V4(a) => v4.push(u128::from(u32::from(*a))),
            IpAddr::V6(a) => v6.push(u128::from(*a)),
        }
    }
    for keys in [&mut v4, &mut v6] {
        keys.sort_unstable();
        keys.dedup();
    }
    [(Family::V4, v4), (Family::V6, v6)]
}

/// 2^bits addresses, saturating at 2^128 - 1.
fn span(bits: u32) -> u128 {
    1u128.checked_shl(bits).unwrap_or(u128::MAX)
}

/// Length of the common prefix of two `width`-bit keys.
fn common_prefix(a: u128, b: u128, width: u32) -> u32 {
    let diff = (a ^ b).checked_shl(128 - width).unwrap_or(0);
    diff.leading_zeros().min(width)
}

/// The block of prefix length `len` containing `key`.
fn block(family: Family, key: u128, len: u32) -> IpNet {
    let host_bits = family.width() - len.min(family.width());
    let network = key
        .checked_shr(host_bits)
        .unwrap_or(0)
        .checked_shl(host_bits)
        .unwrap_or(0);
    // `len` is clamped to the family's width, so the constructors cannot fail.
    match family {
        Family::V4 => IpNet::V4(Ipv4Net::new_assert(
            Ipv4Addr::from(u32::try_from(network).unwrap_or(u32::MAX)),
            len.min(32) as u8,
        )),
        Family::V6 => IpNet::V6(Ipv6Net::new_assert(
            Ipv6Addr::from(network),
            len.min(128) as u8,
        )),
    }
}

/// Blocks of a solution, shared between the solutions that contain them: a trie node's
/// solutions reuse its children's without copying.
#[derive(Debug)]
enum Blocks {
    One(IpNet),
    /// The left child's blocks, then the right child's (all of them lower addresses).
    Two(Rc<Blocks>, Rc<Blocks>),
}

/// In-order walk of a `Blocks` tree: the blocks in address order.
struct BlockIter<'a> {
    stack: Vec<&'a Blocks>,
}

impl<'a> BlockIter<'a> {
    fn new(blocks: &'a Blocks) -> Self {
        BlockIter {
            stack: vec![blocks],
        }
    }
}

impl Iterator for BlockIter<'_> {
    type Item = IpNet;

    fn next(&mut self) -> Option<IpNet> {
        loop {
            match self.stack.pop()? {
                Blocks::One(net) => return Some(*net),
                Blocks::Two(left, right) => {
                    self.stack.push(right);
                    self.stack.push(left);
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Solution {
    size: u128,
    count: usize,
    blocks: Rc<Blocks>,
}

impl Solution {
    /// Fewer addresses, then fewer blocks, then the lexicographically smaller block list.
    fn cmp(&self, other: &Solution) -> Ordering {
        self.size
            .cmp(&other.size)
            .then(self.count.cmp(&other.count))
            .then_with(|| BlockIter::new(&self.blocks).cmp(BlockIter::new(&other.blocks)))
    }

    fn join(left: &Solution, right: &Solution) -> Solution {
        Solution {
            size: left.size.saturating_add(right.size),
            count: left.count + right.count,
            blocks: Rc::new(Blocks::Two(left.blocks.clone(), right.blocks.clone())),
        }
    }
}

/// The best covers of `keys` (sorted, distinct, non-empty): element j-1 is the best with at
/// most j blocks, for j up to min(max_blocks, keys.len()) (more blocks than addresses never
/// help).
///
/// The node is the smallest block containing all of `keys`. Its cover is either the node
/// itself, or covers of its two halves: optimal blocks never nest, and each can shrink to the
/// smallest block around the addresses it covers, which is a trie node.
fn solve(keys: &[u128], family: Family, max_blocks: usize) -> Vec<Solution> {
    let width = family.width();
    let (Some(&first), Some(&last)) = (keys.first(), keys.last()) else {
        return Vec::new();
    };
    let len = common_prefix(first, last, width);
    let whole = Solution {
        size: span(width - len),
        count: 1,
        blocks: Rc::new(Blocks::One(block(family, first, len))),
    };
    let limit = max_blocks.min(keys.len());
    if limit == 1 || len >= width {
        return vec![whole];
    }
    // first != last, so they differ at bit `len` (from the top): the halves split there.
    let half_bit = 1u128 << (width - 1 - len);
    let mid = keys.partition_point(|k| k & half_bit == 0);
    let (left_keys, right_keys) = keys.split_at(mid);
    let left = solve(left_keys, family, limit - 1);
    let right = solve(right_keys, family, limit - 1);

    // best[j - 1]: first the best split into a + b = j blocks (a, b each "at most"), then the
    // running minimum over j, so each entry is the best with at most j blocks.
    let mut best: Vec<Option<Solution>> = vec![None; limit];
    best[0] = Some(whole);
    for (a, l) in left.iter().enumerate() {
        for (b, r) in right.iter().enumerate() {
            let j = a + b + 2;
            if j > limit {
                break;
            }
            let candidate = Solution::join(l, r);
            let slot = &mut best[j - 1];
            if slot
                .as_ref()
                .is_none_or(|s| candidate.cmp(s) == Ordering::Less)
            {
                *slot = Some(candidate);
            }
        }
    }
    let mut out: Vec<Solution> = Vec::with_capacity(limit);
    for slot in best {
        let next = match (slot, out.last()) {
            (Some(s), Some(previous)) if previous.cmp(&s) == Ordering::Greater => s,
            (_, Some(previous)) => previous.clone(),
            (Some(s), None) => s,
            // Slot 0 (the whole node) is always filled.
            (None, None) => continue,
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn covering_cidr_examples() {
        assert_eq!(
            covering_cidr(&ips(&["10.0.1.10", "10.0.1.11"])),
            nets(&["10.0.1.10/31"])
        );
        assert_eq!(
            covering_cidr(&ips(&["10.0.1.10", "10.0.2.5"])),
            nets(&["10.0.0.0/22"])
        );
        assert_eq!(covering_cidr(&ips(&["10.0.1.10"])), nets(&["10.0.1.10/32"]));
        assert_eq!(
            covering_cidr(&ips(&["2001:db8::1"])),
            nets(&["2001:db8::1/128"])
        );
        assert_eq!(
            covering_cidr(&ips(&[
                "2001:db8:0:1::5",
                "10.0.0.1",
                "2001:db8:0:2::5",
                "10.0.0.1"
            ])),
            nets(&["10.0.0.1/32", "2001:db8::/62"])
        );
        assert_eq!(
            covering_cidr(&ips(&["0.0.0.0", "255.255.255.255"])),
            nets(&["0.0.0.0/0"])
        );
        assert!(covering_cidr(&[]).is_empty());
    }

    #[test]
    fn cover_examples() {
        // A web tier and a database pair: two blocks cover 4 addresses, one block 256.
        let addrs = ips(&["10.0.1.10", "10.0.1.11", "10.0.2.5", "10.0.2.6"]);
        assert_eq!(cover(&addrs, 1), nets(&["10.0.0.0/22"]));
        assert_eq!(cover(&addrs, 2), nets(&["10.0.1.10/31", "10.0.2.4/30"]));
        assert_eq!(
            cover(&addrs, 3),
            nets(&["10.0.1.10/31", "10.0.2.5/32", "10.0.2.6/32"])
        );
        // More blocks than needed change nothing.
        assert_eq!(cover(&addrs, 10), cover(&addrs, 4));
        assert_eq!(cover(&addrs, 0), cover(&addrs, 1));
        assert!(cover(&[], 3).is_empty());
    }

    #[test]
    fn cover_mixed_families_answers_per_family() {
        let addrs = ips(&["10.0.0.1", "2001:db8::1", "10.0.0.2", "2001:db8::ffff"]);
        assert_eq!(cover(&addrs, 1), nets(&["10.0.0.0/30", "2001:db8::/112"]));
        assert_eq!(
            cover(&addrs, 2),
            nets(&[
                "10.0.0.1/32",
                "10.0.0.2/32",
                "2001:db8::1/128",
                "2001:db8::ffff/128"
            ])
        );
    }

    #[test]
    fn ties_go_to_fewer_blocks_then_lexicographic() {
        // {0,1,2,3} as a /30 (4 addresses, 1 block) beats nothing smaller; with {0,3} and {8,11}
        // under 3 blocks, taking either /30 whole costs 6: the list starting 0/30 is smaller.
        let addrs = ips(&["10.0.0.0", "10.0.0.3", "10.0.0.8", "10.0.0.11"]);
        assert_eq!(
            cover(&addrs, 3),
            nets(&["10.0.0.0/30", "10.0.0.8/32", "10.0.0.11/32"])
        );
        let full = ips(&["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3"]);
        assert_eq!(cover(&full, 4), nets(&["10.0.0.0/30"]));
    }

    #[test]
    fn sizes() {
        assert_eq!(size(&"10.0.0.0/24".parse().unwrap()), 256);
        assert_eq!(size(&"10.0.0.1/32".parse().unwrap()), 1);
        assert_eq!(size(&"0.0.0.0/0".parse().unwrap()), 1 << 32);
        assert_eq!(size(&"2001:db8::/64".parse().unwrap()), 1 << 64);
        assert_eq!(size(&"::/0".parse().unwrap()), u128::MAX);
        assert_eq!(size(&"::1/128".parse().unwrap()), 1);
    }

    /// The least total size of at most `k` blocks covering `addrs` (all inside one /24): the
    /// best over every partition of the addresses into at most `k` groups, each group covered
    /// by its smallest block. Independent of the trie.
    fn brute_force(addrs: &[IpAddr], k: usize) -> u128 {
        fn go(
            addrs: &[IpAddr],
            i: usize,
            groups: &mut Vec<Vec<IpAddr>>,
            k: usize,
            best: &mut u128,
        ) {
            if i == addrs.len() {
                let total = groups
                    .iter()
                    .map(|g| covering_cidr(g).iter().map(size).sum::<u128>())
                    .sum();
                *best = (*best).min(total);
                return;
            }
            for g in 0..groups.len() {
                groups[g].push(addrs[i]);
                go(addrs, i + 1, groups, k, best);
                groups[g].pop();
            }
            if groups.len() < k {
                groups.push(vec![addrs[i]]);
                go(addrs, i + 1, groups, k, best);
                groups.pop();
            }
        }
        let mut distinct = addrs.to_vec();
        distinct.sort();
        distinct.dedup();
        let mut best = u128::MAX;
        go(&distinct, 0, &mut Vec::new(), k, &mut best);
        best
    }

    proptest! {
        #[test]
        fn cover_is_optimal_on_small_inputs(
            hosts in proptest::collection::vec(0u8..=255, 1..=8),
            k in 1usize..=4,
        ) {
            let addrs: Vec<IpAddr> =
                hosts.iter().map(|h| IpAddr::V4(Ipv4Addr::new(10, 0, 1, *h))).collect();
            let blocks = cover(&addrs, k);
            prop_assert!(!blocks.is_empty() && blocks.len() <= k);
            for addr in &addrs {
                prop_assert!(blocks.iter().any(|b| b.contains(addr)), "{} uncovered", addr);
            }
            for pair in blocks.windows(2) {
                prop_assert!(pair[0] < pair[1]);
                prop_assert!(!pair[0].contains(&pair[1].network()) && !pair[1].contains(&pair[0].network()));
            }
            let total: u128 = blocks.iter().map(size).sum();
            prop_assert_eq!(total, brute_force(&addrs, k));
            prop_assert_eq!(cover(&addrs, 1), covering_cidr(&addrs));
        }

        #[test]
        fn covering_cidr_is_the_smallest(
            v4 in proptest::collection::vec(any::<u32>(), 0..6),
            v6 in proptest::collection::vec(any::<u128>(), 0..6),
        ) {
            let addrs: Vec<IpAddr> = v4.iter().map(|a| IpAddr::V4(Ipv4Addr::from(*a)))
                .chain(v6.iter().map(|a| IpAddr::V6(Ipv6Addr::from(*a))))
                .collect();
            let blocks = covering_cidr(&addrs);
            prop_assert_eq!(blocks.len(), usize::from(!v4.is_empty()) + usize::from(!v6.is_empty()));
            for net in &blocks {
                let mine: Vec<&IpAddr> = addrs.iter()
                    .filter(|a| a.is_ipv4() == matches!(net, IpNet::V4(_)))
                    .collect();
                prop_assert!(mine.iter().all(|a| net.contains(*a)));
                // Neither half of the block holds them all.
                if let Ok(halves) = net.subnets(net.prefix_len() + 1) {
                    for half in halves {
                        prop_assert!(!mine.iter().all(|a| half.contains(*a)));
                    }
                }
            }
            prop_assert_eq!(cover(&addrs, 1), blocks);
        }
    }
}
