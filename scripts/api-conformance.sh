#!/usr/bin/env bash
# api-conformance.sh: checks a gateway binary against its OpenAPI description with schemathesis.
#
#   scripts/api-conformance.sh [GATEWAY_BINARY]        (default: .build/debug/gateway)
#
# What it does:
#   1. makes a temporary data folder and configuration (a signing visitor, a dataset, a named
#      query, and a datasource of the example plugin when it is loaded);
#   2. creates an admin token with `gateway tokens create`, starts `gateway serve` on a free
#      port (--port 0; the port is read from its output) and waits for /healthz;
#   3. seeds data for the generated requests to find: rows in the dataset, a finished export
#      task, a dataflow with a run;
#   4. runs schemathesis (phases examples, coverage, fuzzing; about 70 s on 2 idle cores
#      with the defaults, under 3 minutes beside a build) with the admin token and these checks:
#        not_a_server_error            no 5xx, except the few the test configuration makes
#                                      on purpose (create-script 503 without an
#                                      endpoint, export queue full 503): see schemathesis.toml below
#        status_code_conformance       every status is one the operation documents
#        content_type_conformance      every Content-Type is one the operation documents
#        response_headers_conformance  documented headers (x-request-id) are present
#        response_schema_conformance   every body matches its envelope and payload schema
#      Pushes and uploads carry seed 000 signatures, which a hook (below) computes for each
#      request, so that they reach the dataset instead of stopping at 401.
#   5. prints how many test cases ran, stops the gateway (also on failure or Ctrl-C, via a
#      trap), and exits non-zero when schemathesis found failures.
#
# Environment:
#   GATEWAY_PLUGIN_DIR   plugin directory (default: the gateway's default, beside the binary)
#   MAX_EXAMPLES         test cases per operation in the fuzzing phase (default 60)
#   WORKERS              concurrent schemathesis workers (default 2)
#   SEED                 schemathesis seed, to repeat a run (default: random)
#   KEEP_TMP=1           keep the temporary folder (gateway log, reports) after a passing run
#
# Needs: schemathesis 4 for python3 (pip install schemathesis), curl, sha1sum.
set -euo pipefail

# A binary given as an argument is found from the caller's folder; the default, from the repository.
if [[ $# -ge 1 ]]; then GATEWAY=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); fi
cd "$(dirname "$0")/.."
GATEWAY=${GATEWAY:-$PWD/.build/debug/gateway}
MAX_EXAMPLES=${MAX_EXAMPLES:-60}
WORKERS=${WORKERS:-2}

[[ -x "$GATEWAY" ]] || { echo "no gateway binary at $GATEWAY (build it with 'swift build')" >&2; exit 2; }
# Through the python3 the packages were installed for: a console script pip just wrote may
# not be on PATH yet (a user install's ~/.local/bin, a pyenv shim before `pyenv rehash`).
schemathesis() { python3 -c 'import sys; from schemathesis.cli import schemathesis; sys.argv[0] = "schemathesis"; sys.exit(schemathesis())' "$@"; }
python3 -c "import schemathesis" 2>/dev/null || { echo "schemathesis is not installed (pip install schemathesis)" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gateway-conformance.XXXXXX")
GATEWAY_PID=""
cleanup() {
    local status=$?
    if [[ -n "$GATEWAY_PID" ]] && kill -0 "$GATEWAY_PID" 2>/dev/null; then
        kill -TERM "$GATEWAY_PID" 2>/dev/null || true
        # Shutdown takes at most server.shutdownGraceSeconds (2 here); then insist.
        for _ in $(seq 50); do kill -0 "$GATEWAY_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$GATEWAY_PID" 2>/dev/null || true
        wait "$GATEWAY_PID" 2>/dev/null || true
    fi
    if [[ "${KEEP_TMP:-0}" == 1 || $status -ne 0 ]]; then
        echo "kept $TMP (gateway.log, reports/)" >&2
    else
        rm -rf "$TMP"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PLUGIN_ARGS=()
if [[ -n "${GATEWAY_PLUGIN_DIR:-}" ]]; then PLUGIN_ARGS=(--plugin-dir "$GATEWAY_PLUGIN_DIR"); fi
# The datasource "demo" needs the example source plugin; without it, it is left out.
DATASOURCES='"demo": {"plugin": "example.sequence", "config": {"rows": 100}}'
DATASOURCE_IDS='"store", "demo"'
if ! "$GATEWAY" plugins list --data-dir "$TMP/probe" "${PLUGIN_ARGS[@]}" | grep -q '^example\.sequence .* active'; then
    echo "note: the example.sequence plugin is not loaded; testing without the datasource 'demo'"
    DATASOURCES='' DATASOURCE_IDS='"store"'
fi

SIGNED_KEY=conformance-key
cat > "$TMP/gateway.json" <<EOF
{
  "server": {"shutdownGraceSeconds": 2},
  "limits": {"queryTimeoutSeconds": 20},
  "auth": {"signedKeys": {"alice": "$SIGNED_KEY"}},
  "datasets": {
    "sales": {"table": "sales(region text, amount real, units integer, day date)", "keys": ["region", "day"], "visitors": ["alice"]}
  },
  "queries": {
    "sales_by_region": {
      "sql": "SELECT region, sum(amount) AS amount FROM sales WHERE region IN (SELECT value FROM json_each(:region)) GROUP BY region",
      "parameters": {"region": {"default": ["east"], "multi": true}}
    }
  },
  "datasources": {$DATASOURCES},
  "datamodels": {
    "sales_model": {
      "tables": {"sales": {"dataset": "sales"}},
      "dimensions": {"region": {"column": "sales.region"}, "month": {"sql": "strftime('%Y-%m', sales.day)", "type": "text"}},
      "measures": {"amount": {"aggregate": "sum", "column": "sales.amount"}, "rows": {"aggregate": "count"}},
      "parameters": {"regions": {"default": ["east", "north"], "multi": true}}
    }
  }
}
EOF

COMMON=(--config "$TMP/gateway.json" --data-dir "$TMP/data" "${PLUGIN_ARGS[@]}")

TOKEN=$("$GATEWAY" tokens create "${COMMON[@]}" --name conformance --scope admin | tail -1)

"$GATEWAY" serve "${COMMON[@]}" --host 127.0.0.1 --port 0 > "$TMP/gateway.log" 2>&1 &
GATEWAY_PID=$!

# The port the gateway picked, from its "gateway listening on http://127.0.0.1:PORT" line.
PORT=""
for _ in $(seq 300); do
    PORT=$(sed -n 's|^gateway listening on http://[^:]*:\([0-9]*\).*|\1|p' "$TMP/gateway.log" | head -1)
    [[ -n "$PORT" ]] && break
    kill -0 "$GATEWAY_PID" 2>/dev/null || { echo "the gateway exited at start:" >&2; cat "$TMP/gateway.log" >&2; exit 1; }
    sleep 0.1
done
[[ -n "$PORT" ]] || { echo "the gateway did not say which port it listens on" >&2; cat "$TMP/gateway.log" >&2; exit 1; }
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 100); do
    curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$BASE/healthz" >/dev/null || { echo "no answer from $BASE/healthz" >&2; exit 1; }
# Plugins load behind the server: the routes that need them are checked once they have.
for _ in $(seq 300); do
    grep -q '^plugins loaded' "$TMP/gateway.log" && break
    sleep 0.1
done
echo "gateway $GATEWAY on $BASE (log: $TMP/gateway.log)"

# --- seed data -------------------------------------------------------------------------------
AUTH=(-H "Authorization: Bearer $TOKEN")
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# A fresh seed-000 signature for visitor alice and dataset sales: sets STAMP and SIGNATURE.
sign() {
    STAMP=$(date +%s%3N)
    SIGNATURE=$(printf '%s' "$SIGNED_KEY${STAMP}alicesales" | sha1sum | cut -d' ' -f1)
}

sign
curl -fsS -X POST "$BASE/echart/dataset_api" --data-urlencode visitor=alice --data-urlencode type=sales \
    --data-urlencode "stamp=$STAMP" --data-urlencode "token=$SIGNATURE" \
    --data-urlencode 'ds=[["region","amount","units","day"],["east",10.5,3,"2026-01-05"],["west",7,1,"2026-01-06"]]' >/dev/null

EXPORT_KEY=$(curl -fsS "${AUTH[@]}" -X POST "$BASE/v1/export/raw" -H 'Content-Type: application/json' \
    -d '{"title":"conformance","user_id":"1","ext_type":"CSV","source_raw":"[{\"name\":\"姓名\"},{\"name\":\"李雷\"}]"}' \
    | json_field '["data"]["hash_key"]')
for _ in $(seq 100); do
    [[ $(curl -fsS "${AUTH[@]}" "$BASE/v1/export/detail?key=$EXPORT_KEY" | json_field '["data"]["status"]') != 1 ]] && break
    sleep 0.1
done

curl -fsS "${AUTH[@]}" -X POST "$BASE/api/data-flow/add-tag" -d '{"name":"conformance"}' >/dev/null
FLOW_ID=$(curl -fsS "${AUTH[@]}" -X POST "$BASE/api/data-flow/add-dataflow" -d '{"name":"conformance","description":"seed",
    "config":{"source":{"type":"dataset","id":"sales"},"transforms":[{"select":["region","amount"]}],"target":{"type":"export","format":"csv"}}}' \
    | json_field '["data"]["id"]')
EXECUTION_ID=$(curl -fsS "${AUTH[@]}" -X POST "$BASE/api/data-flow/execute-dataflow/$FLOW_ID" -d '{}' | json_field '["data"]["execution_id"]')

# A kept upload, for `filename=` (import a kept file again).
printf 'region,amount,units,day\nnorth,1.5,2,2026-02-01\n' > "$TMP/north.csv"
sign
UPLOADED=$(curl -fsS -X POST "$BASE/etl/api/upload_file_api" -F visitor=alice -F type=sales -F "stamp=$STAMP" \
    -F "token=$SIGNATURE" -F "file=@$TMP/north.csv" | json_field '["data"].split(" from ")[1].split(" into ")[0]')

# --- schemathesis configuration and hooks ----------------------------------------------------
# Known ids, offered for about half of the generated values; the other half stays random.
cat > "$TMP/schemathesis.toml" <<EOF
[dictionaries.export-key]
values = ["$EXPORT_KEY"]
[dictionaries.export-file]
values = ["$EXPORT_KEY.zip"]
[dictionaries.dataset]
values = ["sales", "sales_by_region"]
[dictionaries.datasource]
values = [$DATASOURCE_IDS]
[dictionaries.sql]
values = ["select * from sales", "select region, sum(amount) as total from sales group by region", "select :n as n", "select count(*) as n from sales where region = :region"]
[dictionaries.datamodel]
values = ["sales_model"]
[dictionaries.model-query]
values = ['{"dimensions":["region"],"measures":["amount","rows"]}', '{"dimensions":["month"],"measures":["rows"],"filters":[{"member":"region","operator":"in","values":[{"param":"regions"}]}],"order":{"rows":"desc"},"limit":3}']
[dictionaries.demo-url]
values = ["$BASE/demo/page"]
[dictionaries.ds]
values = ['[["region","amount","units","day"],["south",2.5,4,"2026-03-01"]]', '[["day","region"],["2026-03-02","south"],["2026-03-03","south"]]', '[["region","amount"],["east",null]]', '[["region","day","amount"],["east","2026-01-05",99]]']
[dictionaries.table]
values = ["conformance_a(a text, b integer)", "conformance_b(x real, y date, z timestamp, w decimal, v bool, u blob, t)"]
[dictionaries.flow]
values = [$FLOW_ID]
[dictionaries.execution]
values = ["$EXECUTION_ID"]

[[operations]]
include-operation-id = ["getExportDetail", "cancelExport", "cancelExportGet"]
parameters = { "query.key" = { dictionary = "export-key", probability = 0.5 } }

[[operations]]
include-operation-id = "exportHttp"
parameters = { "body.source_http.url" = { dictionary = "demo-url", probability = 0.5 } }

[[operations]]
include-operation-id = "pushRows"
parameters = { "body.ds" = { dictionary = "ds", probability = 0.5 } }

[[operations]]
include-operation-id = "downloadExport"
parameters = { "path.file" = { dictionary = "export-file", probability = 0.5 } }

[[operations]]
include-operation-id = ["queryDataset", "queryDatasetPost"]
parameters = { "path.id" = { dictionary = "dataset", probability = 0.7 } }

[[operations]]
include-operation-id = ["queryDatasource", "queryDatasourcePost"]
parameters = { "path.id" = { dictionary = "datasource", probability = 0.7 }, "query.query" = { dictionary = "sql", probability = 0.5 } }

# (not delete-dataflow: deleting the seeded flow early would leave the others nothing to find)
[[operations]]
include-operation-id = ["getDataflow", "updateDataflow", "executeDataflow", "getDataflowStatus", "getDataflowRuns"]
parameters = { "path.id" = { dictionary = "flow", probability = 0.5 } }

[[operations]]
include-operation-id = "getDataflowLogs"
parameters = { "path.id" = { dictionary = "flow", probability = 0.7 }, "query.execution_id" = { dictionary = "execution", probability = 0.7 } }

[[operations]]
include-operation-id = "putDataset"
parameters = { "body.table" = { dictionary = "table", probability = 0.5 } }

[[operations]]
include-operation-id = "cancelDataflowRun"
parameters = { "path.execution_id" = { dictionary = "execution", probability = 0.5 } }

[[operations]]
include-operation-id = ["queryDatamodel", "queryDatamodelPost"]
parameters = { "path.id" = { dictionary = "datamodel", probability = 0.7 }, "query.query" = { dictionary = "model-query", probability = 0.5 } }

# 5xx this test configuration answers on purpose: create-script has no endpoint
# configured (503), and the export queue may fill (503).

[[operations]]
include-operation-id = ["createScript", "exportHttp", "exportRaw"]
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]
EOF

# Signs seed 000 pushes and uploads (SHA1(key + stamp + visitor + type), a fresh stamp per
# request) so that they reach the dataset; bodies that are not objects stay as generated.
# (A generated multipart file has no extension the gateway reads, so half of the form-encoded
# uploads name the kept CSV file instead.)
cat > "$TMP/hooks.py" <<EOF
import hashlib, random, threading, time
import schemathesis

_lock = threading.Lock()
_last = [0]

@schemathesis.hook
def before_call(context, case, **kwargs):
    if case.operation.path not in ("/echart/dataset_api", "/etl/api/upload_file_api") or not isinstance(case.body, dict):
        return
    with _lock:  # every token is single-use: never two stamps alike
        _last[0] = max(_last[0] + 1, int(time.time() * 1000))
        stamp = str(_last[0])
    case.body["visitor"], case.body["type"], case.body["stamp"] = "alice", "sales", stamp
    case.body["token"] = hashlib.sha1(f"$SIGNED_KEY{stamp}alicesales".encode()).hexdigest()
    # Half of the form-encoded uploads import the kept file again.
    if "urlencoded" in (case.media_type or "") and random.random() < 0.5:
        case.body["filename"] = "$UPLOADED"
EOF

SEED_ARGS=()
if [[ -n "${SEED:-}" ]]; then SEED_ARGS=(--seed "$SEED"); fi

run_schemathesis() {
# The description the gateway serves (OpenAPITests checks it is the file in the repository).
SCHEMATHESIS_HOOKS="$TMP/hooks.py" schemathesis --config-file "$TMP/schemathesis.toml" run "$BASE/openapi.json" \
    --url "$BASE" \
    --header "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" \
    --workers "$WORKERS" \
    --request-timeout 30 \
    --generation-database none \
    --suppress-health-check all \
    --no-color \
    --report junit,ndjson --report-dir "$TMP/reports" \
    "${SEED_ARGS[@]}" | tee "$TMP/schemathesis.txt" || status=${PIPESTATUS[0]}
}

status=0
run_schemathesis
# schemathesis' own errors (its generator failing inside Python: "Runtime Error", with no
# check failed) say nothing about the gateway; one such run is repeated once, with a new seed.
if [[ $status -ne 0 ]] && ! grep -q '^Failures:' "$TMP/schemathesis.txt" && grep -q 'Runtime Error' "$TMP/schemathesis.txt"; then
    echo "schemathesis failed inside itself (a Runtime Error, no check failed): running it once more" >&2
    status=0
    run_schemathesis
fi

# schemathesis' own count, from its summary ("Test cases:" then "N generated, ...").
CASES=$(grep -A1 '^Test cases:' "$TMP/schemathesis.txt" | sed -n 's/^ *\([0-9][0-9]*\) generated.*/\1/p' | head -1)
echo "test cases run: ${CASES:-unknown}"
if [[ $status -ne 0 ]]; then
    echo "schemathesis found failures (exit $status); gateway log: $TMP/gateway.log" >&2
fi
exit "$status"
