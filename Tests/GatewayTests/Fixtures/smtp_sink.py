"""A minimal SMTP server for tests: accepts one message and writes it to OUT.

  smtp_sink.py PORT_FILE OUT
"""
import socket, sys

# Exit when the test that started us goes away (our stdin is its pipe): an orphan would
# keep the test runner's output open forever.
import os as _os, threading as _threading
_threading.Thread(target=lambda: (sys.stdin.read(), _os._exit(0)), daemon=True).start()

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
open(sys.argv[1], "w").write(str(srv.getsockname()[1]))
conn, _ = srv.accept()
f = conn.makefile("rb")
def say(line):
    conn.sendall((line + "\r\n").encode())
say("220 sink ready")
data, in_data = [], False
while True:
    line = f.readline()
    if not line:
        break
    text = line.decode("utf-8").rstrip("\r\n")
    if in_data:
        if text == ".":
            in_data = False
            say("250 queued")
        else:
            data.append(text)
        continue
    verb = text.split(" ")[0].upper()
    if verb == "EHLO":
        conn.sendall(b"250-sink\r\n250 AUTH PLAIN\r\n")
    elif verb == "DATA":
        in_data = True
        say("354 go ahead")
    elif verb == "QUIT":
        say("221 bye")
        break
    else:
        data.append(text) if verb in ("MAIL", "RCPT") else None
        say("250 ok")
open(sys.argv[2], "w").write("\n".join(data))
