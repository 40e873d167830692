#!/usr/bin/env python3
"""The longest functions of a crate, from its sources.

    tools/long_functions.py DIR... [--top N] [--max LINES]

Lists the N longest functions (default 10) under the directories given, with their length in
lines (from the `fn` line to its closing brace). With --max, exits 1 when a function outside
tests is longer than LINES. A function is found by its `fn` line and measured by brace depth,
skipping strings, chars and comments well enough for rustfmt-formatted code. Test modules
(`#[cfg(test)]`) and test files are reported but do not fail --max.
"""
import os
import re
import sys

FN = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+|async\s+|unsafe\s+|extern\s+\"C\"\s+)*fn\s+(\w+)")


def strip(line):
    """The line without string/char literals and line comments."""
    line = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)
    line = re.sub(r"'(?:[^'\\]|\\.)'", "''", line)
    return line.split("//")[0]


def functions(path):
    lines = open(path, encoding="utf-8").read().splitlines()
    in_test = False
    out = []
    i = 0
    while i < len(lines):
        if re.match(r"\s*#\[cfg\((?:all\()?test", lines[i]):
            in_test = True
        m = FN.match(lines[i])
        if not m:
            i += 1
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            code = strip(lines[j])
            if not started and ";" in code and "{" not in code:
                break  # a declaration without a body
            depth += code.count("{") - code.count("}")
            started = started or "{" in code
            if started and depth <= 0:
                break
            j += 1
        if started:
            out.append((j - i + 1, path, i + 1, m.group(1), in_test or "/tests/" in path))
        i += 1  # nested fns are measured on their own too
    return out


def main():
    args = sys.argv[1:]
    top, limit = 10, None
    if "--top" in args:
        k = args.index("--top")
        top = int(args[k + 1])
        del args[k:k + 2]
    if "--max" in args:
        k = args.index("--max")
        limit = int(args[k + 1])
        del args[k:k + 2]
    found = []
    for root in args:
        for dirpath, _, files in os.walk(root):
            for f in files:
                if f.endswith(".rs"):
                    found.extend(functions(os.path.join(dirpath, f)))
    found.sort(reverse=True)
    for n, path, line, name, test in found[:top]:
        print(f"{n:5} {path}:{line} {name}{' (test)' if test else ''}")
    if limit is not None:
        over = [f for f in found if f[0] > limit and not f[4]]
        if over:
            print(f"{len(over)} function(s) over {limit} lines")
            return 1
        print(f"no function over {limit} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
