#!/usr/bin/env bash
# The whole test suite, on a fresh machine as on a used one: installs what is missing
# (Debian packages, Python packages, PostgreSQL), builds (a compiler warning in our code
# fails the build), runs every test (twice: on SQLite, then on PostgreSQL), checks every route against the OpenAPI description with
# schemathesis, then fuzzes each parser for a short budget.
#
#   scripts/test.sh                 everything (FUZZ_SECONDS=15 per harness by default)
#   FUZZ_SECONDS=0 scripts/test.sh  skip the fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: C libraries the build links, LibreOffice and openssl the tests use, cargo,
# and headless Chromium with its driver for the console's browser tests.
need=()
for pkg in libsqlite3-dev libssl-dev zlib1g-dev libisal-dev libreoffice-calc-nogui openssl curl chromium chromium-driver; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
command -v cc >/dev/null || need+=(gcc)
# The Rust SDK's tests build plugins offline (the crate builds with Debian's rustc 1.63 and up).
command -v cargo >/dev/null || need+=(cargo)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
  # SwiftPM does not see a system header appear: a build made before ISA-L's headers were
  # installed (the README's run command, first) kept the zlib-only deflate engine. That one
  # file is compiled again.
  case " ${need[*]} " in *" libisal-dev "*) touch Sources/CFastDeflate/fast_deflate.c ;; esac
fi

# Python packages the tests drive real clients and readers with.
if ! python3 -c "import requests, pyarrow, openpyxl, selenium, schemathesis, cryptography" 2>/dev/null; then
  echo "installing requests pyarrow openpyxl selenium schemathesis cryptography"
  python3 -m pip install -q requests pyarrow openpyxl selenium schemathesis cryptography
fi

# Formatted as .swift-format says (fix with: swift format format -i -r Sources Tests Plugins Fuzz/Sources).
swift format lint --strict -r --configuration .swift-format Sources Tests Plugins Fuzz/Sources

# Folders depend one way (see ARCHITECTURE.md): a cycle fails before the build.
python3 scripts/check-folder-cycles.py >/dev/null || python3 scripts/check-folder-cycles.py

swift build --build-tests

# A private PostgreSQL (installed from Debian's packages when missing, a new cluster in a
# temporary folder on a free loopback port, stopped at exit): the store tests run on it
# beside SQLite, and then the whole suite runs again with every test gateway's store on it.
pg_dir=/tmp/gateway-ci-postgres-$$
trap 'scripts/private-postgres.sh stop "$pg_dir"' EXIT
GATEWAY_TEST_POSTGRES_URL=$(scripts/private-postgres.sh start "$pg_dir")
export GATEWAY_TEST_POSTGRES_URL

swift test --skip-build
echo "the whole suite again, every store on PostgreSQL"
GATEWAY_TEST_STORE=postgres swift test --skip-build

# Every route against its OpenAPI description, on a live gateway (schemathesis, ~2 minutes).
scripts/api-conformance.sh .build/debug/gateway

seconds=${FUZZ_SECONDS:-15}
if [ "$seconds" -gt 0 ]; then
  Fuzz/run.sh "$seconds"
fi
