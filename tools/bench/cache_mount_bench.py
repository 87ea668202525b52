#!/usr/bin/python3
"""Dockerfile cache mounts: apt and npm rebuilds with a warm cache, next to the same
rebuild without cache mounts, through nullspaced (sandboxed builds, root).

On python:3.11 (the local catalog's Debian image: debootstrap from Debian's mirror, made
once in --images-dir) each case builds a Dockerfile whose last RUN downloads packages:

  apt  ARG ROUND, then RUN --mount=type=cache,target=/var/cache/apt,sharing=locked
       --mount=type=cache,target=/var/lib/apt/lists,sharing=locked
       apt-get update && apt-get install -y --no-install-recommends <packages>
       (Debian's docker-clean apt config removed first, as BuildKit's docs advise)
  npm  npm from Debian's mirror in a step before (layer-cached), then ARG ROUND and
       RUN --mount=type=cache,target=/root/.npm npm install <packages>
       (npm-offline: the same with npm install --prefer-offline, which takes what the
       cache has without asking the registry whether it is still fresh)

and times, per case, from POST /v1/builds to `ready` and the RUN step alone (from its
log's step entry to the artifact's first entry; it is the last step):
  - cold: the first build, its cache mounts empty;
  - warm: rebuilds with another ROUND (so the layer cache misses and the step runs
    again) and the cache mounts as the builds before left them;
  - anchor: the same rebuilds of the same Dockerfile without its cache mounts,
    alternating with the warm ones in the same run.
The cache mounts are pruned before each case's cold build; it checks that the cold
build left files in them and that apt's warm rebuilds downloaded no package ("Need
to get 0 B").

  /usr/bin/python3 tools/bench/cache_mount_bench.py --server build/nullspaced \\
      --images-dir .test-images [--rounds 3] [--cases apt,npm,npm-offline] [--data DIR] \\
      [--apt-packages git] [--npm-packages "express eslint@8"] [--show-output] [--quick]

--quick: apt only, one tiny package, one round. Exits 77 (skipped) without root, an
OCI runtime, or a reachable Debian mirror (and npm registry, for the npm case).
"""
import argparse
import datetime
import glob
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.request

from bench_daemon import report, request, start_server

APT_PREPARE = """\
RUN rm -f /etc/apt/apt.conf.d/docker-clean && \\
    echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/keep-cache
"""
APT_MOUNTS = ("--mount=type=cache,target=/var/cache/apt,sharing=locked "
              "--mount=type=cache,target=/var/lib/apt/lists,sharing=locked ")
NPM_PREPARE = """\
{extra_ca}RUN apt-get update && apt-get install -y --no-install-recommends npm && \\
    rm -rf /var/lib/apt/lists/*
WORKDIR /app
"""
NPM_MOUNTS = "--mount=type=cache,target=/root/.npm "


def extra_ca(paths):
    """Dockerfile lines that make npm trust these CA certificates (the ones the host
    added locally: an HTTPS proxy's own CA is one), or nothing."""
    pem = "".join(open(p).read().strip() + "\n" for p in paths)
    if not pem:
        return ""
    return ("COPY <<EOF /usr/local/share/ca-certificates/extra.crt\n" + pem + "EOF\n" +
            "ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/extra.crt\n")


def dockerfile(case, packages, mounts, ca_paths=()):
    """The case's Dockerfile, with its cache mounts or without (the anchor)."""
    if case == "apt":
        run = ("apt-get update && apt-get install -y --no-install-recommends " +
               " ".join(packages))
        return ("FROM python:3.11\n" + APT_PREPARE + "ARG ROUND\n" +
                "RUN " + (APT_MOUNTS if mounts else "") + "echo round $ROUND && " + run + "\n")
    run = ("npm install --no-audit --no-fund " +
           ("--prefer-offline " if case == "npm-offline" else "") + " ".join(packages))
    return ("FROM python:3.11\n" + NPM_PREPARE.format(extra_ca=extra_ca(ca_paths)) +
            "ARG ROUND\n" +
            "RUN " + (NPM_MOUNTS if mounts else "") + "echo round $ROUND && " + run + "\n")


def reachable(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status < 400
    except Exception:
        return False


def ts_seconds(ts):
    """RFC 3339 with milliseconds ("2026-11-24T07:17:24.761Z") as seconds."""
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def build(port, name, content, build_args):
    """Builds until terminal: (seconds from the POST to `ready`, seconds of the last
    step, its output lines). Exits on anything but `ready`."""
    t0 = time.perf_counter()
    status, body = request(port, "POST", "/v1/builds", {
        "name": name, "builder": {"source": {"type": "dockerfile", "content": content}},
        "build_args": build_args})
    if status != 202:
        sys.exit(f"POST /v1/builds answered {status}: {body[:300]!r}")
    bid = json.loads(body)["build"]["id"]
    logs, offset = [], 0
    while True:
        status, body = request(port, "GET", f"/v1/builds/{bid}?offset={offset}&wait_ms=10000")
        if status != 200:
            sys.exit(f"GET /v1/builds/{bid}: {status}")
        b = json.loads(body)
        logs += b.get("logs", [])
        if logs:
            offset = logs[-1]["offset"] + 1
        if b["build"]["status"] in ("ready", "error", "cancelled"):
            break
    wall = time.perf_counter() - t0
    if b["build"]["status"] != "ready":
        tail = "\n".join(e["message"] for e in logs[-15:])
        sys.exit(f"build {bid} ({name}) ended {b['build']['status']}: "
                 f"{b['build'].get('error')}\n{tail}")
    last_step = max(e["step"] for e in logs if e.get("kind") == "step")
    started = next(e["ts"] for e in logs if e.get("kind") == "step" and e["step"] == last_step)
    ended = next(e["ts"] for e in logs if e.get("phase") == "artifact")
    output = [e["message"] for e in logs
              if e.get("kind") == "log" and e.get("phase") == "step" and e["step"] == last_step]
    return wall, ts_seconds(ended) - ts_seconds(started), output


def cache_dir_bytes(data_dir):
    total = 0
    for root, _, files in os.walk(os.path.join(data_dir, "cache-mounts")):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def run_case(port, data_dir, case, packages, rounds, show, ca_paths, run_id):
    with_mounts = dockerfile(case, packages, True, ca_paths)
    anchor = dockerfile(case, packages, False, ca_paths)
    print(f"\n[{case}] {' '.join(packages)}", flush=True)
    # Anything before the ARG (npm from Debian's mirror) is made once here (and
    # kept in a --data dir), so that the cold build times its RUN and not the
    # layers before it.
    build(port, f"prep-{case}", anchor.split("ARG ROUND")[0], {})
    status, body = request(port, "POST", "/v1/cache-mounts:prune")
    if status != 200:
        sys.exit(f"POST /v1/cache-mounts:prune answered {status}: {body[:300]!r}")
    # ROUND values are new in every run, so that no layer of an earlier run is hit.
    cold = build(port, f"cm-{case}", with_mounts, {"ROUND": f"{run_id}-0"})
    cached = cache_dir_bytes(data_dir)
    print(f"  cold    build {cold[0]:7.1f} s   step {cold[1]:7.1f} s   "
          f"(cache mounts now {cached / 1e6:.1f} MB)", flush=True)
    if cached == 0:
        sys.exit(f"[{case}] the cold build left its cache mounts empty")
    warm, plain = [], []
    for r in range(1, rounds + 1):
        # Alternating which goes first, so that drift of the host and mirror
        # falls on both alike.
        order = [("warm", with_mounts), ("anchor", anchor)]
        if r % 2 == 0:
            order.reverse()
        for kind, content in order:
            wall, step, output = build(port, f"cm-{case}-{kind}", content,
                                      {"ROUND": f"{run_id}-{r}"})
            (warm if kind == "warm" else plain).append((wall, step))
            print(f"  {kind:7} build {wall:7.1f} s   step {step:7.1f} s   (round {r})", flush=True)
            if show:
                print("\n".join("    | " + line for line in output), flush=True)
            if kind == "warm" and case == "apt" and not any(
                    line.startswith("Need to get 0 B") for line in output):
                sys.exit("[apt] the warm rebuild downloaded packages again:\n" +
                         "\n".join(output[-20:]))
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    return {"cold": cold[:2], "warm": (med(warm, 0), med(warm, 1)),
            "anchor": (med(plain, 0), med(plain, 1))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default="build/nullspaced")
    ap.add_argument("--images-dir", default=".test-images",
                    help="base images, kept between runs (python:3.11 is made there if missing)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cases", default="apt,npm,npm-offline",
                    help="npm-offline: the npm case with npm install --prefer-offline")
    ap.add_argument("--apt-packages", default="git",
                    help="what the apt case installs (with --no-install-recommends)")
    ap.add_argument("--npm-packages", default="express eslint@8")
    ap.add_argument("--debian-mirror", default="http://deb.debian.org/debian")
    ap.add_argument("--quick", action="store_true", help="apt only, one tiny package, one round")
    ap.add_argument("--show-output", action="store_true", help="print the rebuilds' RUN output")
    ap.add_argument("--data", help="nullspaced's data dir, kept for the next run (its layer "
                    "cache keeps the npm step); default: a temporary one, removed after")
    ap.add_argument("--extra-ca", nargs="*", metavar="PEM",
                    default=sorted(glob.glob("/usr/local/share/ca-certificates/*.crt")),
                    help="CA certificates npm trusts in the build (default: those the host "
                    "added in /usr/local/share/ca-certificates, as an HTTPS proxy's CA is)")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.cases, args.apt_packages = 1, "apt", "jq"
    cases = [c for c in args.cases.split(",") if c]
    for case in cases:
        if case not in ("apt", "npm", "npm-offline"):
            sys.exit(f"--cases: {case} is no case (apt, npm, npm-offline)")

    if os.geteuid() != 0:
        print("skipped: sandboxed builds need root")
        sys.exit(77)
    if not (shutil.which("runc") or shutil.which("crun")):
        print("skipped: no OCI runtime (runc or crun)")
        sys.exit(77)
    if not reachable(args.debian_mirror + "/dists/bookworm/InRelease"):
        print(f"skipped: Debian's mirror ({args.debian_mirror}) is not reachable")
        sys.exit(77)
    if any(c.startswith("npm") for c in cases) and not reachable("https://registry.npmjs.org/express"):
        print("skipped: the npm registry is not reachable")
        sys.exit(77)

    images = os.path.abspath(args.images_dir)
    os.makedirs(images, exist_ok=True)
    data = os.path.abspath(args.data) if args.data else tempfile.mkdtemp(
        prefix="cache-mount-bench-")
    os.makedirs(data, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.1f}; data dir {data}", flush=True)
    p, port = start_server(args.server, data, [
        "--isolation", "sandbox", "--images-dir", images, "--debian-mirror", args.debian_mirror])
    try:
        # Makes python:3.11 if the images dir does not have it yet (a minute, once).
        build(port, "base", "FROM python:3.11\nRUN true\n", {})
        results = {}
        for case in cases:
            packages = (args.apt_packages if case == "apt" else args.npm_packages).split()
            results[case] = run_case(port, data, case, packages, args.rounds, args.show_output,
                                     args.extra_ca, time.strftime("%Y%m%dT%H%M%S"))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=120)
        if not args.data:
            shutil.rmtree(data, ignore_errors=True)

    print(f"\nmedians of {args.rounds} round(s); load average {os.getloadavg()[0]:.1f}")
    print(f"{'case':11} {'':5} {'cold':>9} {'warm':>9} {'anchor':>9} {'warm/anchor':>12}")
    for case, r in results.items():
        for i, what in ((0, "build"), (1, "step")):
            print(f"{case:11} {what:5} {r['cold'][i]:8.1f}s {r['warm'][i]:8.1f}s "
                  f"{r['anchor'][i]:8.1f}s {r['warm'][i] / r['anchor'][i]:11.2f}x")
    for case, r in results.items():
        report(f"cache mounts: {case} rebuild, warm cache (build)", round(r["warm"][0], 2), "s",
               "same rebuild without cache mounts", round(r["anchor"][0], 2))
        report(f"cache mounts: {case} rebuild, warm cache (RUN step)", round(r["warm"][1], 2),
               "s", "same step without cache mounts", round(r["anchor"][1], 2))
        report(f"cache mounts: {case} first build, cold cache (build)", round(r["cold"][0], 2),
               "s", "rebuild without cache mounts", round(r["anchor"][0], 2))


if __name__ == "__main__":
    main()
