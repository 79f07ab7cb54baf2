"""A dataflow copying 1,000,000 rows x 8 columns from one dataset into another (append, one
transaction), beside sqlite3's own `INSERT INTO ... SELECT` of the same rows on a copy of the
same file, in the same run. Prints both times, the ratio of rates, and the gateway's memory.

  python3 bench/dataflow_bench.py      (after `swift build -c release`; bench/run.sh does both)
"""
import http.client, json, os, shutil, sqlite3, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Gateway

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
COLUMNS = "id integer, amount real, name text, city text, qty integer, ratio real, flag text, day date"


def call(gw, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=600)
    conn.request(method, "/api/data-flow" + path, json.dumps(body) if body is not None else None,
                 {"Authorization": f"Bearer {gw.admin}", "Content-Type": "application/json"})
    reply = json.loads(conn.getresponse().read())
    assert reply["code"] == 200, reply
    return reply["data"]


def fill_src(db_path):
    """ROWS rows of 8 columns of every common type into the dataset table `src`."""
    db = sqlite3.connect(db_path)
    db.executemany("INSERT INTO src VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   ((i, i * 1.5, f"name-{i}", f"city-{i % 100}", i % 7, i / 3.0, "yes" if i % 2 else "no",
                     "2026-01-%02d" % (i % 28 + 1)) for i in range(ROWS)))
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def run_flow(gw, config):
    """Creates and runs a flow; returns its time and the gateway's memory before and at peak."""
    flow = call(gw, "POST", "/add-dataflow", {"name": "bench copy", "description": "src → dst", "config": config})
    with gw.peak_rss() as memory:
        start = time.perf_counter()
        call(gw, "POST", f"/execute-dataflow/{flow['id']}", {"params": {}})
        while True:
            status = call(gw, "GET", f"/get-dataflow-status/{flow['id']}")
            if status["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
    assert status["status"] == "completed" and status["rows_written"] == ROWS, status
    return elapsed, memory.base, memory.peak


def main():
    gw = Gateway({"datasets": {"src": {"table": f"src({COLUMNS})"}, "dst": {"table": f"dst({COLUMNS})"}}})
    try:
        db_path = os.path.join(gw.dir, "data", "datasets.sqlite")
        fill_src(db_path)

        # The peer: sqlite3's own copy of the same rows, on a copy of the same file.
        peer_path = os.path.join(gw.dir, "peer.sqlite")
        shutil.copy(db_path, peer_path)
        start = time.perf_counter()
        subprocess.run(["sqlite3", peer_path, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; INSERT INTO dst SELECT * FROM src;"],
                       check=True, stdout=subprocess.DEVNULL)
        peer = time.perf_counter() - start

        same = run_flow(gw, {"source": {"type": "dataset", "id": "src"}, "target": {"type": "dataset", "id": "dst", "mode": "replace"},
                             "batch_size": 65536})
        # A transform makes the rows go through the pump, batch by batch.
        names = [c.split()[0] for c in COLUMNS.split(", ")]
        pumped = run_flow(gw, {"source": {"type": "dataset", "id": "src"}, "transforms": [{"select": names}],
                               "target": {"type": "dataset", "id": "dst", "mode": "replace"}, "batch_size": 65536})
        for label, (ours, base_rss, peak) in (("same types, no transform (one INSERT…SELECT)", same), ("through the pump (a select transform)", pumped)):
            print(f"dataflow copy {ROWS:,} rows x 8, {label}: gateway {ours:.2f} s ({ROWS / ours:,.0f} rows/s), "
                  f"sqlite3 INSERT…SELECT {peer:.2f} s ({ROWS / peer:,.0f} rows/s); rate ratio {peer / ours:.2f}x "
                  f"(target ≥ 0.5x); gateway RSS {base_rss:.0f} MB before, peak {peak:.0f} MB")
    finally:
        gw.stop()


if __name__ == "__main__":
    main()
