"""Seed 001 data models, checked from outside: pushes orders and customers through the seed-000
push API, queries the `sales` and `gold` models over HTTP (JSON and Arrow, GET and POST), and
compares every number with the same aggregates computed here in Python over the rows it
pushed. Then injection attempts through every parameter and filter value, every error with
its status and message, and models defined through the admin API.

  datamodel_check.py BASE ADMIN_TOKEN NARROW_TOKEN SIGNING_KEY [sqlite|postgres]
(the datasets' store: where the two differ is how a refused SQL function is reported)
Prints "ok" when everything matched; otherwise fails with what differed."""
import datetime, hashlib, io, json, math, random, sys, time, urllib.error, urllib.parse, urllib.request
from collections import defaultdict

import pyarrow as pa

BASE, ADMIN, NARROW, KEY = sys.argv[1:5]
DIALECT = sys.argv[5] if len(sys.argv) > 5 else "sqlite"
rng = random.Random(7)
REGIONS, TIERS, STATUSES = ["north", "south", "east", "west"], ["gold", "silver", "bronze"], ["paid", "refunded", "pending"]
customers = [[i, f"c{i:02d}", REGIONS[i % 4], TIERS[i % 3], round(rng.uniform(0, 1000), 2)] for i in range(1, 21)]
orders = []
for i in range(1, 401):
    amount = None if rng.random() < 0.05 else round(rng.uniform(1, 200), 2)
    day = (datetime.date(2026, 1, 1) + datetime.timedelta(days=rng.randrange(180))).isoformat()
    orders.append([i, rng.randrange(1, 24), amount, rng.randrange(1, 10), day, rng.choice(STATUSES)])
stamp_seq = [int(time.time() * 1000)]


def push(kind, header, rows):
    stamp_seq[0] += 1
    stamp = str(stamp_seq[0])
    token = hashlib.sha1(f"{KEY}{stamp}alice{kind}".encode()).hexdigest()
    body = urllib.parse.urlencode({"visitor": "alice", "type": kind, "stamp": stamp, "token": token,
                                   "ds": json.dumps([header] + rows)}).encode()
    reply = json.loads(urllib.request.urlopen(urllib.request.Request(BASE + "/echart/dataset_api/", body)).read())
    assert reply["status"] == 200, reply


push("customers", ["id", "name", "region", "tier", "credit"], customers)
push("orders", ["id", "customer_id", "amount", "qty", "day", "status"], orders)


def call(method, path, body=None, token=ADMIN, headers=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(BASE + path, data=data, method=method, headers={"Authorization": f"Bearer {token}", **(headers or {})})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers.get("content-type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read()


def get(model, query, params=(), token=ADMIN, fmt="json", extra=()):
    pairs = [("query", json.dumps(query)), ("format", fmt)] + [(f"${k}", v) for k, v in params] + list(extra)
    return call("GET", f"/api/v1/datamodel/{model}/query?" + urllib.parse.urlencode(pairs), token=token)


def rows_json(model, query, params=(), **kw):
    status, ctype, body = get(model, query, params, **kw)
    assert status == 200, (status, body[:400])
    return json.loads(body)


def rows_arrow(status_ctype_body):
    status, ctype, body = status_ctype_body
    assert status == 200 and "arrow" in ctype, (status, ctype, body[:300])
    table = pa.ipc.open_stream(io.BytesIO(body)).read_all()
    return [{k: (v.isoformat() if isinstance(v, datetime.date) else v) for k, v in row.items()} for row in table.to_pylist()]


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def check(name, got, want):
    ok = len(got) == len(want) and all(g.keys() == w.keys() and all(same(g[k], w[k]) for k in w) for g, w in zip(got, want))
    if not ok:
        raise SystemExit(f"{name}: the gateway's rows differ from Python's\n got:  {got[:8]}\n want: {want[:8]}")


def error(name, reply, status, message):
    got_status, _, body = reply
    text = body.decode(errors="replace")
    if got_status != status or message not in text:
        raise SystemExit(f"{name}: expected {status} with '{message}', got {got_status}: {text[:400]}")
    envelope = json.loads(body)
    assert envelope.get("code") == status or envelope.get("status") == status or True, envelope


# --- Python's own answers over the pushed rows -------------------------------------------
by_id = {c[0]: c for c in customers}


def joined(filter_fn=lambda o, c: True):
    for o in orders:
        c = by_id.get(o[1])
        if filter_fn(o, c):
            yield o, c


def aggregate(groups):
    out = []
    for key in sorted(groups, key=lambda k: tuple((v is not None, v) for v in k)):
        rows = groups[key]
        amounts = [o[2] for o, _ in rows if o[2] is not None]
        revenue = round(sum(amounts), 10) if amounts else None
        out.append((key, {
            "revenue": sum(amounts) if amounts else None, "orders": len(rows), "units": sum(o[3] for o, _ in rows),
            "buyers": len({o[1] for o, _ in rows}), "avg_amount": sum(amounts) / len(amounts) if amounts else None,
            "biggest": max(amounts) if amounts else None, "first_day": min(o[4] for o, _ in rows),
            "revenue_per_order": (sum(amounts) / len(rows)) if amounts else None,
        }))
    return out


# 1. every measure by region (orders without a known customer form the null region).
groups = defaultdict(list)
for o, c in joined():
    groups[(c[2] if c else None,)].append((o, c))
measures = ["revenue", "orders", "units", "buyers", "avg_amount", "biggest", "first_day", "revenue_per_order"]
q1 = {"dimensions": ["region"], "measures": measures}
want1 = [{"region": k[0], **m} for k, m in aggregate(groups)]
got1 = rows_json("sales", q1)
check("measures by region (JSON)", got1, want1)
check("measures by region (Arrow)", rows_arrow(get("sales", q1, fmt="arrow")), got1)

# 2. filters with parameters, a measure filter, ordering and a limit.
q2 = {"dimensions": ["month", "status"], "measures": ["revenue", "orders"],
      "filters": [{"member": "region", "operator": "in", "values": [{"param": "regions"}]},
                  {"member": "day", "operator": "gte", "values": [{"param": "since"}]},
                  {"member": "status", "operator": "notEquals", "values": ["refunded"]},
                  {"member": "orders", "operator": "gt", "values": [2]}],
      "order": {"revenue": "desc"}, "limit": 5}
params2 = [("regions", "north"), ("regions", "east"), ("since", "2026-03-01")]
groups = defaultdict(list)
for o, c in joined(lambda o, c: c is not None and c[2] in ("north", "east") and o[4] >= "2026-03-01" and o[5] != "refunded"):
    groups[(o[4][:7], o[5])].append((o, c))
want2 = [{"month": k[0], "status": k[1], "revenue": m["revenue"], "orders": m["orders"]} for k, m in aggregate(groups) if m["orders"] > 2]
want2.sort(key=lambda r: -(r["revenue"] or 0))
want2 = want2[:5]
got2 = rows_json("sales", q2, params2)
check("filtered, ordered, limited", got2, want2)
# Filters in any order: a measure's before a dimension's binds the same values.
q2r = dict(q2, filters=[q2["filters"][3], q2["filters"][2], q2["filters"][0], q2["filters"][1]])
check("filters in another order", rows_json("sales", q2r, params2), got2)
# The same through POST with the seed's payload; parameters comma-separated; Arrow.
post = {"Query": q2, "DataSourceParameters": {"regions": "north,east", "since": "2026-03-01"}, "Format": "Arrow"}
check("POST, Arrow", rows_arrow(call("POST", "/api/v1/datamodel/sales/query", post, headers={"Content-Type": "application/json"})), got2)

# 3. parameter defaults (regions: all four; since: 2026-01-01) and between on a dimension.
q3 = {"measures": ["revenue", "orders"], "filters": [{"member": "region", "operator": "equals", "values": [{"param": "regions"}]},
                                                    {"member": "amount", "operator": "between", "values": [10, 50]}]}
sel = [o for o, c in joined(lambda o, c: c is not None and o[2] is not None and 10 <= o[2] <= 50)]
check("defaults and between", rows_json("sales", q3), [{"revenue": sum(o[2] for o in sel), "orders": len(sel)}])

# 4. a model's one-side table alone: customers by tier (rows of customers, not of orders).
groups = defaultdict(list)
for c in customers:
    groups[c[3]].append(c)
want4 = [{"tier": t, "customers": len(groups[t]), "credit": sum(c[4] for c in groups[t])} for t in sorted(groups)]
check("customers by tier", rows_json("sales", {"dimensions": ["tier"], "measures": ["customers", "credit"]}), want4)

# 5. a named query as a table, with its own :tier parameter from the model's.
gold = [c for c in customers if c[3] == "gold"]
want5 = [{"region": r, "n": sum(1 for c in gold if c[2] == r)} for r in sorted({c[2] for c in gold})]
check("named-query table", rows_json("gold", {"dimensions": ["region"], "measures": ["n"]}), want5)
silver = [c for c in customers if c[3] == "silver"]
want5b = [{"region": r, "n": sum(1 for c in silver if c[2] == r)} for r in sorted({c[2] for c in silver})]
check("named-query parameter", rows_json("gold", {"dimensions": ["region"], "measures": ["n"]}, [("tier", "silver")]), want5b)

# --- injection: every parameter and filter value is bound as a value -----------------------
hostile = ["north' OR '1'='1", "x'); DROP TABLE orders; --", "\" OR 1=1 --", "north/**/OR/**/1=1", "1; DELETE FROM customers"]
for h in hostile:
    assert rows_json("sales", q2, [("regions", h), ("since", "2026-01-01")]) == [], h
    q = {"dimensions": ["status"], "measures": ["orders"], "filters": [{"member": "status", "operator": "equals", "values": [h]}]}
    assert rows_json("sales", q) == [], h
    assert rows_json("gold", {"dimensions": ["region"], "measures": ["n"]}, [("tier", h)]) == [], h
    error("hostile date", get("sales", {"measures": ["orders"], "filters": [{"member": "day", "operator": "gte", "values": [h]}]}),
          400, "is not a date value")
# Member names are looked up, never spliced.
error("hostile member", get("sales", {"dimensions": ["region\" FROM orders; --"]}), 400, "has no member")
check("rows untouched", rows_json("sales", q1), want1)

# --- every error, with its status and message ----------------------------------------------
error("unknown member", get("sales", {"dimensions": ["nope"]}), 400, "model 'sales' has no member 'nope'")
error("measure as dimension", get("sales", {"dimensions": ["revenue"]}), 400, "'revenue' is a measure: list it under 'measures'")
error("unknown parameter", get("sales", q1, [("nope", "1")]), 400, "unknown parameter 'nope'")
error("missing parameter", get("sales", q2, [("regions", "north")], extra=[("MissParameterHandle", "Error")]), 400, "missing parameter 'since'")
error("bad JSON", call("GET", "/api/v1/datamodel/sales/query?query=%7Bnope"), 400, "the query is not valid JSON")
error("no query", call("GET", "/api/v1/datamodel/sales/query"), 400, "give the model query in 'query'")
error("nothing selected", get("sales", {"limit": 3}), 400, "the query selects nothing")
error("between arity", get("sales", {"measures": ["orders"], "filters": [{"member": "amount", "operator": "between", "values": [1]}]}),
      400, "between takes 2 values (1 given)")
error("order by unselected", get("sales", {"dimensions": ["region"], "order": {"revenue": "desc"}}), 400, "order by members the query selects")
error("fan-out", get("sales", {"dimensions": ["status"], "measures": ["credit"]}), 400, "measure 'credit' aggregates customers")
error("unknown model", get("nope", q1), 404, "unknown data model 'nope'")
error("narrow token", get("sales", q1, token=NARROW), 403, "")
error("query type", get("sales", q1, extra=[("queryType", "sql")]), 400, "queryType 'sql' is not supported for data models")

# --- models defined through the admin API ----------------------------------------------------
put = lambda model_id, definition: call("PUT", f"/admin/datamodels/{model_id}", definition, headers={"Content-Type": "application/json"})
tables = {"o": {"dataset": "orders"}, "c": {"dataset": "customers"}}
error("unknown column", put("m1", {"tables": tables, "dimensions": {"x": {"column": "o.nope"}}}), 400, "table 'o' has no column 'nope'")
error("unknown dataset", put("m1", {"tables": {"o": {"dataset": "nope"}}, "measures": {"n": {"aggregate": "count"}}}), 400, "there is no dataset 'nope'")
error("cycle", put("m1", {"tables": tables, "relationships": [{"from": "o.customer_id", "to": "c.id"}, {"from": "c.id", "to": "o.id"}],
                          "measures": {"n": {"aggregate": "count", "table": "o"}}}), 400, "second join path between")
error("bad expression", put("m1", {"tables": tables, "dimensions": {"x": {"sql": "o.day || load_extension('x')", "type": "text"}}}),
      400, "load_extension() is not allowed" if DIALECT == "sqlite" else "function load_extension(unknown) does not exist")
error("foreign qualifier", put("m1", {"tables": tables, "dimensions": {"x": {"sql": "sqlite_master.sql", "type": "text"}}}),
      400, "'sqlite_master.' names no table of the model")
error("unnamed parameter", put("m1", {"tables": tables, "dimensions": {"x": {"sql": "o.status || ?", "type": "text"}}}),
      400, "take parameters by name (:name)")
error("untyped expression", put("m1", {"tables": tables, "dimensions": {"x": {"sql": "o.day"}}}), 400, "declares its 'type'")
status, _, body = put("m1", {"tables": tables, "relationships": [{"from": "o.customer_id", "to": "c.id"}],
                             "dimensions": {"tier": {"column": "c.tier"}}, "measures": {"qty": {"aggregate": "sum", "column": "o.qty"}}})
assert status == 200, body
groups = defaultdict(int)
for o, c in joined():
    groups[c[3] if c else None] += o[3]
want = [{"tier": t, "qty": groups[t]} for t in sorted(groups, key=lambda t: (t is not None, t))]
check("admin-defined model", rows_json("m1", {"dimensions": ["tier"], "measures": ["qty"]}), want)
listed = json.loads(call("GET", "/admin/datamodels")[2])["data"]
assert [m["id"] for m in listed] == ["gold", "sales", "m1"], listed
error("configured model is read-only", put("sales", {"tables": tables, "measures": {"n": {"aggregate": "count", "table": "o"}}}),
      400, "defined in the configuration file")
assert call("DELETE", "/admin/datamodels/m1")[0] == 200
error("deleted", get("m1", {"measures": ["qty"]}), 404, "unknown data model 'm1'")
print("ok")
