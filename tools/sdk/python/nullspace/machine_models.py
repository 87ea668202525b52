"""Typed views of the machine API's JSON objects (docs/API.md, machines).

Like :mod:`nullspace.models`: each view has the documented fields as
attributes and the whole object as ``raw``; views are immutable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from nullspace.models import _int, _opt_int, _opt_str, _str, _strs

__all__ = [
    "MACHINE_TERMINAL_STATES",
    "MachineFailure",
    "MachinePort",
    "WarmPoolCheckout",
    "MachineInfo",
    "CommandResult",
    "CommandStatus",
    "FileEntry",
]

MACHINE_TERMINAL_STATES = frozenset({"stopped", "failed"})


def _bool(v: Any, default: bool = False) -> bool:
    return v if isinstance(v, bool) else default


@dataclass(frozen=True)
class MachineFailure:
    """Why a machine failed: ``code`` (``start_failed``, ``ready_timeout``,
    ``sandbox_failed``, ``lost``, ``out_of_memory``, …), a sentence, and the
    start command's last output lines."""

    code: str
    message: str
    last_lines: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "MachineFailure":
        """The view of the API's JSON object ``d`` (missing fields take defaults)."""
        return cls(_str(d.get("code")), _str(d.get("message")), _strs(d.get("last_lines")))


@dataclass(frozen=True)
class MachinePort:
    """A TCP port listening inside a ready machine, and its path on the server
    (``/v1/machines/{id}/ports/{port}/``)."""

    port: int
    url: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "MachinePort":
        """The view of the API's JSON object ``d`` (missing fields take defaults)."""
        return cls(_int(d.get("port")), _str(d.get("url")))


@dataclass(frozen=True)
class WarmPoolCheckout:
    """How a create was served from a warm pool: ``result`` is ``hit``,
    ``fallback`` or ``bypass``."""

    result: str
    pool_id: str | None = None
    waited_ms: int = 0
    reason: str | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "WarmPoolCheckout":
        """The view of the API's JSON object ``d`` (missing fields take defaults)."""
        return cls(_str(d.get("result")), _opt_str(d.get("pool_id")), _int(d.get("waited_ms")), _opt_str(d.get("reason")))


@dataclass(frozen=True)
class MachineInfo:
    """The API's Machine object: one machine started from a template build."""

    id: str
    state: str  # starting | ready | paused | stopping | stopped | failed
    template: str = ""  # the ref as the create named it
    build_id: str = ""
    canonical_ref: str | None = None
    cpu_count: int = 0
    memory_mb: int = 0
    disk_mb: int = 0
    internet_access: bool = True
    envs: list[str] = field(default_factory=list)  # names only: values are never stored
    labels: dict[str, str] = field(default_factory=dict)
    created_at: str | None = None
    ready_at: str | None = None
    finished_at: str | None = None
    timeout_at: str | None = None
    failure: MachineFailure | None = None
    stop_reason: str | None = None  # deleted | timeout | …
    ports: list[MachinePort] = field(default_factory=list)
    warm_pool_checkout: WarmPoolCheckout | None = None
    log_next_offset: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        """Whether the machine has ended (stopped or failed): it never changes again."""
        return self.state in MACHINE_TERMINAL_STATES

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "MachineInfo":
        """The view of the API's JSON object ``d`` (missing fields take defaults).

        Resources are read from ``resources`` (the server's shape) or from the
        top level."""
        res = d.get("resources")
        r: Mapping[str, Any] = res if isinstance(res, Mapping) else d
        failure = d.get("failure")
        checkout = d.get("warm_pool_checkout")
        labels = d.get("labels")
        ports = d.get("ports")
        return cls(
            id=_str(d.get("id")),
            state=_str(d.get("state")),
            template=_str(d.get("template")),
            build_id=_str(d.get("build_id")),
            canonical_ref=_opt_str(d.get("canonical_ref")),
            cpu_count=_int(r.get("cpu_count")),
            memory_mb=_int(r.get("memory_mb")),
            disk_mb=_int(r.get("disk_mb")),
            internet_access=_bool(r.get("internet_access"), True),
            envs=_strs(d.get("envs")),
            labels={k: v for k, v in labels.items() if isinstance(v, str)} if isinstance(labels, Mapping) else {},
            created_at=_opt_str(d.get("created_at")),
            ready_at=_opt_str(d.get("ready_at")),
            finished_at=_opt_str(d.get("finished_at")),
            timeout_at=_opt_str(d.get("timeout_at")),
            failure=MachineFailure.from_json(failure) if isinstance(failure, Mapping) else None,
            stop_reason=_opt_str(d.get("stop_reason")),
            ports=[MachinePort.from_json(p) for p in ports if isinstance(p, Mapping)] if isinstance(ports, list) else [],
            warm_pool_checkout=WarmPoolCheckout.from_json(checkout) if isinstance(checkout, Mapping) else None,
            log_next_offset=_int(d.get("log_next_offset")),
            raw=dict(d),
        )


@dataclass(frozen=True)
class CommandResult:
    """What a command did: its output, exit code and how it ended.

    ``exit_code`` is ``128 + signal`` when a signal ended it (a timeout or a
    kill: 137), and ``None`` only while a background command still runs.
    ``error`` is set (and the other fields mean little) when the command could
    not start at all. ``truncated``: a stream passed the server's output limit
    and only its beginning was kept.
    """

    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    duration_ms: int = 0
    truncated: bool = False
    timed_out: bool = False
    killed: bool = False
    oom: bool = False
    error: str | None = None
    command_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Whether it started and exited with 0."""
        return self.error is None and self.exit_code == 0

    @classmethod
    def from_json(cls, d: Mapping[str, Any], *, stdout: str | None = None, stderr: str | None = None) -> "CommandResult":
        """The view of the API's JSON object ``d``; ``stdout``/``stderr`` replace
        the object's own (the streaming form sends the output separately)."""
        err = d.get("error")
        return cls(
            stdout=_str(d.get("stdout")) if stdout is None else stdout,
            stderr=_str(d.get("stderr")) if stderr is None else stderr,
            exit_code=_opt_int(d.get("exit_code")),
            duration_ms=_int(d.get("duration_ms")),
            truncated=_bool(d.get("truncated")),
            timed_out=_bool(d.get("timed_out")),
            killed=_bool(d.get("killed")),
            oom=_bool(d.get("oom")),
            error=err if isinstance(err, str) and err else None,
            command_id=_opt_str(d.get("command_id")),
            raw=dict(d),
        )


@dataclass(frozen=True)
class CommandStatus:
    """A background command read from offsets: whether it still runs, the
    output from the offsets asked (``result.stdout``/``result.stderr``), and
    where the next read starts (``stdout_next``, ``stderr_next``)."""

    command_id: str
    running: bool
    result: CommandResult
    stdout_next: int = 0
    stderr_next: int = 0

    @property
    def stdout(self) -> str:
        """The stdout from the offset asked."""
        return self.result.stdout

    @property
    def stderr(self) -> str:
        """The stderr from the offset asked."""
        return self.result.stderr

    @property
    def exit_code(self) -> int | None:
        """The exit code, or ``None`` while it runs."""
        return self.result.exit_code

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "CommandStatus":
        """The view of the API's JSON object ``d`` (missing fields take defaults)."""
        return cls(
            command_id=_str(d.get("command_id")),
            running=_bool(d.get("running")),
            result=CommandResult.from_json(d),
            stdout_next=_int(d.get("stdout_next")),
            stderr_next=_int(d.get("stderr_next")),
        )


@dataclass(frozen=True)
class FileEntry:
    """A file or directory inside a machine. ``mode`` is the permission bits as
    an int (the API's octal string ``"0644"`` is parsed); ``mode_text`` keeps
    the string."""

    name: str
    path: str
    type: str  # file | dir | symlink | other
    size: int = 0
    mode: int = 0
    uid: int = 0
    gid: int = 0
    modified_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_dir(self) -> bool:
        """Whether it is a directory."""
        return self.type == "dir"

    @property
    def mode_text(self) -> str:
        """The permission bits as four octal digits (``0644``)."""
        return f"{self.mode:04o}"

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "FileEntry":
        """The view of the API's JSON object ``d`` (missing fields take defaults)."""
        return cls(
            name=_str(d.get("name")),
            path=_str(d.get("path")),
            type=_str(d.get("type")),
            size=_int(d.get("size")),
            mode=_parse_mode(d.get("mode")),
            uid=_int(d.get("uid")),
            gid=_int(d.get("gid")),
            modified_at=_opt_str(d.get("modified_at")),
            raw=dict(d),
        )


def _parse_mode(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str):
        try:
            return int(v, 8)
        except ValueError:
            return 0
    return 0

