#!/usr/bin/env bash
# Builds the release gateway and runs every benchmark; each prints our figure beside its
# peer's, measured in the same run. BENCH_ROWS (default 1000000) scales the data.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import pyarrow" 2>/dev/null || python3 -m pip install -q pyarrow
command -v sqlite3 >/dev/null || { apt-get update -qq; apt-get install -y -qq sqlite3; }
swift build -c release
python3 bench/push_query.py
