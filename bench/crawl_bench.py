"""Crawl: 500 pages from a local page server that adds 50 ms of latency per page, concurrency
8, exported to XLSX through the release gateway; total time beside the ideal
(pages / concurrency x latency), measured from the request to the task's end."""
import json, os, subprocess, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Gateway, ROOT, scratch_dir

PAGES, LATENCY_MS, CONCURRENCY = 500, 50, 8
work = scratch_dir("bench-crawl-")
server = subprocess.Popen([sys.executable, os.path.join(ROOT, "Tests/GatewayTests/Fixtures/page_server.py"),
                           os.path.join(work, "port"), str(LATENCY_MS)], stdin=subprocess.PIPE)
while not os.path.exists(os.path.join(work, "port")) or not open(os.path.join(work, "port")).read():
    time.sleep(0.02)
pages = f"http://127.0.0.1:{open(os.path.join(work, 'port')).read()}"
gw = Gateway({"exports": {"requireToken": False, "concurrency": CONCURRENCY}})


def call(method, path, body=None):
    req = urllib.request.Request(gw.base + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))


try:
    start = time.perf_counter()
    key = call("POST", "/v1/export/http", {"timestamp": int(time.time()), "ext_type": "XLSX", "title": "crawl", "user_id": "bench",
               "source_http": {"url": f"{pages}/pages", "method": "GET", "param": {"limit": 1, "total": PAGES}}})["data"]["hash_key"]
    while True:
        detail = call("GET", f"/v1/export/detail?key={key}")["data"]
        if detail["status"] != 1:
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    assert detail["status"] == 2, detail
    ideal = PAGES / CONCURRENCY * LATENCY_MS / 1000
    stats = json.load(urllib.request.urlopen(f"{pages}/stats"))
    print(f"crawl {PAGES} pages, {LATENCY_MS} ms each, concurrency {CONCURRENCY}")
    print(f"  ideal {ideal:.3f} s; gateway {elapsed:.3f} s = {elapsed / ideal:.3f}x ideal (target <= 1.1x); "
          f"{stats['requests']} requests, at most {stats['max_in_flight']} in flight")
finally:
    gw.stop()
    server.kill()
