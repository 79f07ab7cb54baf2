"""Crawl: 500 pages from a local page server that adds 50 ms of latency per page, concurrency
8, exported to XLSX through the release gateway; total time beside the ideal
(pages / concurrency x latency), measured from the request to the task's end. Then the same
pages read through an http.json manifest (docs/http-json.md) as a datasource query, beside
the same ideal."""
import json, os, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Gateway, crawl, page_server

PAGES, LATENCY_MS, CONCURRENCY = 500, 50, 8
server, pages = page_server(LATENCY_MS)
MANIFEST = {"base_url": pages, "concurrency": CONCURRENCY, "max_pages": PAGES + 1,
            "endpoints": {"demo": {"path": "/pages", "query": {"page": "{page}", "limit": "{limit}", "total": PAGES},
                                   "pagination": {"type": "pagetag", "size": 1}}}}
gw = Gateway({"exports": {"requireToken": False, "concurrency": CONCURRENCY}, "http": {"allowHosts": ["127.0.0.1"]},
              "datasources": {"declared": {"plugin": "http.json", "config": MANIFEST}}})


try:
    elapsed = crawl(gw, pages, PAGES, ext_type="XLSX")
    ideal = PAGES / CONCURRENCY * LATENCY_MS / 1000
    stats = json.load(urllib.request.urlopen(f"{pages}/stats"))
    print(f"crawl {PAGES} pages, {LATENCY_MS} ms each, concurrency {CONCURRENCY}")
    print(f"  ideal {ideal:.3f} s; gateway {elapsed:.3f} s = {elapsed / ideal:.3f}x ideal (target <= 1.1x); "
          f"{stats['requests']} requests, at most {stats['max_in_flight']} in flight")
    start = time.perf_counter()
    request = urllib.request.Request(f"{gw.base}/api/v1/datasource/declared/query", headers={"Authorization": "Bearer " + gw.admin})
    rows = json.load(urllib.request.urlopen(request))
    declared = time.perf_counter() - start
    assert len(rows) == PAGES, len(rows)
    print(f"  http.json manifest (datasource query, {len(rows)} rows) {declared:.3f} s = {declared / ideal:.3f}x ideal")
finally:
    gw.stop()
    server.kill()
