"""A local mock of the Jushuitan open platform, strict where the real one is:

  jst_mock.py PORT_FILE

- every request is a signed form POST: sign = md5(app_secret + k1v1k2v2… sorted by key, sign excluded)
  (code 10 when wrong); timestamp within 10 minutes (code 140)
- access tokens expire after 12 business calls (code 100); /openWeb/auth/refreshToken swaps both tokens,
  an old refresh token is refused
- more than 5 calls in a second → code 199, more than 100 in a minute → code 200 (per app_key)
- /open/orders/single/query: modified_begin/modified_end both or neither, at most 7 days (code 130),
  orders with begin <= modified < end, paged with has_next
- POST /control {"fail_after": n | null, "refuse_refresh": bool} injects failures, {"add_orders": n} adds
  n orders modified now; GET /stats reports calls
"""
import datetime, hashlib, json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import os as _os
threading.Thread(target=lambda: (sys.stdin.read(), _os._exit(0)), daemon=True).start()

APP_KEY, SECRET = "app", "secret"
TZ = datetime.timezone(datetime.timedelta(hours=8))
BASE = datetime.datetime(2026, 11, 1, tzinfo=TZ)
ORDERS = []
for i in range(230):
    modified = BASE + datetime.timedelta(minutes=i * 117)  # spread over ~18.7 days
    ORDERS.append({"o_id": 1000 + i, "so_id": f"SO{i:05d}", "modified": modified.strftime("%Y-%m-%d %H:%M:%S"),
                   "pay_amount": f"{i % 97}.50", "shop": {"id": i % 3, "name": ["旗舰店", "二店", "三店"][i % 3]},
                   "items": [{"sku_id": f"SKU{i}-{k}", "qty": k + 1, "price": f"{10 + k}.00"} for k in range(1 + i % 3)]})

lock = threading.RLock()  # code() takes it again inside some checks
state = {"access": "at0", "refresh": "rt0", "uses": 0, "generation": 0, "calls": [], "codes": {}, "refreshes": 0,
         "fail_after": None, "refuse_refresh": False, "business_calls": 0}


def sign(params):
    text = SECRET + "".join(k + v for k, v in sorted(params.items()) if k != "sign")
    return hashlib.md5(text.encode("utf-8")).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, body, status=200):
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with lock:
            self.reply({"calls": state["calls"], "codes": state["codes"], "refreshes": state["refreshes"], "access": state["access"]})

    def code(self, code, msg, data=None):
        with lock:
            state["codes"][str(code)] = state["codes"].get(str(code), 0) + 1
        body = {"code": code, "msg": msg}
        if data is not None:
            body["data"] = data
        self.reply(body)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("utf-8")
        if self.path == "/control":
            with lock:
                change = json.loads(raw)
                # New orders, modified now: what an incremental pull must find next time.
                for _ in range(change.pop("add_orders", 0)):
                    i = len(ORDERS)
                    modified = datetime.datetime.now(TZ).strftime("%Y-%m-%d %H:%M:%S")
                    ORDERS.append({"o_id": 1000 + i, "so_id": f"SO{i:05d}", "modified": modified, "pay_amount": "1.50",
                                   "shop": {"id": 0, "name": "旗舰店"}, "items": [{"sku_id": f"SKU{i}-0", "qty": 1, "price": "10.00"}]})
                state.update(change)
            return self.reply({"ok": True})
        assert self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"), self.headers
        params = dict(parse_qsl(raw, keep_blank_values=True))
        now = time.time()
        with lock:
            if state["fail_after"] is not None and state["business_calls"] >= state["fail_after"] and self.path != "/openWeb/auth/refreshToken":
                return self.reply({"error": "injected failure"}, 500)
            state["calls"].append(now)
            recent = [t for t in state["calls"] if t > now - 60]
            per_second = len([t for t in recent if t > now - 1])
        if params.get("app_key") != APP_KEY or params.get("sign") != sign(params):
            return self.code(10, "sign error")
        if abs(int(params.get("timestamp", "0")) - now) > 600:
            return self.code(140, "timestamp error")
        if per_second > 5:
            return self.code(199, "more than 5 requests per second")
        if len(recent) > 100:
            return self.code(200, "more than 100 requests per minute")
        if self.path == "/openWeb/auth/refreshToken":
            with lock:
                if state["refuse_refresh"] or params.get("refresh_token") != state["refresh"] or params.get("grant_type") != "refresh_token":
                    return self.code(5, "refresh_token invalid")
                state["generation"] += 1
                state["access"], state["refresh"] = f"at{state['generation']}", f"rt{state['generation']}"
                state["uses"] = 0
                state["refreshes"] += 1
                data = {"access_token": state["access"], "expires_in": 2592000, "refresh_token": state["refresh"], "scope": "all"}
            return self.code(0, "", data)
        with lock:
            if params.get("access_token") != state["access"] or state["uses"] >= 12:
                return self.code(100, "access_token invalid or expired")
            state["uses"] += 1
            state["business_calls"] += 1
        if params.get("version") != "2" or params.get("charset") != "utf-8":
            return self.code(3, "version and charset are required")
        biz = json.loads(params.get("biz") or "{}")
        begin, end = biz.get("modified_begin"), biz.get("modified_end")
        if (begin is None) != (end is None):
            return self.code(120, "modified_begin and modified_end go together")
        rows = ORDERS
        if begin:
            b = datetime.datetime.strptime(begin, "%Y-%m-%d %H:%M:%S")
            e = datetime.datetime.strptime(end, "%Y-%m-%d %H:%M:%S")
            if e - b > datetime.timedelta(days=7):
                return self.code(130, "time span over 7 days")
            rows = [o for o in ORDERS if begin <= o["modified"] < end]
        page, size = int(biz.get("page_index", 1)), int(biz.get("page_size", 50))
        if size > 100:
            return self.code(130, "page_size over 100")
        chunk = rows[(page - 1) * size: page * size]
        count = len(rows)
        pages = (count + size - 1) // size
        self.code(0, "", {"page_size": size, "page_index": page, "data_count": count, "page_count": pages,
                         "has_next": page < pages, "orders": chunk})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
open(sys.argv[1], "w").write(str(server.server_address[1]))
server.serve_forever()
