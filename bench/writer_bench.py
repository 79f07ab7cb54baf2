"""A dataflow writing 1,000,000 rows x 8 columns from a dataset to a local HTTP receiver
through the http.writer sink plugin, in batches of 1,000, beside a Python script doing the
same (sqlite3 read, json.dumps, `requests` POST of each batch) in the same run. Prints both
times, the ratio of rates, and the gateway's memory.

  python3 bench/writer_bench.py      (after `swift build -c release`; bench/run.sh does both)
"""
import json, os, subprocess, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Gateway, scratch_dir
from dataflow_bench import COLUMNS, ROWS, fill_src, run_flow

PEER = r'''
import json, sqlite3, sys, requests
db = sqlite3.connect(sys.argv[1])
cursor = db.execute("SELECT * FROM src")
names = [d[0] for d in cursor.description]
session = requests.Session()
while True:
    rows = cursor.fetchmany(1000)
    if not rows:
        break
    reply = session.post(sys.argv[2], data=json.dumps([dict(zip(names, r)) for r in rows]),
                         headers={"Content-Type": "application/json"})
    reply.raise_for_status()
'''


def receiver():
    port_file = os.path.join(scratch_dir("receiver-"), "port")
    proc = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "receiver.py"), port_file])
    for _ in range(200):
        if os.path.exists(port_file) and open(port_file).read():
            return proc, int(open(port_file).read())
        time.sleep(0.025)
    raise RuntimeError("the receiver did not start")


def received(port):
    return json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/count"))


def reset(port):
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/reset", data=b"{}"))


def main():
    rx, port = receiver()
    gw = Gateway({"datasets": {"src": {"table": f"src({COLUMNS})"}}, "http": {"allowHosts": ["127.0.0.1"]},
                  "dataflows": {"requireToken": False}})
    try:
        db_path = os.path.join(gw.dir, "data", "datasets.sqlite")
        fill_src(db_path)
        url = f"http://127.0.0.1:{port}/write"

        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", PEER, db_path, url], check=True)
        peer = time.perf_counter() - start
        assert received(port)["rows"] == ROWS, received(port)
        reset(port)

        ours, base_rss, peak = run_flow(gw, {"source": {"type": "dataset", "id": "src"},
                                             "target": {"type": "plugin", "plugin": "http.writer", "config": {"url": url, "batch_size": 1000}},
                                             "batch_size": 65536})
        got = received(port)
        assert got["rows"] == ROWS and got["requests"] == ROWS // 1000, got
        print(f"http.writer {ROWS:,} rows x 8 in batches of 1,000 to a local receiver: gateway {ours:.2f} s ({ROWS / ours:,.0f} rows/s), "
              f"Python sqlite3 + requests {peer:.2f} s ({ROWS / peer:,.0f} rows/s); rate ratio {peer / ours:.2f}x (target ≥ 3x); "
              f"gateway RSS {base_rss:.0f} MB before, peak {peak:.0f} MB")
    finally:
        gw.stop()
        rx.terminate()


if __name__ == "__main__":
    main()
