"""A minimal SMTP server for tests: accepts one message and writes it to OUT.

  smtp_sink.py PORT_FILE OUT [CERT KEY]

With CERT and KEY it offers STARTTLS. OUT gets the MAIL/RCPT lines, the message, and
"tls: yes|no" and "auth: <user>" lines saying how the client went about it.
"""
import base64, socket, ssl, sys

# Exit when the test that started us goes away (our stdin is its pipe): an orphan would
# keep the test runner's output open forever.
import os as _os, threading as _threading
_threading.Thread(target=lambda: (sys.stdin.read(), _os._exit(0)), daemon=True).start()

tls_files = sys.argv[3:5] if len(sys.argv) >= 5 else None
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
open(sys.argv[1], "w").write(str(srv.getsockname()[1]))
conn, _ = srv.accept()
f = conn.makefile("rb")
def say(line):
    conn.sendall((line + "\r\n").encode())
say("220 sink ready")
data, in_data, secure = [], False, False
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
        offers = ["250-sink"] + (["250-STARTTLS"] if tls_files and not secure else []) + ["250 AUTH PLAIN"]
        conn.sendall(("\r\n".join(offers) + "\r\n").encode())
    elif verb == "STARTTLS" and tls_files:
        say("220 go ahead")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls_files)
        conn = context.wrap_socket(conn, server_side=True)
        f = conn.makefile("rb")
        secure = True
    elif verb == "AUTH":
        user = base64.b64decode(text.split(" ")[2]).split(b"\0")[1].decode()
        data.append(f"auth: {user} (tls: {'yes' if secure else 'no'})")
        say("235 ok")
    elif verb == "DATA":
        in_data = True
        say("354 go ahead")
    elif verb == "QUIT":
        say("221 bye")
        break
    else:
        data.append(text) if verb in ("MAIL", "RCPT") else None
        say("250 ok")
data.append(f"tls: {'yes' if secure else 'no'}")
open(sys.argv[2], "w").write("\n".join(data))
