"""Makes .xlsx files for the reader's tests: a good one (openpyxl), and hostile ones.

  make_xlsx.py KIND OUT     KIND: good | bomb | liar | strings | truncated | doctype | notzip
                                  | storedliar | dates | baddate-nan | baddate-inf | comments | longref
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


def replace(part, data, method=zipfile.ZIP_DEFLATED):
    src = zipfile.ZipFile(io.BytesIO(good_bytes()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            if item.filename == part:
                z.writestr(item.filename, data, compress_type=method)
            else:
                z.writestr(item.filename, src.read(item.filename))
    return buf.getvalue()


def sheet(rows):
    """A sheet of hand-written rows; style 1 is openpyxl's date format in good_bytes()."""
    return ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            + "".join(f'<row r="{i + 1}">{r}</row>' for i, r in enumerate(rows)) + "</sheetData></worksheet>").encode()


def patch_directory_size(data, name, size):
    """Makes the central directory claim `size` uncompressed bytes for `name`."""
    data = bytearray(data)
    at = data.rfind(b"PK\x01\x02", 0, data.rfind(name.encode()))
    data[at + 24:at + 28] = size.to_bytes(4, "little")
    return bytes(data)


if kind == "good":
    data = good_bytes()
elif kind == "bomb":
    # 64 MB of spaces inside a row: deflates to about 64 KB.
    sheet = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">' + b" " * (64 << 20) + b"</row></sheetData></worksheet>"
    data = replace("xl/worksheets/sheet1.xml", sheet)
elif kind == "liar":
    # A sheet that declares 100 bytes but inflates to far more.
    data = patch_directory_size(replace("xl/worksheets/sheet1.xml", b"<worksheet><sheetData>" + b"<row/>" * 100000 + b"</sheetData></worksheet>"),
                                "xl/worksheets/sheet1.xml", 100)
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
elif kind == "storedliar":
    # A STORED sheet whose directory says it is ten times larger than its bytes.
    body = sheet(['<c r="A1" t="inlineStr"><is><t>a</t></is></c>', '<c r="A2"><v>1</v></c>'])
    data = patch_directory_size(replace("xl/worksheets/sheet1.xml", body, zipfile.ZIP_STORED),
                                "xl/worksheets/sheet1.xml", len(body) * 10)
elif kind == "dates":
    # Date-styled numbers outside Excel's calendar are plain numbers.
    head = '<c r="A1" t="inlineStr"><is><t>far</t></is></c><c r="B1" t="inlineStr"><is><t>label</t></is></c>'
    data = replace("xl/worksheets/sheet1.xml", sheet([
        head,
        '<c r="A2" s="1"><v>200000000.5</v></c><c r="B2" t="inlineStr"><is><t>x</t></is></c>',
        '<c r="A3" s="1"><v>-3.5</v></c><c r="B3" s="1"><v>1e12</v></c>',
    ]))
elif kind in ("baddate-nan", "baddate-inf"):
    value = kind.split("-")[1]
    data = replace("xl/worksheets/sheet1.xml", sheet([
        '<c r="A1" t="inlineStr"><is><t>when</t></is></c>', f'<c r="A2" s="1"><v>{value}</v></c>']))
elif kind == "comments":
    # A million comments before the rows, stored (not deflated: no ratio to refuse).
    body = (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">' + b"<!---->" * 1_000_000
            + b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>n</t></is></c></row>'
            + b'<row r="2"><c r="A2"><v>7</v></c></row></sheetData></worksheet>')
    data = replace("xl/worksheets/sheet1.xml", body, zipfile.ZIP_STORED)
elif kind == "longref":
    # A cell reference of 20 letters: the column number overflowed before it was bounded.
    data = replace("xl/worksheets/sheet1.xml", sheet([
        '<c r="A1" t="inlineStr"><is><t>a</t></is></c>',
        '<c r="ZZZZZZZZZZZZZZZZZZZZ2" t="inlineStr"><is><t>x</t></is></c>']))
elif kind == "notzip":
    data = b"name,age\nthis is a CSV pretending to be a workbook\n"
else:
    raise SystemExit("unknown kind " + kind)
open(out, "wb").write(data)
