"""Seed 000 push and seed 001 query, 1,000,000 rows x 8 columns, measured beside their peers in
one run: sqlite3's own .import of the same rows as CSV (five runs each); for Arrow the ADBC
SQLite driver writing the same IPC stream in process, and the floor (a C loop stepping SQLite
over every row and column, on one connection and on two); for JSON `sqlite3 -json`, and
Python's sqlite3 + json.dumps. Queries are best of 3 on both sides."""
import csv, http.client, io, json, os, sqlite3, subprocess, sys, time, urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Gateway, sign, scratch_dir

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
CHUNK = int(os.environ.get("BENCH_CHUNK", "50000"))
HEADER = ["id", "amount", "name", "city", "qty", "ratio", "flag", "day"]


def row(i):
    return [i, i * 1.5, f"name-{i}", f"city-{i % 100}", i % 7, i / 3.0, "yes" if i % 2 else "no", "2026-01-%02d" % (i % 28 + 1)]


def sqlite_import(work, run):
    csv_path = os.path.join(work, "rows.csv")
    if not os.path.exists(csv_path):
        with open(csv_path, "w", newline="") as f:
            w = csv.writer(f)
            for i in range(ROWS):
                w.writerow(row(i))
    db = os.path.join(work, f"import{run}.db")
    sqlite3.connect(db).executescript("CREATE TABLE t (id INTEGER, amount REAL, name TEXT, city TEXT, qty INTEGER, ratio REAL, flag TEXT, day DATE);")
    start = time.perf_counter()
    subprocess.run(["sqlite3", db, ".mode csv", ".import %s t" % csv_path], check=True)
    return time.perf_counter() - start


def dataset(run):
    """Each run pushes into an empty dataset of its own; the last is the one queried."""
    return "bench" if run == 4 else f"bench{run}"


def push(gw, run):
    key, visitor, kind = "benchkey", "bench", dataset(run)
    bodies = []
    base_stamp = int(time.time() * 1000)
    for n, start in enumerate(range(0, ROWS, CHUNK)):
        ds = json.dumps([HEADER] + [row(i) for i in range(start, min(ROWS, start + CHUNK))], separators=(",", ":"))
        stamp = base_stamp + n
        bodies.append(urllib.parse.urlencode({"visitor": visitor, "token": sign(key, stamp, visitor, kind),
                                              "stamp": stamp, "type": kind, "ds": ds}))
    conn = http.client.HTTPConnection("127.0.0.1", gw.port)
    start = time.perf_counter()
    for body in bodies:
        conn.request("POST", "/echart/dataset_api/", body, {"Content-Type": "application/x-www-form-urlencoded"})
        reply = conn.getresponse().read()
        assert b'"status":200' in reply, reply[:300]
    return time.perf_counter() - start


def peer_arrow(db_path):
    import pyarrow as pa
    start = time.perf_counter()
    con = sqlite3.connect(db_path)
    cur = con.execute("SELECT " + ", ".join(HEADER) + " FROM bench")
    cols = list(zip(*cur.fetchall()))
    table = pa.table({name: list(col) for name, col in zip(HEADER, cols)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    size = len(sink.getvalue())
    return time.perf_counter() - start, size


SELECT = "SELECT " + ", ".join(HEADER) + " FROM bench"


def peer_adbc(db_path):
    """The ADBC SQLite driver (C) reading the table as Arrow batches, pyarrow writing the IPC stream."""
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa
    start = time.perf_counter()
    with adbc.connect(db_path) as con, con.cursor() as cur:
        cur.execute(SELECT)
        reader = cur.fetch_record_batch()
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, reader.schema) as w:
            for batch in reader:
                w.write_batch(batch)
        size = len(sink.getvalue())
    return time.perf_counter() - start, size


def sqlite_floor(work, db_path, connections=None):
    """Seconds of the C step loop over the table; with `connections`, on that many at once
    (rowid ranges taken in turns: what reading one table on several connections could give)."""
    exe = os.path.join(work, "sqlite_floor")
    if not os.path.exists(exe):
        subprocess.run(["cc", "-O2", "-o", exe, os.path.join(os.path.dirname(os.path.abspath(__file__)), "sqlite_floor.c"),
                        "-lsqlite3", "-lpthread"], check=True)
    extra = [str(connections), "bench"] if connections else []
    out = subprocess.run([exe, db_path, SELECT] + extra, capture_output=True, text=True, check=True).stdout
    return float(out.split()[0].split("=")[1])


def sqlite_json(db_path):
    start = time.perf_counter()
    out = subprocess.run(["sqlite3", "-json", "-readonly", db_path, SELECT], capture_output=True, check=True).stdout
    return time.perf_counter() - start, len(out)


def peer_json(db_path):
    start = time.perf_counter()
    con = sqlite3.connect(db_path)
    cur = con.execute("SELECT " + ", ".join(HEADER) + " FROM bench")
    text = json.dumps([dict(zip(HEADER, row)) for row in cur])
    return time.perf_counter() - start, len(text)


def fetch(gw, fmt, path="/api/v1/dataset/bench/query"):
    """GET the whole table (or `path`) over HTTP, reading the body as it streams; returns (seconds, bytes, peak RSS growth MB)."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.port)
    with gw.peak_rss() as memory:
        start = time.perf_counter()
        conn.request("GET", f"{path}?format={fmt}&token={gw.admin}")
        response = conn.getresponse()
        assert response.status == 200, response.read()[:300]
        total = 0
        while True:
            chunk = response.read(1 << 20)
            if not chunk:
                break
            total += len(chunk)
        elapsed = time.perf_counter() - start
    return elapsed, total, memory.peak - memory.base


def main():
    work = scratch_dir("bench-push-")
    gw = Gateway({
        "auth": {"signedKeys": {"bench": "benchkey"}, "signedTokenWindowSeconds": 3600},
        "datasets": {dataset(run): {"table": f"{dataset(run)}(id integer, amount real, name text, city text, qty integer, ratio real, flag text, day date)"}
                     for run in range(5)},
        "server": {"maxBodyBytes": 268435456},
    })
    try:
        print(f"push {ROWS} rows x 8 cols in chunks of {CHUNK}, five runs each")
        wins = 0
        for run in range(5):
            t_import = sqlite_import(work, run)
            t_push = push(gw, run)
            wins += t_import / t_push >= 1.2
            print(f"  run {run + 1}: sqlite3 .import (CSV) {t_import:5.2f} s {ROWS / t_import:10,.0f} rows/s   "
                  f"gateway /echart/dataset_api {t_push:5.2f} s {ROWS / t_push:10,.0f} rows/s   ratio {t_import / t_push:.2f}x")
        print(f"  {wins} of 5 runs at >= 1.2x sqlite3 .import's rate (target 5 of 5)")

        db_path = os.path.join(gw.dir, "data", "datasets.sqlite")
        t_floor = min(sqlite_floor(work, db_path) for _ in range(3))
        t_floor2 = min(sqlite_floor(work, db_path, connections=2) for _ in range(3))
        # Best of 3 on both sides (the Python peers, slow and only for reference, run once).
        t_adbc, size_adbc = min(peer_adbc(db_path) for _ in range(3))
        t_pa, size_pa = peer_arrow(db_path)
        t_ga, size_ga, rss_a = min(fetch(gw, "arrow") for _ in range(3))
        t_sj, size_sj = min(sqlite_json(db_path) for _ in range(3))
        t_pj, size_pj = peer_json(db_path)
        t_gj, size_gj, rss_j = min(fetch(gw, "json") for _ in range(3))
        print(f"query {ROWS} rows x 8 cols")
        print(f"  C loop: sqlite3_step + column_*  {t_floor:6.2f} s              (the floor, best of 3)")
        print(f"  the same on 2 connections        {t_floor2:6.2f} s              ({t_floor / t_floor2:.2f}x: rowid ranges taken in turn, "
              "as the gateway reads a whole dataset)")
        print(f"  ADBC SQLite driver + IPC writer  {t_adbc:6.2f} s  {size_adbc / 1e6:7.1f} MB")
        print(f"  python sqlite3 + pyarrow IPC     {t_pa:6.2f} s  {size_pa / 1e6:7.1f} MB")
        print(f"  gateway format=arrow (HTTP)      {t_ga:6.2f} s  {size_ga / 1e6:7.1f} MB  {t_adbc / t_ga:.2f}x ADBC's speed (target >= 1.5x), "
              f"{t_ga / t_floor:.2f}x the floor's time (target <= 1.2x, the issue's), {t_ga / t_floor2:.2f}x the 2-connection floor's, "
              f"server RSS +{rss_a:.0f} MB")
        print(f"  sqlite3 -json                    {t_sj:6.2f} s  {size_sj / 1e6:7.1f} MB")
        print(f"  python sqlite3 + json.dumps      {t_pj:6.2f} s  {size_pj / 1e6:7.1f} MB")
        print(f"  gateway format=json (HTTP)       {t_gj:6.2f} s  {size_gj / 1e6:7.1f} MB  {t_sj / t_gj:.2f}x sqlite3 -json's speed (target >= 2.5x), server RSS +{rss_j:.0f} MB")
    finally:
        gw.stop()


if __name__ == "__main__":
    main()
