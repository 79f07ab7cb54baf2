"""Row-level security checked from outside, on every read path, for two users of different
regions: the rows each may see are computed here in Python from the rows this script pushes
(seed 000's push API), then compared with what the gateway answers through a dataset query
(JSON, and Arrow read by pyarrow), a named query, store SQL, a data model; then every way of
reading around the filter in SQL, each refused or still filtered.

  row_filter_check.py BASE SIGNING_KEY EAST_TOKEN WEST_TOKEN BARE_TOKEN [sqlite|postgres]
(EAST carries regions=east; WEST carries regions=west and regions=north; BARE carries none;
the last argument is where the datasets are, whose SQL the escape attempts are written in)
Prints "ok" when everything matched; otherwise fails with what differed."""
import hashlib, io, json, random, sys, time, urllib.error, urllib.parse, urllib.request
from collections import Counter

import pyarrow as pa

BASE, KEY, EAST, WEST, BARE = sys.argv[1:6]
DIALECT = sys.argv[6] if len(sys.argv) > 6 else "sqlite"
rng = random.Random(11)
REGIONS = ["north", "south", "east", "west"]
rows = [[i, rng.choice(REGIONS), rng.randrange(1, 50)] for i in range(1, 301)]

stamp = str(int(time.time() * 1000))
token = hashlib.sha1(f"{KEY}{stamp}alicesales".encode()).hexdigest()
body = urllib.parse.urlencode({"visitor": "alice", "type": "sales", "stamp": stamp, "token": token,
                               "ds": json.dumps([["id", "region", "units"]] + rows)}).encode()
reply = json.loads(urllib.request.urlopen(urllib.request.Request(BASE + "/echart/dataset_api/", body)).read())
assert reply["status"] == 200, reply

USERS = {"east": (EAST, {"east"}), "west": (WEST, {"west", "north"})}


def get(path, token, raw=False):
    request = urllib.request.Request(BASE + path, headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(request) as r:
            data = r.read()
            return r.status, data if raw else json.loads(data)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def q(text):
    return urllib.parse.quote(text, safe="")


failures = []


def check(what, condition, detail=""):
    if not condition:
        failures.append(f"{what}: {detail}")


for name, (tok, regions) in USERS.items():
    mine = [r for r in rows if r[1] in regions]
    units = sum(r[2] for r in mine)
    by_region = Counter(r[1] for r in mine)

    status, data = get("/api/v1/dataset/sales/query", tok)
    check(f"{name} dataset JSON", status == 200 and sorted(d["id"] for d in data) == [r[0] for r in mine], f"{status} {str(data)[:200]}")
    # In the stored order, as without a filter.
    check(f"{name} dataset order", [d["id"] for d in data] == [r[0] for r in mine], "")
    status, data = get("/api/v1/dataset/sales/query?$region=south", tok)
    check(f"{name} dataset filtered to another region", status == 200 and data == [], f"{status} {data}")

    status, raw = get("/api/v1/dataset/sales/query?format=arrow", tok, raw=True)
    table = pa.ipc.open_stream(io.BytesIO(raw)).read_all() if status == 200 else None
    check(f"{name} dataset Arrow", table is not None and sorted(table.column("id").to_pylist()) == [r[0] for r in mine],
          f"{status}")

    status, data = get("/api/v1/dataset/units_by_region/query", tok)
    check(f"{name} named query", status == 200 and {d["region"]: d["n"] for d in data} == dict(by_region), f"{status} {data}")

    status, data = get("/api/v1/datasource/store/query?query=" + q("SELECT count(*) AS n, sum(units) AS u FROM sales"), tok)
    check(f"{name} store SQL", status == 200 and data == [{"n": len(mine), "u": units}], f"{status} {data}")

    model = q(json.dumps({"dimensions": ["region"], "measures": ["n", "units"]}))
    status, data = get("/api/v1/datamodel/regions/query?query=" + model, tok)
    got = {d["region"]: (d["n"], d["units"]) for d in data} if status == 200 else data
    want = {r: (c, sum(x[2] for x in mine if x[1] == r)) for r, c in by_region.items()}
    check(f"{name} data model", got == want, f"{status} {got} != {want}")

    # Reading around the filter: each is refused, or answers only the caller's rows.
    sqlite_attempts = {
        "schema-qualified": "SELECT count(*) AS n FROM main.sales",
        "quoted and upper case": 'SELECT count(*) AS n FROM MAIN."SALES"',
        "CTE": "WITH x AS (SELECT * FROM main.sales) SELECT count(*) AS n FROM x",
        "CTE named like the table": "WITH sales AS (SELECT * FROM main.sales) SELECT count(*) AS n FROM sales",
        "recursive CTE": "WITH RECURSIVE r(n) AS (SELECT count(*) FROM main.sales UNION ALL SELECT n FROM r WHERE 0) SELECT n FROM r",
        "subquery": "SELECT (SELECT count(*) FROM main.sales) AS n",
        "EXISTS": "SELECT count(*) AS n FROM sales WHERE EXISTS (SELECT 1 FROM main.sales)",
        "join": "SELECT count(*) AS n FROM sales a JOIN main.sales b ON a.id = b.id",
        "union": "SELECT region FROM sales UNION ALL SELECT region FROM main.sales",
        "temp schema": "SELECT sql FROM temp.sqlite_master",
        "temp schema, other name": "SELECT sql FROM sqlite_temp_master",
        "temp schema, newer name": "SELECT sql FROM sqlite_temp_schema",
        "pragma function": "SELECT * FROM pragma_table_list",
        "explain": "EXPLAIN QUERY PLAN SELECT * FROM sales",
        "explain bytecode": "EXPLAIN SELECT * FROM sales",
        "inner view by a guessed name": "SELECT count(*) FROM temp.gw_rls_0_sales",
    }
    postgres_attempts = {
        "schema-qualified": "SELECT count(*) AS n FROM datasets.sales",
        "CTE": "WITH x AS (SELECT * FROM datasets.sales) SELECT count(*) AS n FROM x",
        "subquery": "SELECT (SELECT count(*) FROM datasets.sales) AS n",
        "union": "SELECT region FROM sales UNION ALL SELECT region FROM datasets.sales",
        "join": "SELECT count(*) AS n FROM sales a JOIN datasets.sales b ON a.id = b.id",
        "forged read token": "SELECT (SELECT count(*) FROM sales) AS n, set_config('gateway.read', 'forged', true) AS t",
        "forged token first": "SELECT set_config('gateway.read', 'forged', true) AS t, (SELECT count(*) FROM sales) AS n",
        "the identities table": "SELECT * FROM public.dataset_read_identities",
        "the filters table": "SELECT * FROM public.dataset_row_filters",
        "row security off": "SELECT set_config('row_security', 'off', true) AS t, (SELECT count(*) FROM sales) AS n",
        "another role": "SELECT set_config('role', 'postgres', true) AS t, (SELECT count(*) FROM sales) AS n",
        "a query run by a function": "SELECT query_to_xml('select region from datasets.sales', true, false, '')::text AS x",
        # Every read runs as one reader role: ending another caller's read must be refused.
        "ending a read": "SELECT pg_terminate_backend(pg_backend_pid()) AS t",
        "cancelling a read": "SELECT pg_cancel_backend(pg_backend_pid()) AS t",
    }
    attempts = postgres_attempts if DIALECT == "postgres" else sqlite_attempts
    for what, sql in attempts.items():
        status, data = get("/api/v1/datasource/store/query?query=" + q(sql), tok)
        if status == 200:
            # Answered: then only from the caller's rows.
            others = [r for r in REGIONS if r not in regions]
            leaked = any(f"<region>{r}</region>" in str(d.get("x", "")) for d in data for r in others)
            check(f"{name} {what}", not leaked and (all(d.get("n") in (None, len(mine)) for d in data) and all(d.get("region") in (None, *regions) for d in data)),
                  f"{status} {str(data)[:300]}")
        else:
            check(f"{name} {what}", status in (400, 403), f"{status} {data}")
    # The view named like the table, and the claim function, show only what the caller has.
    if DIALECT == "sqlite":
        status, data = get("/api/v1/datasource/store/query?query=" + q("SELECT count(*) AS n FROM temp.sales"), tok)
        check(f"{name} temp view", data == [{"n": len(mine)}], f"{status} {data}")
        status, data = get("/api/v1/datasource/store/query?query=" + q("SELECT gateway_claim('regions', 'sales') AS c"), tok)
        check(f"{name} claim function", status == 200 and set(json.loads(data[0]["c"])) == regions, f"{status} {data}")
    else:
        status, data = get("/api/v1/datasource/store/query?query=" + q("SELECT gateway_claim('regions', 'sales') AS c"), tok)
        check(f"{name} claim function", status == 200 and {d["c"] for d in data} == regions, f"{status} {data}")

# An identity without the claim: 403 naming it, on every path.
for path in ["/api/v1/dataset/sales/query", "/api/v1/dataset/units_by_region/query",
             "/api/v1/datasource/store/query?query=" + q("SELECT count(*) FROM sales")]:
    status, data = get(path, BARE)
    check(f"bare {path}", status == 403 and "claim 'regions'" in json.dumps(data), f"{status} {data}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
