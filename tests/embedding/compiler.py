"""The project's C++ compiler as the embedding tests run it: only the public
include dir, C++20, warnings as errors (what an embedder's strict build sees)."""

import subprocess

FLAGS = ["-std=c++20", "-Wall", "-Wextra", "-Werror"]


def compile_source(cxx, source, include_dir, extra=(), syntax_only=True, output=None):
    """Compiles `source` with nothing but `include_dir` on the include path.
    Returns the CompletedProcess (stderr holds the diagnostics)."""
    cmd = list(cxx) + FLAGS + ["-I" + include_dir] + list(extra)
    cmd += ["-fsyntax-only"] if syntax_only else ["-c", "-o", output]
    return subprocess.run(cmd + [source], capture_output=True, text=True)
