"""What a row filter (row-level security, issue 25) costs a read, 1,000,000 rows x 8 columns, in
one run, on both stores: the same rows pushed into a dataset without a filter and into one
filtered by `city` (100 cities); each read of the filtered one beside the same read of the
unfiltered one giving the same rows:

  - the whole table: a caller whose claim holds all 100 cities, beside the plain table;
  - a quarter: a caller with 25 cities, beside the plain table queried `$city=` those 25;
  - store SQL aggregating every row (GROUP BY city), as the all-cities caller, beside the plain.

Best of three each; the ratio is the filtered read's time over the unfiltered one's.

  python3 bench/row_filter_bench.py      (after `swift build -c release`; bench/run.sh does both)
"""
import http.client, json, os, subprocess, sys, time, urllib.parse, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Gateway, ROOT
from push_query import ROWS, push

COLUMNS = "id integer, amount real, name text, city text, qty integer, ratio real, flag text, day date"
CITIES = [f"city-{i}" for i in range(100)]


def token(gw, name, cities):
    request = urllib.request.Request(
        gw.base + "/admin/tokens", method="POST",
        data=json.dumps({"name": name, "scopes": ["query"], "claims": {"cities": cities}}).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + gw.admin})
    return json.load(urllib.request.urlopen(request))["data"]["secret"]


def read(gw, path, bearer):
    """Seconds to read the whole answer of GET `path` (streamed), and its size."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.port)
    start = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": "Bearer " + bearer})
    response = conn.getresponse()
    assert response.status == 200, response.read()[:300]
    total = 0
    while chunk := response.read(1 << 20):
        total += len(chunk)
    return time.perf_counter() - start, total


def best(gw, path, bearer):
    runs = [read(gw, path, bearer) for _ in range(3)]
    return min(t for t, _ in runs), runs[0][1]


def measure(label, gw):
    everything = token(gw, "all-cities", CITIES)
    quarter = token(gw, "quarter", CITIES[:25])
    in_quarter = "&".join("$city=" + c for c in CITIES[:25])
    aggregate = urllib.parse.quote("SELECT city, count(*) AS n, sum(amount) AS total FROM {} GROUP BY city ORDER BY city", safe="")
    cases = [
        ("whole table, JSON", "/api/v1/dataset/bench/query?format=json", "/api/v1/dataset/bench0/query?format=json", everything),
        ("whole table, Arrow", "/api/v1/dataset/bench/query?format=arrow", "/api/v1/dataset/bench0/query?format=arrow", everything),
        ("a quarter, JSON", f"/api/v1/dataset/bench/query?format=json&{in_quarter}", "/api/v1/dataset/bench0/query?format=json", quarter),
        ("store SQL GROUP BY", "/api/v1/datasource/store/query?query=" + aggregate.replace("%7B%7D", "bench"),
         "/api/v1/datasource/store/query?query=" + aggregate.replace("%7B%7D", "bench0"), everything),
    ]
    print(f"row filters, datasets in {label}: {ROWS} rows x 8 cols, best of 3")
    for what, plain_path, filtered_path, bearer in cases:
        t_plain, size_plain = best(gw, plain_path, gw.admin)
        t_filtered, size_filtered = best(gw, filtered_path, bearer)
        assert size_plain == size_filtered, f"{what}: {size_plain} bytes unfiltered, {size_filtered} filtered: not the same rows"
        print(f"  {what:20s} unfiltered {t_plain:6.3f} s   filtered {t_filtered:6.3f} s   {t_filtered / t_plain:.2f}x the time")


def main():
    config = {
        "auth": {"signedKeys": {"bench": "benchkey"}, "signedTokenWindowSeconds": 3600},
        # push() names its datasets by run: run 4 is "bench", run 0 "bench0".
        "datasets": {"bench": {"table": f"bench({COLUMNS})"},
                     "bench0": {"table": f"bench0({COLUMNS})", "rowFilter": {"city": "user.cities"}}},
        "server": {"maxBodyBytes": 268435456},
    }
    gw = Gateway(config)
    try:
        push(gw, 4)
        push(gw, 0)
        measure("SQLite", gw)
    finally:
        gw.stop()

    pg_dir = f"/tmp/gateway-bench-postgres-rf-{os.getpid()}"
    script = os.path.join(ROOT, "scripts", "private-postgres.sh")
    url = subprocess.run([script, "start", pg_dir, str(os.getpid())], capture_output=True, text=True, check=True).stdout.strip()
    try:
        gw = Gateway(dict(config, store={"url": url, "datasets": "postgres"}))
        try:
            push(gw, 4)
            push(gw, 0)
            measure("PostgreSQL", gw)
        finally:
            gw.stop()
    finally:
        subprocess.run([script, "stop", pg_dir], capture_output=True)


if __name__ == "__main__":
    main()
