"""A real nullspaced on loopback, started the way an operator starts it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path


def daemon_binary() -> str:
    """build/nullspaced: $NULLSPACE_DAEMON (set by meson) or the checkout's build dir."""
    env = os.environ.get("NULLSPACE_DAEMON")
    if env:
        return env
    root = Path(__file__).resolve().parents[5]
    return str(root / "build" / "nullspaced")


def can_sandbox() -> str:
    """"" when sandboxed builds can run here, else why not."""
    if os.geteuid() != 0:
        return "sandboxed builds need root (mounts, namespaces, cgroups)"
    if not (shutil.which("runc") or shutil.which("crun")):
        return "no OCI runtime (runc or crun) installed"
    return ""


def can_run_machines() -> str:
    """"" when machines (containers over ext4 images) can run here, else why not."""
    why = can_sandbox()
    if why:
        return why
    if not os.access("/dev/loop-control", os.R_OK | os.W_OK):
        return "no loop devices (/dev/loop-control)"
    if not (shutil.which("mkfs.ext4") or os.path.exists("/sbin/mkfs.ext4")):
        return "no mkfs.ext4 (e2fsprogs)"
    init = Path(daemon_binary()).with_name("nullspace-init")
    if not os.access(init, os.X_OK):
        return f"no {init} (machines' PID 1, built next to nullspaced)"
    return ""


class Nullspaced:
    """Runs ``nullspaced --listen 127.0.0.1:0`` with a data dir of its own and
    waits for its ``listening on`` line. ``stop()`` sends SIGTERM."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.stderr_path = data_dir / "nullspaced.stderr"
        data_dir.mkdir(parents=True, exist_ok=True)
        self._stderr = open(self.stderr_path, "wb")
        cmd = [daemon_binary(), "--listen", "127.0.0.1:0", "--data-dir", str(data_dir / "data"), *args]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self._stderr, env={**os.environ, **(env or {})}
        )
        assert self.proc.stdout is not None
        self.url = ""
        for raw in self.proc.stdout:  # blocks until the line comes (or the daemon exits)
            line = raw.decode().strip()
            if line.startswith("listening on "):
                self.url = line.removeprefix("listening on ")
                break
        if not self.url:
            self.proc.wait()
            raise RuntimeError(f"nullspaced exited with {self.proc.returncode}: {self.stderr()}")

    def stderr(self) -> str:
        """What the daemon logged so far."""
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        return self.proc.returncode
