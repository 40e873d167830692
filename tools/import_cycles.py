#!/usr/bin/env python3
"""Import cycles between the modules of a crate, from its sources.

    tools/import_cycles.py crates/diorite/src [--depth N]

Every `crate::a::b` path in a module's file (in `use` lines and in code) is an edge from that
module to `a` (or `a::b` with --depth 2). Child modules count as part of their parent at the
chosen depth. Prints each cycle (strongly connected set of modules) and exits 1 when there is
one; exits 0 and says so when there is none. Comments and doc comments are skipped.
"""
import os
import re
import sys


def module_of(root, path, depth):
    rel = os.path.relpath(path, root)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return "::".join(rel[:depth]) or "crate"


def edges(root, depth):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            me = module_of(root, path, depth)
            deps = out.setdefault(me, set())
            text = open(path, encoding="utf-8").read()
            # Test modules may reach anywhere; they are not part of the layering.
            text = re.split(r"#\[cfg\((?:all\()?test", text)[0]
            for line in text.splitlines():
                code = line.split("//")[0]
                # `use crate::{a, b::c}` groups.
                for group in re.findall(r"crate::\{([^}]*)\}", code):
                    for item in group.split(","):
                        parts = item.strip().split("::")
                        if parts and parts[0]:
                            deps.add("::".join(parts[:depth]))
                for m in re.finditer(r"crate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)", code):
                    parts = m.group(1).split("::")
                    deps.add("::".join(parts[:depth]))
            # `super::x` from a child module names a sibling: the parent at depth 1.
    for me, deps in out.items():
        deps.discard(me)
        for d in list(deps):
            if d not in out and d.split("::")[0] not in {k.split("::")[0] for k in out}:
                deps.discard(d)  # not a module of this crate (a type at the root)
    return out


def sccs(graph):
    index, low, stack, on, result, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                result.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return result


def main():
    args = sys.argv[1:]
    depth = 1
    if "--depth" in args:
        i = args.index("--depth")
        depth = int(args[i + 1])
        del args[i : i + 2]
    root = args[0]
    graph = edges(root, depth)
    cycles = sccs(graph)
    for c in cycles:
        # One path through the cycle, for the reader.
        print("cycle: " + " <-> ".join(c))
        for a in c:
            print(f"  {a} -> " + ", ".join(sorted(d for d in graph[a] if d in c)))
    if not cycles:
        print(f"no import cycle among {len(graph)} modules of {root} (depth {depth})")
    sys.exit(1 if cycles else 0)


if __name__ == "__main__":
    main()
