//! The one error type of the inventory readers: which file, where in it, and what input was
//! expected there.

use serde_json::Value;

/// The kinds of input the readers accept; errors say which one was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Either security-group output (`add_security_groups` detects which).
    SecurityGroupsAny,
    DescribeSecurityGroups,
    DescribeSecurityGroupRules,
    DescribeNetworkInterfaces,
    ConfigItems,
}

impl Input {
    /// What the reader expected, in the words of the AWS CLI commands that produce it.
    pub fn describe(self) -> &'static str {
        match self {
            Input::SecurityGroupsAny => {
                "the output of `aws ec2 describe-security-groups` (an object with \"SecurityGroups\") \
                 or of `aws ec2 describe-security-group-rules` (an object with \"SecurityGroupRules\")"
            }
            Input::DescribeSecurityGroups => "the output of `aws ec2 describe-security-groups`",
            Input::DescribeSecurityGroupRules => {
                "the output of `aws ec2 describe-security-group-rules`"
            }
            Input::DescribeNetworkInterfaces => {
                "the output of `aws ec2 describe-network-interfaces` (an object with \"NetworkInterfaces\")"
            }
            Input::ConfigItems => {
                "AWS Config configuration items: the output of `aws configservice \
                 get-resource-config-history` (an object with \"configurationItems\"), of `aws \
                 configservice select-resource-config` (an object with \"Results\"), or a JSON \
                 array of configuration items"
            }
        }
    }

    /// A short name of the input, for errors inside a document already recognized.
    pub fn name(self) -> &'static str {
        match self {
            Input::SecurityGroupsAny => "security-group output",
            Input::DescribeSecurityGroups => "the output of `aws ec2 describe-security-groups`",
            Input::DescribeSecurityGroupRules => {
                "the output of `aws ec2 describe-security-group-rules`"
            }
            Input::DescribeNetworkInterfaces => {
                "the output of `aws ec2 describe-network-interfaces`"
            }
            Input::ConfigItems => "AWS Config configuration items",
        }
    }
}

/// Reading one input failed. Every variant names the file (the `source` the caller passed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    /// The text is not JSON.
    #[error("{file}: not valid JSON ({detail}); expected {}", .expected.describe())]
    NotJson {
        file: String,
        detail: String,
        expected: Input,
    },
    /// Valid JSON, but not the document expected (another command's output, say).
    #[error("{file}: {found}; expected {}", .expected.describe())]
    WrongInput {
        file: String,
        found: String,
        expected: Input,
    },
    /// A value inside the document is missing, of the wrong type, or out of range.
    #[error("{file}: {path}: {problem} (reading {})", .expected.name())]
    Invalid {
        file: String,
        /// Where, as a JSON path: `SecurityGroups[2].IpPermissions[0].FromPort`.
        path: String,
        problem: String,
        expected: Input,
    },
}

impl InventoryError {
    /// The file (source name) the error is about.
    pub fn file(&self) -> &str {
        match self {
            InventoryError::NotJson { file, .. }
            | InventoryError::WrongInput { file, .. }
            | InventoryError::Invalid { file, .. } => file,
        }
    }

    /// The JSON path of the offending value, when the error is about one value.
    pub fn path(&self) -> Option<&str> {
        match self {
            InventoryError::Invalid { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// Names a JSON value for an error message: its type, and its text when short. Strings are
/// quoted with escapes so control characters from the input never reach a terminal raw.
pub(crate) fn describe_value(value: &Value) -> String {
    const MAX: usize = 40;
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => {
            if s.chars().count() > MAX {
                let cut: String = s.chars().take(MAX).collect();
                format!("the string {:?}...", cut)
            } else {
                format!("the string {s:?}")
            }
        }
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// Says what a top-level document looks like, naming the AWS command it probably came from, so
/// passing one command's output where another's is expected gets a useful message.
pub(crate) fn describe_document(value: &Value) -> String {
    let Value::Object(map) = value else {
        return match value {
            Value::Array(_) => {
                "found a JSON array (was the output narrowed with --query?)".to_owned()
            }
            other => format!("found {}", describe_value(other)),
        };
    };
    const KNOWN: &[(&str, &str)] = &[
        ("SecurityGroups", "aws ec2 describe-security-groups"),
        (
            "SecurityGroupRules",
            "aws ec2 describe-security-group-rules",
        ),
        ("NetworkInterfaces", "aws ec2 describe-network-interfaces"),
        ("FlowLogs", "aws ec2 describe-flow-logs"),
        ("Reservations", "aws ec2 describe-instances"),
        (
            "configurationItems",
            "aws configservice get-resource-config-history",
        ),
        ("Results", "aws configservice select-resource-config"),
    ];
    let mut keys: Vec<String> = map.keys().take(5).map(|k| format!("{k:?}")).collect();
    if map.len() > 5 {
        keys.push("...".to_owned());
    }
    let keys = if keys.is_empty() {
        "found an empty object".to_owned()
    } else {
        format!("found an object with {}", keys.join(", "))
    };
    match KNOWN.iter().find(|(key, _)| map.contains_key(*key)) {
        Some((_, command)) => format!("{keys}, which looks like the output of `{command}`"),
        None => keys,
    }
}
