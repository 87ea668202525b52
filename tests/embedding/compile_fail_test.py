#!/usr/bin/env python3
"""Compile-fail tests of the public API's types: each case in compile_fail/
must compile as is (the positive control, so the test cannot pass vacuously)
and must NOT compile with -DNULLSPACE_COMPILE_FAIL, with an error on every line
ending in `// expect-error` and on no other line of the case.

Usage: compile_fail_test.py INCLUDE_DIR CASES_DIR -- CXX...
"""

import os
import re
import sys

from compiler import compile_source

MARK = "expect-error"
MARK_RE = re.compile(r"//\s*" + MARK + r"\s*$")


def error_lines(stderr, source):
    """Lines of `source` the compiler reported an error on."""
    name = re.escape(os.path.basename(source))
    pattern = re.compile(r"^(?:.*/)?" + name + r":(\d+):(?:\d+:)? (?:fatal )?error:", re.M)
    return {int(m.group(1)) for m in pattern.finditer(stderr)}


def check_case(cxx, include_dir, source):
    with open(source) as fh:
        marked = {i for i, line in enumerate(fh, 1) if MARK_RE.search(line)}
    if not marked:
        return [f"{source}: no line is marked {MARK}"]
    problems = []
    ok = compile_source(cxx, source, include_dir)
    if ok.returncode != 0:
        problems.append(f"{source}: the positive control does not compile:\n{ok.stderr}")
    bad = compile_source(cxx, source, include_dir, ["-DNULLSPACE_COMPILE_FAIL"])
    if bad.returncode == 0:
        problems.append(f"{source}: compiles with NULLSPACE_COMPILE_FAIL; it must not")
    else:
        got = error_lines(bad.stderr, source)
        if got != marked:
            problems.append(f"{source}: errors on lines {sorted(got)}, expected exactly "
                            f"{sorted(marked)} (the {MARK} lines):\n{bad.stderr}")
    return problems


def main():
    sep = sys.argv.index("--")
    include_dir, cases_dir = sys.argv[1:sep]
    cxx = sys.argv[sep + 1:]
    cases = sorted(os.path.join(cases_dir, f) for f in os.listdir(cases_dir) if f.endswith(".cpp"))
    problems = []
    for case in cases:
        found = check_case(cxx, include_dir, case)
        problems += found
        print(("FAIL " if found else "ok   ") + os.path.basename(case))
    for p in problems:
        print(p)
    return 1 if problems or not cases else 0


if __name__ == "__main__":
    sys.exit(main())
