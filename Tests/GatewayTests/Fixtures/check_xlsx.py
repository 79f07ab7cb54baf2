"""Reads workbooks written by the gateway with openpyxl (and LibreOffice when asked).

  check_xlsx.py conformance FILE              every ABI type, nulls included (8 rows: 5 + 3)
  check_xlsx.py rows FILE...                  prints the data rows of each file as JSON lines
  check_xlsx.py soffice FILE                  converts to CSV with LibreOffice, prints the CSV
"""
import datetime, decimal, json, os, subprocess, sys, tempfile

import openpyxl


def expected(row, kind):
    if row % 3 == 2 or kind == "n":
        return None
    if kind == "b":
        return row % 2 == 0
    if kind in ("c", "s", "i", "l"):
        return row if row % 2 == 0 else -row
    if kind in ("C", "S", "I", "L"):
        return row
    if kind in ("f", "g"):
        return row + 0.5
    if kind.startswith("d"):
        return float(f"{row}.25")
    if kind == "tdD":
        return datetime.datetime(1970, 1, 1) + datetime.timedelta(days=19000 + row)
    if kind == "tdm":
        return datetime.datetime(1970, 1, 1) + datetime.timedelta(days=19000 + row)
    if kind.startswith("ts"):
        return datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=1_700_000_000_000_000 + row)
    if kind == "z":
        return bytes([0, row, 255]).hex()
    if kind == "u":
        return f'值 {row} "quoted"'
    raise AssertionError(kind)


def conformance(path, kinds):
    ws = openpyxl.load_workbook(path).active
    rows = list(ws.iter_rows(values_only=True))
    header, data = rows[0], rows[1:]
    assert len(header) == len(kinds), header
    assert ws["A1"].font.b, "the header is not bold"
    assert len(data) == 8, len(data)
    for i, values in enumerate(data):
        r = i if i < 5 else i - 5
        for value, kind in zip(values, kinds):
            want = expected(r, kind)
            if isinstance(want, datetime.datetime) and isinstance(value, datetime.datetime):
                assert abs((value - want).total_seconds()) < 0.002, (kind, r, value, want)
            elif isinstance(want, float) and isinstance(value, (int, float)):
                assert abs(value - want) < 1e-9, (kind, r, value, want)
            else:
                assert value == want, (kind, r, value, want)
    print(f"ok: {len(kinds)} columns, {len(data)} rows")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "conformance":
        conformance(sys.argv[2], sys.argv[3].split(";"))
    elif mode == "rows":
        for path in sys.argv[2:]:
            ws = openpyxl.load_workbook(path, read_only=True).active
            for values in ws.iter_rows(min_row=2, values_only=True):
                print(json.dumps([v.isoformat() if hasattr(v, "isoformat") else v for v in values], ensure_ascii=False))
    elif mode == "soffice":
        with tempfile.TemporaryDirectory() as out:
            result = subprocess.run(["soffice", "--headless", "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir", out, sys.argv[2]],
                                    capture_output=True, text=True, timeout=300)
            produced = [f for f in os.listdir(out) if f.endswith(".csv")]
            assert result.returncode == 0 and produced, (result.returncode, result.stdout, result.stderr)
            assert "error" not in (result.stderr or "").lower(), result.stderr
            print(open(os.path.join(out, produced[0]), encoding="utf-8").read())
