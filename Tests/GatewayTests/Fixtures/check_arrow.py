"""Reads Arrow IPC streams written by the gateway with pyarrow, a reader we did not write.

  check_arrow.py conformance FILE      every ABI type, nulls included, two batches (5 + 3 rows)
  check_arrow.py query URL_JSON URL_ARROW   the same query as JSON and as Arrow reads back equal
"""
import datetime, decimal, json, sys, urllib.request

import pyarrow as pa


def expected(row, type_):
    if row % 3 == 2:
        return None
    if pa.types.is_null(type_):
        return None
    if pa.types.is_boolean(type_):
        return row % 2 == 0
    if pa.types.is_signed_integer(type_):
        return row if row % 2 == 0 else -row
    if pa.types.is_unsigned_integer(type_):
        return row
    if pa.types.is_floating(type_):
        return row + 0.5
    if pa.types.is_decimal(type_):
        return decimal.Decimal(f"{row}.25")
    if pa.types.is_date(type_):
        return datetime.date(1970, 1, 1) + datetime.timedelta(days=19000 + row)
    if pa.types.is_timestamp(type_):
        return datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(microseconds=1_700_000_000_000_000 + row)
    if pa.types.is_binary(type_):
        return bytes([0, row, 255])
    if pa.types.is_string(type_):
        return f'值 {row} "quoted"'
    raise AssertionError(f"unexpected type {type_}")


def conformance(path):
    with open(path, "rb") as f:
        reader = pa.ipc.open_stream(f)
        batches = list(reader)
    schema = reader.schema
    kinds = [str(f.type) for f in schema]
    assert kinds == ["null", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                     "float", "double", "decimal128(18, 4)", "decimal256(40, 2)", "date32[day]", "date64[ms]",
                     "timestamp[us, tz=UTC]", "binary", "string"], kinds
    assert [b.num_rows for b in batches] == [5, 3], [b.num_rows for b in batches]
    for batch in batches:
        for i, field in enumerate(schema):
            values = batch.column(i).to_pylist()
            want = [expected(r, field.type) for r in range(batch.num_rows)]
            if pa.types.is_timestamp(field.type):
                values = [v.astimezone(datetime.timezone.utc) if v else v for v in values]
            assert values == want, (field.name, values, want)
    print(f"ok: {len(schema)} types, {sum(b.num_rows for b in batches)} rows in {len(batches)} batches")


def normalize(v):
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, bytes):
        return list(v)
    return v


def query(url_json, url_arrow):
    rows = json.load(urllib.request.urlopen(url_json))
    with urllib.request.urlopen(url_arrow) as r:
        assert r.headers["Content-Type"] == "application/vnd.apache.arrow.stream", r.headers["Content-Type"]
        reader = pa.ipc.open_stream(r.read())
        table = reader.read_all()
    batches = len(table.to_batches())
    arrow_rows = [{k: normalize(v) for k, v in row.items()} for row in table.to_pylist()]
    json_rows = [{k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and isinstance(arrow_rows[i][k], float) else v)
                  for k, v in row.items()} for i, row in enumerate(rows)]
    for i, (a, j) in enumerate(zip(arrow_rows, json_rows)):
        for k in j:
            av, jv = a[k], j[k]
            if isinstance(jv, str) and isinstance(av, str) and jv.endswith("Z") and "T" in jv:
                assert datetime.datetime.fromisoformat(jv.replace("Z", "+00:00")) == datetime.datetime.fromisoformat(av.replace("Z", "+00:00")), (i, k, av, jv)
            else:
                assert av == jv, (i, k, av, jv)
    assert len(arrow_rows) == len(rows), (len(arrow_rows), len(rows))
    print(f"ok: {len(rows)} rows, {table.num_columns} columns, {batches} batches, {table.schema}".replace("\n", "; "))


if __name__ == "__main__":
    {"conformance": lambda: conformance(sys.argv[2]), "query": lambda: query(sys.argv[2], sys.argv[3])}[sys.argv[1]]()
