"""A soak of the release gateway: wrk's mixed load (health, filtered dataset queries, store
SQL) for SOAK_SECONDS (default 120), with pushes and hostile requests beside it. Prints wrk's
figures, every unexpected status, and the server's memory over the run: it must answer
everything and stay flat.

  python3 bench/soak.py          (after `swift build -c release`; bench/run.sh does both)
"""
import http.client, json, os, random, subprocess, sys, threading, time, urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Gateway, sign

SECONDS = int(os.environ.get("SOAK_SECONDS", "120"))
CONNECTIONS = int(os.environ.get("SOAK_CONNECTIONS", "64"))


def push(gw, rows, n):
    stamp = int(time.time() * 1000)  # pushes are 200 ms apart: each stamp, and token, is new
    ds = json.dumps([["region", "amount", "day"]] + rows)
    body = urllib.parse.urlencode({"visitor": "soak", "type": "sales", "stamp": stamp,
                                   "token": sign("soakkey", stamp, "soak", "sales"), "ds": ds})
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=60)
    conn.request("POST", "/echart/dataset_api/", body, {"Content-Type": "application/x-www-form-urlencoded"})
    reply = conn.getresponse()
    return reply.status, reply.read()


def hostile(gw):
    """Requests that must be refused with a 4xx, never a 5xx or a hang."""
    cases = [
        ("POST", "/echart/dataset_api/", "visitor=soak&type=sales&stamp=-9223372036854775808&token=00&ds=x", "application/x-www-form-urlencoded"),
        ("POST", "/echart/dataset_api/", "a=&" * 5000, "application/x-www-form-urlencoded"),
        ("POST", "/echart/dataset_api/", '{"ds": [[' + "[" * 600 + "]]}", "application/json"),
        ("POST", "/etl/api/upload_file_api/", "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n\r\nname\r\nA", "multipart/form-data; boundary=b"),
        ("GET", f"/api/v1/datasource/store/query?token={gw.admin}&query=" + urllib.parse.quote("SELECT fts3_tokenizer('simple')"), None, None),
        ("GET", f"/api/v1/dataset/sales/query?token={gw.admin}&$regoin=east", None, None),
        ("GET", "/api/v1/dataset/sales/query?token=wrong", None, None),
    ]
    method, path, body, ctype = random.choice(cases)
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=60)
    conn.request(method, path, body, {"Content-Type": ctype} if ctype else {})
    reply = conn.getresponse()
    reply.read()
    return reply.status, path[:60]


def main():
    gw = Gateway({
        "auth": {"signedKeys": {"soak": "soakkey"}, "signedTokenWindowSeconds": 3600},
        "datasets": {"sales": {"table": "sales(region text, amount real, day date)"}},
        # One token drives all of wrk's connections: its share must hold them.
        "limits": {"maxConcurrentPerClient": 256, "maxConcurrentRequests": 256},
    })
    problems = []
    memory = []
    stop = threading.Event()
    try:
        regions = ["east", "west", "north", "south"]
        status, body = push(gw, [[random.choice(regions), i * 1.5, "2026-01-%02d" % (i % 28 + 1)] for i in range(10000)], 0)
        assert status == 200, body
        token = gw.admin

        def sample():
            while not stop.is_set():
                memory.append((time.time(), gw.rss_mb()))
                time.sleep(1)

        def pusher():
            n = 1
            while not stop.is_set():
                status, body = push(gw, [[random.choice(regions), n, "2026-02-01"] for _ in range(100)], n)
                if status != 200:
                    problems.append(f"push {status} {body[:120]}")
                n += 1
                time.sleep(0.2)

        def attacker():
            while not stop.is_set():
                status, what = hostile(gw)
                if not 400 <= status < 500:
                    problems.append(f"hostile {what}: {status}")
                time.sleep(0.1)

        threads = [threading.Thread(target=f) for f in (sample, pusher, attacker)]
        for t in threads:
            t.start()
        script = os.path.join(gw.dir, "mix.lua")
        with open(script, "w") as f:
            f.write(f"""
paths = {{
  "/healthz",
  "/api/v1/dataset/sales/query?token={token}&RowLimit=10",
  "/api/v1/dataset/sales/query?token={token}&$region=east&RowLimit=10",
  "/api/v1/datasource/store/query?token={token}&query=SELECT%20region,%20count(*)%20AS%20n%20FROM%20sales%20GROUP%20BY%20region",
}}
i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
""")
        result = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", "-s", script, gw.base],
                                capture_output=True, text=True)
        stop.set()
        for t in threads:
            t.join()
        print(result.stdout)
        if "Non-2xx" in result.stdout or "Socket errors" in result.stdout:
            problems.append("wrk saw errors (above)")
        start, warm, end = memory[0][1], memory[min(10, len(memory) - 1)][1], memory[-1][1]
        peak = max(m for _, m in memory)
        print("RSS every 10 s (MB): " + " ".join(f"{m:.0f}" for _, m in memory[::10]))
        print(f"server RSS: {start:.0f} MB at start, {warm:.0f} MB after 10 s, {end:.0f} MB at the end, peak {peak:.0f} MB")
        print(f"pushes and hostile requests beside the load: {len(problems)} problems")
        for p in problems[:20]:
            print("  " + p)
        if problems or end - warm > 50:
            sys.exit(1)
    finally:
        stop.set()
        gw.stop()


if __name__ == "__main__":
    main()
