"""Local HTTP/JSON APIs in every shape a declarative connector (http.json) must read, each with
its own credential, paging style and failure:

  json_api_mock.py PORT_FILE [PORT]      (PORT: a fixed port; default any free one)

  GET  /v1/items?page=&per_page=      page numbers, data.list + data.has_more; header X-Api-Key: k1
  GET  /v1/offset?offset=&limit=      offset/limit, items + total; query api_key=k1
  GET  /v1/cursor?cursor=&limit=      cursor in meta.next; Authorization: Bearer tok-static
  GET  /v1/linked?page=               next page in the Link header; basic auth user:pa ss
  GET  /v1/nextbody?page=             next link (relative) in links.next; OAuth2 client credentials
  GET  /v1/refreshed?page=            page numbers; OAuth2 refresh token (rotated on each refresh)
  GET  /v1/hmac?page=                 X-Signature: hex HMAC-SHA256("hk", the sorted query "k=v&k=v")
  GET  /v1/storm?page=                the first 3 requests answer 429 (Retry-After: 0)
  GET  /v1/busybody?page=             the first 2 requests answer 200 {"code": 429}
  GET  /v1/errbody                    200 {"code": 5, "msg": "account suspended"}
  GET  /v1/notjson?page=              page 2 is HTML
  GET  /v1/loopcursor?cursor=         the next cursor is always "same"
  GET  /v1/ignorespage?page=          the same page whatever is asked, has_more always true
  GET  /v1/empty                      {"data": {}}
  GET  /v1/capped?offset=&limit=      offset/limit with total, but never more than 20 records a page
  GET  /v1/hugetotal                  says total = Int64.max; /v1/hugepages?page= says total_pages = Int64.max from page 2
  GET  /v1/orders/<shop>?status=&min= echoes what it was asked, as one record
  GET  /v1/changes?since=&until=      records updated in [since, until) (ISO 8601, UTC)
  POST /oauth/token                   client_credentials (cid/csecret) or refresh_token; each access token
                                      answers 3 calls, then 401 (a token expiring mid-crawl)
  POST /control {"add": n}            n more records updated now
  GET  /stats                         calls per path, tokens issued, refreshes
Records: 57 of {"id", "name", "price", "active", "meta": {"color", "size": {"w", "h"}}, "tags", "updated_at"}.
"""
import datetime, hashlib, hmac, json, os, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse, unquote
import base64

import stat
# Started by a test, stdin is a pipe: the mock ends with the test process. Started from a
# shell (docs/http-json.md), it runs until stopped.
if stat.S_ISFIFO(os.fstat(0).st_mode):
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()

BASE = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
RECORDS = [{"id": i, "name": f"item {i}", "price": round(i * 1.25, 2), "active": i % 2 == 0,
            "meta": {"color": ["red", "green", "blue"][i % 3], "size": {"w": i, "h": i + 1}},
            "tags": ["t%d" % (i % 4), "all"],
            "updated_at": (BASE + datetime.timedelta(hours=i * 7)).strftime("%Y-%m-%dT%H:%M:%SZ")}
           for i in range(1, 58)]

lock = threading.Lock()
state = {"calls": {}, "tokens": {}, "issued": 0, "refreshes": 0, "refresh": "rt0", "storm": 0, "busy": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if not isinstance(body, bytes) else "text/html")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def token_ok(self):
        auth = self.headers.get("Authorization", "")
        with lock:
            left = state["tokens"].get(auth[7:]) if auth.startswith("Bearer ") else None
            if not left:
                return False
            state["tokens"][auth[7:]] = left - 1
            return True

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        path = urlparse(self.path).path
        if path == "/control":
            change = json.loads(raw)
            with lock:
                now = datetime.datetime.now(datetime.timezone.utc)
                for _ in range(change.get("add", 0)):
                    i = len(RECORDS) + 1
                    RECORDS.append({"id": i, "name": f"item {i}", "price": 1.0, "active": True,
                                    "meta": {"color": "red", "size": {"w": 1, "h": 2}}, "tags": [],
                                    "updated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
            return self.reply(200, {"ok": True})
        if path == "/oauth/token":
            form = dict(parse_qsl(raw))
            with lock:
                if form.get("grant_type") == "client_credentials":
                    if form.get("client_id") != "cid" or form.get("client_secret") != "csecret":
                        return self.reply(401, {"error": "invalid_client"})
                elif form.get("grant_type") == "refresh_token":
                    if form.get("refresh_token") != state["refresh"]:
                        return self.reply(400, {"error": "invalid_grant"})
                    state["refreshes"] += 1
                    state["refresh"] = "rt%d" % state["refreshes"]
                else:
                    return self.reply(400, {"error": "unsupported_grant_type"})
                state["issued"] += 1
                token = "oa%d" % state["issued"]
                state["tokens"][token] = 3
                body = {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
                if form.get("grant_type") == "refresh_token":
                    body["refresh_token"] = state["refresh"]
            return self.reply(200, body)
        self.reply(404, {"error": "no such path"})

    def do_GET(self):
        url = urlparse(self.path)
        path, query = url.path, dict(parse_qsl(url.query, keep_blank_values=True))
        with lock:
            state["calls"][path] = state["calls"].get(path, 0) + 1
        if path == "/stats":
            with lock:
                return self.reply(200, {"calls": state["calls"], "issued": state["issued"], "refreshes": state["refreshes"]})
        page = int(query.get("page", 1))

        def page_of(size):
            return RECORDS[(page - 1) * size: page * size]

        if path == "/v1/items":
            if self.headers.get("X-Api-Key") != "k1":
                return self.reply(401, {"error": "missing key"})
            size = int(query.get("per_page", 10))
            return self.reply(200, {"data": {"list": page_of(size), "has_more": page * size < len(RECORDS)}})
        if path == "/v1/offset":
            if query.get("api_key") != "k1":
                return self.reply(401, {"error": "missing key"})
            offset, limit = int(query.get("offset", 0)), int(query.get("limit", 10))
            return self.reply(200, {"items": RECORDS[offset:offset + limit], "total": len(RECORDS)})
        if path == "/v1/cursor":
            if self.headers.get("Authorization") != "Bearer tok-static":
                return self.reply(401, {"error": "bad token"})
            at, limit = int(query.get("cursor") or 0), int(query.get("limit", 10))
            nxt = at + limit
            return self.reply(200, {"results": RECORDS[at:nxt], "meta": {"next": str(nxt) if nxt < len(RECORDS) else None}})
        if path == "/v1/linked":
            if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"user:pa ss").decode():
                return self.reply(401, {"error": "who"})
            rows, headers = page_of(20), []
            if page * 20 < len(RECORDS):
                headers.append(("Link", f'<http://127.0.0.1:{self.server.server_address[1]}/v1/linked?page={page + 1}>; rel="next", <x>; rel="last"'))
            return self.reply(200, rows, headers)
        if path == "/v1/nextbody" or path == "/v1/refreshed":
            if not self.token_ok():
                return self.reply(401, {"error": "invalid_token"})
            if path == "/v1/refreshed":
                return self.reply(200, {"records": page_of(5), "more": page * 5 < len(RECORDS)})
            more = page * 5 < len(RECORDS)
            return self.reply(200, {"records": page_of(5), "links": {"next": f"/v1/nextbody?page={page + 1}" if more else None}})
        if path == "/v1/hmac":
            message = "&".join(f"{k}={v}" for k, v in sorted(parse_qsl(url.query, keep_blank_values=True)))
            want = hmac.new(b"hk", message.encode(), hashlib.sha256).hexdigest()
            if self.headers.get("X-Signature") != want:
                return self.reply(403, {"error": "bad signature", "signed": message})
            return self.reply(200, {"data": page_of(25)})
        if path == "/v1/storm":
            with lock:
                state["storm"] += 1
                if state["storm"] <= 3:
                    return self.reply(429, {"error": "slow down"}, [("Retry-After", "0")])
            return self.reply(200, {"data": page_of(25)})
        if path == "/v1/busybody":
            with lock:
                state["busy"] += 1
                if state["busy"] <= 2:
                    return self.reply(200, {"code": 429, "msg": "busy"})
            return self.reply(200, {"code": 0, "data": page_of(25)})
        if path == "/v1/errbody":
            return self.reply(200, {"code": 5, "msg": "account suspended"})
        if path == "/v1/notjson":
            if page == 2:
                return self.reply(200, b"<html>oops</html>")
            return self.reply(200, {"data": page_of(10)})
        if path == "/v1/loopcursor":
            return self.reply(200, {"results": RECORDS[:3], "next": "same"})
        if path == "/v1/ignorespage":
            return self.reply(200, {"data": RECORDS[:5], "has_more": True})
        if path == "/v1/capped":
            offset, limit = int(query.get("offset", 0)), min(20, int(query.get("limit", 10)))
            return self.reply(200, {"items": RECORDS[offset:offset + limit], "total": len(RECORDS)})
        if path == "/v1/hugetotal":
            return self.reply(200, {"items": RECORDS[:10], "total": 9223372036854775807})
        if path == "/v1/hugepages":
            body = {"data": page_of(5)}
            if page >= 2:
                body["total_pages"] = 9223372036854775807
            return self.reply(200, body)
        if path == "/v1/empty":
            return self.reply(200, {"data": {}})
        if path.startswith("/v1/orders/"):
            asked = parse_qsl(url.query, keep_blank_values=True)
            return self.reply(200, [{"shop": unquote(path[len("/v1/orders/"):]), "status": ",".join(v for k, v in asked if k == "status"),
                                     "min": dict(asked).get("min"), "query": url.query}])
        if path == "/v1/changes":
            since, until = query.get("since", ""), query.get("until", "9999")
            rows = [r for r in RECORDS if since <= r["updated_at"] < until]
            size = 10
            return self.reply(200, {"data": rows[(page - 1) * size: page * size], "has_more": page * size < len(rows)})
        self.reply(404, {"error": "no such path"})


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 0), Handler)
server.daemon_threads = True
open(sys.argv[1], "w").write(str(server.server_address[1]))
server.serve_forever()
