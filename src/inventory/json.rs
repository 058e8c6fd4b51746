//! A view of a `serde_json::Value` that knows its JSON path, so every error can say where the
//! bad value is (`SecurityGroups[2].IpPermissions[0].FromPort`). The readers walk documents
//! with it instead of deriving `Deserialize`: serde's errors carry no path, and the same shapes
//! come with PascalCase keys (EC2 CLI output) and lower camelCase keys (AWS Config items).

use serde_json::{Map, Value};

use super::error::{Input, InventoryError, describe_value};

/// Who is reading: the file to name in errors and the input expected.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cx<'s> {
    pub file: &'s str,
    pub input: Input,
}

impl Cx<'_> {
    pub fn with(self, input: Input) -> Self {
        Cx { input, ..self }
    }
}

/// How a document spells its keys. The readers name keys in PascalCase, as the EC2 CLI prints
/// them; AWS Config prints the same fields in lower camelCase (`IpPermissions` becomes
/// `ipPermissions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    Pascal,
    Camel,
}

impl Case {
    pub fn key(self, pascal: &str) -> String {
        match self {
            Case::Pascal => pascal.to_owned(),
            Case::Camel => {
                let mut chars = pascal.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            }
        }
    }
}

/// A value and its path from the document's root.
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    pub value: &'a Value,
    pub path: String,
}

impl<'a> Node<'a> {
    pub fn root(value: &'a Value, path: impl Into<String>) -> Self {
        Node {
            value,
            path: path.into(),
        }
    }

    pub fn invalid(&self, cx: Cx<'_>, problem: impl Into<String>) -> InventoryError {
        InventoryError::Invalid {
            file: cx.file.to_owned(),
            path: if self.path.is_empty() {
                "(top level)".to_owned()
            } else {
                self.path.clone()
            },
            problem: problem.into(),
            expected: cx.input,
        }
    }

    fn wrong_type(&self, cx: Cx<'_>, wanted: &str) -> InventoryError {
        self.invalid(
            cx,
            format!("expected {wanted}, found {}", describe_value(self.value)),
        )
    }

    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn object(&self, cx: Cx<'_>) -> Result<&'a Map<String, Value>, InventoryError> {
        self.value
            .as_object()
            .ok_or_else(|| self.wrong_type(cx, "an object"))
    }

    pub fn str(&self, cx: Cx<'_>) -> Result<&'a str, InventoryError> {
        self.value
            .as_str()
            .ok_or_else(|| self.wrong_type(cx, "a string"))
    }

    pub fn int(&self, cx: Cx<'_>) -> Result<i64, InventoryError> {
        self.value
            .as_i64()
            .ok_or_else(|| self.wrong_type(cx, "an integer"))
    }

    pub fn bool(&self, cx: Cx<'_>) -> Result<bool, InventoryError> {
        self.value
            .as_bool()
            .ok_or_else(|| self.wrong_type(cx, "true or false"))
    }

    /// The elements of an array, each with its `[i]` path.
    pub fn items(&self, cx: Cx<'_>) -> Result<Vec<Node<'a>>, InventoryError> {
        let array = self
            .value
            .as_array()
            .ok_or_else(|| self.wrong_type(cx, "an array"))?;
        Ok(array
            .iter()
            .enumerate()
            .map(|(i, value)| Node {
                value,
                path: format!("{}[{i}]", self.path),
            })
            .collect())
    }

    /// A member of this object. Absent and `null` are the same: AWS CLI output leaves optional
    /// fields out, AWS Config writes them as `null`. On a non-object this is `None`; callers
    /// check `object()` first where that matters.
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        match self.value.as_object()?.get(key)? {
            Value::Null => None,
            value => Some(Node {
                value,
                path: self.child_path(key),
            }),
        }
    }

    /// A member that must be present.
    pub fn require(&self, key: &str, cx: Cx<'_>) -> Result<Node<'a>, InventoryError> {
        self.get(key).ok_or_else(|| {
            Node {
                value: &Value::Null,
                path: self.child_path(key),
            }
            .invalid(cx, "missing")
        })
    }

    pub fn opt_str(&self, key: &str, cx: Cx<'_>) -> Result<Option<&'a str>, InventoryError> {
        self.get(key).map(|n| n.str(cx)).transpose()
    }

    pub fn req_str(&self, key: &str, cx: Cx<'_>) -> Result<&'a str, InventoryError> {
        self.require(key, cx)?.str(cx)
    }

    pub fn opt_int(
        &self,
        key: &str,
        cx: Cx<'_>,
    ) -> Result<Option<(i64, Node<'a>)>, InventoryError> {
        self.get(key).map(|n| Ok((n.int(cx)?, n))).transpose()
    }

    pub fn opt_bool(&self, key: &str, cx: Cx<'_>) -> Result<Option<bool>, InventoryError> {
        self.get(key).map(|n| n.bool(cx)).transpose()
    }

    /// The elements of an array member; an absent member is an empty list.
    pub fn list(&self, key: &str, cx: Cx<'_>) -> Result<Vec<Node<'a>>, InventoryError> {
        match self.get(key) {
            Some(node) => node.items(cx),
            None => Ok(Vec::new()),
        }
    }
}

/// Parses a whole document, naming the file and the input expected when it is not JSON.
pub(crate) fn parse_document(cx: Cx<'_>, text: &str) -> Result<Value, InventoryError> {
    serde_json::from_str(text).map_err(|e| InventoryError::NotJson {
        file: cx.file.to_owned(),
        detail: e.to_string(),
        expected: cx.input,
    })
}
