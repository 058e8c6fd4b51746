//! Exit statuses and the one place errors are turned into what the user reads.

use std::fmt::Write as _;
use std::process::ExitCode;

/// Exit statuses scripts rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Failure = 1,
    Usage = 2,
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// An error that is the user's to fix in the command line: exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The user pressed Ctrl-C; remote queries were stopped first. Exit status 130.
#[derive(Debug, thiserror::Error)]
#[error("interrupted{}", stopped_note(.stop_failures))]
pub struct Interrupted {
    /// StopQuery calls that failed: those queries may still be running.
    pub stop_failures: Vec<String>,
}

fn stopped_note(failures: &[String]) -> String {
    if failures.is_empty() {
        "; every running Logs Insights query was stopped".to_owned()
    } else {
        format!(
            "; these queries could not be stopped and may still run (stop them in the console): {}",
            failures.join("; ")
        )
    }
}

/// Renders `error: ...` with its causes, one `Caused by:` block, as uv and cargo do.
pub fn report(error: &anyhow::Error) -> String {
    let mut text = format!("error: {error}");
    let causes: Vec<String> = error.chain().skip(1).map(|c| c.to_string()).collect();
    // thiserror's `transparent` and `#[from]` wrappers repeat their cause's message.
    let causes: Vec<&String> = causes
        .iter()
        .filter(|c| !text.contains(c.as_str()))
        .collect();
    if !causes.is_empty() {
        text.push_str("\n\nCaused by:");
        for cause in causes {
            let _ = write!(text, "\n    {cause}");
        }
    }
    text
}

/// Which exit status an error maps to.
pub fn exit_for(error: &anyhow::Error) -> Exit {
    if error.chain().any(|e| e.is::<Interrupted>()) {
        return Exit::Interrupted;
    }
    let usage = error.chain().any(|e| {
        e.is::<UsageError>()
            || e.is::<crate::settings::SettingsError>()
            || e.is::<crate::insights::parser::ParseError>()
            || e.is::<crate::insights::templates::TemplateError>()
    });
    if usage { Exit::Usage } else { Exit::Failure }
}

/// Escapes control characters in text from outside (file names, raw messages) before it
/// reaches a terminal.
pub fn escape_control(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_control("a\x1b[31mb"), "a\\u{1b}[31mb");
        assert_eq!(escape_control("plain"), "plain");
    }

    #[test]
    fn report_lists_causes_once() {
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(report(&e), "error: outer\n\nCaused by:\n    inner");
    }
}
