"""Makes .xlsx files for the reader's tests: a good one (openpyxl), and hostile ones.

  make_xlsx.py KIND OUT     KIND: good | bomb | liar | strings | truncated | doctype | notzip
"""
import datetime, io, sys, zipfile

import openpyxl

kind, out = sys.argv[1], sys.argv[2]


def good_bytes():
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "人员"
    ws.append(["name", "age", "joined", "score", "ok", "when", "note"])
    ws.append(["张三", 31, datetime.date(2026, 1, 2), 9.5, True, datetime.datetime(2026, 1, 2, 8, 30), "a & b <c>"])
    ws.append(["Li", None, datetime.date(2026, 2, 3), 7, False, datetime.datetime(2026, 2, 3, 0, 0, 1), 12])
    ws.append([])
    ws.append(["Zhao", 40, datetime.date(2026, 3, 4), -1.25, True, None, None])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def replace(part, data):
    src = zipfile.ZipFile(io.BytesIO(good_bytes()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            z.writestr(item.filename, data if item.filename == part else src.read(item.filename))
    return buf.getvalue()


if kind == "good":
    data = good_bytes()
elif kind == "bomb":
    # 64 MB of spaces inside a row: deflates to about 64 KB.
    sheet = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">' + b" " * (64 << 20) + b"</row></sheetData></worksheet>"
    data = replace("xl/worksheets/sheet1.xml", sheet)
elif kind == "liar":
    # A sheet that declares 100 bytes but inflates to far more.
    data = bytearray(replace("xl/worksheets/sheet1.xml", b"<worksheet><sheetData>" + b"<row/>" * 100000 + b"</sheetData></worksheet>"))
    name = b"xl/worksheets/sheet1.xml"
    at = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
    data[at + 24:at + 28] = (100).to_bytes(4, "little")
    data = bytes(data)
elif kind == "strings":
    si = "".join(f"<si><t>string number {i:07d} with some padding</t></si>" for i in range(50000))
    data = replace("xl/sharedStrings.xml", f'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{si}</sst>'.encode())
    # openpyxl writes inline values without sharedStrings; make sure the part exists.
    if b"sharedStrings" not in data:
        src = zipfile.ZipFile(io.BytesIO(good_bytes()))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for item in src.infolist():
                z.writestr(item.filename, src.read(item.filename))
            z.writestr("xl/sharedStrings.xml", f"<sst>{si}</sst>")
        data = buf.getvalue()
elif kind == "truncated":
    src = zipfile.ZipFile(io.BytesIO(good_bytes()))
    sheet = src.read("xl/worksheets/sheet1.xml")
    data = replace("xl/worksheets/sheet1.xml", sheet[: len(sheet) // 2] + b"<c r=")
elif kind == "doctype":
    laughs = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><workbook><sheets><sheet name="x" r:id="rId1"/></sheets></workbook>'
    data = replace("xl/workbook.xml", laughs)
elif kind == "notzip":
    data = b"name,age\nthis is a CSV pretending to be a workbook\n"
else:
    raise SystemExit("unknown kind " + kind)
open(out, "wb").write(data)
