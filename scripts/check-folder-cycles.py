#!/usr/bin/env python3
"""Folder dependencies of the Host module, and the cycles among them.

Swift has no imports inside a module, so a folder "imports" another when its code names a
type declared there. This reads every Swift file of Sources/Host, finds the top-level types each
folder declares (class, struct, enum, protocol, actor, typealias; nested ones travel with
their outer type's name), and the
type names each file mentions (outside comments and string literals). Sources/Host/*.swift
(the composition root, `Gateway`) is left out: it builds everything and is named by the
services it hands itself to, as `main` would be.

  scripts/check-folder-cycles.py          prints the edges and fails on a cycle
  scripts/check-folder-cycles.py --why A B   the files of A that name types of B
"""
import os, re, sys
from collections import defaultdict

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources", "Host")
DECL = re.compile(r"^(?:(?:public|internal|private|fileprivate|final|indirect|@\w+(?:\([^)]*\))?)\s+)*(?:class|struct|enum|protocol|actor|typealias)\s+([A-Z][A-Za-z0-9_]*)", re.M)
WORD = re.compile(r"\b[A-Z][A-Za-z0-9_]*\b")


def strip(text):
    """Removes comments and string literals (multi-line ones too)."""
    text = re.sub(r'"""[\s\S]*?"""', '""', text)
    text = re.sub(r"/\*[\s\S]*?\*/", "", text)
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)


def folder_of(path):
    """The file's folder (a sub-folder is a folder of its own: Pipeline/Sinks)."""
    rel = os.path.dirname(os.path.relpath(path, ROOT))
    return rel or None


def main():
    files = {}
    for base, _, names in os.walk(ROOT):
        for name in names:
            if name.endswith(".swift"):
                path = os.path.join(base, name)
                folder = folder_of(path)
                if folder:
                    files[path] = (folder, strip(open(path, encoding="utf-8").read()))
    owner = {}
    for path, (folder, text) in files.items():
        for name in DECL.findall(text):
            owner.setdefault(name, folder)
    edges = defaultdict(lambda: defaultdict(set))
    for path, (folder, text) in files.items():
        for word in set(WORD.findall(text)):
            target = owner.get(word)
            if target and target != folder:
                edges[folder][target].add((os.path.relpath(path, ROOT), word))
    if len(sys.argv) == 4 and sys.argv[1] == "--why":
        for file, word in sorted(edges[sys.argv[2]][sys.argv[3]]):
            print(f"{file}: {word}")
        return 0
    folders = sorted(set(f for f, _ in files.values()))
    for f in folders:
        print(f"{f} -> {', '.join(sorted(edges[f])) or '(nothing)'}")
    cycles = find_cycles(folders, {f: set(edges[f]) for f in folders})
    if cycles:
        print("\nfolder cycles (break each; --why A B shows what A names of B):")
        for c in cycles:
            print("  " + " -> ".join(c + [c[0]]))
        return 1
    print("\nno folder cycles")
    return 0


def find_cycles(nodes, graph):
    """The strongly connected components with more than one folder (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop(); on.discard(w); component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in nodes:
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    sys.exit(main())
