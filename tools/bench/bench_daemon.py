"""What the Python benchmarks share: starting nullspaced on a free loopback port,
reading its memory from /proc, percentiles. Imported by the scripts beside it."""
import http.client
import json
import subprocess
import sys


def start_server(server, data_dir, args):
    """nullspaced on 127.0.0.1 (a port it picks) with `args` added; (process, port)."""
    p = subprocess.Popen(
        [server, "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--log-level", "warn"] + args,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in p.stdout:
        if line.startswith("listening on http://127.0.0.1:"):
            return p, int(line.rsplit(":", 1)[1])
    sys.exit("nullspaced did not start")


def request(port, method, path, body=None, timeout=120):
    """One HTTP request to nullspaced on 127.0.0.1 (`body` sent as JSON): (status, bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    c.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def status_kib(pid, field="VmRSS"):
    """A memory field of /proc/<pid>/status, in KiB (0 if absent)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def report(name, value, unit, anchor=None, anchor_value=None):
    """One figure for tools/bench/all (the line bench_report.hpp prints): its value and,
    when there is one, the anchor measured in the same run."""
    fig = {"name": name, "value": value, "unit": unit}
    if anchor is not None:
        fig.update(anchor=anchor, anchor_value=anchor_value)
    print("figure " + json.dumps(fig), flush=True)


def metric(port, series):
    """The value of an unlabelled series in nullspaced's /metrics (0 if absent)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    c.close()
    for line in body.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0
