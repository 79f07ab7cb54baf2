"""A mock integration-platform write API (seed 003's "批量快速写入"), for http.writer tests.

POST /write takes {"app": ..., "data": [rows]} with header X-Token: secret-1 and answers
{"code": 0, "msg": "ok", "data": {"failed": [{"index": i, "reason": ...}]}}: a row whose
"pay_amount" is negative is refused one by one; every other row is recorded with the time it
arrived. POST /control changes what the next requests get:
  {"refuse_next": n}        the next n requests are refused whole: {"code": 1, "msg": ...}
  {"refuse_after": k}       after k more accepted requests, one is refused whole
  {"refuse_containing": id} every request holding that o_id is refused (null: stop)
  {"unavailable_next": n}   the next n requests get HTTP 503
  {"limit_next": n}         the next n requests get HTTP 429 with Retry-After: 1
GET /rows lists the rows recorded; GET /stats gives requests, rows and the most rows that
arrived within any one second.

  python3 platform_mock.py PORT_FILE
"""
import json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
state = {"rows": [], "arrivals": [], "requests": 0, "refuse_next": 0, "unavailable_next": 0, "limit_next": 0,
         "refuse_containing": None, "refuse_after": None}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with lock:
            if self.path == "/rows":
                return self.reply(200, state["rows"])
            arrivals = sorted(state["arrivals"])
            most, start = 0, 0
            for end in range(len(arrivals)):
                while arrivals[end] - arrivals[start] >= 1.0:
                    start += 1
                most = max(most, end - start + 1)
            return self.reply(200, {"requests": state["requests"], "rows": len(state["rows"]), "max_rows_per_second": most})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
        if self.path == "/control":
            with lock:
                state.update(body)
            return self.reply(200, {"ok": True})
        if self.path != "/write":
            return self.reply(404, {"code": 404, "msg": "no such path"})
        if self.headers.get("X-Token") != "secret-1":
            return self.reply(401, {"code": 401, "msg": "bad token"})
        with lock:
            state["requests"] += 1
            if state["unavailable_next"] > 0:
                state["unavailable_next"] -= 1
                return self.reply(503, {"code": 503, "msg": "try later"})
            if state["limit_next"] > 0:
                state["limit_next"] -= 1
                return self.reply(429, {"code": 429, "msg": "slow down"}, [("Retry-After", "1")])
            rows = body.get("data") or []
            if state["refuse_after"] == 0:
                state["refuse_after"] = None
                state["refuse_next"] += 1
            elif state["refuse_after"] is not None:
                state["refuse_after"] -= 1
            if state["refuse_next"] > 0 or any(r.get("o_id") == state["refuse_containing"] for r in rows):
                state["refuse_next"] = max(0, state["refuse_next"] - 1)
                return self.reply(200, {"code": 1, "msg": "batch refused: app quota exceeded"})
            if body.get("app") != "erp":
                return self.reply(200, {"code": 2, "msg": "unknown app"})
            failed, now = [], time.time()
            for i, row in enumerate(rows):
                if not isinstance(row.get("pay_amount", 0), (int, float)):
                    failed.append({"index": i, "reason": f"pay_amount {row['pay_amount']!r} is not a number"})
                elif (row.get("pay_amount") or 0) < 0:
                    failed.append({"index": i, "reason": f"pay_amount {row['pay_amount']} is negative"})
                else:
                    state["rows"].append(row)
                    state["arrivals"].append(now)
            return self.reply(200, {"code": 0, "msg": "ok", "data": {"failed": failed}})


# The test closes stdin when it is done: exit then, even if the signal went to a launcher
# (a pyenv shim) instead of this process.
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
open(sys.argv[1], "w").write(str(server.server_address[1]))
server.serve_forever()
