"""Ready checks for a template's start command (``set_start_cmd(cmd, ready=…)``).

After the last step the build runs the start command and probes the check every
250 ms inside the build's sandbox; the build is ready once it passes within
``ready_timeout_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ReadyCheck", "wait_for_port", "wait_for_url", "wait_for_file", "wait_for_command"]


@dataclass(frozen=True)
class ReadyCheck:
    """One check: ``type`` is ``port``, ``url``, ``file`` or ``command``."""

    type: str
    port: int | None = None
    url: str | None = None
    path: str | None = None
    cmd: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``builder.ready`` object of a request."""
        value = {"port": self.port, "url": self.url, "file": self.path, "command": self.cmd}[self.type]
        key = {"port": "port", "url": "url", "file": "path", "command": "cmd"}[self.type]
        return {"type": self.type, key: value}


def wait_for_port(port: int) -> ReadyCheck:
    """Ready once a TCP connect to ``127.0.0.1:port`` succeeds."""
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ValueError(f"wait_for_port needs a port between 1 and 65535, got {port!r}")
    return ReadyCheck("port", port=port)


def wait_for_url(url: str) -> ReadyCheck:
    """Ready once an HTTP(S) GET of ``url`` answers 2xx or 3xx."""
    return ReadyCheck("url", url=url)


def wait_for_file(path: str) -> ReadyCheck:
    """Ready once ``path`` exists (tmpfs mounts such as /tmp included)."""
    return ReadyCheck("file", path=path)


def wait_for_command(cmd: str) -> ReadyCheck:
    """Ready once ``sh -c cmd`` exits 0."""
    return ReadyCheck("command", cmd=cmd)
