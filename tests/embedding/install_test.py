#!/usr/bin/env python3
"""libnullspace installed and used the three ways docs/EMBEDDING.md shows, with
the page's own commands: `meson install --destdir` into a temp dir, then
tools/embed_example.cpp built outside the source tree

  - with pkg-config (PKG_CONFIG_SYSROOT_DIR into the destdir), shared and run;
  - with pkg-config --static against libnullspace.a, and run without the
    shared library anywhere the loader looks;
  - by a CMake project (find_package(nullspace), nullspace::nullspace), run;
  - by a meson project with subprojects/nullspace -> this tree, CONFIGURED ONLY:
    compiling the engine a second time would take minutes, too long for CI, so
    the test checks the configured link and include lines instead.

Each run of the example is a real build on the host executor, in a temp data
dir, from a temp working directory. The installed headers must include only
installed public headers and the standard library. Nothing is written outside
temp dirs (meson itself logs the install in the build dir's meson-logs/).

Usage: install_test.py --source-root DIR --build-dir DIR --prefix P --libdir L
                       --includedir I --meson MESON -- CXX...
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from doc_blocks import block_of
from public_includes import include_problems

# What the environment must not lend a step: each sets what it needs.
SCRUBBED = ("PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR", "PKG_CONFIG_SYSROOT_DIR", "CMAKE_PREFIX_PATH",
            "LD_LIBRARY_PATH", "CXX", "CXXFLAGS", "LDFLAGS", "CMAKE_GENERATOR",
            "CMAKE_CXX_COMPILER_LAUNCHER")


class Failure(Exception):
    pass


def run(cmd, cwd, env, what):
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise Failure(f"{what}: exit {p.returncode}\n$ {' '.join(cmd)}\n{p.stdout}{p.stderr}")
    return p


def run_doc_block(text, cwd, env, what):
    return run(["bash", "-euo", "pipefail", "-c", text], cwd, env, what)


class Suite:
    def __init__(self, args, tmp):
        self.a = args
        self.tmp = tmp
        self.dest = os.path.join(tmp, "dest")
        # meson's prefix is absolute; libdir and includedir usually relative to it.
        self.prefix = self.dest + args.prefix
        self.libdir = self.dest + os.path.join(args.prefix, args.libdir)
        self.includedir = self.dest + os.path.join(args.prefix, args.includedir)
        self.doc = os.path.join(args.source_root, "docs", "EMBEDDING.md")
        self.example = os.path.join(args.source_root, "tools", "embed_example.cpp")
        self.base_env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        self.timings = []

    def step(self, name, fn):
        t0 = time.monotonic()
        fn()
        self.timings.append(f"{name} {time.monotonic() - t0:.1f}s")

    def workdir(self, name):
        """A fresh dir outside the source tree holding a copy of the example."""
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        shutil.copy(self.example, d)
        return d

    def run_example(self, binary, name, env, build_id=None):
        """Runs the example from a temp cwd with a temp data dir; returns the build id."""
        cwd = os.path.join(self.tmp, "cwd-" + name)
        os.makedirs(cwd, exist_ok=True)
        data = os.path.join(self.tmp, "data-" + name)
        p = run([binary, data] + ([build_id] if build_id else []), cwd, env, f"{name}: the example")
        lines = p.stdout.splitlines()
        if "hello from a build step" not in p.stdout or not lines or not lines[-1].endswith(
                " ready"):
            raise Failure(f"{name}: the example's build did not run its step and end ready:\n"
                          + p.stdout)
        return lines[-1].split()[0]

    # ---- the steps ----

    def install(self):
        run([self.a.meson, "install", "-C", self.a.build_dir, "--no-rebuild", "--destdir",
             self.dest], self.tmp, self.base_env, "meson install")
        source_headers = sorted(os.listdir(os.path.join(self.a.source_root, "include", "nullspace")))
        installed = sorted(os.listdir(os.path.join(self.includedir, "nullspace")))
        if installed != source_headers:
            raise Failure(f"installed headers {installed} differ from include/nullspace "
                          f"{source_headers}")
        for f in ("libnullspace.a", "libnullspace.so", "pkgconfig/nullspace.pc",
                  "cmake/nullspace/nullspaceConfig.cmake",
                  "cmake/nullspace/nullspaceConfigVersion.cmake"):
            if not os.path.exists(os.path.join(self.libdir, f)):
                raise Failure(f"not installed: {os.path.join(self.libdir, f)}")

    def installed_headers(self):
        problems = include_problems(self.includedir, self.a.check_layers)
        if problems:
            raise Failure("installed headers include non-public paths:\n" + "\n".join(problems))

    def pkg_env(self):
        env = dict(self.base_env)
        env["PKG_CONFIG_PATH"] = os.path.join(self.libdir, "pkgconfig")
        env["PKG_CONFIG_SYSROOT_DIR"] = self.dest
        env["CXX"] = " ".join(self.a.cxx)
        return env

    def pkg_config_shared(self):
        env = self.pkg_env()
        flags = run(["pkg-config", "--cflags", "--libs", "nullspace"], self.tmp, env,
                    "pkg-config").stdout
        for tree in (self.a.source_root, self.a.build_dir):
            if os.path.realpath(tree) in flags or tree in flags:
                raise Failure(f"pkg-config names the source or build tree: {flags}")
        work = self.workdir("pkg-config")
        run_doc_block(block_of(self.doc, "pkg-config"), work, env, "the pkg-config block")
        run_env = dict(self.base_env, LD_LIBRARY_PATH=self.libdir)
        binary = os.path.join(work, "embed-example")
        build_id = self.run_example(binary, "pkg-config", run_env)
        # Again on the same data dir, naming the build: parse_build_id, then a
        # follow of a finished build (backlog and end at once).
        if self.run_example(binary, "pkg-config", run_env, build_id) != build_id:
            raise Failure("the example did not follow the build it was given")
        bad = subprocess.run([binary, os.path.join(self.tmp, "data-pkg-config"), "tb_"],
                             cwd=self.tmp, env=run_env, capture_output=True, text=True)
        if bad.returncode != 1 or "[invalid_argument, HTTP 400]" not in bad.stderr:
            raise Failure(f"a malformed build id: exit {bad.returncode}, {bad.stderr}")

    def pkg_config_static(self):
        env = self.pkg_env()
        libs = run(["pkg-config", "--static", "--libs", "nullspace"], self.tmp, env,
                   "pkg-config --static").stdout.split()
        for needed in ("-lcaf_core", "-lcaf_io"):
            if needed not in libs:
                raise Failure(f"pkg-config --static --libs lacks {needed}: {libs}")
        work = self.workdir("static")
        run_doc_block(block_of(self.doc, "pkg-config-static"), work, env,
                      "the pkg-config --static block")
        binary = os.path.join(work, "embed-example-static")
        dyn = run(["readelf", "-d", binary], work, self.base_env, "readelf").stdout
        if "libnullspace" in dyn:
            raise Failure("the static example still needs libnullspace.so:\n" + dyn)
        self.run_example(binary, "static", self.base_env)  # no LD_LIBRARY_PATH

    def cmake(self):
        work = self.workdir("cmake")
        with open(os.path.join(work, "CMakeLists.txt"), "w") as fh:
            fh.write(block_of(self.doc, "cmakelists"))
        env = dict(self.base_env, CMAKE_PREFIX_PATH=self.prefix, CXX=self.a.cxx[-1])
        if len(self.a.cxx) > 1:  # ccache
            env["CMAKE_CXX_COMPILER_LAUNCHER"] = ";".join(self.a.cxx[:-1])
        if shutil.which("ninja"):
            env["CMAKE_GENERATOR"] = "Ninja"
        run_doc_block(block_of(self.doc, "cmake-build"), work, env, "the CMake block")
        # CMake links the imported library by path and records its dir as the
        # build tree's RUNPATH: no LD_LIBRARY_PATH needed.
        self.run_example(os.path.join(work, "build", "embed-example"), "cmake", self.base_env)

    def meson_subproject(self):
        outer = self.workdir("meson")
        with open(os.path.join(outer, "meson.build"), "w") as fh:
            fh.write(block_of(self.doc, "meson-subproject"))
        os.makedirs(os.path.join(outer, "subprojects"))
        os.symlink(os.path.abspath(self.a.source_root), os.path.join(outer, "subprojects", "nullspace"))
        env = dict(self.base_env, CXX=" ".join(self.a.cxx))
        # The subproject even when a nullspace.pc is installed on this machine.
        run([self.a.meson, "setup", "--force-fallback-for=nullspace", "build"], outer, env,
            "meson setup of a project using the subproject")
        with open(os.path.join(outer, "build", "build.ninja")) as fh:
            ninja = fh.read()
        link = re.search(r"^build embed-example: .*\n LINK_ARGS = (.*)$", ninja, re.M)
        if not link or not re.search(r"subprojects/nullspace/\S*libnullspace\.(so|a)",
                                     link.group(1)):
            raise Failure("the outer program does not link the subproject's libnullspace:\n"
                          + (link.group(0) if link else "no link statement for embed-example"))
        compile_args = re.search(r"^build embed-example\.p/embed_example\.cpp\.o: .*\n(?: \S+ = .*\n)*?"
                                 r" ARGS = (.*)$", ninja, re.M)
        if not compile_args:
            raise Failure("no compile statement for embed_example.cpp")
        includes = [a for a in compile_args.group(1).split()
                    if a.startswith("-I") and "subprojects/nullspace" in a]
        if not includes or any(not a.endswith("subprojects/nullspace/include") for a in includes):
            raise Failure(f"the subproject lends more than include/: {includes}")


def main():
    parser = argparse.ArgumentParser()
    for opt in ("--source-root", "--build-dir", "--prefix", "--libdir", "--includedir",
                "--meson", "--check-layers"):
        parser.add_argument(opt, required=True)
    sep = sys.argv.index("--")
    args = parser.parse_args(sys.argv[1:sep])
    args.cxx = sys.argv[sep + 1:]
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nullspace-install-") as tmp:
        s = Suite(args, tmp)
        try:
            s.step("install", s.install)
            s.step("installed-headers", s.installed_headers)
            s.step("pkg-config", s.pkg_config_shared)
            s.step("pkg-config-static", s.pkg_config_static)
            s.step("cmake", s.cmake)
            s.step("meson-subproject", s.meson_subproject)
        except Failure as f:
            print("FAIL:", f)
            return 1
        finally:
            print("steps: " + ", ".join(s.timings))
    print(f"ok: installed and used three ways in {time.monotonic() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
