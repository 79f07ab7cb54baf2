"""Two release gateways side by side (A: an older build, B: this one), the same pushes and
queries, measured alternately so that the machine's drift falls on both: medians of 5 pushes
of 1M rows x 8 columns and 7 queries each in JSON and Arrow. For "within noise of before":

  git worktree add /tmp/before <commit> && (cd /tmp/before && swift build -c release)
  A=/tmp/before/.build/release/gateway python3 bench/ab_compare.py
"""
import os, statistics, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common, push_query
from push_query import fetch, push


def start(binary):
    common.BIN = binary
    tables = {push_query.dataset(run): {"table": f"{push_query.dataset(run)}(id integer, amount real, name text, city text, qty integer, ratio real, flag text, day date)"}
              for run in range(5)}
    return common.Gateway({"auth": {"signedKeys": {"bench": "benchkey"}, "signedTokenWindowSeconds": 3600},
                           "datasets": tables, "server": {"maxBodyBytes": 268435456}})


def main():
    gateways = {"A": start(os.environ["A"]), "B": start(os.environ.get("B", common.BIN))}
    order = list(gateways.items())
    times = {(name, what): [] for name in gateways for what in ("push", "arrow", "json")}
    for run in range(5):
        for name, gw in (order if run % 2 == 0 else order[::-1]):
            times[(name, "push")].append(push(gw, run))
    for i in range(7):
        for name, gw in (order if i % 2 == 0 else order[::-1]):
            for fmt in ("arrow", "json"):
                times[(name, fmt)].append(fetch(gw, fmt)[0])
    for what in ("push", "arrow", "json"):
        a, b = statistics.median(times[("A", what)]), statistics.median(times[("B", what)])
        print(f"{what:6} A {a:.3f} s   B {b:.3f} s   B/A {b / a:.3f}   A runs {[round(x, 2) for x in times[('A', what)]]}   B runs {[round(x, 2) for x in times[('B', what)]]}")
    for gw in gateways.values():
        gw.stop()


if __name__ == "__main__":
    main()
