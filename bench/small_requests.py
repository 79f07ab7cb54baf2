"""Many small requests: `GET /healthz` and a 10-row JSON query on the release gateway, beside
nginx serving a 2 KB static file, each under the same `wrk -t2 -c64` load in one run. Prints
each rate and p99 latency and the gateway's rate as a share of nginx's (the target: at least
0.5x, with p99 under 10 ms). nginx runs with one worker per core, as it ships. The query runs
with one token on the shipped limits: 4 run at once, the rest wait their turn, none refused.

Beside them, the floor: Hummingbird alone (bench/BareHummingbird: one route, no middleware,
no logging) under the same load; the gateway's /healthz as a share of it says what our own
layers cost (metrics, envelope, request id, access log, the connection guards).

Then fairness: a second client's 10-row queries, one at a time, alone and while a hostile
client keeps 64 connections of heavy queries (a 2-million-step aggregate each) going: the
second client's latency both ways (its requests never wait for a slot: the hostile one runs
its share, 4, and no more).

  python3 bench/small_requests.py        (SMALL_SECONDS, default 10, per measurement)
"""
import json, os, re, shutil, subprocess, time, urllib.parse, urllib.request

from common import Gateway, free_port, sign, scratch_dir

SECONDS = int(os.environ.get("SMALL_SECONDS", "10"))


def wrk(url, seconds=SECONDS):
    """Requests per second and p99 latency (ms) of wrk -t2 -c64 against url; any error fails."""
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    if re.search(r"Non-2xx or 3xx responses|Socket errors", out):
        raise SystemExit(f"wrk saw errors against {url}:\n{out}")
    return rate, p99_ms


def wait_until_serving(url, name):
    for _ in range(100):
        try:
            urllib.request.urlopen(url).read()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{name} did not start")


class Nginx:
    """nginx serving one 2 KB file from a temporary folder, on a free port."""

    def __init__(self):
        self.dir = scratch_dir("nginx-bench-")
        os.chmod(self.dir, 0o755)  # the workers run as nobody when started by root
        with open(os.path.join(self.dir, "file.json"), "w") as f:
            f.write(("{\"k\":\"" + "x" * 2030 + "\"}")[:2048])
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
worker_processes auto;
daemon off;
error_log {self.dir}/error.log;
pid {self.dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    server {{
        listen 127.0.0.1:{self.port};
        root {self.dir};
        location / {{ default_type application/json; }}
    }}
}}
""")
        self.proc = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", conf, "-p", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}/file.json"
        wait_until_serving(self.url, "nginx")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Bare:
    """bench/BareHummingbird (built with the release products) on a free port."""

    def __init__(self):
        self.port = free_port()
        exe = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".build", "release", "bare-hummingbird")
        self.proc = subprocess.Popen([exe, str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}/healthz"
        wait_until_serving(self.url, "bare-hummingbird")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def latencies(url, n):
    """p50 and p99 (ms) of n requests one after another."""
    times = []
    for _ in range(n):
        started = time.perf_counter()
        with urllib.request.urlopen(url) as r:
            r.read()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99) - 1]


def fairness(gw, query):
    req = urllib.request.Request(gw.base + "/admin/tokens", data=json.dumps({"name": "second", "scopes": ["query"]}).encode(),
                                 headers={"Authorization": "Bearer " + gw.admin, "Content-Type": "application/json"})
    second = json.loads(urllib.request.urlopen(req).read())["data"]["secret"]
    mine = query.replace(gw.admin, second)
    alone = latencies(mine, 200)
    heavy = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 2000000) SELECT count(*) AS n FROM r"
    hostile_url = f"{gw.base}/api/v1/datasource/store/query?queryType=sql&token={gw.admin}&query=" + urllib.parse.quote(heavy)
    hostile = subprocess.Popen(["wrk", "-t1", "-c64", "-d30s", "--timeout", "60s", hostile_url], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(3)
    under = latencies(mine, 200)
    hostile.terminate()
    hostile.wait()
    print(f"second client, alone:                       p50 {alone[0]:6.2f} ms  p99 {alone[1]:6.2f} ms")
    print(f"second client, beside 64 hostile heavy ones: p50 {under[0]:6.2f} ms  p99 {under[1]:6.2f} ms  "
          f"({under[0] / alone[0]:.1f}x at p50: the CPU the hostile share of 4 heavy queries takes, no wait for a slot)")


def main():
    gw = Gateway({
        "auth": {"signedKeys": {"bench": "benchkey"}, "signedTokenWindowSeconds": 3600},
        "datasets": {"sales": {"table": "sales(region text, amount real, day date)"}},
        # One token drives all of wrk's 64 connections, on the shipped limits: 4 of its
        # queries run at once and the rest wait their turn (none may be refused: wrk fails
        # the run on a non-2xx answer).
    })
    nginx = Nginx()
    bare = Bare()
    try:
        stamp = str(int(time.time() * 1000))
        ds = "[[\"region\",\"amount\",\"day\"]," + ",".join(f"[\"r{i}\",{i}.5,\"2026-01-0{i % 9 + 1}\"]" for i in range(10)) + "]"
        body = urllib.parse.urlencode({"visitor": "bench", "type": "sales", "stamp": stamp,
                                       "token": sign("benchkey", stamp, "bench", "sales"), "ds": ds}).encode()
        urllib.request.urlopen(urllib.request.Request(gw.base + "/echart/dataset_api/", body)).read()
        query = f"{gw.base}/api/v1/dataset/sales/query?format=json&token={gw.admin}"
        assert len(json.loads(urllib.request.urlopen(query).read())) == 10

        wrk(nginx.url, 2), wrk(gw.base + "/healthz", 2)  # warm both up
        static_rate, static_p99 = wrk(nginx.url)
        health_rate, health_p99 = wrk(gw.base + "/healthz")
        wrk(bare.url, 2)
        bare_rate, bare_p99 = wrk(bare.url)
        query_rate, query_p99 = wrk(query)
        print(f"nginx, 2 KB static file:     {static_rate:10.0f} req/s  p99 {static_p99:6.2f} ms")
        print(f"Hummingbird alone, /healthz: {bare_rate:10.0f} req/s  p99 {bare_p99:6.2f} ms  "
              f"= {bare_rate / static_rate:.2f}x nginx's rate (the floor under ours)")
        print(f"gateway, GET /healthz:       {health_rate:10.0f} req/s  p99 {health_p99:6.2f} ms  "
              f"= {health_rate / static_rate:.2f}x nginx's rate, {health_rate / bare_rate:.2f}x Hummingbird alone")
        print(f"gateway, 10-row JSON query:  {query_rate:10.0f} req/s  p99 {query_p99:6.2f} ms  "
              f"= {query_rate / static_rate:.2f}x nginx's rate")
        print("target: /healthz >= 0.5x nginx's rate; the query 0 errors with one token on the shipped limits and >= 0.3x nginx "
              "(wrk -t2 -c64; wrk and the server share the 2 cores)")
        fairness(gw, query)
    finally:
        bare.stop()
        nginx.stop()
        gw.stop()


if __name__ == "__main__":
    main()
