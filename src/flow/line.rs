//! Splitting record lines into tokens and telling records, headers and noise apart.
//!
//! Works on bytes with no allocation per line: the engine calls it for every line it reads.

use super::format::LogFormat;

/// Splits a line into token spans. Runs of spaces and tabs separate tokens, so records whose
/// columns were padded still parse.
pub fn split_tokens(line: &[u8], out: &mut Vec<(usize, usize)>) {
    out.clear();
    // The separators of 64 bytes at a time are the set bits of one mask, made without
    // branches; a token then costs a few instructions rather than a search call (a record's
    // fields average 8 bytes). Runs of separators delimit nothing.
    let mut start = 0;
    let mut tokens = |at: usize, mut mask: u64| {
        while mask != 0 {
            let separator = at + mask.trailing_zeros() as usize;
            if separator > start {
                out.push((start, separator));
            }
            start = separator + 1;
            mask &= mask - 1;
        }
    };
    let blocks = line.chunks_exact(64);
    let (rest, at) = (
        blocks.remainder().len(),
        line.len() - blocks.remainder().len(),
    );
    for (b, block) in blocks.enumerate() {
        tokens(
            b * 64,
            separator_mask(block.try_into().expect("blocks of 64 bytes")),
        );
    }
    if rest > 0 {
        let mask = match line.len().checked_sub(64) {
            // The line's last 64 bytes, shifted so that only the remainder's bits are left.
            Some(from) => separator_mask(line[from..].try_into().expect("64 bytes")) >> (64 - rest),
            None => {
                // A line under 64 bytes, padded with bytes that separate nothing.
                let mut last = [0u8; 64];
                last[..rest].copy_from_slice(&line[at..]);
                separator_mask(&last)
            }
        };
        tokens(at, mask);
    }
    if line.len() > start {
        out.push((start, line.len()));
    }
}

/// Bit i is set when byte i of `block` is a space or a tab: sixteen bytes an instruction.
#[cfg(target_arch = "x86_64")]
fn separator_mask(block: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let mut mask = 0u64;
    for (i, lane) in block.chunks_exact(16).enumerate() {
        // SAFETY: SSE2 is part of every x86_64 target, and the unaligned load reads the 16
        // bytes of `lane`.
        let lane_mask = unsafe {
            let bytes = _mm_loadu_si128(lane.as_ptr().cast());
            let space = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b' ' as i8));
            let tab = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'\t' as i8));
            _mm_movemask_epi8(_mm_or_si128(space, tab))
        };
        mask |= u64::from(lane_mask as u16) << (i * 16);
    }
    mask
}

/// Bit i is set when byte i of `block` is a space or a tab: eight bytes at a time in a
/// general-purpose register.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn separator_mask_words(block: &[u8; 64]) -> u64 {
    let mut mask = 0u64;
    for (w, word) in block.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes(word.try_into().expect("chunks of 8 bytes"));
        mask |= gather_high_bits(separator_bytes(word)) << (w * 8);
    }
    mask
}

#[cfg(not(target_arch = "x86_64"))]
use separator_mask_words as separator_mask;

/// The high bits of a word's eight bytes as the low eight bits, first byte lowest. Every other
/// bit of `high` must be clear. The multiplier shifts byte k's high bit to bit 56 + k; no two
/// of its partial products overlap, so nothing carries.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn gather_high_bits(high: u64) -> u64 {
    ((high >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// The high bit of each byte of `word` that is a space or a tab, and no other bit.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn separator_bytes(word: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // A byte's high bit is set when it is zero: adding 0x7f to its low seven bits carries into
    // the high bit unless they are all zero, and never into the next byte.
    let zero_bytes = |x: u64| !(((x & LOW7) + LOW7) | x | LOW7);
    zero_bytes(word ^ 0x2020_2020_2020_2020) | zero_bytes(word ^ 0x0909_0909_0909_0909)
}

/// What a line of a flow-log file is.
#[derive(Debug, PartialEq, Eq)]
pub enum LineKind {
    /// Empty or only white space.
    Blank,
    /// A header line naming the fields of the records that follow.
    Header(LogFormat),
    /// A record (its tokens have not been checked against the layout yet).
    Record,
}

/// Classifies a line with its trailing `\r` already removed. A header starts with a lower-case
/// letter; records in the default format start with a digit, so most lines are decided by
/// their first byte.
pub fn classify_line(line: &[u8]) -> LineKind {
    let first = line.iter().find(|b| **b != b' ' && **b != b'\t');
    match first {
        None => LineKind::Blank,
        Some(b) if b.is_ascii_lowercase() => std::str::from_utf8(line)
            .ok()
            .and_then(LogFormat::from_header_line)
            .map_or(LineKind::Record, LineKind::Header),
        Some(_) => LineKind::Record,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(line: &str) -> Vec<&str> {
        let mut spans = Vec::new();
        split_tokens(line.as_bytes(), &mut spans);
        spans.iter().map(|&(s, e)| &line[s..e]).collect()
    }

    #[test]
    fn splits_on_runs_of_spaces_and_tabs() {
        assert_eq!(tokens("2  123\teni-1 -"), vec!["2", "123", "eni-1", "-"]);
        assert_eq!(tokens("  a b  "), vec!["a", "b"]);
        assert!(tokens("   ").is_empty());
    }

    proptest::proptest! {
        /// The tokens are what splitting on every space and tab and dropping empties gives.
        #[test]
        fn tokens_match_a_plain_split(line in "[ \t a-z0-9\u{80}-\u{10ffff}\u{0}-\u{1f}-]{0,200}") {
            let plain: Vec<&str> = line.split([' ', '\t']).filter(|t| !t.is_empty()).collect();
            proptest::prop_assert_eq!(tokens(&line), plain);
        }

        /// Both ways of finding separators agree with a byte-by-byte test, on any bytes.
        #[test]
        fn separator_masks_match_a_plain_test(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 64)) {
            let block: &[u8; 64] = bytes.as_slice().try_into().unwrap();
            let plain = bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| matches!(b, b' ' | b'\t'))
                .fold(0u64, |mask, (i, _)| mask | 1 << i);
            proptest::prop_assert_eq!(separator_mask(block), plain);
            proptest::prop_assert_eq!(separator_mask_words(block), plain);
        }
    }

    #[test]
    fn classifies_lines() {
        assert_eq!(classify_line(b""), LineKind::Blank);
        assert_eq!(classify_line(b" \t "), LineKind::Blank);
        assert_eq!(
            classify_line(b"2 123 eni-1 - - - - - - - 1 2 - NODATA"),
            LineKind::Record
        );
        assert_eq!(classify_line(b"bogus line"), LineKind::Record);
        assert!(matches!(
            classify_line(b"version account-id interface-id"),
            LineKind::Header(_)
        ));
    }
}
