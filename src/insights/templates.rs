//! The bundled query templates in `queries/`, and filling in their parameters.
//!
//! A template opens with comment lines: `# NAME: description`, then `# param NAME: meaning`
//! for each parameter, which the body uses as `{{NAME}}`. Values are checked to be plain
//! tokens (numbers, ids, addresses) so a parameter can never change a query's structure.

/// A bundled template.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: &'static str,
    pub description: String,
    pub params: Vec<(String, String)>,
    pub text: &'static str,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("no template named `{name}`; `flowsift templates` lists them: {available}")]
    Unknown { name: String, available: String },
    #[error("template `{template}` needs --param {param}=VALUE ({meaning})")]
    Missing {
        template: String,
        param: String,
        meaning: String,
    },
    #[error("template `{template}` has no parameter `{param}`; its parameters: {available}")]
    Extra {
        template: String,
        param: String,
        available: String,
    },
    #[error("--param {param}: `{value}` must be a plain value (letters, digits, . : / _ -)")]
    BadValue { param: String, value: String },
    #[error("--param `{text}` must be NAME=VALUE")]
    BadSyntax { text: String },
}

const SOURCES: &[(&str, &str)] = &[
    ("outbound", include_str!("../../queries/outbound.cwli")),
    (
        "port-sources",
        include_str!("../../queries/port-sources.cwli"),
    ),
    (
        "ports-addresses",
        include_str!("../../queries/ports-addresses.cwli"),
    ),
    (
        "ports-inbound",
        include_str!("../../queries/ports-inbound.cwli"),
    ),
    (
        "ports-replies",
        include_str!("../../queries/ports-replies.cwli"),
    ),
    (
        "rejected-by-port",
        include_str!("../../queries/rejected-by-port.cwli"),
    ),
    (
        "rules-sources",
        include_str!("../../queries/rules-sources.cwli"),
    ),
    ("talkers", include_str!("../../queries/talkers.cwli")),
    (
        "traffic-summary",
        include_str!("../../queries/traffic-summary.cwli"),
    ),
];

impl Template {
    fn from_source(name: &'static str, text: &'static str) -> Self {
        let mut description = String::new();
        let mut params = Vec::new();
        for line in text.lines().take_while(|l| l.starts_with('#')) {
            let line = line.trim_start_matches('#').trim();
            if let Some(rest) = line.strip_prefix("param ") {
                if let Some((param, meaning)) = rest.split_once(':') {
                    params.push((param.trim().to_owned(), meaning.trim().to_owned()));
                }
            } else if let Some(rest) = line.strip_prefix(&format!("{name}:")) {
                description = rest.trim().to_owned();
            }
        }
        Template {
            name,
            description,
            params,
            text,
        }
    }

    /// The query text with every `{{param}}` replaced.
    pub fn instantiate(&self, values: &[(String, String)]) -> Result<String, TemplateError> {
        let names = || {
            if self.params.is_empty() {
                "none".to_owned()
            } else {
                self.params
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        for (param, _) in values {
            if !self.params.iter().any(|(n, _)| n == param) {
                return Err(TemplateError::Extra {
                    template: self.name.to_owned(),
                    param: param.clone(),
                    available: names(),
                });
            }
        }
        let mut text = self.text.to_owned();
        for (param, meaning) in &self.params {
            let value = values
                .iter()
                .rev()
                .find(|(n, _)| n == param)
                .map(|(_, v)| v)
                .ok_or_else(|| TemplateError::Missing {
                    template: self.name.to_owned(),
                    param: param.clone(),
                    meaning: meaning.clone(),
                })?;
            let plain = !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".:/_-".contains(c));
            if !plain {
                return Err(TemplateError::BadValue {
                    param: param.clone(),
                    value: value.clone(),
                });
            }
            text = text.replace(&format!("{{{{{param}}}}}"), value);
        }
        Ok(text)
    }
}

/// Every bundled template, sorted by name.
pub fn all() -> Vec<Template> {
    SOURCES
        .iter()
        .map(|(name, text)| Template::from_source(name, text))
        .collect()
}

pub fn get(name: &str) -> Result<Template, TemplateError> {
    all()
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(|| TemplateError::Unknown {
            name: name.to_owned(),
            available: SOURCES
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Splits `NAME=VALUE` arguments.
pub fn parse_params(args: &[String]) -> Result<Vec<(String, String)>, TemplateError> {
    args.iter()
        .map(|a| {
            a.split_once('=')
                .filter(|(n, _)| !n.is_empty())
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .ok_or_else(|| TemplateError::BadSyntax { text: a.clone() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_has_a_description_and_parses() {
        for template in all() {
            assert!(!template.description.is_empty(), "{}", template.name);
            let values: Vec<(String, String)> = template
                .params
                .iter()
                .map(|(n, _)| (n.clone(), "22".to_owned()))
                .collect();
            let text = template.instantiate(&values).unwrap();
            assert!(!text.contains("{{"), "{}", template.name);
            crate::insights::parser::parse(&text)
                .unwrap_or_else(|e| panic!("{}: {}", template.name, e.display_with_source(&text)));
        }
        let names: Vec<_> = all().iter().map(|t| t.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn parameters_are_checked() {
        let t = get("port-sources").unwrap();
        assert_eq!(t.params[0].0, "port");
        assert!(
            t.instantiate(&[("port".into(), "443".into())])
                .unwrap()
                .contains("dstPort = 443")
        );
        assert!(matches!(
            t.instantiate(&[]),
            Err(TemplateError::Missing { .. })
        ));
        assert!(matches!(
            t.instantiate(&[("port".into(), "1 or 1=1".into())]),
            Err(TemplateError::BadValue { .. })
        ));
        assert!(matches!(
            t.instantiate(&[("port".into(), "1".into()), ("x".into(), "1".into())]),
            Err(TemplateError::Extra { .. })
        ));
        assert!(matches!(get("nope"), Err(TemplateError::Unknown { .. })));
        assert_eq!(
            parse_params(&["a=b=c".into()]).unwrap(),
            vec![("a".to_owned(), "b=c".to_owned())]
        );
        assert!(parse_params(&["=x".into()]).is_err());
    }
}
