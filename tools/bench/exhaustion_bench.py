#!/usr/bin/python3
"""nullspaced under resource exhaustion, each load next to the same daemon idle (the anchor).

  1. anchor: GET /healthz on a keep-alive connection of an idle daemon, p50/p99;
  2. N idle connections (10 000; --quick 1 000) opened and left silent: the daemon's
     resident memory before and after (VmRSS from /proc, once /metrics counts them all),
     per connection, and /healthz p50/p99 while they are open;
  3. M queued builds (1 000; --quick 200) of one tenant behind a build that holds the
     only executor slot: the daemon's memory per queued build, and /healthz p50/p99
     while they wait.

Timeouts are raised for the run so nothing is closed while it is measured. Host
isolation; needs the built nullspaced and enough descriptors (raised here, as root).

  /usr/bin/python3 tools/bench/exhaustion_bench.py --server build/nullspaced \
      [--quick] [--connections 10000] [--builds 1000] [--samples 2000]
"""
import argparse
import http.client
import json
import os
import resource
import socket
import sys
import tempfile
import time

from bench_daemon import metric, percentile, report, start_server, status_kib


def healthz_latency(port, samples):
    """p50, p99 (ms) of GET /healthz on one keep-alive connection."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    for _ in range(samples):
        t = time.perf_counter()
        c.request("GET", "/healthz")
        r = c.getresponse()
        r.read()
        times.append((time.perf_counter() - t) * 1e3)
        if r.status != 200:
            sys.exit(f"/healthz answered {r.status}")
    c.close()
    return percentile(times, 0.5), percentile(times, 0.99)


def await_metric(port, series, want):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        v = metric(port, series)
        if v >= want:
            return v
    sys.exit(f"{series} did not reach {want}")


def post(c, path, body):
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    if r.status != 202:
        sys.exit(f"POST {path}: {r.status} {data[:200]!r}")
    return json.loads(data)


def build(cmd, name):
    return {"name": name, "builder": {"source": {"type": "python_image", "version": "3.11"},
                                      "steps": [{"type": "run", "cmd": cmd}]}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default="build/nullspaced")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--connections", type=int)
    ap.add_argument("--builds", type=int)
    ap.add_argument("--samples", type=int)
    a = ap.parse_args()
    conns = a.connections or (1000 if a.quick else 10000)
    builds = a.builds or (200 if a.quick else 1000)
    samples = a.samples or (300 if a.quick else 2000)

    # This process holds one end of each connection and the daemon (which
    # inherits the limit) the other.
    want_fds = conns + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want_fds:
        if hard != resource.RLIM_INFINITY and hard < want_fds:
            sys.exit(f"--connections {conns} needs {want_fds} descriptors; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want_fds, hard))

    with tempfile.TemporaryDirectory(prefix="exhaustion-bench-") as tmp:
        gate = os.path.join(tmp, "gate")
        os.mkfifo(gate)
        server, port = start_server(a.server, os.path.join(tmp, "data"), [
            "--isolation", "host", "--max-connections", str(conns + 100), "--header-timeout-ms", "3600000",
            "--idle-timeout-ms", "3600000", "--executor-slots", "1",
            "--max-queued", str(builds + 100)])
        try:
            healthz_latency(port, 50)  # warm up
            anchor = healthz_latency(port, samples)
            print(f"anchor: idle daemon, /healthz p50 {anchor[0]:.3f} ms  p99 {anchor[1]:.3f} ms")

            # 2. idle connections
            base = status_kib(server.pid)
            socks = []
            t = time.perf_counter()
            for _ in range(conns):
                s = socket.create_connection(("127.0.0.1", port))
                socks.append(s)
            await_metric(port, "nullspace_http_connections", conns + 1)
            opened_s = time.perf_counter() - t
            after = status_kib(server.pid)
            lat = healthz_latency(port, samples)
            per = (after - base) * 1024 / conns
            print(f"{conns} idle connections (opened in {opened_s:.2f} s): RSS {base} -> {after} "
                  f"KiB, {per:.0f} B per connection; /healthz p50 {lat[0]:.3f} ms  "
                  f"p99 {lat[1]:.3f} ms")
            report(f"RSS per idle connection ({conns})", per, "B")
            report(f"/healthz p99 with {conns} idle connections", lat[1], "ms",
                   "/healthz p99, idle daemon", anchor[1])
            for s in socks:
                s.close()
            socks = []
            deadline = time.monotonic() + 120
            while metric(port, "nullspace_http_connections") > 1 and time.monotonic() < deadline:
                pass
            released = status_kib(server.pid)
            print(f"  after they close: RSS {released} KiB, "
                  f"{metric(port, 'nullspace_http_connections'):.0f} connection open")

            # 3. queued builds behind one that holds the only slot
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            blocker = post(c, "/v1/builds", build(f"cat {gate}", "blocker"))["build"]["id"]
            base = status_kib(server.pid)
            t = time.perf_counter()
            for i in range(builds):
                post(c, "/v1/builds", build("true", f"q{i % 10}"))
            submit_s = time.perf_counter() - t
            queued = metric(port, "nullspace_queue_depth")
            after = status_kib(server.pid)
            lat = healthz_latency(port, samples)
            per = (after - base) * 1024 / builds
            print(f"{builds} queued builds (submitted in {submit_s:.2f} s, "
                  f"{builds / submit_s:.0f}/s; queue depth {queued:.0f}): RSS {base} -> {after} "
                  f"KiB, {per / 1024:.1f} KiB per queued build; /healthz p50 {lat[0]:.3f} ms  "
                  f"p99 {lat[1]:.3f} ms")
            report(f"RSS per queued build ({builds})", per / 1024, "KiB")
            report(f"/healthz p99 with {builds} queued builds", lat[1], "ms",
                   "/healthz p99, idle daemon", anchor[1])
            with open(gate, "w"):
                pass  # the blocker's `cat` ends; the queue drains (not measured)
            c.close()
            print(f"peak RSS of the run (VmHWM): {status_kib(server.pid, 'VmHWM')} KiB; "
                  f"blocker {blocker}")
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
