"""A local HTTP receiver for bench/writer_bench.py: takes POSTed JSON arrays of rows, counts
them without parsing (objects are separated by "},{" or "}, {"), answers {"code": 0}. GET /count gives
the rows received so far; POST /reset clears it.

  python3 bench/receiver.py PORT_FILE
"""
import socket, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
received = {"rows": 0, "requests": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body leave in two writes: without this, Nagle's algorithm holds the
        # body until the client's delayed ACK (40 ms a request), and both sides measure that.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            self.answer(b'{"rows": %d, "requests": %d}' % (received["rows"], received["requests"]))

    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/reset":
            with lock:
                received.update(rows=0, requests=0)
            return self.answer(b"{}")
        rows = data.count(b"},{") + data.count(b"}, {") + 1 if len(data) > 2 else 0
        with lock:
            received["rows"] += rows
            received["requests"] += 1
        self.answer(b'{"code": 0}')


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
open(sys.argv[1], "w").write(str(server.server_address[1]))
server.serve_forever()
