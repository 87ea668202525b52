"""Every Python sample of the seeds, kept as files under examples/, executed as
written (python 3.11 for 3.12; pip packages from the local index the server is
pointed at) with the SDK installed in a fresh venv, against the real server."""

from __future__ import annotations

import nullspace
from conftest import EXAMPLES
from support.helpers import needs_machines, needs_sandbox, run_python

CANARY = "npm-canary-7f3e9b1c5d2a"


@needs_machines
def test_quick_example_builds_then_runs_python_in_a_machine(server, sdk_venv, client, package_index):
    before = len(package_index.requests)
    r = run_python(sdk_venv, EXAMPLES / "quick_example.py", server.url)
    assert r.returncode == 0, r.stdout + r.stderr
    # The machine's `python3 --version`, printed by the example's last line.
    assert r.stdout.strip().splitlines()[-1].startswith("Python 3.11"), r.stdout
    assert "--> build ready" in r.stdout  # default_build_logger printed the build
    # fastapi and uvicorn came from the local index (the session's server is new:
    # nothing is cached).
    asked = package_index.requests[before:]
    assert "/simple/fastapi/" in asked and "/simple/uvicorn/" in asked
    t = nullspace.Template.get("fastapi-agent:stable", client=client)
    assert t.resolved is not None and t.resolved.status == "ready"
    # The `with` block killed the machine it made.
    made = list(nullspace.Machine.list(template=t.resolved.canonical_ref, client=client))
    assert made and all(m.state == "stopped" and m.stop_reason == "deleted" for m in made)


@needs_sandbox
def test_build_options_sample(server, sdk_venv, client):
    r = run_python(sdk_venv, EXAMPLES / "build_options.py", server.url)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[-1] == "ready my-template"
    # default_build_logger printed the log: the step, its output and the end.
    assert any("==> step 1/1: run echo hello from the sample" in l for l in lines)
    assert any(l.endswith("hello from the sample") and "[step 0]" in l for l in lines)
    assert any("--> build ready" in l for l in lines)
    # The options reached the build, and the tag points at it.
    t = nullspace.Template.get("my-template:stable", client=client)
    assert t.resolved is not None and t.resolved.status == "ready"
    b = nullspace.TemplateBuild.connect(t.resolved.build_id, client=client)
    assert (b.info.options.cpu_count, b.info.options.memory_mb, b.info.options.disk_mb) == (4, 2048, 16384)
    assert b.artifact is not None and b.artifact.disk_mb == 16384


@needs_sandbox
def test_offline_build_sample(server, sdk_venv, client):
    r = run_python(sdk_venv, EXAMPLES / "offline_build.py", server.url)
    assert r.returncode == 0, r.stdout + r.stderr
    newest = next(iter(nullspace.Template.list_builds("offline-template", limit=1, client=client)))
    assert newest.status == "ready"
    assert newest.options.internet_access is False


@needs_sandbox
def test_background_build_sample(server, sdk_venv, client):
    r = run_python(sdk_venv, EXAMPLES / "background_build.py", server.url)
    assert r.returncode == 0, r.stdout + r.stderr
    first, last = r.stdout.strip().splitlines()
    assert first in ("waiting", "queued", "building", "ready")
    assert last == "ready"
    newest = next(iter(nullspace.Template.list_builds("my-template", tagged=True, client=client)))
    assert "next" in newest.current_tags


@needs_sandbox
def test_dockerfile_pytest_sample_installs_pytest_from_the_local_index(server, sdk_venv, client, package_index):
    before = len(package_index.requests)
    r = run_python(sdk_venv, EXAMPLES / "dockerfile_pytest.py", server.url)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1] == "ready"
    assert "Successfully installed" in r.stdout and "pytest-7" in r.stdout
    # pip inside the build really came to the index the server was pointed at.
    asked = package_index.requests[before:]
    assert "/simple/pytest/" in asked
    assert any(p.startswith("/files/pytest-") for p in asked)
    t = nullspace.Template.get("pytest-template:stable", client=client)
    assert t.resolved is not None and t.resolved.status == "ready"


@needs_sandbox
def test_dockerfile_secret_sample_fails_clearly_without_leaking_the_secret(server, sdk_venv, client):
    # The sample fails by nature: node:20 is on Docker Hub, which this machine
    # cannot reach (and where it can, `npm ci` finds no package.json). Either
    # way the failure is named, and the secret is nowhere in what anyone sees.
    r = run_python(sdk_venv, EXAMPLES / "dockerfile_secret.py", server.url, env={"NPM_TOKEN": CANARY})
    assert r.returncode == 1
    assert "nullspace.errors.BuildError: build tb_" in r.stderr
    offline = "base_unavailable" in r.stderr and "node:20" in r.stderr
    no_package_json = "step_failed" in r.stderr and "npm ci" in r.stderr
    assert offline or no_package_json, r.stderr
    assert CANARY not in r.stdout + r.stderr
    newest = next(iter(nullspace.Template.list_builds("private-npm", limit=1, client=client)))
    assert newest.status == "error" and newest.error is not None
    assert newest.error.code == ("base_unavailable" if offline else "step_failed")
    assert CANARY not in str(newest.raw)
    assert newest.definition["build_secrets"] == [{"id": "npm_token", "value": "***", "source": "env"}]
    assert CANARY not in server.stderr()


def test_dockerfile_secret_sample_without_the_variable_names_it(server, sdk_venv):
    r = run_python(sdk_venv, EXAMPLES / "dockerfile_secret.py", server.url)
    assert r.returncode == 1
    assert "InvalidArgumentError: build secret 'npm_token': environment variable NPM_TOKEN is not set" in r.stderr
