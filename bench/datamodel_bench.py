"""Seed 001 data models: an aggregate over 1,000,000 order rows joined to 10,000 customers,
asked of the release gateway as a model query (HTTP, JSON), beside the same aggregate
written by hand in SQL and run by the sqlite3 CLI on the same file, in one run. The
model's compilation and the HTTP round trip should cost nothing measurable next to
SQLite's own work.

  python3 bench/datamodel_bench.py        (BENCH_ROWS, default 1000000)
"""
import http.client, json, os, subprocess, sys, time, urllib.parse, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Gateway, sign

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
CUSTOMERS = 10_000
CHUNK = 50_000
REGIONS = ["north", "south", "east", "west", "centre"]

MODEL = {
    "tables": {"orders": {"dataset": "orders"}, "customers": {"dataset": "customers"}},
    "relationships": [{"from": "orders.customer_id", "to": "customers.id"}],
    "dimensions": {"region": {"column": "customers.region"}, "status": {"column": "orders.status"}},
    "measures": {"revenue": {"aggregate": "sum", "column": "orders.amount"}, "orders": {"aggregate": "count", "table": "orders"},
                 "buyers": {"aggregate": "count_distinct", "column": "orders.customer_id"}},
}
QUERY = {"dimensions": ["region"], "measures": ["revenue", "orders", "buyers"],
         "filters": [{"member": "status", "operator": "notEquals", "values": ["refunded"]}]}
HAND_SQL = ("SELECT c.region AS region, SUM(o.amount) AS revenue, COUNT(*) AS orders, COUNT(DISTINCT o.customer_id) AS buyers "
            "FROM orders o LEFT JOIN customers c ON o.customer_id = c.id WHERE o.status NOT IN ('refunded') GROUP BY 1 ORDER BY 1")


def push(gw, kind, header, rows):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port)
    for n, start in enumerate(range(0, len(rows), CHUNK)):
        stamp = int(time.time() * 1000) + n
        body = urllib.parse.urlencode({"visitor": "bench", "type": kind, "stamp": stamp, "token": sign("benchkey", stamp, "bench", kind),
                                       "ds": json.dumps([header] + rows[start:start + CHUNK], separators=(",", ":"))})
        conn.request("POST", "/echart/dataset_api/", body, {"Content-Type": "application/x-www-form-urlencoded"})
        reply = conn.getresponse().read()
        assert b'"status":200' in reply, reply[:300]


def best(fn, runs=5):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    gw = Gateway({
        "auth": {"signedKeys": {"bench": "benchkey"}, "signedTokenWindowSeconds": 3600},
        "datasets": {"orders": {"table": "orders(id integer, customer_id integer, amount real, status text)"},
                     "customers": {"table": "customers(id integer, region text)"}},
        "datamodels": {"sales": MODEL},
        "server": {"maxBodyBytes": 268435456},
    })
    try:
        push(gw, "customers", ["id", "region"], [[i, REGIONS[i % 5]] for i in range(CUSTOMERS)])
        push(gw, "orders", ["id", "customer_id", "amount", "status"],
             [[i, (i * 7919) % (CUSTOMERS + 50), (i % 1000) / 10, ("paid", "refunded", "pending")[i % 3]] for i in range(ROWS)])
        db = os.path.join(gw.dir, "data", "datasets.sqlite")
        url = f"{gw.base}/api/v1/datamodel/sales/query?" + urllib.parse.urlencode({"query": json.dumps(QUERY), "token": gw.admin})

        def model():
            return json.loads(urllib.request.urlopen(url).read())

        def hand():
            out = subprocess.run(["sqlite3", "-json", "-readonly", db, HAND_SQL], capture_output=True, check=True).stdout
            return json.loads(out)

        model(), hand()  # both read the file once into the page cache
        t_model, rows_model = best(model)
        t_hand, rows_hand = best(hand)
        assert len(rows_model) == len(rows_hand) and all(
            a["region"] == b["region"] and a["orders"] == b["orders"] and a["buyers"] == b["buyers"] and abs(a["revenue"] - b["revenue"]) < 1e-6 * abs(b["revenue"])
            for a, b in zip(rows_model, rows_hand)), (rows_model, rows_hand)
        print(f"data model: {ROWS} orders x {CUSTOMERS} customers, revenue/orders/buyers by region (best of 5)")
        print(f"  sqlite3 CLI, hand-written SQL   {t_hand:6.3f} s")
        print(f"  gateway model query (HTTP)      {t_model:6.3f} s  {t_model / t_hand:.2f}x the hand-written SQL's time (target: no measurable cost, ~1.0x)")
    finally:
        gw.stop()


if __name__ == "__main__":
    main()
