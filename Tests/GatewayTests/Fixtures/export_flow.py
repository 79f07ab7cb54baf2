"""The seed's whole export flow as a Python client: start an http export against /demo/page,
poll detail, download the zip, open every file with openpyxl, find all 500 rows in order.

  export_flow.py BASE_URL TOKEN
"""
import io, json, sys, time, zipfile

import openpyxl
import requests

base, token = sys.argv[1], sys.argv[2]
auth = {"Authorization": f"Bearer {token}"}
created = requests.post(f"{base}/v1/export/http", headers=auth, json={
    "timestamp": int(time.time()), "ext_type": "XLSX", "title": "http接口数据源导出", "user_id": "123",
    "callback": "", "source_http": {"url": f"{base}/demo/page", "method": "GET", "header": {}, "param": {"limit": 20}}}).json()
assert created["errcode"] == 0, created
key = created["data"]["hash_key"]
for _ in range(600):
    detail = requests.get(f"{base}/v1/export/detail", params={"key": key}, headers=auth).json()["data"]
    if detail["status"] != 1:
        break
    time.sleep(0.05)
assert detail["status"] == 2, detail
archive = zipfile.ZipFile(io.BytesIO(requests.get(detail["down_url"]).content))
rows = []
for name in archive.namelist():
    ws = openpyxl.load_workbook(io.BytesIO(archive.read(name))).active
    values = list(ws.iter_rows(values_only=True))
    assert values[0] == ("编号", "姓名", "年龄"), values[0]
    rows += values[1:]
assert [r[0] for r in rows] == list(range(500)), [r[0] for r in rows][:10]
assert all(r[1] == "Demo" and r[2] == 15 + r[0] % 50 for r in rows)
print(f"ok: {len(rows)} rows in order from {archive.namelist()}, progress {detail['progress']}")
