#!/usr/bin/env python3
"""check-abi.py: proves that the plugin ABI only ever grows at the end of its tables.

    scripts/check-abi.py [HEADER [HISTORY_DIR]]
      (defaults: Sources/PluginABI/include/gateway_plugin.h, sdk/abi-history)

HISTORY_DIR holds the header of every released version, frozen: gateway_plugin-1.0.h,
gateway_plugin-1.1.h, ... Each struct is read as its list of member declarations (comments and
spacing aside). The checks:
  1. every struct of each released version is a prefix of the same struct in the next version
     (members are only ever added at the end; none is removed, renamed, retyped or moved);
  2. the header's GW_ABI_MAJOR.GW_ABI_MINOR is the newest released version, and its structs
     are exactly that version's: a table that grows needs a new minor and a new frozen copy
     (comments may change freely);
  3. the major version is the same throughout.
Like duckdb's scripts/check_extension_abi.py; it replaces a hash of the whole header, which
failed on every comment. Exits 1 naming the first difference, 0 when the ABI holds.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def version(text, path):
    major = re.search(r"^#define GW_ABI_MAJOR (\d+)", text, re.M)
    minor = re.search(r"^#define GW_ABI_MINOR (\d+)", text, re.M)
    if not major or not minor:
        sys.exit(f"{path}: no GW_ABI_MAJOR / GW_ABI_MINOR")
    return int(major.group(1)), int(minor.group(1))


def structs(text):
    """{name: [member declaration, ...]} for every `struct X { ... }` in the header."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"^\s*#.*$", " ", text, flags=re.M)
    found = {}
    for match in re.finditer(r"struct\s+(\w+)\s*\{", text):
        depth, i = 1, match.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = text[match.end():i - 1]
        members = [" ".join(m.split()) for m in body.split(";")]
        found[match.group(1)] = [m for m in members if m]
    return found


def main():
    header = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "Sources/PluginABI/include/gateway_plugin.h")
    history = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "sdk/abi-history")
    released = []
    for name in os.listdir(history):
        m = re.fullmatch(r"gateway_plugin-(\d+)\.(\d+)\.h", name)
        if m:
            released.append(((int(m.group(1)), int(m.group(2))), os.path.join(history, name)))
    released.sort()
    if not released:
        sys.exit(f"{history}: no frozen headers (gateway_plugin-MAJOR.MINOR.h)")
    problems = []
    previous = None
    for (ver, path) in released:
        text = open(path, encoding="utf-8").read()
        if version(text, path) != ver:
            problems.append(f"{path} says it is {version(text, path)}, its name says {ver}")
        tables = structs(text)
        if previous:
            (old_ver, old_tables) = previous
            if old_ver[0] != ver[0]:
                problems.append(f"{ver[0]}.x follows {old_ver[0]}.x: a new major is a new history")
            for name, members in old_tables.items():
                now = tables.get(name)
                if now is None:
                    problems.append(f"{ver[0]}.{ver[1]} removed struct {name}")
                elif now[:len(members)] != members:
                    at = next(i for i, (a, b) in enumerate(zip(members + [None] * len(now), now + [None] * len(members))) if a != b)
                    problems.append(f"struct {name}: {old_ver[0]}.{old_ver[1]}'s member {at} `{members[at] if at < len(members) else '(none)'}` "
                                    f"became `{now[at] if at < len(now) else '(none)'}` in {ver[0]}.{ver[1]} (tables only grow at their end)")
        previous = (ver, tables)
    text = open(header, encoding="utf-8").read()
    current = version(text, header)
    newest, newest_path = released[-1]
    if current != newest:
        problems.append(f"{header} is {current[0]}.{current[1]} but the newest frozen header is {newest[0]}.{newest[1]}: "
                        f"freeze it as {history}/gateway_plugin-{current[0]}.{current[1]}.h")
    else:
        frozen = structs(open(newest_path, encoding="utf-8").read())
        for name, members in structs(text).items():
            if frozen.get(name) != members:
                problems.append(f"struct {name} differs from the frozen {current[0]}.{current[1]} ({newest_path}): "
                                f"a table that changes needs GW_ABI_MINOR {current[1] + 1} and a frozen copy of it")
        for name in frozen:
            if name not in structs(text):
                problems.append(f"struct {name} of {current[0]}.{current[1]} is gone from {header}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"ABI {current[0]}.{current[1]}: {len(released)} released versions, every table a prefix of the next")


if __name__ == "__main__":
    main()
