#!/usr/bin/python3
"""nullspaced's memory under chatty builds, each figure next to its anchor in the same run.

Each build is one host-executor step printing --lines short lines as fast as it can
(`seq 1 N`). Measured from /proc/<pid>/status VmRSS, sampled every 20 ms:

  anchor: the idle server, then ONE chatty build alone (peak growth);
  then --builds chatty builds at once: peak growth per running build, and what is
  given back once they all ended (the RSS a few seconds after the last one).

With --followers, every build (the anchor's too) has one NDJSON follower from
offset 0 (`?follow=true`) that reads to the end and counts the entries: the run
fails unless each follower saw every line of its build.

  /usr/bin/python3 tools/bench/chatty_memory_bench.py --server build/nullspaced \
      [--quick] [--builds 50] [--lines 1000000] [--followers]
"""
import argparse
import http.client
import json
import sys
import tempfile
import threading
import time

from bench_daemon import report, start_server, status_kib




def call(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request(method, path, json.dumps(body) if body is not None else None,
              {"Content-Type": "application/json"} if body is not None else {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data) if data else None


def submit(port, name, lines):
    status, body = call(port, "POST", "/v1/builds", {
        "name": name,
        "builder": {"source": {"type": "python_image", "version": "3.11"},
                    "steps": [{"type": "run", "cmd": f"seq 1 {lines}"}]}})
    if status not in (201, 202):
        sys.exit(f"submit: {status} {body}")
    return body["build"]["id"]


def follow(port, build_id, lines, seen):
    """Reads the build's log from offset 0 to its end (NDJSON, follow); counts its output lines."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("GET", f"/v1/builds/{build_id}/logs?offset=0&follow=true",
              headers={"Accept": "application/x-ndjson"})
    r = c.getresponse()
    count = 0
    for raw in r:
        e = json.loads(raw)
        if e.get("kind") == "log" and e.get("phase", "step") == "step" and e["message"].isdigit():
            count += 1
    c.close()
    seen[build_id] = count


def run_wave(port, pid, n, lines, wave, followers=False):
    """Submits n chatty builds, samples RSS until all are terminal; (peak KiB, seconds)."""
    ids = [submit(port, f"chatty-{wave}-{i}", lines) for i in range(n)]
    seen = {}
    readers = [threading.Thread(target=follow, args=(port, b, lines, seen)) for b in ids] \
        if followers else []
    for t in readers:
        t.start()
    peak = status_kib(pid)
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, status_kib(pid))
            time.sleep(0.02)

    t0 = time.monotonic()
    sampler = threading.Thread(target=sample)
    sampler.start()
    left = set(ids)
    while left:
        for b in list(left):
            status, body = call(port, "GET", f"/v1/builds/{b}")
            state = body["build"]["status"]
            if state in ("failed", "cancelled"):
                sys.exit(f"build {b} ended {state}: {body['build'].get('error')}")
            if state == "ready":
                left.discard(b)
        time.sleep(0.2)
    took = time.monotonic() - t0
    for t in readers:
        t.join()
    done.set()
    sampler.join()
    short = {b: c for b, c in seen.items() if c != lines}
    if followers and (len(seen) != n or short):
        sys.exit(f"followers missed lines: {len(seen)} of {n} ended; short: {short}")
    return peak, took


def settled_rss(pid, seconds=7.0):
    """The RSS once the engine gave freed memory back (it trims at most every 5 s)."""
    low = status_kib(pid)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        low = min(low, status_kib(pid))
        time.sleep(0.1)
    return low


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--builds", type=int, default=50)
    ap.add_argument("--lines", type=int, default=1000000)
    ap.add_argument("--followers", action="store_true", help="one NDJSON follower per build")
    args = ap.parse_args()
    if args.quick:
        args.builds, args.lines = 3, 20000
    with tempfile.TemporaryDirectory(prefix="nullspace-chatty-") as tmp:
        proc, port = start_server(args.server, tmp + "/data",
                                   ["--isolation", "host", "--executor-slots", str(args.builds)])
        try:
            pid = proc.pid
            idle = status_kib(pid)
            one_peak, one_s = run_wave(port, pid, 1, args.lines, "one", args.followers)
            one_end = settled_rss(pid)
            many_peak, many_s = run_wave(port, pid, args.builds, args.lines, "many", args.followers)
            many_end = settled_rss(pid)
        finally:
            proc.terminate()
            proc.wait()
    mib = lambda k: k / 1024.0
    who = "one follower each" if args.followers else "no follower"
    print(f"chatty builds (seq 1 {args.lines}, host isolation, {who}), nullspaced VmRSS:")
    print(f"  idle server {mib(idle):.1f} MiB")
    print(f"  1 build alone: peak {mib(one_peak):.1f} MiB (+{mib(one_peak - idle):.1f}), "
          f"after it {mib(one_end):.1f} MiB, {args.lines / one_s:,.0f} lines/s")
    per = (many_peak - one_end) / args.builds
    print(f"  {args.builds} builds at once: peak {mib(many_peak):.1f} MiB "
          f"(+{mib(many_peak - one_end):.1f}, {mib(per):.1f} MiB per running build), "
          f"after them {mib(many_end):.1f} MiB, {args.builds * args.lines / many_s:,.0f} lines/s")
    report(f"RSS growth per running chatty build ({args.builds} at once, {who})", mib(per), "MiB",
           "one build alone", mib(one_peak - idle))


if __name__ == "__main__":
    main()
