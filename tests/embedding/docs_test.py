#!/usr/bin/env python3
"""The embedding docs' code compiles: every `cpp` block marked for it in
docs/EMBEDDING.md and README.md is a translation unit that compiles with only
the public include dir (warnings as errors). Every block of EMBEDDING.md must be
marked: `cpp`, or a kind install_test.py runs (so no snippet goes untested).

Usage: docs_test.py SOURCE_ROOT -- CXX...
"""

import concurrent.futures
import os
import sys
import tempfile

from compiler import compile_source
from doc_blocks import blocks

# The kinds install_test.py uses (each exactly once in EMBEDDING.md).
INSTALL_KINDS = {"pkg-config", "pkg-config-static", "cmakelists", "cmake-build",
                 "meson-subproject"}


def main():
    sep = sys.argv.index("--")
    (root,) = sys.argv[1:sep]
    cxx = sys.argv[sep + 1:]
    include_dir = os.path.join(root, "include")
    embedding = os.path.join(root, "docs", "EMBEDDING.md")
    readme = os.path.join(root, "README.md")
    problems = []
    for b in blocks(embedding):
        if b.kind is None:
            problems.append(f"{embedding}:{b.line}: a code block without an "
                            "embedding-doc-test marker (nothing would test it)")
        elif b.kind != "cpp" and b.kind not in INSTALL_KINDS:
            problems.append(f"{embedding}:{b.line}: unknown marker kind {b.kind}")
    snippets = [(path, b) for path in (embedding, readme) for b in blocks(path) if b.kind == "cpp"]

    def build(item, tmp):
        path, b = item
        name = f"{os.path.basename(path)}_{b.line}"
        source = os.path.join(tmp, name + ".cpp")
        with open(source, "w") as fh:
            fh.write(f'#line {b.line + 1} "{path}"\n' + b.text)  # errors name the page
        p = compile_source(cxx, source, include_dir, syntax_only=False,
                           output=os.path.join(tmp, name + ".o"))
        return None if p.returncode == 0 else f"{path}:{b.line}: the snippet does not compile:\n{p.stderr}"

    with tempfile.TemporaryDirectory() as tmp, concurrent.futures.ThreadPoolExecutor(2) as pool:
        problems += [r for r in pool.map(lambda s: build(s, tmp), snippets) if r]
    for p in problems:
        print(p)
    if not problems:
        print(f"ok: {len(snippets)} C++ snippets compile; every block of EMBEDDING.md is tested")
    return 1 if problems or not snippets else 0


if __name__ == "__main__":
    sys.exit(main())
