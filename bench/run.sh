#!/usr/bin/env bash
# Builds the release gateway and runs every benchmark; each prints our figure beside its
# peer's, measured in the same run. BENCH_ROWS (default 1000000) scales the data.
set -euo pipefail
cd "$(dirname "$0")/.."
# py-excel-rs and the ADBC SQLite driver are the fastest peers we found (XLSX, SQLite → Arrow).
python3 -c "import pyarrow, xlsxwriter, requests, py_excel_rs, adbc_driver_sqlite" 2>/dev/null || python3 -m pip install -q pyarrow XlsxWriter requests py-excel-rs adbc-driver-sqlite
need=()
# libisal-dev: the exporters deflate with ISA-L when it is there (see Sources/CFastDeflate).
for pkg in sqlite3 libxlsxwriter-dev libisal-dev time wrk nginx-light; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; fi
swift build -c release
python3 bench/push_query.py      # seed 000 push and seed 001 query, beside sqlite3 and Python
python3 bench/datamodel_bench.py # a data model's aggregate over 1M rows, beside the same SQL in the sqlite3 CLI
python3 bench/xlsx_bench.py      # XLSX, the whole job, beside py-excel-rs, libxlsxwriter and Python XlsxWriter
python3 bench/crawl_bench.py     # a 500-page crawl, beside the ideal
python3 bench/dataflow_bench.py  # a dataflow copying 1M rows between datasets, beside sqlite3's INSERT…SELECT
python3 bench/cluster_bench.py   # dataflow runs per second on SQLite and on PostgreSQL with 1-3 gateways, beside pgbench
python3 bench/postgres_datasets.py # push and query of 1M rows with the datasets on PostgreSQL, beside SQLite and psql \\copy
python3 bench/row_filter_bench.py # what a row filter costs a read, on SQLite and on PostgreSQL, beside the same read unfiltered
python3 bench/isolation_bench.py  # a source plugin in process and in a worker process, same run
python3 bench/writer_bench.py    # a dataflow writing 1M rows to a local HTTP API through http.writer, beside Python + requests
python3 bench/small_requests.py  # GET /healthz and a 10-row query under wrk -t2 -c64, beside nginx serving a 2 KB file and Hummingbird alone
python3 bench/soak.py            # wrk's mixed load with pushes and hostile requests beside it: no error, flat memory
