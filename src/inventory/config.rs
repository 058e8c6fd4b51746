//! Reading AWS Config configuration items for `AWS::EC2::NetworkInterface` and
//! `AWS::EC2::SecurityGroup`: Config remembers interfaces and groups that no longer exist, so
//! flow-log records of a deleted interface can still be attributed.
//!
//! Accepted documents:
//! - `aws configservice get-resource-config-history`: `{"configurationItems": [...]}`, each
//!   item's `configuration` a JSON *string*. Config's S3 snapshot and history files have the
//!   same key and are read the same way.
//! - `aws configservice batch-get-resource-config`: `{"baseConfigurationItems": [...]}`.
//! - `aws configservice select-resource-config`: `{"Results": ["<item as a JSON string>", ...]}`;
//!   the query must select `resourceType`, `resourceId` and `configuration` (and
//!   `configurationItemCaptureTime`, `configurationItemStatus` to order and flag deletions).
//! - A bare JSON array of items, or one item (`{"resourceType": ...}` or a rule event's
//!   `{"configurationItem": {...}}`).
//!
//! An item's `configuration` is describe-network-interfaces' or describe-security-groups' entry
//! in lower camelCase (see the awslabs/aws-config-resource-schema property lists). Items of a
//! deleted resource (`configurationItemStatus` `ResourceDeleted`) carry `configuration: null`,
//! so the last recorded configuration and the deletion come from different items.

use serde_json::Value;

use super::error::{Input, InventoryError, describe_document, describe_value};
use super::groups::parse_group;
use super::interfaces::parse_interface;
use super::json::{Case, Cx, Node, parse_document};
use super::{NetworkInterface, SecurityGroup};

pub(crate) const INTERFACE_TYPE: &str = "AWS::EC2::NetworkInterface";
pub(crate) const GROUP_TYPE: &str = "AWS::EC2::SecurityGroup";

/// A resource's recorded configuration, when the item has one.
#[derive(Debug, Clone)]
pub(crate) enum Recorded {
    Interface(NetworkInterface),
    Group(SecurityGroup),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Interface,
    Group,
}

/// One configuration item of a resource type the inventory keeps.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub kind: Kind,
    pub resource_id: String,
    pub captured: Option<Timestamp>,
    /// `ResourceDeleted` or `ResourceDeletedNotRecorded`.
    pub deleted: bool,
    pub recorded: Option<Recorded>,
}

pub(crate) fn parse(file: &str, text: &str) -> Result<Vec<Item>, InventoryError> {
    let cx = Cx {
        file,
        input: Input::ConfigItems,
    };
    let value = parse_document(cx, text)?;
    let root = Node::root(&value, "");
    let wrong_input = || InventoryError::WrongInput {
        file: file.to_owned(),
        found: describe_document(&value),
        expected: cx.input,
    };

    // select-resource-config returns each item as a JSON string: parse them up front so the
    // nodes below can borrow them.
    let mut selected: Vec<(Value, String)> = Vec::new();
    let nodes: Vec<Node<'_>> = if value.is_array() {
        root.items(cx)?
    } else if !value.is_object() {
        return Err(wrong_input());
    } else if let Some(list) = root.get("configurationItems") {
        list.items(cx)?
    } else if let Some(list) = root.get("baseConfigurationItems") {
        list.items(cx)?
    } else if let Some(results) = root.get("Results") {
        for node in results.items(cx)? {
            let item = match node.value {
                Value::String(text) => serde_json::from_str(text).map_err(|e| {
                    node.invalid(
                        cx,
                        format!("expected a configuration item as JSON text: {e}"),
                    )
                })?,
                // Already parsed (say, by a script that post-processed the output).
                other => other.clone(),
            };
            selected.push((item, node.path));
        }
        selected
            .iter()
            .map(|(value, path)| Node::root(value, path.clone()))
            .collect()
    } else if let Some(item) = root.get("configurationItem") {
        vec![item]
    } else if root.get("resourceType").is_some() {
        vec![root.clone()]
    } else {
        return Err(wrong_input());
    };

    let mut items = Vec::new();
    for node in &nodes {
        if let Some(item) = parse_item(node, cx)? {
            items.push(item);
        }
    }
    Ok(items)
}

/// One item; `None` for resource types the inventory does not keep.
fn parse_item(node: &Node<'_>, cx: Cx<'_>) -> Result<Option<Item>, InventoryError> {
    node.object(cx)?;
    let Some(resource_type) = node.opt_str("resourceType", cx)? else {
        return Err(node.invalid(
            cx,
            "missing resourceType; a select-resource-config query must select resourceType, \
             resourceId and configuration",
        ));
    };
    let kind = match resource_type {
        INTERFACE_TYPE => Kind::Interface,
        GROUP_TYPE => Kind::Group,
        _ => return Ok(None),
    };
    let status = node.opt_str("configurationItemStatus", cx)?;
    let deleted = matches!(
        status,
        Some("ResourceDeleted" | "ResourceDeletedNotRecorded")
    );
    let captured = node
        .get("configurationItemCaptureTime")
        .map(|n| parse_time(&n, cx))
        .transpose()?;

    // `configuration` is an object (select-resource-config, snapshot files), a JSON string
    // (get-resource-config-history), or null / "null" / {} for a deleted resource.
    let parsed_string: Value;
    let configuration = match node.get("configuration") {
        None => None,
        Some(n) => match n.value {
            Value::String(text) => {
                parsed_string = serde_json::from_str(text).map_err(|e| {
                    n.invalid(cx, format!("expected the configuration as JSON text: {e}"))
                })?;
                match &parsed_string {
                    Value::Null => None,
                    Value::Object(_) => Some(Node::root(&parsed_string, n.path)),
                    other => {
                        return Err(n.invalid(
                            cx,
                            format!(
                                "expected a JSON object in the string, found {}",
                                describe_value(other)
                            ),
                        ));
                    }
                }
            }
            Value::Object(_) => Some(n),
            _ => {
                n.object(cx)?;
                None
            }
        },
    };
    let configuration =
        configuration.filter(|c| c.value.as_object().is_some_and(|m| !m.is_empty()));

    let id_key = match kind {
        Kind::Interface => "networkInterfaceId",
        Kind::Group => "groupId",
    };
    let resource_id = match node.opt_str("resourceId", cx)? {
        Some(id) => id.to_owned(),
        None => match &configuration {
            Some(c) => c.req_str(id_key, cx)?.to_owned(),
            None => node.req_str("resourceId", cx)?.to_owned(),
        },
    };
    let recorded = match (&configuration, kind) {
        (None, _) => None,
        (Some(c), Kind::Interface) => Some(Recorded::Interface(parse_interface(
            c,
            Case::Camel,
            cx,
            Some(&resource_id),
        )?)),
        (Some(c), Kind::Group) => Some(Recorded::Group(parse_group(
            c,
            Case::Camel,
            cx,
            Some(&resource_id),
        )?)),
    };
    Ok(Some(Item {
        kind,
        resource_id,
        captured,
        deleted,
        recorded,
    }))
}

/// An instant, in nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timestamp(pub i128);

/// `configurationItemCaptureTime` as the tools print it: AWS CLI v2 an ISO 8601 time with an
/// offset (`2024-05-01T14:00:00.123000+02:00`), v1 and `cli_timestamp_format = wire` epoch
/// seconds (`1714564800.123`), Config's own files and select results `...Z`.
fn parse_time(node: &Node<'_>, cx: Cx<'_>) -> Result<Timestamp, InventoryError> {
    let parsed = match node.value {
        Value::Number(n) => epoch_seconds(&n.to_string()),
        Value::String(text) => parse_iso8601(text.trim()).or_else(|| epoch_seconds(text.trim())),
        _ => None,
    };
    parsed.ok_or_else(|| {
        node.invalid(
            cx,
            format!(
                "expected a time such as 2024-05-01T12:00:00.000Z or epoch seconds, found {}",
                describe_value(node.value)
            ),
        )
    })
}

/// Epoch seconds as decimal text (`1714564800.123`), read digit by digit so the fraction
/// stays exact; exponent forms fall back to floating point.
fn epoch_seconds(text: &str) -> Option<Timestamp> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let nanos =
        if !whole.is_empty() && whole.len() <= 12 && all_digits(whole) && all_digits(fraction) {
            let seconds: i128 = whole.parse().ok()?;
            let mut nanos: i128 = 0;
            for i in 0..9 {
                let digit = fraction.as_bytes().get(i).map_or(0, |d| d - b'0');
                nanos = nanos * 10 + i128::from(digit);
            }
            seconds * 1_000_000_000 + nanos
        } else {
            let seconds: f64 = unsigned.parse().ok()?;
            // Beyond 10^12 s (31,000 years) is no capture time; the bound keeps the cast exact.
            if !seconds.is_finite() || seconds.abs() >= 1e12 {
                return None;
            }
            (seconds * 1e9).round() as i128
        };
    Some(Timestamp(if negative { -nanos } else { nanos }))
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM|±HHMM]`; no offset means UTC.
fn parse_iso8601(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        part.iter()
            .try_fold(0i64, |acc, d| Some(acc * 10 + i64::from(d - b'0')))
    };
    let year = digits(0..4)?;
    let month = digits(5..7)?;
    let day = digits(8..10)?;
    let hour = digits(11..13)?;
    let minute = digits(14..16)?;
    let second = digits(17..19)?;
    let separators_ok = b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && b.get(13) == Some(&b':')
        && b.get(16) == Some(&b':');
    if !separators_ok
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut nanos: i64 = 0;
    if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 9 {
                nanos = nanos * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..9 {
            nanos *= 10;
        }
    }
    let offset_seconds = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let rest = &text[i + 1..];
            let (h, m) = match rest.len() {
                5 if rest.as_bytes()[2] == b':' => (&rest[0..2], &rest[3..5]),
                4 => (&rest[0..2], &rest[2..4]),
                2 => (&rest[0..2], "00"),
                _ => return None,
            };
            let h: i64 = h.parse().ok().filter(|h| *h <= 23)?;
            let m: i64 = m.parse().ok().filter(|m| *m <= 59)?;
            let seconds = h * 3600 + m * 60;
            if sign == b'+' { seconds } else { -seconds }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(Timestamp(
        i128::from(seconds) * 1_000_000_000 + i128::from(nanos),
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12; // March is 0
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<i128> {
        parse_iso8601(text).map(|t| t.0 / 1_000_000)
    }

    #[test]
    fn iso8601_times_with_offsets() {
        assert_eq!(at("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(at("2020-07-11T23:57:46.383Z"), Some(1_594_511_866_383));
        // AWS CLI v2 prints local time with an offset: the same instant.
        assert_eq!(
            at("2020-07-11T16:57:46.383000-07:00"),
            Some(1_594_511_866_383)
        );
        assert_eq!(at("2020-07-12T01:57:46.383+0200"), Some(1_594_511_866_383));
        assert_eq!(at("2020-07-11 23:57:46.383+00:00"), Some(1_594_511_866_383));
        assert_eq!(at("2020-07-11T23:57:46.383"), Some(1_594_511_866_383));
        assert_eq!(at("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        assert_eq!(at("2020-13-01T00:00:00Z"), None);
        assert_eq!(at("2020-07-11"), None);
        assert_eq!(at("2020-07-11T23:57:46.Z"), None);
        assert_eq!(at("2020-07-11T23:57:46Zjunk"), None);
        assert_eq!(at("yesterday"), None);
    }

    #[test]
    fn epoch_seconds_as_printed_by_cli_v1() {
        let value = serde_json::json!(1_594_511_866.383);
        let cx = Cx {
            file: "f",
            input: Input::ConfigItems,
        };
        let t = parse_time(&Node::root(&value, "t"), cx).map(|t| t.0 / 1_000_000);
        assert_eq!(t, Ok(1_594_511_866_383));
        let text = serde_json::json!("1594511866.383");
        let t = parse_time(&Node::root(&text, "t"), cx).map(|t| t.0);
        assert_eq!(t, Ok(1_594_511_866_383_000_000));
        let exponent = serde_json::json!(1.5e9);
        let t = parse_time(&Node::root(&exponent, "t"), cx).map(|t| t.0 / 1_000_000_000);
        assert_eq!(t, Ok(1_500_000_000));
        let bad = serde_json::json!(true);
        let err = parse_time(&Node::root(&bad, "t"), cx).map(|_| ());
        assert!(err.is_err());
    }
}
