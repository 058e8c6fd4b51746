//! The Logs Insights query language, as far as flow-log work needs it: the syntax tree, a
//! parser with line-and-column errors, a renderer whose output parses back to the same tree,
//! and the bundled templates.
//!
//! Pure: no I/O. Sources decide how a parsed query is answered.

pub mod ast;
pub mod parser;
pub mod render;
pub mod templates;

pub use parser::{ParseError, parse};
pub use render::render;
