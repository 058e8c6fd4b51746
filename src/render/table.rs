//! Terminal tables.

use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::grid::util::string::get_string_width;
use tabled::settings::Style;

use crate::analysis::ports::{InterfacePorts, PortsReport, Rule};
use crate::error::escape_control;
use crate::source::{QueryOutput, RowSink, Table, Value};

/// A plain table with a header row; control characters in cells are escaped.
pub fn grid(header: &[String], rows: &[Vec<String>]) -> String {
    let mut builder = Builder::default();
    builder.push_record(header.iter().map(|h| h.to_uppercase()));
    for row in rows {
        builder.push_record(row.iter().map(|c| escape_control(c)));
    }
    let mut table = builder.build();
    table.with(Style::blank());
    // The blank style pads the last column; trailing spaces only get in the way.
    let mut text: String = table
        .to_string()
        .lines()
        .map(|line| format!("{}\n", line.trim_end()))
        .collect();
    if text.is_empty() {
        text.push('\n');
    }
    text
}

/// A held table, every row sized: what `write_query_table` writes for it.
pub fn query_table(table: Table) -> io::Result<String> {
    let mut out = Vec::new();
    write_query_table(&QueryOutput::from(table), &mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// An answer's rows as a table, written as they are rendered (in parallel for a streamed
/// answer). A held answer's columns are sized by all its rows; a streamed one's by its first
/// `SIZING_ROWS`.
pub fn write_query_table(output: &QueryOutput, out: &mut dyn Write) -> io::Result<()> {
    let sizing = if output.stream.is_some() {
        SIZING_ROWS
    } else {
        usize::MAX
    };
    let mut sink = TableRows::new(out, sizing);
    let columns = &output.table.columns;
    sink.columns(columns)?;
    output.try_for_each_rendered(|rows| table_cells(columns, rows), |bytes| sink.write(bytes))?;
    sink.finish()
}

/// Rows a table holds to size its columns before it writes them: an answer of more rows
/// streams, each column as wide as in these rows (a later cell that is wider widens only its
/// own line), so a table of any length takes bounded memory and starts soon.
pub const SIZING_ROWS: usize = 1000;

/// Rows as the cells `TableRows` lays out (a `Render` of any thread): each cell's text, control
/// characters escaped, after its length as four bytes; a cell a column (empty past a row's end).
pub fn table_cells(
    columns: &[String],
    rows: &mut dyn Iterator<Item = &[Value]>,
) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    for row in rows {
        for column in 0..columns.len() {
            let value = row.get(column).unwrap_or(&Value::Null);
            let at = bytes.len();
            bytes.extend_from_slice(&[0; 4]);
            write!(bytes, "{value}")?;
            // Control characters are rare: only a cell with one is made again, escaped.
            let text = std::str::from_utf8(&bytes[at + 4..]).expect("values display as text");
            if text.chars().any(char::is_control) {
                let escaped = escape_control(text);
                bytes.truncate(at + 4);
                bytes.extend_from_slice(escaped.as_bytes());
            }
            let len = u32::try_from(bytes.len() - at - 4)
                .map_err(|_| io::Error::other("a cell over 4 GiB"))?;
            bytes[at..at + 4].copy_from_slice(&len.to_le_bytes());
        }
    }
    Ok(bytes)
}

/// An answer's rows as a table (the layout `grid` gives), written as they come: the first rows
/// (`sizing` of them) are held to size the columns, then every row is written as it arrives.
pub struct TableRows<'a> {
    out: &'a mut dyn Write,
    sizing: usize,
    header: Vec<String>,
    held: Vec<Vec<String>>,
    /// Each column's width, once the held rows have been written.
    widths: Option<Vec<usize>>,
    line: String,
}

impl<'a> TableRows<'a> {
    pub fn new(out: &'a mut dyn Write, sizing: usize) -> Self {
        TableRows {
            out,
            sizing,
            header: Vec::new(),
            held: Vec::new(),
            widths: None,
            line: String::new(),
        }
    }

    /// Sizes the columns by the header and the held rows, and writes them.
    fn lay_out(&mut self) -> io::Result<()> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| text_width(h)).collect();
        for row in &self.held {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(text_width(cell));
            }
        }
        for row in std::iter::once(&self.header).chain(&self.held) {
            write_line(&mut *self.out, &mut self.line, &widths, row)?;
        }
        self.held = Vec::new();
        self.widths = Some(widths);
        Ok(())
    }
}

/// One line of a table: each cell padded to its column by one space on the left and at least
/// one on the right, a space between columns, no spaces at the end (as `grid` draws), made in
/// `line`.
fn write_line(
    out: &mut dyn Write,
    line: &mut String,
    widths: &[usize],
    cells: &[String],
) -> io::Result<()> {
    line.clear();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        line.push(' ');
        line.push_str(cell);
        let pad = widths
            .get(i)
            .map_or(0, |w| w.saturating_sub(text_width(cell)));
        line.extend(std::iter::repeat_n(' ', pad + 1));
    }
    let end = line.trim_end().len();
    line.truncate(end);
    line.push('\n');
    out.write_all(line.as_bytes())
}

/// The columns a text takes in a terminal, as `grid` measures it; ASCII text (control
/// characters are escaped by then) takes one a byte.
fn text_width(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        get_string_width(text)
    }
}

impl RowSink for TableRows<'_> {
    fn columns(&mut self, columns: &[String]) -> io::Result<()> {
        self.header = columns
            .iter()
            .map(|c| escape_control(&c.to_uppercase()))
            .collect();
        Ok(())
    }

    fn write(&mut self, mut rendered: &[u8]) -> io::Result<()> {
        let damaged = || io::Error::other("table cells cut short");
        let mut row = Vec::with_capacity(self.header.len());
        while !rendered.is_empty() {
            let (len, rest) = rendered.split_first_chunk::<4>().ok_or_else(damaged)?;
            let len = u32::from_le_bytes(*len) as usize;
            let text = rest.get(..len).ok_or_else(damaged)?;
            rendered = &rest[len..];
            row.push(String::from_utf8_lossy(text).into_owned());
            if row.len() < self.header.len() {
                continue;
            }
            match &self.widths {
                Some(widths) => {
                    write_line(&mut *self.out, &mut self.line, widths, &row)?;
                    row.clear();
                }
                None => {
                    let cells = std::mem::replace(&mut row, Vec::with_capacity(self.header.len()));
                    self.held.push(cells);
                    if self.held.len() >= self.sizing {
                        self.lay_out()?;
                    }
                }
            }
        }
        if row.is_empty() {
            Ok(())
        } else {
            Err(damaged())
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.widths.is_none() && self.held.is_empty() {
            return self.out.write_all(b"no rows\n");
        }
        self.abandon()
    }

    fn abandon(&mut self) -> io::Result<()> {
        if self.widths.is_none() && !self.held.is_empty() {
            self.lay_out()?;
        }
        Ok(())
    }
}

fn rule_text(rule: &Rule) -> String {
    match (rule.from_port, rule.to_port) {
        (-1, _) => "all".to_owned(),
        (a, b) if a == b => a.to_string(),
        (a, b) => format!("{a}-{b}"),
    }
}

fn join<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.iter().map(f).collect::<Vec<_>>().join(", ")
    }
}

fn rules_cell(entry: &InterfacePorts) -> String {
    if !entry.feasible {
        return match &entry.hint {
            Some(h) => format!(
                "infeasible: needs --max-rules {} or --max-open-ports {}",
                h.max_rules, h.max_open_ports
            ),
            None => "infeasible".to_owned(),
        };
    }
    join(&entry.rules, rule_text)
}

pub fn ports_table(report: &PortsReport) -> String {
    let header: Vec<String> = [
        "interface",
        "address",
        "protocol",
        "rules",
        "unused ports",
        "uncertain",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = report
        .interfaces
        .iter()
        .map(|e| {
            vec![
                e.interface_id.clone(),
                e.own_address.clone().unwrap_or_else(|| "?".to_owned()),
                e.protocol.clone(),
                rules_cell(e),
                join(&e.unused_ranges, |[a, b]| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                }),
                join(&e.uncertain_ports, |u| {
                    u.port.map_or("all".to_owned(), |p| p.to_string())
                }),
            ]
        })
        .collect();
    let mut text = format!(
        "window {} .. {}   at most {} rules, {} unused ports per rule\n\n",
        report.window.start.as_deref().unwrap_or("?"),
        report.window.end.as_deref().unwrap_or("?"),
        report.constraints.max_rules,
        report.constraints.max_open_ports
    );
    if report.interfaces.is_empty() {
        text.push_str("no accepted inbound traffic to any service port\n");
        return text;
    }
    text.push_str(&grid(&header, &rows));
    text.push('\n');
    let mut current: Option<&str> = None;
    for e in &report.interfaces {
        if current != Some(e.interface_id.as_str()) {
            current = Some(&e.interface_id);
            let parts: Vec<String> = report
                .interfaces
                .iter()
                .filter(|x| x.interface_id == e.interface_id)
                .map(summary)
                .collect();
            text.push_str(&format!("{}: {}\n", e.interface_id, parts.join("; ")));
        }
    }
    let uncertain: Vec<String> = report
        .interfaces
        .iter()
        .flat_map(|e| {
            e.uncertain_ports.iter().map(move |u| {
                format!(
                    "  {} {} {}: {}",
                    e.interface_id,
                    e.protocol,
                    u.port.map_or("(all)".to_owned(), |p| p.to_string()),
                    u.reason
                )
            })
        })
        .collect();
    if !uncertain.is_empty() {
        text.push_str("\nuncertain ports (not allowed; check them):\n");
        text.push_str(&uncertain.join("\n"));
        text.push('\n');
    }
    text
}

fn summary(e: &InterfacePorts) -> String {
    let n = |count: usize, what: &str| {
        if count == 1 {
            format!("1 {what}")
        } else {
            format!("{count} {what}s")
        }
    };
    let mut s = if !e.feasible {
        format!(
            "{} infeasible for {}",
            e.protocol,
            n(e.service_ports.len(), "port")
        )
    } else if e.rules.iter().any(|r| r.from_port < 0) {
        format!("{} allowed as a whole", e.protocol)
    } else {
        format!(
            "{} for {}, {} open but unused",
            n(e.rules.len(), &format!("{} rule", e.protocol)),
            n(e.service_ports.len(), "service port"),
            e.unused_port_count
        )
    };
    if !e.uncertain_ports.is_empty() {
        s.push_str(&format!(", {} uncertain", e.uncertain_ports.len()));
    }
    if e.reply_flows_ignored > 0 {
        s.push_str(&format!(
            ", {} reply flows of its own connections left out",
            e.reply_flows_ignored
        ));
    }
    if e.client_ports_ignored > 0 {
        s.push_str(&format!(
            ", {} client ports left out",
            e.client_ports_ignored
        ));
    }
    s
}

pub fn talkers_table(report: &crate::analysis::talkers::TalkersReport, top: usize) -> String {
    let mut text = format!(
        "window {} .. {}\n\n",
        report.window.start.as_deref().unwrap_or("?"),
        report.window.end.as_deref().unwrap_or("?"),
    );
    if report.is_empty() {
        text.push_str("no traffic to this port\n");
        return text;
    }
    let (shown, rest) = report.top(top);
    let header: Vec<String> = [
        "interface",
        "protocol",
        "port",
        "source",
        "action",
        "flows",
        "packets",
        "bytes",
        "first seen",
        "last seen",
    ]
    .map(String::from)
    .to_vec();
    let mut rows: Vec<Vec<String>> = shown
        .iter()
        .chain(rest.iter())
        .map(|r| {
            vec![
                r.interface_id.clone(),
                r.protocol.clone(),
                if r.port < 0 {
                    String::new()
                } else {
                    r.port.to_string()
                },
                r.srcaddr.clone(),
                r.action.clone(),
                r.flows.to_string(),
                r.packets.to_string(),
                r.bytes.to_string(),
                r.first_seen.clone().unwrap_or_default(),
                r.last_seen.clone().unwrap_or_default(),
            ]
        })
        .collect();
    if rows.is_empty() {
        rows.push(vec![String::new(); header.len()]);
    }
    text.push_str(&grid(&header, &rows));
    text
}

pub fn outbound_table(report: &crate::analysis::outbound::OutboundReport) -> String {
    let mut text = format!(
        "window {} .. {}   internal: {}   admin ports: {}\n\n",
        report.window.start.as_deref().unwrap_or("?"),
        report.window.end.as_deref().unwrap_or("?"),
        report.internal_cidrs.join(", "),
        report.admin_ports,
    );
    if report.findings.is_empty() {
        text.push_str("no findings\n");
    }
    let header: Vec<String> = ["kind", "destination", "action", "flows", "bytes", "why"]
        .map(String::from)
        .to_vec();
    let mut current: Option<&str> = None;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let flush = |text: &mut String, interface: Option<&str>, rows: &mut Vec<Vec<String>>| {
        if let Some(interface) = interface {
            text.push_str(&format!("{interface}\n"));
            text.push_str(&grid(&header, rows));
            text.push('\n');
        }
        rows.clear();
    };
    for f in &report.findings {
        if current != Some(f.interface_id.as_str()) {
            flush(&mut text, current, &mut rows);
            current = Some(&f.interface_id);
        }
        let port = f.port.map_or_else(String::new, |p| format!(":{p}"));
        rows.push(vec![
            f.kind.to_owned(),
            format!("{}{port}/{}", f.destination, f.protocol),
            f.action.clone(),
            f.flows.to_string(),
            f.bytes.to_string(),
            f.reason.clone(),
        ]);
    }
    flush(&mut text, current, &mut rows);
    text.push_str(&format!(
        "{} finding(s); {} left out by the allow file; {} reply flows of the interfaces' own services ignored\n",
        report.findings.len(),
        report.allowed,
        report.replies_ignored
    ));
    text
}

pub fn rules_table(report: &crate::analysis::rules::RulesReport) -> String {
    let mut text = format!(
        "window {} .. {}   {} inbound rule(s) checked\n\n",
        report.window.start.as_deref().unwrap_or("?"),
        report.window.end.as_deref().unwrap_or("?"),
        report.rules_checked
    );
    if report.findings.is_empty() {
        text.push_str("no findings: every rule matched traffic as narrow as the rule\n");
        return text;
    }
    let header: Vec<String> = ["group", "rule", "finding", "flows", "suggestion", "why"]
        .map(String::from)
        .to_vec();
    let rows: Vec<Vec<String>> = report
        .findings
        .iter()
        .map(|f| {
            let ports = match (f.rule.from_port, f.rule.to_port) {
                (Some(a), Some(b)) if a == b => format!(" {a}"),
                (Some(a), Some(b)) => format!(" {a}-{b}"),
                _ => String::new(),
            };
            let suggestion = f.suggestion.as_ref().map_or_else(String::new, |s| {
                let mut parts = Vec::new();
                if let Some(ranges) = &s.port_ranges {
                    parts.push(
                        ranges
                            .iter()
                            .map(|r| {
                                if r.from_port == r.to_port {
                                    format!("{} {}", r.protocol, r.from_port)
                                } else {
                                    format!("{} {}-{}", r.protocol, r.from_port, r.to_port)
                                }
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                    );
                }
                if let Some(sources) = &s.sources {
                    parts.push(format!("from {}", sources.join(", ")));
                }
                parts.join(" ")
            });
            vec![
                f.group_id.clone(),
                format!("{}{ports} from {}", f.rule.protocol, f.rule.source),
                f.kind.to_owned(),
                f.observed.flows.to_string(),
                suggestion,
                f.reason.clone(),
            ]
        })
        .collect();
    text.push_str(&grid(&header, &rows));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn values(rows: &[Vec<String>]) -> Vec<Vec<Value>> {
        rows.iter()
            .map(|r| r.iter().map(|c| Value::Str(c.as_str().into())).collect())
            .collect()
    }

    /// Output that can be read while a sink writes to it.
    #[derive(Clone, Default)]
    struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Writes `rows` through a `TableRows`, `block` rows a `write`; returns what was written
    /// before `finish`, and in all.
    fn streamed(columns: &[String], rows: &[Vec<Value>], block: usize) -> (Vec<u8>, Vec<u8>) {
        let shared = Shared::default();
        let mut out = shared.clone();
        let mut sink = TableRows::new(&mut out, SIZING_ROWS);
        sink.columns(columns).unwrap();
        for chunk in rows.chunks(block) {
            let cells = table_cells(columns, &mut chunk.iter().map(Vec::as_slice)).unwrap();
            sink.write(&cells).unwrap();
        }
        let before = shared.0.borrow().clone();
        sink.finish().unwrap();
        let all = shared.0.borrow().clone();
        (before, all)
    }

    proptest! {
        /// A table of up to `SIZING_ROWS` rows is the grid of all of them, however its rows
        /// arrive: any text, wide characters, control characters and empty cells.
        #[test]
        fn a_table_that_fits_is_the_grid(
            columns in proptest::collection::vec("[a-zA-Z@_ ]{1,8}", 1..5),
            cells in proptest::collection::vec("(\\PC|[\t\n\u{7}]){0,6}", 0..60),
            block in 1usize..8,
        ) {
            let width = columns.len();
            let rows: Vec<Vec<String>> = cells.chunks_exact(width).map(<[String]>::to_vec).collect();
            let (_, table) = streamed(&columns, &values(&rows), block);
            let expected = if rows.is_empty() {
                "no rows\n".to_owned()
            } else {
                grid(&columns, &rows)
            };
            prop_assert_eq!(String::from_utf8(table).unwrap(), expected);
        }
    }

    #[test]
    fn a_long_table_is_sized_by_its_first_rows_and_streams_the_rest() {
        let columns = vec!["port".to_owned(), "note".to_owned()];
        let mut rows: Vec<Vec<String>> = (0..SIZING_ROWS)
            .map(|i| vec![(i % 100).to_string(), "ab".to_owned()])
            .collect();
        rows.push(vec!["65535".to_owned(), "a wider note".to_owned()]);
        rows.push(vec!["7".to_owned(), "c".to_owned()]);
        let (before, table) = streamed(&columns, &values(&rows), 10);
        let text = String::from_utf8(table).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), SIZING_ROWS + 3);
        // The first rows size the columns: the header is as wide as then.
        assert_eq!(lines[0], " PORT   NOTE");
        assert_eq!(lines[1], " 0      ab");
        // A later, wider cell widens its own line only.
        assert_eq!(lines[SIZING_ROWS + 1], " 65535   a wider note");
        assert_eq!(lines[SIZING_ROWS + 2], " 7      c");
        // Every row was written before the end: nothing waited for it.
        assert_eq!(before.len(), text.len());
    }

    #[test]
    fn a_held_table_is_sized_by_all_its_rows() {
        let columns = vec!["port".to_owned(), "note".to_owned()];
        let mut rows: Vec<Vec<Value>> = (0..SIZING_ROWS + 5)
            .map(|i| vec![Value::Int(i as i64 % 100), Value::Str("ab".into())])
            .collect();
        rows.push(vec![Value::Int(65535)]);
        let mut all: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(ToString::to_string).collect())
            .collect();
        // A row short of cells has empty ones.
        all.last_mut().unwrap().push(String::new());
        let text = query_table(Table {
            columns: columns.clone(),
            rows,
        })
        .unwrap();
        assert_eq!(text, grid(&columns, &all));
        assert!(text.starts_with(" PORT    NOTE\n"), "{}", &text[..40]);
    }

    #[test]
    fn cells_cut_short_are_an_error() {
        let columns = vec!["a".to_owned(), "b".to_owned()];
        let row = [Value::Str("x".into()), Value::Int(1)];
        let cells = table_cells(&columns, &mut std::iter::once(&row[..])).unwrap();
        let mut out = Vec::new();
        let mut sink = TableRows::new(&mut out, SIZING_ROWS);
        sink.columns(&columns).unwrap();
        for cut in [1, 4, cells.len() - 1] {
            assert!(sink.write(&cells[..cut]).is_err(), "cut at {cut}");
        }
    }
}
