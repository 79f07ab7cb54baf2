"""A source plugin in the gateway's process and in a worker process (`plugins.isolation`),
in the same run: the shipped example.sequence source (1,000,000 rows x 5 columns: int64,
utf8, float64, bool, date32) queried over HTTP as Arrow and as JSON from one gateway with the
plugin in process and one with it in a worker. Prints both times and the ratio, and each
gateway's resident memory with its worker's.

  python3 bench/isolation_bench.py      (after `swift build -c release`; bench/run.sh does both)
"""
import os, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Gateway
import push_query

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))


def fetch(gw, fmt):
    seconds, size, _ = push_query.fetch(gw, fmt, path="/api/v1/datasource/seq/query")
    return seconds, size


def worker_rss_mb(gw):
    """The resident memory of the gateway's worker processes (children running plugin-worker)."""
    out = subprocess.run(["ps", "--ppid", str(gw.proc.pid), "-o", "rss=,args="], capture_output=True, text=True).stdout
    return sum(int(line.split()[0]) for line in out.splitlines() if "plugin-worker" in line) / 1024


def main():
    config = {"datasources": {"seq": {"plugin": "example.sequence", "config": {"rows": ROWS, "batch_size": 65536}}}}
    inside = Gateway(config)
    worker = Gateway(dict(config, plugins={"isolation": {"example.sequence": "process"}}))
    try:
        print(f"source plugin example.sequence, {ROWS} rows x 5 cols over HTTP, best of 3")
        for fmt in ("arrow", "json"):
            t_in = min(fetch(inside, fmt)[0] for _ in range(3))
            t_out, size = min(fetch(worker, fmt) for _ in range(3))
            print(f"  format={fmt:<5} in process {t_in:6.2f} s {ROWS / t_in:11,.0f} rows/s   in a worker {t_out:6.2f} s "
                  f"{ROWS / t_out:11,.0f} rows/s   {t_out / t_in:.2f}x the in-process time (target <= 1.5x)  {size / 1e6:.1f} MB")
        print(f"  memory: gateway {inside.rss_mb():.0f} MB in process; gateway {worker.rss_mb():.0f} MB + worker {worker_rss_mb(worker):.0f} MB "
              "(a worker lives while its instance is open)")
    finally:
        inside.stop()
        worker.stop()


if __name__ == "__main__":
    main()
