"""A source plugin in the gateway's process and in a worker process (`plugins.isolation`),
in the same run: the shipped example.sequence source (1,000,000 rows x 5 columns: int64,
utf8, float64, bool, date32) queried over HTTP as Arrow and as JSON from one gateway with the
plugin in process and one with it in a worker; small queries (10 rows) one after another,
with the worker kept between them and without; and the shipped HTTP pager crawling a page
server with 50 ms of latency a page (network-bound) in both modes. Prints each time, the
ratio, and each gateway's resident memory with its workers'.

  python3 bench/isolation_bench.py      (after `swift build -c release`; bench/run.sh does both)
"""
import http.client, os, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Gateway, crawl, page_server
import push_query

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))


def fetch(gw, fmt):
    seconds, size, _ = push_query.fetch(gw, fmt, path="/api/v1/datasource/seq/query")
    return seconds, size


def worker_rss_mb(gw):
    """The resident memory of the gateway's worker processes (children running plugin-worker)."""
    out = subprocess.run(["ps", "--ppid", str(gw.proc.pid), "-o", "rss=,args="], capture_output=True, text=True).stdout
    return sum(int(line.split()[0]) for line in out.splitlines() if "plugin-worker" in line) / 1024


def small_queries(gw, count=200):
    """The median time of `count` 10-row queries, one after another on one connection."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.port)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        conn.request("GET", f"/api/v1/datasource/small/query?token={gw.admin}")
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, body[:300]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    config = {"datasources": {"seq": {"plugin": "example.sequence", "config": {"rows": ROWS, "batch_size": 65536}},
                              "small": {"plugin": "example.sequence", "config": {"rows": 10}}},
              "exports": {"requireToken": False, "concurrency": 8}, "http": {"allowHosts": ["127.0.0.1"]}}
    isolated = {"default": "process"}
    inside = Gateway(config)
    worker = Gateway(dict(config, plugins={"isolation": isolated}))
    unpooled = Gateway(dict(config, plugins={"isolation": isolated, "workersKeptIdle": 0}))
    server, pages_url = page_server(50)
    try:
        print(f"source plugin example.sequence, {ROWS} rows x 5 cols over HTTP, best of 5")
        for fmt in ("arrow", "json"):
            t_in = min(fetch(inside, fmt)[0] for _ in range(5))
            t_out, size = min(fetch(worker, fmt) for _ in range(5))
            print(f"  format={fmt:<5} in process {t_in:6.2f} s {ROWS / t_in:11,.0f} rows/s   in a worker {t_out:6.2f} s "
                  f"{ROWS / t_out:11,.0f} rows/s   {t_out / t_in:.2f}x the in-process time (target <= 1.5x)  {size / 1e6:.1f} MB")
        print(f"  memory: gateway {inside.rss_mb():.0f} MB in process; gateway {worker.rss_mb():.0f} MB + workers {worker_rss_mb(worker):.0f} MB "
              "(kept idle after their instances)")
        q_in, q_kept, q_new = small_queries(inside), small_queries(worker), small_queries(unpooled)
        print(f"10-row queries, one after another, median: in process {q_in * 1e3:.2f} ms; in a kept worker {q_kept * 1e3:.2f} ms "
              f"({q_kept / q_in:.2f}x); a new worker each {q_new * 1e3:.2f} ms ({q_new / q_in:.2f}x)")
        c_in = min(crawl(inside, pages_url, 200) for _ in range(2))
        c_out = min(crawl(worker, pages_url, 200) for _ in range(2))
        print(f"http.pager crawl, 200 pages of 50 ms, concurrency 8 (ideal 1.25 s): in process {c_in:.2f} s; in a worker {c_out:.2f} s "
              f"({c_out / c_in:.2f}x, target <= 1.10x)")
    finally:
        inside.stop()
        worker.stop()
        unpooled.stop()
        server.kill()


if __name__ == "__main__":
    main()
