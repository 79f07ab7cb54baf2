"""Crawl: 500 pages from a local page server that adds 50 ms of latency per page, concurrency
8, exported to XLSX through the release gateway; total time beside the ideal
(pages / concurrency x latency), measured from the request to the task's end."""
import json, os, sys, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Gateway, crawl, page_server

PAGES, LATENCY_MS, CONCURRENCY = 500, 50, 8
server, pages = page_server(LATENCY_MS)
gw = Gateway({"exports": {"requireToken": False, "concurrency": CONCURRENCY}})


try:
    elapsed = crawl(gw, pages, PAGES, ext_type="XLSX")
    ideal = PAGES / CONCURRENCY * LATENCY_MS / 1000
    stats = json.load(urllib.request.urlopen(f"{pages}/stats"))
    print(f"crawl {PAGES} pages, {LATENCY_MS} ms each, concurrency {CONCURRENCY}")
    print(f"  ideal {ideal:.3f} s; gateway {elapsed:.3f} s = {elapsed / ideal:.3f}x ideal (target <= 1.1x); "
          f"{stats['requests']} requests, at most {stats['max_in_flight']} in flight")
finally:
    gw.stop()
    server.kill()
