"""The datasets on PostgreSQL beside SQLite, 1,000,000 rows x 8 columns, in one run: the seed-000
push (50,000-row chunks) into a gateway keeping its datasets in SQLite and into one keeping them
in PostgreSQL, beside `psql \\copy` loading the same rows as CSV (the database's own bulk path);
then the whole table queried as JSON and as Arrow from both gateways, beside `psql \\copy (SELECT
...) TO` a file (the server's rows out through libpq, no HTTP, no conversion).

  python3 bench/postgres_datasets.py      (after `swift build -c release`; bench/run.sh does both)
"""
import csv, glob, os, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Gateway, ROOT, scratch_dir
from push_query import CHUNK, HEADER, ROWS, fetch, push, row

COLUMNS = "id integer, amount real, name text, city text, qty integer, ratio real, flag text, day date"
PG_COLUMNS = "id bigint, amount double precision, name text, city text, qty bigint, ratio double precision, flag text, day date"


def psql(url, *args):
    return subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt", *args], capture_output=True, text=True, check=True).stdout


def main():
    work = scratch_dir("bench-pg-datasets-")
    pg_dir = f"/tmp/gateway-bench-postgres-{os.getpid()}"
    server = subprocess.run([os.path.join(ROOT, "scripts", "private-postgres.sh"), "start", pg_dir, str(os.getpid())],
                            capture_output=True, text=True, check=True).stdout.strip()
    gateways = []
    try:
        psql(server, "-c", "CREATE DATABASE datasets_bench")
        url = server.replace("/postgres?", "/datasets_bench?")
        csv_path = os.path.join(work, "rows.csv")
        with open(csv_path, "w", newline="") as f:
            w = csv.writer(f)
            for i in range(ROWS):
                w.writerow(row(i))
        config = {
            "auth": {"signedKeys": {"bench": "benchkey"}, "signedTokenWindowSeconds": 3600},
            "datasets": {"bench": {"table": f"bench({COLUMNS})"}},
            "server": {"maxBodyBytes": 268435456},
        }
        sqlite = Gateway(config)
        postgres = Gateway(dict(config, store={"url": url}))
        gateways = [sqlite, postgres]

        psql(url, "-c", f"CREATE TABLE copy_peer ({PG_COLUMNS})")
        start = time.perf_counter()
        psql(url, "-c", f"\\copy copy_peer FROM '{csv_path}' CSV")
        t_copy = time.perf_counter() - start
        # push() names its dataset by run; run 4 is "bench".
        t_sqlite = push(sqlite, 4)
        t_pg = push(postgres, 4)
        print(f"push {ROWS} rows x 8 cols in chunks of {CHUNK}")
        print(f"  psql \\copy FROM (CSV, one COPY)      {t_copy:6.2f} s {ROWS / t_copy:10,.0f} rows/s")
        print(f"  gateway, datasets in SQLite          {t_sqlite:6.2f} s {ROWS / t_sqlite:10,.0f} rows/s")
        print(f"  gateway, datasets in PostgreSQL      {t_pg:6.2f} s {ROWS / t_pg:10,.0f} rows/s   "
              f"{t_copy / t_pg:.2f}x psql \\copy's rate, {t_sqlite / t_pg:.2f}x the SQLite gateway's")

        out = os.path.join(work, "out.csv")
        start = time.perf_counter()
        psql(url, "-c", f"\\copy (SELECT {', '.join(HEADER)} FROM datasets.bench) TO '{out}' CSV")
        t_out = time.perf_counter() - start
        print(f"query {ROWS} rows x 8 cols")
        print(f"  psql \\copy (SELECT ...) TO a CSV file {t_out:6.2f} s")
        for fmt in ("json", "arrow"):
            t_s, size_s, rss_s = fetch(sqlite, fmt)
            t_p, size_p, rss_p = fetch(postgres, fmt)
            print(f"  format={fmt:<5} datasets in SQLite      {t_s:6.2f} s  {size_s / 1e6:6.1f} MB  server RSS +{rss_s:.0f} MB")
            print(f"  format={fmt:<5} datasets in PostgreSQL  {t_p:6.2f} s  {size_p / 1e6:6.1f} MB  server RSS +{rss_p:.0f} MB   "
                  f"{t_out / t_p:.2f}x psql \\copy's speed, {t_s / t_p:.2f}x the SQLite gateway's")
    finally:
        for gw in gateways:
            gw.stop()
        subprocess.run([os.path.join(ROOT, "scripts", "private-postgres.sh"), "stop", pg_dir])


if __name__ == "__main__":
    main()
