//! Splitting record lines into tokens and telling records, headers and noise apart.
//!
//! Works on bytes with no allocation per line: the engine calls it for every line it reads.

use super::format::LogFormat;

/// Splits a line into token spans. Runs of spaces and tabs separate tokens, so records whose
/// columns were padded still parse.
pub fn split_tokens(line: &[u8], out: &mut Vec<(usize, usize)>) {
    out.clear();
    // memchr finds the separators a vector at a time; runs of them delimit nothing.
    let mut start = 0;
    for separator in memchr::memchr2_iter(b' ', b'\t', line) {
        if separator > start {
            out.push((start, separator));
        }
        start = separator + 1;
    }
    if line.len() > start {
        out.push((start, line.len()));
    }
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
        fn tokens_match_a_plain_split(line in "[ \t a-z0-9-]{0,64}") {
            let plain: Vec<&str> = line.split([' ', '\t']).filter(|t| !t.is_empty()).collect();
            proptest::prop_assert_eq!(tokens(&line), plain);
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
