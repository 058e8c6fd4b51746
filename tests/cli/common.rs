//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The binary with the user's AWS settings and colour preferences removed, so tests pass on
/// any machine.
pub fn flowsift() -> Command {
    let mut cmd = Command::cargo_bin("flowsift").expect("the flowsift binary is built");
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") || key == "NO_COLOR" {
            cmd.env_remove(key);
        }
    }
    cmd
}

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(path: &str) -> PathBuf {
    repo().join("tests/fixtures").join(path)
}

pub fn sample() -> PathBuf {
    repo().join("examples/sample")
}

/// Runs the binary, expects success, and parses stdout as JSON.
pub fn json(cmd: &mut Command) -> Value {
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out)
        )
    })
}

/// Runs the binary, expects success, and gives stdout as text.
pub fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).expect("stdout is UTF-8")
}

pub fn stderr_of(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Drops null fields, as the reference parsers omit absent (`-`) values.
pub fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}
