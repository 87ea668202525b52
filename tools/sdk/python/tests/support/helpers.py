"""Small helpers the test modules share."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Callable

import pytest

from .daemon import can_run_machines, can_sandbox

SANDBOX_REASON = can_sandbox()
# Tests whose builds need a real sandbox (a base image, copy steps, Dockerfiles).
needs_sandbox = pytest.mark.skipif(bool(SANDBOX_REASON), reason=SANDBOX_REASON or "sandbox available")
MACHINES_REASON = can_run_machines()
# Tests that start machines (sandbox isolation, loop devices, nullspace-init).
needs_machines = pytest.mark.skipif(bool(MACHINES_REASON), reason=MACHINES_REASON or "machines available")


def unique(prefix: str) -> str:
    """A template name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Polls ``cond`` until it holds; fails naming ``what`` after a generous deadline."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def run_python(
    venv: Path, script: Path, server_url: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs ``script`` with the venv's python (the installed SDK, not the
    checkout's), configured only through NULLSPACE_API_URL like a user's shell."""
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("NULLSPACE_")}
    base["NULLSPACE_API_URL"] = server_url
    base["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        [str(venv / "bin" / "python"), str(script)],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        cwd=cwd,
        timeout=900,
    )
