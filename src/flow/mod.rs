//! The flow-log domain: the field catalog, record layouts, the line parser and the record type.
//!
//! Pure: nothing here reads files, the environment or prints. The local source feeds it lines;
//! the CloudWatch source feeds it `@message` values.

pub mod catalog;
pub mod format;
pub mod line;
pub mod record;

pub use catalog::{Field, FieldKind};
pub use format::{Column, FormatError, LogFormat};
pub use line::{LineKind, classify_line, split_tokens};
pub use record::{FieldValue, FlowRecord};

/// Flow logs give times in epoch seconds; some exports write milliseconds. A value past the
/// year 5000 in seconds can only be milliseconds, so it is scaled down.
pub fn normalize_epoch_s(value: i64) -> i64 {
    const MILLIS_THRESHOLD: i64 = 100_000_000_000;
    if value >= MILLIS_THRESHOLD {
        value / 1000
    } else {
        value
    }
}

/// The IANA protocol numbers flowsift names; others print as their number.
pub fn protocol_name(number: i64) -> String {
    match number {
        1 => "icmp".to_owned(),
        6 => "tcp".to_owned(),
        17 => "udp".to_owned(),
        58 => "icmpv6".to_owned(),
        n => n.to_string(),
    }
}

/// Parses `tcp`, `udp`, `icmp`, `icmpv6` or a protocol number.
pub fn protocol_number(text: &str) -> Option<i64> {
    match text.to_ascii_lowercase().as_str() {
        "icmp" => Some(1),
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmpv6" => Some(58),
        other => other.parse().ok().filter(|n| (0..=255).contains(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_are_scaled_and_seconds_kept() {
        assert_eq!(normalize_epoch_s(1_439_387_263), 1_439_387_263);
        assert_eq!(normalize_epoch_s(1_439_387_263_123), 1_439_387_263);
    }

    #[test]
    fn protocols_round_trip() {
        for name in ["icmp", "tcp", "udp", "icmpv6", "47"] {
            let number = protocol_number(name).unwrap();
            assert_eq!(protocol_name(number), name);
        }
        assert_eq!(protocol_number("TCP"), Some(6));
        assert_eq!(protocol_number("300"), None);
        assert_eq!(protocol_number("sctp"), None);
    }
}
