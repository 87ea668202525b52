"""``default_build_logger``: a readable line per build log entry."""

from __future__ import annotations

import os
import re
import sys
from typing import Callable, TextIO

from nullspace.models import LogEntry

__all__ = ["default_build_logger", "format_entry"]

_LEVELS = {"trace": 0, "debug": 1, "info": 2, "warn": 3, "warning": 3, "error": 4}
_COLOURS = {"debug": "\x1b[2m", "info": "\x1b[32m", "warn": "\x1b[33m", "error": "\x1b[31m"}
_BOLD, _RESET = "\x1b[1m", "\x1b[0m"
# Escape sequences and control bytes a build may print (a log line stays one plain line).
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b.|[\x00-\x08\x0b-\x1f\x7f]")


def _printable(text: str) -> str:
    if "\r" in text.rstrip("\r"):
        text = text.rstrip("\r").rsplit("\r", 1)[-1]  # a redrawn progress line: its last state
    return _CONTROL.sub("", text)


def format_entry(entry: LogEntry, colour: bool = False) -> str:
    """One entry as a line: time, level, where it is (step, phase, cache
    decision) and the message; ``colour`` adds ANSI colours to the level."""
    ts = entry.ts[11:23] if len(entry.ts) >= 23 else entry.ts
    level = entry.level.upper().ljust(5)
    if colour:
        level = _COLOURS.get(entry.level, "") + level + _RESET
    where = []
    if entry.step is not None:
        where.append(f"step {entry.step}")
    if entry.phase and entry.phase != "step":
        where.append(entry.phase)
    if entry.cache is not None and not entry.message.startswith("cache "):
        where.append(f"cache {entry.cache.status}")
    tag = f"[{' · '.join(where)}] " if where else ""
    message = _printable(entry.message)
    if entry.kind == "step":
        message = f"==> {message}"
        if colour:
            message = _BOLD + message + _RESET
    elif entry.kind in ("status", "cancelled"):
        message = f"--> {message}"
    elif entry.kind == "error":
        message = f"!!  {message}"
    return f"{ts} {level} {tag}{message}"


def default_build_logger(
    min_level: str = "info", *, stream: TextIO | None = None, colour: bool | None = None
) -> Callable[[LogEntry], None]:
    """A callback for ``on_log_entry`` that prints each entry at or above
    ``min_level`` (``debug``, ``info``, ``warn``, ``error``) as one line.

    ``stream`` defaults to ``sys.stdout`` (looked up at each call). Levels are
    coloured when the stream is a terminal (and ``TERM`` is not ``dumb`` and
    ``NO_COLOR`` is unset), unless ``colour`` says otherwise.
    """
    if min_level.lower() not in _LEVELS:
        raise ValueError(f"min_level must be one of debug, info, warn, error; got {min_level!r}")
    threshold = _LEVELS[min_level.lower()]

    def log(entry: LogEntry) -> None:
        if _LEVELS.get(entry.level, 2) < threshold:
            return
        out = stream or sys.stdout
        use_colour = colour
        if use_colour is None:
            use_colour = (
                hasattr(out, "isatty")
                and out.isatty()
                and os.environ.get("TERM", "") != "dumb"
                and "NO_COLOR" not in os.environ
            )
        out.write(format_entry(entry, bool(use_colour)) + "\n")
        out.flush()

    return log
