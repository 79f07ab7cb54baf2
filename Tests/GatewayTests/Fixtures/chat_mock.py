"""An OpenAI-compatible chat completions endpoint for create-script tests.

POST /v1/chat/completions answers with a fenced script echoing the request, after checking
the bearer key and the model. A user message containing "slow" waits 5 s; one containing
"fail" gets HTTP 500; one containing "stall" gets its headers and the first bytes of its
body, then nothing for 60 s.

  python3 chat_mock.py PORT_FILE
"""
import json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if self.path != "/v1/chat/completions":
            return self.reply(404, {"error": {"message": "no such path"}})
        if self.headers.get("Authorization") != "Bearer sk-test":
            return self.reply(401, {"error": {"message": "invalid api key"}})
        if body.get("model") != "deepseek-chat":
            return self.reply(400, {"error": {"message": "unknown model"}})
        user = body["messages"][-1]["content"]
        if "stall" in user:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"choices": [')
            self.wfile.flush()
            time.sleep(60)
            return
        if "slow" in user:
            time.sleep(5)
        if "fail" in user:
            return self.reply(500, {"error": {"message": "overloaded"}})
        script = "```python\n# " + user + "\nprint('ok')\n```"
        self.reply(200, {"choices": [{"message": {"role": "assistant", "content": script}}]})


# The test closes stdin when it is done: exit then, even if the signal went to a launcher
# (a pyenv shim) instead of this process.
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
open(sys.argv[1], "w").write(str(server.server_address[1]))
server.serve_forever()
