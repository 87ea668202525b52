#!/usr/bin/python3
"""Machines through nullspaced's HTTP API, each figure next to its baseline in the same run.

  1. `true` in a running machine: POST /v1/machines/{id}/commands {"cmd": ["true"]} on a
     keep-alive connection, against `<runtime> exec` of the same container by hand (the
     runtime and state root the server's driver uses);
  2. N machines alive at once: create throughput (sequential creates, each answered once
     the machine is ready) and nullspaced's resident memory per machine (VmRSS after the
     N creates minus before the first, over N);
  3. checkout of a ready machine over HTTP: POST /v1/machines {"warm_pool", "warm_pool_mode":
     "require"} on a keep-alive connection, in rounds of --pool-size ready machines (the
     pool's min_ready is PATCHed to 0 while timed, so no refill runs beside the checkouts;
     between rounds the machines are deleted and the pool refilled, untimed), against
     GET /healthz on the same connection in the same rounds.

Needs root, runc, the built nullspaced and nullspace-init.

  /usr/bin/python3 tools/bench/machine_http_bench.py --server build/nullspaced \
      --init build/nullspace-init [--quick] [--machines 200] [--commands 500] \
      [--pool-size 50] [--checkout-rounds 20]
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench_daemon import percentile, report, start_server, status_kib

TEMPLATE = {
    "name": "bench", "tags": ["latest"],
    "builder": {"source": {"type": "image", "image": "busybox"},
                "steps": [{"type": "run", "cmd": "mkdir -p /srv"}],
                "start_cmd": "touch /srv/ready; exec sleep 1000000",
                "ready": {"type": "file", "path": "/srv/ready"}},
    "cpu_count": 1, "memory_mb": 128}


class api:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        r = self.conn.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else None)


def start_machine_server(args, data_dir, range_):
    return start_server(args.server, data_dir, [
        "--isolation", "sandbox", "--machine-init", args.init, "--machine-network-range", range_,
        "--max-machines", str(max(256, args.machines)),
        "--max-machines-per-tenant", str(max(256, args.machines))])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--init", required=True)
    ap.add_argument("--runtime", default="runc")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--machines", type=int, default=200)
    ap.add_argument("--commands", type=int, default=500)
    ap.add_argument("--pool-size", type=int, default=50)
    ap.add_argument("--checkout-rounds", type=int, default=20)
    args = ap.parse_args()
    if args.quick:
        args.machines, args.commands, args.pool_size, args.checkout_rounds = 5, 30, 3, 2
    if os.geteuid() != 0 or not shutil.which(args.runtime):
        print(f"skipped: needs root and {args.runtime}")
        return 0

    work = tempfile.mkdtemp(prefix="nullspace-machine-http-bench-")
    server, port = start_machine_server(args, os.path.join(work, "data"), "10.79.0.0/16")
    ids = []
    try:
        c = api(port)
        st, b = c.call("POST", "/v1/builds", TEMPLATE)
        assert st == 202, b
        bid = b["build"]["id"]
        while True:
            st, s = c.call("GET", f"/v1/builds/{bid}?offset=1000000&wait_ms=30000")
            if s["build"]["status"] in ("ready", "error", "cancelled"):
                break
        assert s["build"]["status"] == "ready", s["build"]

        # 1. `true` in a running machine: HTTP against the runtime by hand.
        rss_before = status_kib(server.pid)
        st, m = c.call("POST", "/v1/machines", {"template": "bench"})
        assert st == 201, m
        mid = m["machine"]["id"]
        ids.append(mid)
        root = os.path.join(work, "data", "machines", ".runtime")
        by_hand = [args.runtime, "--root", root, "exec", "nsm-" + mid, "true"]
        http_ms, hand_ms = [], []
        for i in range(args.commands):  # interleaved, so both see the same machine load
            t = time.perf_counter()
            st, r = c.call("POST", f"/v1/machines/{mid}/commands", {"cmd": ["true"]})
            http_ms.append((time.perf_counter() - t) * 1e3)
            assert st == 200 and r["exit_code"] == 0, r
            t = time.perf_counter()
            subprocess.run(by_hand, check=True)
            hand_ms.append((time.perf_counter() - t) * 1e3)
        print(f"commands.run(\"true\") over HTTP: {args.commands} rounds")
        print("| path | median ms | p90 ms |")
        print("|---|---:|---:|")
        print(f"| POST /v1/machines/{{id}}/commands | {statistics.median(http_ms):.2f} | "
              f"{percentile(http_ms, 0.9):.2f} |")
        print(f"| `{args.runtime} exec` by hand | {statistics.median(hand_ms):.2f} | "
              f"{percentile(hand_ms, 0.9):.2f} |")
        print(f"HTTP above by hand (median): "
              f"{statistics.median(http_ms) - statistics.median(hand_ms):+.2f} ms")
        report("commands.run(\"true\") over HTTP, median", statistics.median(http_ms), "ms",
               f"{args.runtime} exec by hand", statistics.median(hand_ms))

        # 2. N machines alive at once.
        t = time.perf_counter()
        for _ in range(args.machines - 1):
            st, m = c.call("POST", "/v1/machines", {"template": "bench"})
            assert st == 201, m
            ids.append(m["machine"]["id"])
        secs = time.perf_counter() - t
        rss_after = status_kib(server.pid)
        print(f"\n{len(ids)} machines alive: created {len(ids) - 1} in {secs:.1f} s "
              f"({(len(ids) - 1) / secs:.1f} creates/s, each answered once ready)")
        print(f"nullspaced RSS: {rss_before} KiB before the first, {rss_after} KiB with "
              f"{len(ids)} alive: {(rss_after - rss_before) / len(ids):.0f} KiB per machine")
        report("nullspaced RSS per alive machine", (rss_after - rss_before) / len(ids), "KiB")
        for mid in ids:
            c.call("DELETE", f"/v1/machines/{mid}")
        ids.clear()

        # 3. Checkout of a ready machine over HTTP, against GET /healthz.
        n = args.pool_size
        st, p = c.call("POST", "/v1/warm-pools",
                       {"template": "bench", "name": "bench-pool", "min_ready": n, "max_ready": n})
        assert st == 201, p
        checkout_ms, health_ms = [], []
        for _ in range(args.checkout_rounds):
            st, p = c.call("PATCH", "/v1/warm-pools/bench-pool", {"min_ready": n})
            assert st == 200, p
            st, p = c.call("GET", f"/v1/warm-pools/bench-pool/ready?min_ready={n}&timeout_ms=600000")
            assert st == 200, p
            st, p = c.call("PATCH", "/v1/warm-pools/bench-pool", {"min_ready": 0})
            assert st == 200, p
            for _ in range(n):
                t = time.perf_counter()
                st, m = c.call("POST", "/v1/machines",
                               {"warm_pool": "bench-pool", "warm_pool_mode": "require"})
                checkout_ms.append((time.perf_counter() - t) * 1e3)
                assert st == 201 and m["machine"]["warm_pool_checkout"]["result"] == "hit", m
                ids.append(m["machine"]["id"])
                t = time.perf_counter()
                st, _ = c.call("GET", "/healthz")
                health_ms.append((time.perf_counter() - t) * 1e3)
            for mid in ids:
                c.call("DELETE", f"/v1/machines/{mid}")
            ids.clear()
        c.call("DELETE", "/v1/warm-pools/bench-pool")
        print(f"\ncheckout of a ready machine over HTTP: {len(checkout_ms)} checkouts "
              f"({args.checkout_rounds} rounds of {n})")
        print("| path | p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|")
        for name, xs in (("POST /v1/machines {warm_pool} (hit)", checkout_ms),
                         ("GET /healthz", health_ms)):
            print(f"| {name} | {statistics.median(xs):.3f} | {percentile(xs, 0.99):.3f} | "
                  f"{max(xs):.3f} |")
        report("warm-pool checkout over HTTP, p99", percentile(checkout_ms, 0.99), "ms",
               "GET /healthz p99", percentile(health_ms, 0.99))
    finally:
        c = api(port)
        for mid in ids:
            c.call("DELETE", f"/v1/machines/{mid}")
        server.terminate()
        server.wait(timeout=120)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
