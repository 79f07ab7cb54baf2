"""A paginated API in seed 002's demo shape, with faults on demand, and a callback sink.

  page_server.py PORT_FILE [LATENCY_MS]

  GET /pages?page=&limit=[&total=500]   the demo rows (header first on every page)
  GET /flaky?...                        page 3 answers 503 twice, then 200 (429 + Retry-After once on page 2)
  GET /broken?...                       page 4 answers 404
  GET /errcode?...                      page 2 answers errcode 1001
  GET /slow?...                         every page takes 300 ms
  GET /slowone?...                      page 2 takes 1.5 s, the others answer at once
  GET /huge?...                         page 1 claims 2^63-1 rows of 1 per page (no total_page)
  GET /failfast?...                     page 2 answers 400 after 1 s; pages 3 on answer 503 (Retry-After: 1)
  GET /bigpages?...&mb=N                every page carries about N MB of padding in each row's Name
  POST /pages                           the same, parameters in a JSON body
  POST /callback                        answers 500 twice, then 200; GET /callback/log lists the bodies
  GET /stats                            {"requests": n, "max_in_flight": m}
  GET /seen                             the query strings (GET) and bodies (POST) of page requests, in order
"""
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LATENCY = int(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0
lock = threading.Lock()
state = {"seen": [], "flaky3": 0, "flaky2": 0, "callbacks": [], "callback_attempts": 0, "requests": 0, "in_flight": 0, "max_in_flight": 0}


def page_body(page, limit, total):
    rows = [{"ID": "编号", "Name": "姓名", "Age": "年龄"}]
    start = (page - 1) * limit
    for i in range(start, min(total, start + limit)):
        rows.append({"ID": i, "Name": f"Demo {i}", "Age": 15 + i % 50})
    return {"errcode": 0, "msg": "", "data": {"data": rows, "pagetag": {"page": page, "limit": limit, "total": total,
            "total_page": (total + limit - 1) // limit}}, "request_id": "x"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # As real servers (Go's net/http, nginx) do: otherwise the body, written after the
    # headers, waits for the client's delayed ACK on a kept-alive connection (~40 ms).
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def pages(self, path, params):
        page, limit = int(params.get("page", 1)), int(params.get("limit", 10))
        total = int(params.get("total", 500))
        with lock:
            state["requests"] += 1
            state["in_flight"] += 1
            state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
        try:
            time.sleep(0.3 if path == "/slow" else 1.5 if path == "/slowone" and page == 2 else LATENCY)
            if path == "/flaky" and page == 3:
                with lock:
                    state["flaky3"] += 1
                    n = state["flaky3"]
                if n <= 2:
                    return self.reply(503, {"errcode": 503, "msg": "busy"})
            if path == "/flaky" and page == 2:
                with lock:
                    state["flaky2"] += 1
                    n = state["flaky2"]
                if n == 1:
                    return self.reply(429, {"errcode": 429, "msg": "slow down"}, [("Retry-After", "1")])
            if path == "/broken" and page == 4:
                return self.reply(404, {"errcode": 404, "msg": "no such page"})
            if path == "/errcode" and page == 2:
                return self.reply(200, {"errcode": 1001, "msg": "token expired"})
            if path == "/failfast" and page == 2:
                time.sleep(1)
                return self.reply(400, {"errcode": 400, "msg": "bad page"})
            if path == "/failfast" and page >= 3:
                return self.reply(503, {"errcode": 503, "msg": "busy"}, [("Retry-After", "1")])
            if path == "/huge":
                return self.reply(200, {"errcode": 0, "msg": "", "data": {"data": [{"ID": "编号"}, {"ID": 1}],
                                  "pagetag": {"page": page, "limit": 1, "total": 9223372036854775807}}})
            body = page_body(page, limit, total)
            if path == "/bigpages":
                pad = "x" * (int(float(params.get("mb", 1)) * (1 << 20)) // max(1, len(body["data"]["data"]) - 1))
                for row in body["data"]["data"][1:]:
                    row["Name"] = pad
            self.reply(200, body)
        finally:
            with lock:
                state["in_flight"] -= 1

    def do_GET(self):
        url = urlparse(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/callback/log":
            return self.reply(200, state["callbacks"])
        if url.path == "/stats":
            return self.reply(200, {"requests": state["requests"], "max_in_flight": state["max_in_flight"]})
        if url.path == "/seen":
            return self.reply(200, state["seen"])
        with lock:
            state["seen"].append(url.query)
        self.pages(url.path, params)

    def do_POST(self):
        url = urlparse(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if url.path == "/callback":
            with lock:
                state["callback_attempts"] += 1
                n = state["callback_attempts"]
                if n > 2:
                    state["callbacks"].append(json.loads(body))
            return self.reply(500 if n <= 2 else 200, {"ok": n > 2})
        with lock:
            state["seen"].append(body.decode())
        self.pages(url.path, json.loads(body or b"{}"))


# Exit when the test that started us goes away (our stdin is its pipe): an orphan would
# keep the test runner's output open forever.
import os as _os, threading as _threading
_threading.Thread(target=lambda: (sys.stdin.read(), _os._exit(0)), daemon=True).start()

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
open(sys.argv[1], "w").write(str(server.server_address[1]))
server.serve_forever()
