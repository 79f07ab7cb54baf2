"""Shared pieces of the benchmarks: start a release gateway on a free port, sign seed-000 tokens,
measure a process's resident memory."""
import atexit, hashlib, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build", "release", "gateway")


def scratch_dir(prefix):
    """A temporary folder removed when the benchmark exits: a run leaves nothing in /tmp."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    """A release gateway in a temporary data folder, with the given config."""

    def __init__(self, config):
        self.dir = scratch_dir("gw-bench-")
        self.port = free_port()
        path = os.path.join(self.dir, "gateway.json")
        with open(path, "w") as f:
            json.dump(config, f)
        env = dict(os.environ, GATEWAY_LOG_LEVEL="warning")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--config", path, "--data-dir", os.path.join(self.dir, "data"), "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=self.dir)
        # Serving starts at once and plugins load behind it: wait for "plugins loaded". A
        # build from before that (bench/ab_compare.py's older side) loaded them first and
        # said "plugins: N active" before its admin token line.
        loaded_first = False
        for line in self.proc.stdout:
            loaded_first = loaded_first or (line.startswith(b"plugins: ") and b" active" in line)
            if b"plugins loaded" in line or (loaded_first and b"admin token" in line):
                break
        self.base = f"http://127.0.0.1:{self.port}"
        with open(os.path.join(self.dir, "data", "admin-token")) as f:
            self.admin = f.read().strip()

    def rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024

    def peak_rss(self):
        """A context manager sampling the gateway's RSS every 20 ms: `with gw.peak_rss() as m:`,
        then m.base and m.peak (MB)."""
        return PeakRSS(self)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)

    def call(self, method, path, body=None):
        """A JSON request to the gateway (no token: for gateways configured without one)."""
        import urllib.request
        req = urllib.request.Request(self.base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(req))


def crawl(gw, pages_url, pages, ext_type="CSV"):
    """Seconds from the request to the end of an HTTP export (seed 002) of `pages` pages from
    the page server at `pages_url`, one row a page."""
    start = time.perf_counter()
    key = gw.call("POST", "/v1/export/http", {"timestamp": int(time.time()), "ext_type": ext_type, "title": "crawl", "user_id": "bench",
                  "source_http": {"url": f"{pages_url}/pages", "method": "GET", "param": {"limit": 1, "total": pages}}})["data"]["hash_key"]
    while True:
        detail = gw.call("GET", f"/v1/export/detail?key={key}")["data"]
        if detail["status"] != 1:
            break
        time.sleep(0.01)
    assert detail["status"] == 2, detail
    return time.perf_counter() - start


def page_server(latency_ms):
    """The tests' paginated page server (seed 002's convention) with `latency_ms` a page; returns
    (process, base URL)."""
    work = scratch_dir("bench-pages-")
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "Tests/GatewayTests/Fixtures/page_server.py"),
                               os.path.join(work, "port"), str(latency_ms)], stdin=subprocess.PIPE)
    while not os.path.exists(os.path.join(work, "port")) or not open(os.path.join(work, "port")).read():
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{open(os.path.join(work, 'port')).read()}"


class PeakRSS:
    def __init__(self, gw):
        self.gw = gw

    def __enter__(self):
        import threading
        self.base = self.peak = self.gw.rss_mb()
        self.done = threading.Event()

        def sample():
            while not self.done.is_set():
                self.peak = max(self.peak, self.gw.rss_mb())
                time.sleep(0.02)

        self.thread = threading.Thread(target=sample)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()


def sign(key, stamp, visitor, type_):
    return hashlib.sha1(f"{key}{stamp}{visitor}{type_}".encode()).hexdigest()
