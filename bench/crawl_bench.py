"""Crawl: 500 pages from a local page server that adds 50 ms of latency per page, concurrency
8, exported to XLSX through the release gateway; total time beside the ideal
(pages / concurrency x latency), measured from the request to the task's end."""
import json, os, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Gateway, page_server

PAGES, LATENCY_MS, CONCURRENCY = 500, 50, 8
server, pages = page_server(LATENCY_MS)
gw = Gateway({"exports": {"requireToken": False, "concurrency": CONCURRENCY}})
call = gw.call


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
