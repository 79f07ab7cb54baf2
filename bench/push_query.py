"""Seed 000 push and seed 001 query, 1,000,000 rows x 8 columns, measured beside their peers in
one run: sqlite3's own .import of the same rows as CSV, and Python reading the table with sqlite3
and writing the same Arrow stream with pyarrow / the same JSON with json.dumps."""
import csv, http.client, io, json, os, sqlite3, subprocess, sys, tempfile, threading, time, urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Gateway, sign

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


def main():
    work = tempfile.mkdtemp(prefix="bench-push-")
    gw = Gateway({
        "auth": {"signedKeys": {"bench": "benchkey"}, "signedTokenWindowSeconds": 3600},
        "datasets": {"bench": {"table": "bench(id integer, amount real, name text, city text, qty integer, ratio real, flag text, day date)"}},
        "server": {"maxBodyBytes": 268435456},
    })
    try:
        t_import = sqlite_import(work)
        t_push = push(gw)
        print(f"push {ROWS} rows x 8 cols in chunks of {CHUNK}")
        print(f"  sqlite3 .import (CSV)      {t_import:6.2f} s  {ROWS / t_import:10,.0f} rows/s")
        print(f"  gateway /echart/dataset_api {t_push:6.2f} s  {ROWS / t_push:10,.0f} rows/s  ratio {t_import / t_push:.2f}x (target >= 0.8x)")
    finally:
        gw.stop()


if __name__ == "__main__":
    main()
