#!/usr/bin/python3
"""nullspaced restarting on a big store, next to the same daemon on an empty data dir.

The store (made once by `bench-restart-store generate`, kept in --data for the next run):
1 000 000 builds and 100 000 000 log entries (--quick: 2 000 and 200 000), all finished
but the newest few (queued, building, queued with a secret, waiting for a context).

Each round starts, on a fresh copy of that store (SST files hard-linked, the rest copied,
so every start sees the same files) and on an empty data dir:
  - the anchor `bench-restart-store open`: RocksDB opening the same store with the
    engine's options and column families, and closing it;
  - nullspaced: time from the spawn to `GET /healthz` answering 200, and to the first
    `POST /v1/builds` answered 202.
In the first round it checks, on the big store, that recovery did its work: the queued
and building builds run to ready, the one with a secret fails with `secrets_lost`, the
waiting one still waits, the first new build becomes ready, and /metrics counts the
builds by status as the store holds them. --compare-server runs a second binary (an
older build) in the same rounds.

  /usr/bin/python3 tools/bench/restart_bench.py --server build/nullspaced \\
      --store-tool build/tools/bench/bench-restart-store --data /work/bench-data-restart \\
      [--quick] [--rounds 3] [--compare-server OLD] [--remove-data]
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from bench_daemon import report


def generate(tool, source, builds, entries, unfinished):
    os.makedirs(source, exist_ok=True)
    print(f"generating {builds} builds, {entries} entries in {source} ...", flush=True)
    out = subprocess.run([tool, "generate", "--dir", os.path.join(source, "db"), "--builds",
                          str(builds), "--entries", str(entries), "--unfinished", str(unfinished)],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    made = json.loads(out)
    with open(os.path.join(source, "generated.json"), "w") as f:
        json.dump(made, f)
    print(f"  generated in {made['seconds']} s", flush=True)
    return made


def clone(source, dest):
    """A copy of DATA/db that a daemon may change: SST files hard-linked, the rest copied."""
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(os.path.join(dest, "db"))
    src = os.path.join(source, "db")
    for name in os.listdir(src):
        a, b = os.path.join(src, name), os.path.join(dest, "db", name)
        if name.endswith(".sst"):
            os.link(a, b)
        else:
            shutil.copy2(a, b)


def request(port, method, path, body=None, timeout=120):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    c.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def new_build(name):
    return {"name": name, "builder": {"source": {"type": "python_image", "version": "3.11"},
                                      "steps": [{"type": "run", "cmd": "echo new"}]}}


def start(server, data_dir):
    """Spawns nullspaced; (process, port, ms to /healthz 200, ms to the first 202, build id)."""
    t0 = time.perf_counter()
    p = subprocess.Popen([server, "--listen", "127.0.0.1:0", "--data-dir", data_dir,
                          "--isolation", "host", "--log-level", "warn"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = None
    for line in p.stdout:
        if line.startswith("listening on http://127.0.0.1:"):
            port = int(line.rsplit(":", 1)[1])
            break
    if port is None:
        sys.exit(f"{server} did not start on {data_dir}")
    status, _ = request(port, "GET", "/healthz")
    t_health = time.perf_counter()
    if status != 200:
        sys.exit(f"/healthz answered {status}")
    status, body = request(port, "POST", "/v1/builds", new_build("after-restart"))
    t_accepted = time.perf_counter()
    if status != 202:
        sys.exit(f"POST /v1/builds answered {status}: {body[:200]!r}")
    build = json.loads(body)["build"]["id"]
    return p, port, (t_health - t0) * 1e3, (t_accepted - t0) * 1e3, build


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=120)


def final_status(port, build):
    """The build once terminal (or still waiting after 60 s): (status, error code)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, body = request(port, "GET", f"/v1/builds/{build}?offset=0&limit=1&wait_ms=5000")
        if status != 200:
            sys.exit(f"GET /v1/builds/{build}: {status}")
        b = json.loads(body)["build"]
        if b["status"] in ("ready", "error", "cancelled"):
            return b["status"], (b.get("error") or {}).get("code")
    return b["status"], None


def builds_by_status(port):
    _, body = request(port, "GET", "/metrics")
    out = {}
    for line in body.decode().splitlines():
        if line.startswith('nullspace_builds{status="'):
            out[line.split('"')[1]] = int(float(line.split()[-1]))
    return out


def check_recovery(port, made, first_build):
    """What recovery must have done to the store's unfinished builds; exits on a failure."""
    want = dict(made["by_status"])
    u = made["unfinished"]
    problems = []
    for kind, expect in (("queued", ("ready", None)), ("building", ("ready", None)),
                         ("secret", ("error", "secrets_lost"))):
        for b in u[kind]:
            got = final_status(port, b)
            if got != expect:
                problems.append(f"{kind} build {b}: {got}, expected {expect}")
    for b in u["waiting"]:
        status, body = request(port, "GET", f"/v1/builds/{b}?offset=0&limit=1")
        if json.loads(body)["build"]["status"] != "waiting":
            problems.append(f"waiting build {b}: {json.loads(body)['build']['status']}")
    if final_status(port, first_build) != ("ready", None):
        problems.append(f"the first build after the restart did not become ready")
    # Counts: the generated ones moved by recovery and the new build.
    moved = len(u["queued"]) + len(u["building"])
    want["queued"] -= len(u["queued"]) + len(u["secret"])
    want["building"] -= len(u["building"])
    want["ready"] += moved + 1
    want["error"] += len(u["secret"])
    got = builds_by_status(port)
    if got != want:
        problems.append(f"/metrics builds by status {got}, expected {want}")
    if problems:
        sys.exit("recovery check failed:\n  " + "\n  ".join(problems))
    return (f"recovery checked: {moved} queued/building -> ready, {len(u['secret'])} "
            f"secrets_lost, {len(u['waiting'])} still waiting, counts by status as stored")


def open_ms(tool, db):
    out = subprocess.run([tool, "open", "--dir", db], check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--store-tool", required=True)
    ap.add_argument("--compare-server", help="another nullspaced (e.g. an older build)")
    ap.add_argument("--data", help="where the generated store is kept (default: a temp dir)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--builds", type=int)
    ap.add_argument("--entries", type=int)
    ap.add_argument("--unfinished", type=int)
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--remove-data", action="store_true", help="delete --data at the end")
    a = ap.parse_args()
    builds = a.builds or (2_000 if a.quick else 1_000_000)
    entries = a.entries or (200_000 if a.quick else 100_000_000)
    unfinished = a.unfinished or (8 if a.quick else 100)
    rounds = a.rounds or (1 if a.quick else 3)
    temp = None
    if not a.data:
        temp = tempfile.mkdtemp(prefix="restart-bench-")
        a.data = temp
    source = os.path.join(a.data, "source")
    made_path = os.path.join(source, "generated.json")
    made = None
    if os.path.exists(made_path):
        with open(made_path) as f:
            made = json.load(f)
        if made["builds"] != builds:
            sys.exit(f"{source} holds {made['builds']} builds, not {builds}: remove it first")
        print(f"reusing the store in {source}", flush=True)
    else:
        made = generate(a.store_tool, source, builds, entries, unfinished)
    servers = [("nullspaced", a.server)]
    if a.compare_server:
        servers.append(("compared", a.compare_server))
    rows = {}  # (server, data) -> list of (healthz ms, accepted ms); ("open", data) -> [ms]
    note = ""
    run_dir = os.path.join(a.data, "run")
    try:
        for r in range(rounds):
            for label, server in servers:
                for data in ("empty", "store"):
                    shutil.rmtree(run_dir, ignore_errors=True)
                    if data == "store":
                        clone(source, run_dir)
                    else:
                        os.makedirs(run_dir)
                    if label == "nullspaced":
                        rows.setdefault(("open", data), []).append(
                            open_ms(a.store_tool, os.path.join(run_dir, "db")))
                    p, port, health, accepted, build = start(server, run_dir)
                    try:
                        rows.setdefault((label, data), []).append((health, accepted))
                        if r == 0 and data == "store" and label == "nullspaced":
                            note = check_recovery(port, made, build)
                    finally:
                        stop(p)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
        if temp or a.remove_data:
            shutil.rmtree(a.data, ignore_errors=True)

    med = statistics.median
    print(f"\nstore: {made['builds']} builds ({sum(len(v) for v in made['unfinished'].values())} "
          f"unfinished), {made['entries']} log entries, {made['templates']} templates; "
          f"median of {rounds} round(s), ms from spawn\n")
    print("| daemon | data dir | store open+close (anchor) | /healthz 200 | first build 202 "
          "| 202 / empty dir's 202 | 202 / its store's open |")
    print("|---|---|---:|---:|---:|---:|---:|")
    empty_accepted = med(x[1] for x in rows[("nullspaced", "empty")])
    for label, _ in servers:
        for data in ("empty", "store"):
            xs = rows[(label, data)]
            o = med(x["open_close_ms"] for x in rows[("open", data)])
            acc = med(x[1] for x in xs)
            print(f"| {label} | {data} | {o:.1f} | {med(x[0] for x in xs):.1f} | {acc:.1f} "
                  f"| {acc / empty_accepted:.2f} | {acc / o:.2f} |")
            if data == "store":
                report(f"{label} restart on {made['builds']} builds: first build 202", acc, "ms",
                       "the store's open+close", o)
    opened = rows[("open", "store")]
    print(f"\nin the store's open: recovery's reads (unfinished builds, counts) "
          f"{med(x['unfinished_read_ms'] for x in opened):.1f} ms for "
          f"{opened[0]['unfinished']} unfinished of {opened[0]['counted_builds']} builds")
    print("every round (open ms; healthz, 202 ms): " +
          "; ".join(f"{k[0]}/{k[1]} " + ", ".join(
              f"{x['open_close_ms']:.0f}" if isinstance(x, dict) else f"({x[0]:.0f}, {x[1]:.0f})"
              for x in v) for k, v in rows.items()))
    print(note)


if __name__ == "__main__":
    main()
