"""Uploads like seed 000's post_file() (requests, multipart), printing the JSON reply.

  upload_client.py URL KEY VISITOR TYPE [file=PATH] [filename=NAME] [mail=ADDRS] [update=1]
"""
import hashlib, json, sys, time

import requests

url, key, visitor, type_ = sys.argv[1:5]
extra = dict(a.split("=", 1) for a in sys.argv[5:])
stamp = int(time.time() * 1000)
token = hashlib.sha1(f"{key}{stamp}{visitor}{type_}".encode("utf-8")).hexdigest()
data = {"visitor": visitor, "token": token, "stamp": stamp, "type": type_}
for k in ("filename", "mail", "update"):
    if k in extra:
        data[k] = extra[k]
files = {"file": open(extra["file"], "rb")} if "file" in extra else None
if files:
    response = requests.post(url, files=files, data=data)
else:
    response = requests.post(url, data=data)
print(response.status_code, json.dumps(response.json(), ensure_ascii=False))
