"""XLSX: 1,000,000 rows x 10 columns (half numbers, half short strings) written by the xlsx
exporter plugin, beside libxlsxwriter (C, constant memory) and Python XlsxWriter
(constant_memory), in one run. Prints cells/s, peak memory, file sizes, and how the time
splits between XML generation (level 0: no compression work) and deflate."""
import os, resource, subprocess, sys, time

from common import scratch_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
CELLS = ROWS * 10
work = scratch_dir("bench-xlsx-")


def timed(cmd):
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True, check=True)
    peak_kb = int(proc.stderr.strip().splitlines()[-1])
    return time.perf_counter() - start, peak_kb, proc.stdout


def ours(level):
    seconds, peak_kb, out = timed([os.path.join(ROOT, ".build", "release", "xlsx-bench"), str(ROWS), str(level), os.path.join(work, f"ours{level}")])
    fields = dict(kv.split("=") for kv in out.split())
    return float(fields["seconds"]), int(fields["peak_kb"]), int(fields["bytes"])


def peer_c():
    exe = os.path.join(work, "xlsx_peer")
    subprocess.run(["cc", "-O2", "-o", exe, os.path.join(ROOT, "bench", "xlsx_peer.c"), "-lxlsxwriter"], check=True)
    path = os.path.join(work, "peer.xlsx")
    seconds, peak_kb, _ = timed([exe, str(ROWS), path])
    return seconds, peak_kb, os.path.getsize(path)


def peer_python():
    path = os.path.join(work, "py.xlsx")
    code = f"""
import xlsxwriter
wb = xlsxwriter.Workbook({path!r}, {{'constant_memory': True}})
ws = wb.add_worksheet()
for c in range(10): ws.write_string(0, c, f'col{{c}}')
for r in range({ROWS}):
    for c in range(10):
        if c % 4 == 0: ws.write_number(r + 1, c, r * 7 + c)
        elif c % 4 == 2: ws.write_number(r + 1, c, r * 1.25 + c)
        else: ws.write_string(r + 1, c, f's{{r % 1000}}-{{c}}')
wb.close()
"""
    seconds, peak_kb, _ = timed([sys.executable, "-c", code])
    return seconds, peak_kb, os.path.getsize(path)


c_s, c_kb, c_size = peer_c()
print(f"xlsx {ROWS} rows x 10 columns ({CELLS:,} cells)")
print(f"  libxlsxwriter (C, constant memory) {c_s:6.2f} s  {CELLS / c_s / 1e6:5.2f} M cells/s  peak {c_kb / 1024:5.1f} MB  {c_size / 1e6:6.1f} MB")
for level in (1, 6, 0):
    s, kb, size = ours(level)
    label = {0: "level 0 (XML only, stored)", 1: "level 1 (default)", 6: "level 6"}[level]
    print(f"  xlsx plugin, zlib {label:26} {s:6.2f} s  {CELLS / s / 1e6:5.2f} M cells/s  peak {kb / 1024:5.1f} MB  {size / 1e6:6.1f} MB"
          f"  {c_s / s:.2f}x libxlsxwriter (target >= 2x, peak < 64 MB)")
p_s, p_kb, p_size = peer_python()
print(f"  Python XlsxWriter (constant_memory) {p_s:6.2f} s  {CELLS / p_s / 1e6:5.2f} M cells/s  peak {p_kb / 1024:5.1f} MB  {p_size / 1e6:6.1f} MB")
