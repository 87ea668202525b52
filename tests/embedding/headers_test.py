#!/usr/bin/env python3
"""The public headers stand alone: each include/nullspace/*.hpp compiles as the
only include of a translation unit with nothing but -std=c++20 and the public
include dir (plus -Wall -Wextra -Werror), and includes nothing but other public
headers and the C++ standard library.

Usage: headers_test.py INCLUDE_DIR CHECK_LAYERS -- CXX...
"""

import concurrent.futures
import os
import sys
import tempfile

from compiler import compile_source
from public_includes import include_problems, public_headers


def compile_alone(cxx, include_dir, header, tmp):
    source = os.path.join(tmp, header.replace(".hpp", "_alone.cpp"))
    with open(source, "w") as fh:
        fh.write(f'#include "nullspace/{header}"\n')
    p = compile_source(cxx, source, include_dir)
    return None if p.returncode == 0 else f"nullspace/{header} does not compile alone:\n{p.stderr}"


def main():
    sep = sys.argv.index("--")
    include_dir, check_layers = sys.argv[1:sep]
    cxx = sys.argv[sep + 1:]
    headers = public_headers(include_dir)
    problems = include_problems(include_dir, check_layers)
    with tempfile.TemporaryDirectory() as tmp, concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = pool.map(lambda h: compile_alone(cxx, include_dir, h, tmp), headers)
        problems += [r for r in results if r]
    for p in problems:
        print(p)
    if not headers:
        print(f"no headers in {include_dir}/nullspace")
    if not problems and headers:
        print(f"ok: {len(headers)} public headers compile alone and include only public and "
              "standard headers: " + " ".join(headers))
    return 1 if problems or not headers else 0


if __name__ == "__main__":
    sys.exit(main())
