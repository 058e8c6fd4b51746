"""DuckDB's side of bench/run: runs the reference SQL and compares result sets.

Run by bench/run with the Python of the benchmark's virtualenv (bench/out/venv), which has
duckdb; it is not meant to be run by hand, though it can be:

    python duckdb_side.py query --task stats|few|top|count|list --input PATH_OR_GLOB --header true|false
                              --out OUT.csv --threads N
      Answers the task over the flow-log files with DuckDB and writes the rows to OUT.csv.
      Prints {"seconds": S} on stdout: the time from connecting to the end of the COPY, i.e.
      without the interpreter's start and `import duckdb`.

    python duckdb_side.py compare [--task stats|few|top] --left FLOWSIFT.csv --right DUCKDB.csv
      Compares two answers of a grouped task (its keys, then flows and bytes) as sets of rows:
      counts, totals, and row by row after sorting both. Prints a JSON report.
"""

import argparse
import json
import sys
import time

import duckdb

# The default (v2) flow-log format: the 14 fields, in order, with the types they hold.
COLUMNS = [
    ("version", "INTEGER"),
    ("account_id", "VARCHAR"),
    ("interface_id", "VARCHAR"),
    ("srcaddr", "VARCHAR"),
    ("dstaddr", "VARCHAR"),
    ("srcport", "INTEGER"),
    ("dstport", "INTEGER"),
    ("protocol", "INTEGER"),
    ("packets", "BIGINT"),
    ("bytes", "BIGINT"),
    ("start", "BIGINT"),
    ("end", "BIGINT"),
    ("action", "VARCHAR"),
    ("log_status", "VARCHAR"),
]


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def source(path, header):
    columns = "{" + ", ".join(f"{sql_str(n)}: {sql_str(t)}" for n, t in COLUMNS) + "}"
    # Space-separated, `-` is null, no quoting; no sniffing: the layout is given, as flowsift
    # is given it (the default format for the plain file, the header line for S3 files, which
    # DuckDB skips and we name ourselves).
    return (
        f"read_csv({sql_str(path)}, delim=' ', header={'true' if header else 'false'}, "
        f"columns={columns}, nullstr='-', quote='', escape='', auto_detect=false)"
    )


SQL = {
    "stats": "SELECT interface_id, dstport, protocol, COUNT(*) AS flows, SUM(bytes) AS bytes "
    "FROM {src} WHERE log_status = 'OK' GROUP BY interface_id, dstport, protocol",
        "few": "SELECT interface_id, action, COUNT(*) AS flows, SUM(bytes) AS bytes "
    "FROM {src} WHERE log_status = 'OK' GROUP BY interface_id, action",
    "top": "SELECT interface_id, dstport, protocol, COUNT(*) AS flows, SUM(bytes) AS bytes "
    "FROM {src} WHERE log_status = 'OK' GROUP BY interface_id, dstport, protocol "
    "ORDER BY bytes DESC, interface_id, dstport, protocol LIMIT 10",
    "count": "SELECT COUNT(*) AS records FROM {src}",
    "list": "SELECT srcaddr, dstaddr, bytes FROM {src}",
}

# The key columns of each grouped task's answer, as `compare` reads them.
KEYS = {
    "stats": [("interface", "VARCHAR"), ("port", "BIGINT"), ("protocol", "BIGINT")],
    "few": [("interface", "VARCHAR"), ("action", "VARCHAR")],
    "top": [("interface", "VARCHAR"), ("port", "BIGINT"), ("protocol", "BIGINT")],
}


def query(args):
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {int(args.threads)}")
    select = SQL[args.task].format(src=source(args.input, args.header == "true"))
    con.execute(f"COPY ({select}) TO {sql_str(args.out)} (HEADER, DELIMITER ',')")
    con.close()
    print(json.dumps({"seconds": time.perf_counter() - started, "sql": select}))


def compare(args):
    con = duckdb.connect()
    con.execute("SET threads = 2")
    keys = KEYS[args.task]
    names = [n for n, _ in keys]
    key_list = ", ".join(names)
    columns = keys + [("flows", "HUGEINT"), ("bytes", "HUGEINT")]
    typed = "{" + ", ".join(f"{sql_str(n)}: {sql_str(t)}" for n, t in columns) + "}"
    all_columns = ", ".join(n for n, _ in columns)
    for name, path in (("l", args.left), ("r", args.right)):
        # Numbered in sorted order, so the two sides can be compared row by row.
        con.execute(
            f"CREATE TEMP TABLE {name} AS SELECT row_number() OVER "
            f"(ORDER BY {all_columns}) AS n, * "
            f"FROM read_csv({sql_str(path)}, header=true, columns={typed}, auto_detect=false)"
        )
    report = {}
    for name, side in (("l", "left"), ("r", "right")):
        groups, flows, total = con.execute(
            f"SELECT count(*), coalesce(sum(flows), 0), coalesce(sum(bytes), 0) FROM {name}"
        ).fetchone()
        distinct = con.execute(
            f"SELECT count(*) FROM (SELECT DISTINCT {key_list} FROM {name})"
        ).fetchone()[0]
        report[side] = {
            "groups": int(groups),
            "distinct_keys": int(distinct),
            "flows": int(flows),
            "bytes": int(total),
        }
    differ = "FROM l FULL OUTER JOIN r USING (n) WHERE " + " OR ".join(
        f"l.{n} IS DISTINCT FROM r.{n}" for n, _ in columns
    )
    report["rows_differing"] = int(con.execute(f"SELECT count(*) {differ}").fetchone()[0])
    width = len(columns)
    first = con.execute(
        "SELECT n, " + ", ".join(f"l.{n}" for n, _ in columns) + ", "
        + ", ".join(f"r.{n}" for n, _ in columns) + f" {differ} ORDER BY n LIMIT 5"
    ).fetchall()
    report["first_differences"] = [
        {"row": int(row[0]), "left": [str(v) for v in row[1:1 + width]],
         "right": [str(v) for v in row[1 + width:]]}
        for row in first
    ]
    # Keys on one side only, which say more than a shifted row-by-row difference.
    for name, other, side in (("l", "r", "only_left"), ("r", "l", "only_right")):
        rows = con.execute(
            f"SELECT {all_columns} FROM {name} "
            f"ANTI JOIN {other} USING ({key_list}) ORDER BY {key_list} LIMIT 5"
        ).fetchall()
        count = con.execute(
            f"SELECT count(*) FROM {name} ANTI JOIN {other} USING ({key_list})"
        ).fetchone()[0]
        report[side] = {"count": int(count), "examples": [[str(v) for v in r] for r in rows]}
    report["equal"] = report["rows_differing"] == 0 and report["left"] == report["right"]
    print(json.dumps(report))


def main():
    p = argparse.ArgumentParser(prog="duckdb_side.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("query")
    q.add_argument("--task", choices=sorted(SQL), required=True)
    q.add_argument("--input", required=True)
    q.add_argument("--header", choices=["true", "false"], required=True)
    q.add_argument("--out", required=True)
    q.add_argument("--threads", type=int, default=2)
    c = sub.add_parser("compare")
    c.add_argument("--task", choices=sorted(KEYS), default="stats")
    c.add_argument("--left", required=True)
    c.add_argument("--right", required=True)
    args = p.parse_args()
    if args.cmd == "query":
        query(args)
    else:
        compare(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
