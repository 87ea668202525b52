#!/usr/bin/env python3
"""Self-test of tools/check-layers: a tiny tree in a temp dir, clean and then
with planted crossings. The checker must pass the clean tree and name exactly
the planted file:line pairs.

Usage: check_layers_test.py PATH/TO/check-layers
"""

import os
import subprocess
import sys
import tempfile

# Files of a clean tree: every include here is allowed.
CLEAN = {
    "include/nullspace/engine.hpp": ["#pragma once", "#include <string>",
                                     '#include "nullspace/error.hpp"'],
    "include/nullspace/error.hpp": ["#pragma once", "#include <variant>"],
    "storage/common/json_writer.hpp": ["#pragma once", '#include "nullspace/error.hpp"'],
    "storage/store.cpp": ['#include "storage/store.hpp"', "#include <rocksdb/db.h>",
                          '#include "storage/common/json_writer.hpp"'],
    "storage/store.hpp": ["#pragma once"],
    "runtime/request/build_request.cpp": ['#include "runtime/request/build_request.hpp"',
                                          '#include "storage/common/json_writer.hpp"'],
    "runtime/request/build_request.hpp": ["#pragma once", "#include <nullspace/error.hpp>"],
    # transitively allowed: plan -> dockerfile -> request -> storage/common
    "runtime/plan/plan.cpp": ['#include "runtime/dockerfile/dockerfile.hpp"',
                              '#include "storage/common/json_writer.hpp"'],
    "runtime/dockerfile/dockerfile.hpp": ["#pragma once", '#include "build_request_fwd.hpp"'],
    "runtime/dockerfile/build_request_fwd.hpp": ["#pragma once"],
    "runtime/process/process_runner.cpp": ["#include <uv.h>", "#include <sys/wait.h>"],
    "actors/messages.hpp": ["#pragma once", "#include <caf/all.hpp>",
                            '#include "runtime/plan/plan.hpp"', '#include "storage/store.hpp"'],
    "actors/engine/engine.cpp": ['#include "actors/messages.hpp"', "#include <caf/all.hpp>"],
    "api/router.cpp": ['#include "nullspace/engine.hpp"', "#include <uv.h>",
                       '#include "storage/common/json_writer.hpp"'],
    "tools/nullspaced/main.cpp": ['#include "api/router.hpp"', '#include "nullspace/engine.hpp"'],
    "tools/embed_example.cpp": ["#include <cstdio>", "#include <nullspace/engine.hpp>"],
    "tests/engine_test.cpp": ['#include "actors/messages.hpp"', "#include <caf/all.hpp>",
                              '#include "api/router.hpp"'],
    "tools/bench/bench.cpp": ['#include "actors/messages.hpp"'],
}

# Lines added at the end of a file: (file, include line, expected report).
PLANTED = [
    ("runtime/request/build_request.cpp", '#include "actors/messages.hpp"',
     '"actors/messages.hpp" crosses runtime/request -> actors'),
    ("runtime/process/process_runner.cpp", "#include <caf/all.hpp>",
     "<caf/all.hpp> crosses runtime/process -> caf"),
    ("api/router.cpp", "#include <caf/actor.hpp>", "<caf/actor.hpp> crosses api -> caf"),
    ("api/router.cpp", '#include "storage/store.hpp"', '"storage/store.hpp" crosses api -> storage'),
    ("include/nullspace/error.hpp", "#include <sys/types.h>",
     "<sys/types.h> crosses include/nullspace -> non-std"),
    ("include/nullspace/error.hpp", '#include "storage/common/json_writer.hpp"',
     '"storage/common/json_writer.hpp" crosses include/nullspace -> storage/common'),
    ("runtime/dockerfile/dockerfile.hpp", "#include <runtime/plan/plan.hpp>",
     "<runtime/plan/plan.hpp> crosses runtime/dockerfile -> runtime/plan"),
    ("tools/embed_example.cpp", '#include "storage/common/json_writer.hpp"',
     '"storage/common/json_writer.hpp" crosses tools/embed_example.cpp -> storage/common'),
]


def write_tree(root, planted):
    files = {path: list(lines) for path, lines in CLEAN.items()}
    expected = []
    for path, line, report in planted:
        files[path].append(line)
        expected.append(f"{path}:{len(files[path])}: {report}")
    for path, lines in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return expected


def run(checker, root):
    p = subprocess.run([sys.executable, checker, "--root", root], capture_output=True, text=True)
    return p.returncode, p.stdout.splitlines(), p.stderr


def main():
    checker = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        clean = os.path.join(tmp, "clean")
        write_tree(clean, [])
        rc, out, err = run(checker, clean)
        if rc != 0 or out:
            failures.append(f"clean tree: exit {rc}, expected 0 and no output:\n"
                            + "\n".join(out) + err)

        dirty = os.path.join(tmp, "dirty")
        expected = write_tree(dirty, PLANTED)
        rc, out, err = run(checker, dirty)
        if rc != 1:
            failures.append(f"planted tree: exit {rc}, expected 1\n{err}")
        if sorted(out) != sorted(expected):
            missing = sorted(set(expected) - set(out))
            extra = sorted(set(out) - set(expected))
            failures.append("planted tree: reports differ\n  missing: " + "\n    ".join(missing)
                            + "\n  unexpected: " + "\n    ".join(extra))

        unknown = os.path.join(tmp, "unknown")
        write_tree(unknown, [])
        os.makedirs(os.path.join(unknown, "runtime/newwing"))
        with open(os.path.join(unknown, "runtime/newwing/x.cpp"), "w") as fh:
            fh.write("#include <string>\n")
        rc, out, err = run(checker, unknown)
        if rc != 2 or not any(line.startswith("runtime/newwing/x.cpp:") for line in out):
            failures.append(f"a folder outside the table: exit {rc} (expected 2), output {out}")

    for f in failures:
        print("FAIL:", f)
    if not failures:
        print(f"ok: clean tree passes; {len(expected)} planted crossings named exactly; "
              "an unknown folder fails")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
