"""Hand-made multipart uploads, for what `requests` will not send.

  raw_upload.py URL KEY VISITOR TYPE MODE

  MODE  two-files    two `file` parts
        big          fields, then a file of 3 MB
        hangup       fields, then half a file part, then the connection closes
        badtoken     fields with a wrong token first, then 20 MB of file sent slowly
Prints the status and body of the reply (or what happened).
"""
import hashlib, http.client, socket, sys, time
from urllib.parse import urlparse

url, key, visitor, type_, mode = sys.argv[1:6]
u = urlparse(url)
stamp = int(time.time() * 1000)
token = hashlib.sha1(f"{key}{stamp}{visitor}{type_}".encode()).hexdigest()
if mode == "badtoken":
    token = "0" * 40
B = "gatewayboundary"


def field(name, value):
    return f'--{B}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()


def file_head(name="people.csv"):
    return f'--{B}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\nContent-Type: text/csv\r\n\r\n'.encode()


fields = b"".join(field(k, v) for k, v in [("visitor", visitor), ("type", type_), ("stamp", stamp), ("token", token)])
end = f"\r\n--{B}--\r\n".encode()
csv = b"name,age\r\n" + b"someone,1\r\n" * 300_000

if mode == "two-files":
    body = fields + file_head() + b"name,age\r\nA,1" + b"\r\n" + file_head("b.csv") + b"name,age\r\nB,2" + end
elif mode == "big":
    body = fields + file_head() + csv + end
else:
    body = None

if body is not None:
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("POST", u.path, body=body, headers={"Content-Type": f"multipart/form-data; boundary={B}"})
    r = conn.getresponse()
    print(r.status, r.read().decode())
    sys.exit(0)

s = socket.create_connection((u.hostname, u.port), timeout=30)
length = len(fields) + len(file_head()) + 20_000_000 + len(end)
s.sendall(f"POST {u.path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={B}\r\nContent-Length: {length}\r\n\r\n".encode())
s.sendall(fields + file_head())
if mode == "hangup":
    s.sendall(csv[: len(csv) // 2])
    s.close()
    print("hung up")
    sys.exit(0)
# badtoken: send slowly; the answer should come long before 20 MB went out.
sent = 0
try:
    s.settimeout(0.05)
    while sent < 20_000_000:
        s.sendall(b"x" * 65536)
        sent += 65536
        try:
            reply = s.recv(65536)
            if reply:
                print("answered after", sent, "bytes:", reply.split(b"\r\n")[0].decode(), reply.split(b"\r\n\r\n", 1)[-1].decode())
                sys.exit(0)
        except socket.timeout:
            pass
except OSError as e:
    print("connection ended after", sent, "bytes:", e)
    sys.exit(0)
print("no answer after", sent, "bytes")
