"""Seed 000 push and seed 001 query, 1,000,000 rows x 8 columns, measured beside their peers in
one run: sqlite3's own .import of the same rows as CSV, and Python reading the table with sqlite3
and writing the same Arrow stream with pyarrow / the same JSON with json.dumps."""
import csv, http.client, io, json, os, sqlite3, subprocess, sys, time, urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Gateway, sign, scratch_dir

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
CHUNK = int(os.environ.get("BENCH_CHUNK", "50000"))
HEADER = ["id", "amount", "name", "city", "qty", "ratio", "flag", "day"]


def row(i):
    return [i, i * 1.5, f"name-{i}", f"city-{i % 100}", i % 7, i / 3.0, "yes" if i % 2 else "no", "2026-01-%02d" % (i % 28 + 1)]


def sqlite_import(work):
    csv_path = os.path.join(work, "rows.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        for i in range(ROWS):
            w.writerow(row(i))
    db = os.path.join(work, "import.db")
    sqlite3.connect(db).executescript("CREATE TABLE t (id INTEGER, amount REAL, name TEXT, city TEXT, qty INTEGER, ratio REAL, flag TEXT, day DATE);")
    start = time.perf_counter()
    subprocess.run(["sqlite3", db, ".mode csv", ".import %s t" % csv_path], check=True)
    return time.perf_counter() - start


def push(gw):
    key, visitor = "benchkey", "bench"
    bodies = []
    base_stamp = int(time.time() * 1000)
    for n, start in enumerate(range(0, ROWS, CHUNK)):
        ds = json.dumps([HEADER] + [row(i) for i in range(start, min(ROWS, start + CHUNK))], separators=(",", ":"))
        stamp = base_stamp + n
        bodies.append(urllib.parse.urlencode({"visitor": visitor, "token": sign(key, stamp, visitor, "bench"),
                                              "stamp": stamp, "type": "bench", "ds": ds}))
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


def peer_json(db_path):
    start = time.perf_counter()
    con = sqlite3.connect(db_path)
    cur = con.execute("SELECT " + ", ".join(HEADER) + " FROM bench")
    text = json.dumps([dict(zip(HEADER, row)) for row in cur])
    return time.perf_counter() - start, len(text)


def fetch(gw, fmt):
    """GET the whole table over HTTP, reading the body as it streams; returns (seconds, bytes, peak RSS growth MB)."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.port)
    with gw.peak_rss() as memory:
        start = time.perf_counter()
        conn.request("GET", f"/api/v1/dataset/bench/query?format={fmt}&token={gw.admin}")
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
        "datasets": {"bench": {"table": "bench(id integer, amount real, name text, city text, qty integer, ratio real, flag text, day date)"}},
        "server": {"maxBodyBytes": 268435456},
    })
    try:
        t_import = sqlite_import(work)
        t_push = push(gw)
        print(f"push {ROWS} rows x 8 cols in chunks of {CHUNK}")
        print(f"  sqlite3 .import (CSV)        {t_import:6.2f} s  {ROWS / t_import:10,.0f} rows/s")
        print(f"  gateway /echart/dataset_api  {t_push:6.2f} s  {ROWS / t_push:10,.0f} rows/s  ratio {t_import / t_push:.2f}x (target >= 0.8x)")

        db_path = os.path.join(gw.dir, "data", "datasets.sqlite")
        t_pa, size_pa = peer_arrow(db_path)
        t_ga, size_ga, rss_a = fetch(gw, "arrow")
        t_pj, size_pj = peer_json(db_path)
        t_gj, size_gj, rss_j = fetch(gw, "json")
        print(f"query {ROWS} rows x 8 cols")
        print(f"  python sqlite3 + pyarrow IPC {t_pa:6.2f} s  {size_pa / 1e6:7.1f} MB")
        print(f"  gateway format=arrow (HTTP)  {t_ga:6.2f} s  {size_ga / 1e6:7.1f} MB  {t_pa / t_ga:.2f}x faster (target >= 3x), server RSS +{rss_a:.0f} MB (target < 100)")
        print(f"  python sqlite3 + json.dumps  {t_pj:6.2f} s  {size_pj / 1e6:7.1f} MB")
        print(f"  gateway format=json (HTTP)   {t_gj:6.2f} s  {size_gj / 1e6:7.1f} MB  {t_pj / t_gj:.2f}x faster (target >= 3x), server RSS +{rss_j:.0f} MB (target < 100)")
    finally:
        gw.stop()


if __name__ == "__main__":
    main()
