#!/usr/bin/python3
"""100 000 live builds: queued behind busy executor slots, held by nullspaced.

In one run, against one daemon (--isolation host, one executor slot):

  1. anchor: GET /healthz from the same client (C keep-alive connections, one
     request in flight on each), requests/s and p50/p99: what the HTTP layer and
     this client do without a build behind the answer;
  2. a build that holds the only slot (its step waits on a FIFO);
  3. N builds submitted (POST /v1/builds, 202) by C concurrent clients: builds/s,
     p50/p99 submit latency, the daemon's CPU per submit; its resident memory
     (VmRSS) before and after, per queued build; /healthz p50/p99 while they wait;
  4. all N cancelled (POST /v1/builds/{id}/cancel, 200) by C clients: time to
     cancel them all, and VmRSS after (the daemon gives freed heap back once
     builds end).

The client is build/tools/bench/bench-http-load (C++, one thread, epoll): its own
CPU time is printed next to the daemon's, to show which side is the bottleneck.

  /usr/bin/python3 tools/bench/live_builds_bench.py --server build/nullspaced \
      --load build/tools/bench/bench-http-load [--builds 100000] [--clients 64] [--quick]

--quick (what CI runs): 2 000 builds, a few seconds.
"""
import argparse
import http.client
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from bench_daemon import metric, report, start_server, status_kib


def cpu_s(pid):
    """utime + stime of a process, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(tool, port, args):
    """Runs the load client; (its JSON summary, its CPU seconds)."""
    p = subprocess.Popen([tool, "--port", str(port)] + args, stdout=subprocess.PIPE, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"bench-http-load {' '.join(args)} failed ({p.returncode}): {out}")
    return json.loads(out), ru.ru_utime + ru.ru_stime


def post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status != 202:
        sys.exit(f"POST {path}: {r.status} {data[:200]!r}")
    return json.loads(data)


def build(cmd, name):
    return {"name": name, "builder": {"source": {"type": "python_image", "version": "3.11"},
                                      "steps": [{"type": "run", "cmd": cmd}]}}


def await_metric(port, series, pred, what):
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        v = metric(port, series)
        if pred(v):
            return v
        time.sleep(0.05)
    sys.exit(f"{series} never became {what}")


def show(what, r, cpu_client, cpu_server=None):
    line = (f"{what}: {r['requests']} in {r['seconds']:.2f} s, {r['per_s']:.0f}/s, "
            f"p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  max {r['max_ms']:.1f} ms; "
            f"client CPU {cpu_client:.2f} s")
    if cpu_server is not None:
        line += f", daemon CPU {cpu_server:.2f} s ({cpu_server / r['requests'] * 1e6:.0f} us each)"
    print(line, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default="build/nullspaced")
    ap.add_argument("--load", default="build/tools/bench/bench-http-load")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--builds", type=int)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--keep", action="store_true", help="leave the data dir")
    a = ap.parse_args()
    n = a.builds or (2000 if a.quick else 100000)
    anchor_n = min(n, 20000)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))

    tmp = tempfile.mkdtemp(prefix="live-builds-bench-")
    gate = os.path.join(tmp, "gate")
    os.mkfifo(gate)
    body_file = os.path.join(tmp, "build.json")
    with open(body_file, "w") as f:
        json.dump(build("true", "queued"), f)
    args = ["--isolation", "host", "--executor-slots", "1", "--max-queued", str(n + 100),
            "--max-connections", str(a.clients + 100)]
    server, port = start_server(a.server, os.path.join(tmp, "data"), args)
    try:
        print(f"load average {os.getloadavg()[0]:.1f}; {n} builds, {a.clients} clients",
              flush=True)
        load(a.load, port, ["--get", "/healthz", "--count", "2000", "--connections", str(a.clients)])
        r, c = load(a.load, port, ["--get", "/healthz", "--count", str(anchor_n),
                                   "--connections", str(a.clients), "--expect", "200"])
        show("anchor: GET /healthz", r, c)
        healthz = r

        blocker = post(port, "/v1/builds", build(f"cat {gate}", "blocker"))["build"]["id"]
        await_metric(port, "nullspace_builds_running", lambda v: v >= 1, "1")
        rss0 = status_kib(server.pid)
        cpu0 = cpu_s(server.pid)
        ids = os.path.join(tmp, "ids")
        r, c = load(a.load, port, ["--post", "/v1/builds", "--body-file", body_file,
                                   "--count", str(n), "--connections", str(a.clients),
                                   "--expect", "202", "--ids-out", ids])
        show(f"submit {n} builds", r, c, cpu_s(server.pid) - cpu0)
        report(f"submit {n} builds over HTTP, {a.clients} clients", r["per_s"], "builds/s",
               "GET /healthz, same client", healthz["per_s"])
        report(f"submit latency p99, {n} builds", r["p99_ms"], "ms", "GET /healthz p99",
               healthz["p99_ms"])
        depth = await_metric(port, "nullspace_queue_depth", lambda v: v >= n, str(n))
        rss1 = status_kib(server.pid)
        print(f"queued {depth:.0f}: VmRSS {rss0} -> {rss1} KiB, "
              f"{(rss1 - rss0) / n:.2f} KiB per queued build", flush=True)
        report(f"RSS per queued build ({n} queued)", (rss1 - rss0) / n, "KiB")
        r, c = load(a.load, port, ["--get", "/healthz", "--count", str(anchor_n),
                                   "--connections", str(a.clients), "--expect", "200"])
        show(f"GET /healthz with {n} queued", r, c)

        paths = os.path.join(tmp, "cancels")
        with open(ids) as f, open(paths, "w") as out:
            got = [line.strip() for line in f if line.strip()]
            if len(got) != n:
                sys.exit(f"{len(got)} ids for {n} builds")
            for i in got:
                out.write(f"/v1/builds/{i}/cancel\n")
        cpu0 = cpu_s(server.pid)
        r, c = load(a.load, port, ["--post-paths", paths, "--connections", str(a.clients),
                                   "--expect", "200"])
        show(f"cancel {n} builds", r, c, cpu_s(server.pid) - cpu0)
        report(f"cancel {n} queued builds", r["per_s"], "cancels/s")
        await_metric(port, "nullspace_queue_depth", lambda v: v == 0, "0")
        time.sleep(6)  # the heap trimmer runs at most every 5 s after builds end
        rss2 = status_kib(server.pid)
        print(f"after the cancels: VmRSS {rss2} KiB ({rss2 - rss0:+d} KiB against before the "
              f"submits); peak (VmHWM) {status_kib(server.pid, 'VmHWM')} KiB", flush=True)
        with open(gate, "w"):
            pass  # the blocker's `cat` ends
        print(f"blocker {blocker}")
    finally:
        server.terminate()
        server.wait(timeout=120)
        if not a.keep:
            subprocess.run(["rm", "-rf", tmp], check=False)


if __name__ == "__main__":
    main()
