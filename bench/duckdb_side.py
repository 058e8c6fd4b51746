"""DuckDB's side of bench/run: runs the reference SQL and compares result sets.

Run by bench/run with the Python of the benchmark's virtualenv (bench/out/venv), which has
duckdb; it is not meant to be run by hand, though it can be:

    python duckdb_side.py query --task stats|few|top|count|list|ports --input PATH_OR_GLOB
                              --header true|false --out OUT.csv --threads N
      Answers the task over the flow-log files with DuckDB and writes the rows to OUT.csv (for
      ports, its three answers to OUT.csv.inbound.csv, .addresses.csv and .replies.csv).
      Prints {"seconds": S} on stdout: the time from connecting to the end of the last COPY,
      i.e. without the interpreter's start and `import duckdb`.

    python duckdb_side.py compare [--task stats|few|top] --left FLOWSIFT.csv --right DUCKDB.csv
      Compares two answers of a grouped task (its keys, then flows and bytes) as sets of rows:
      counts, totals, and row by row after sorting both. Prints a JSON report.

    python duckdb_side.py compare-rows --left FLOWSIFT.csv --right DUCKDB.csv
      Compares two CSV answers of the same columns as multisets of rows, every value as text
      (column names aside). Prints a JSON report.
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

# What `flowsift ports` asks, as the three statements a DuckDB user would run: the answers of
# the templates queries/ports-inbound.cwli, ports-addresses.cwli and ports-replies.cwli, column
# for column (flowsift's `@timestamp` of a flow log is its `start`, written as ISO 8601 UTC).
# The default (v2) format has no tcpFlags or flowDirection: they are null in every record, so
# the templates' `not (tcpFlags in [2, 3])` holds for every record and drops out here (SQL would
# make it null), and their flowDirection columns are null.
ISO_UTC = "'%Y-%m-%dT%H:%M:%S.000Z'"
PORTS_SQL = {
    "inbound": "SELECT interface_id, dstaddr, dstport, protocol, NULL AS flow_direction, "
    "NULL AS tcp_flags, COUNT(*) AS flows, SUM(packets) AS packets, SUM(bytes) AS bytes, "
    "MIN(srcaddr) AS min_peer, MAX(srcaddr) AS max_peer, MIN(srcport) AS min_peer_port, "
    "MAX(srcport) AS max_peer_port FROM {src} "
    "WHERE log_status = 'OK' AND action = 'ACCEPT' AND NOT (dstport >= 32768 AND srcport < 32768) "
    "GROUP BY interface_id, dstaddr, dstport, protocol",
    "addresses": "SELECT interface_id, srcaddr, dstaddr, COUNT(*) AS flows, "
    f"strftime(make_timestamp(MIN(start) * 1000000), {ISO_UTC}) AS first_seen, "
    f"strftime(make_timestamp(MAX(start) * 1000000), {ISO_UTC}) AS last_seen "
    "FROM {src} WHERE log_status = 'OK' GROUP BY interface_id, srcaddr, dstaddr",
    "replies": "SELECT interface_id, protocol, dstaddr, NULL AS flow_direction, COUNT(*) AS flows "
    "FROM {src} WHERE log_status = 'OK' AND action = 'ACCEPT' AND dstport >= 32768 "
    "AND srcport < 32768 GROUP BY interface_id, protocol, dstaddr",
}

# The key columns of each grouped task's answer, as `compare` reads them.
KEYS = {
    "stats": [("interface", "VARCHAR"), ("port", "BIGINT"), ("protocol", "BIGINT")],
    "few": [("interface", "VARCHAR"), ("action", "VARCHAR")],
    "top": [("interface", "VARCHAR"), ("port", "BIGINT"), ("protocol", "BIGINT")],
}


def statements(task, out):
    """The task's SELECTs, each with the file its rows go to."""
    if task == "ports":
        return [(sql, f"{out}.{name}.csv") for name, sql in PORTS_SQL.items()]
    return [(SQL[task], out)]


def query(args):
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {int(args.threads)}")
    src = source(args.input, args.header == "true")
    selects = []
    for sql, out in statements(args.task, args.out):
        select = sql.format(src=src)
        con.execute(f"COPY ({select}) TO {sql_str(out)} (HEADER, DELIMITER ',')")
        selects.append(select)
    con.close()
    print(json.dumps({"seconds": time.perf_counter() - started, "sql": ";\n".join(selects)}))


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


def compare_rows(args):
    con = duckdb.connect()
    con.execute("SET threads = 2")
    for name, path in (("l", args.left), ("r", args.right)):
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM "
                    f"read_csv({sql_str(path)}, header=true, all_varchar=true, auto_detect=true)")
    report = {}
    for name, side in (("l", "left"), ("r", "right")):
        report[side] = {
            "rows": int(con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]),
            "columns": len(con.execute(f"SELECT * FROM {name} LIMIT 0").description),
        }
    if report["left"]["columns"] == report["right"]["columns"]:
        # Set operations compare columns by position, and nulls as equal.
        for name, other, side in (("l", "r", "only_left"), ("r", "l", "only_right")):
            only = f"SELECT * FROM {name} EXCEPT ALL SELECT * FROM {other}"
            count = con.execute(f"SELECT count(*) FROM ({only})").fetchone()[0]
            rows = con.execute(f"{only} LIMIT 3").fetchall()
            report[side] = {"count": int(count), "examples": [[str(v) for v in r] for r in rows]}
        report["equal"] = (report["left"]["rows"] == report["right"]["rows"]
                           and report["only_left"]["count"] == report["only_right"]["count"] == 0)
    else:
        report["equal"] = False
    print(json.dumps(report))


def main():
    p = argparse.ArgumentParser(prog="duckdb_side.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("query")
    q.add_argument("--task", choices=sorted([*SQL, "ports"]), required=True)
    q.add_argument("--input", required=True)
    q.add_argument("--header", choices=["true", "false"], required=True)
    q.add_argument("--out", required=True)
    q.add_argument("--threads", type=int, default=2)
    c = sub.add_parser("compare")
    c.add_argument("--task", choices=sorted(KEYS), default="stats")
    c.add_argument("--left", required=True)
    c.add_argument("--right", required=True)
    r = sub.add_parser("compare-rows")
    r.add_argument("--left", required=True)
    r.add_argument("--right", required=True)
    args = p.parse_args()
    if args.cmd == "query":
        query(args)
    elif args.cmd == "compare":
        compare(args)
    else:
        compare_rows(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
