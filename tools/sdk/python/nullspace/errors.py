"""The exceptions the SDK raises.

Every error the server answers has the body ``{"error": {"code", "message",
"field"?, "details"?}}``; :func:`error_from_response` turns it into the class
for its HTTP status. All of them derive from :class:`NullspaceError`, so one
``except NullspaceError`` catches everything the SDK raises on purpose.
"""

from __future__ import annotations

import builtins
import json
from email.message import Message
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence, Union

from nullspace.redaction import redact

if TYPE_CHECKING:  # pragma: no cover
    from nullspace.machine_models import CommandResult, MachineInfo
    from nullspace.models import BuildInfo, LogEntry

__all__ = [
    "NullspaceError",
    "ConnectionError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "InvalidArgumentError",
    "FailedPreconditionError",
    "ConflictError",
    "RateLimitError",
    "TimeoutError",
    "ServerError",
    "BuildError",
    "MachineError",
    "CommandExitError",
    "NotSupportedError",
    "WarmPoolEmptyError",
    "error_from_response",
]


class NullspaceError(Exception):
    """Base class of every error the SDK raises.

    Attributes:
        message: the human sentence (the server's own when it answered).
        code: the API's error code (``invalid_argument``, ``not_found``, …) or
            an SDK code (``connection_failed``, ``timeout``, …).
        status: the HTTP status of the answer, or ``None`` if there was none.
        field: the request field the error is about, when the server named one.
        details: every problem the server found (request validation), each a dict
            with ``code``, ``message`` and maybe ``field``.
        counts: numbers the server gave with the error (a warm pool's ``ready``,
            ``starting``, ``in_use``, ``failed`` on a 503 ``warm_pool_empty`` or a
            ready wait's 408/409), else empty.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        field: str | None = None,
        details: Sequence[Mapping[str, Any]] | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.field = field
        self.details: list[dict[str, Any]] = [dict(d) for d in details or []]
        self.counts: dict[str, int] = dict(counts or {})

    def __str__(self) -> str:
        parts = [self.message]
        if self.field and self.field not in self.message:
            parts.append(f"(field: {self.field})")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, message={self.message!r})"


class ConnectionError(NullspaceError, builtins.ConnectionError):
    """The server could not be reached, or the connection was lost for good."""


class AuthenticationError(NullspaceError):
    """401: the API key is missing or unknown."""


class PermissionDeniedError(NullspaceError):
    """403: the object is readable but not yours to change (another tenant's
    public template), or the namespace belongs to another tenant."""


class NotFoundError(NullspaceError):
    """404: no such build, template, tag or alias (or another tenant's private one)."""


class InvalidArgumentError(NullspaceError):
    """400 (and 413, 415): the request is wrong; ``field`` names the part of it
    (``memory_mb``, ``builder.steps[2].cmd``, ``build_secrets``, …)."""


class FailedPreconditionError(InvalidArgumentError):
    """422: the request is well formed but the object's state refuses it: a retry
    without fresh values for the original secret ids (``field`` is
    ``build_secrets`` and the message names them), promoting a build that is
    not ready. A subclass of :class:`InvalidArgumentError`."""


class ConflictError(NullspaceError):
    """409: a name or alias is taken, or the state does not allow the change
    (cancelling a finished build, renaming while a build runs)."""


class RateLimitError(NullspaceError):
    """429: the server's build queue is full; try again later.

    Attributes:
        retry_after: seconds the server asked to wait (``Retry-After``), or ``None``.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class TimeoutError(NullspaceError, builtins.TimeoutError):
    """A call or a wait did not finish in time: the client's own timeout, a
    ``wait_until_terminal(timeout=…)`` deadline, or the server's 408."""


class ServerError(NullspaceError):
    """500/503 and other 5xx answers: a problem on the server's side."""


class BuildError(NullspaceError):
    """A build ended in ``error`` (or ``cancelled``) where a ready build was expected.

    Attributes:
        build: the terminal :class:`~nullspace.models.BuildInfo`.
        build_id: its id.
        step: the index of the failing step, or ``None``.
        last_lines: the last output lines the server kept with the error.
        logs: the last log entries the SDK saw (at most 50), oldest first.
    """

    def __init__(
        self,
        message: str,
        *,
        build: "BuildInfo",
        logs: Sequence["LogEntry"] = (),
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.build = build
        self.build_id = build.id
        self.step = build.error.step if build.error else None
        self.last_lines: list[str] = list(build.error.last_lines) if build.error else []
        self.logs = list(logs)[-50:]

    @classmethod
    def from_build(
        cls, build: "BuildInfo", logs: Sequence["LogEntry"] = (), secrets: Iterable[str] = ()
    ) -> "BuildError":
        """The error for a terminal build that is not ready (secret values redacted)."""
        if build.status == "cancelled":
            why = f": {build.cancel_reason}" if build.cancel_reason else ""
            return cls(redact(f"build {build.id} was cancelled{why}", secrets), build=build, logs=logs, code="cancelled")
        err = build.error
        code = err.code if err else "error"
        lines = [f"build {build.id} failed"]
        if err is not None:
            where = f" at step {err.step}" if err.step is not None else ""
            lines[0] += f"{where}: {err.code}: {err.message}"
            tail = [line for line in err.last_lines if line not in err.message]
            if tail:
                lines.append("last output lines:")
                lines.extend(f"  {line}" for line in tail)
        elif logs:
            lines.append("last log lines:")
            lines.extend(f"  {e.message}" for e in list(logs)[-10:])
        return cls(redact("\n".join(lines), secrets), build=build, logs=logs, code=code)


class MachineError(NullspaceError):
    """A machine is not (or no longer) usable where a ready one was expected: it
    failed to start, or it stopped or failed while being waited for.

    Attributes:
        machine: the :class:`~nullspace.machine_models.MachineInfo` as last seen.
        machine_id: its id.
        last_lines: the start command's last output lines, when it failed.

    A create the server refuses because the start failed is a
    :class:`FailedPreconditionError` (422) whose message names the failure; this
    class is for a machine the SDK saw end (``wait_until_ready``).
    """

    def __init__(self, message: str, *, machine: "MachineInfo", code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.machine = machine
        self.machine_id = machine.id
        self.last_lines: list[str] = list(machine.failure.last_lines) if machine.failure else []


class CommandExitError(NullspaceError):
    """A command exited with a non-zero code (or a signal ended it, or it timed
    out, or it could not start) where success was expected: like E2B's
    ``CommandExitException``, raised by ``commands.run`` and
    ``CommandHandle.wait`` unless ``check=False``.

    Attributes:
        result: the whole :class:`~nullspace.machine_models.CommandResult`.
        stdout, stderr, exit_code: the result's, for convenience.
        timed_out, killed, oom: how it ended.
    """

    def __init__(self, message: str, *, result: "CommandResult", code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.result = result
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.exit_code = result.exit_code
        self.timed_out = result.timed_out
        self.killed = result.killed
        self.oom = result.oom

    @classmethod
    def from_result(cls, result: "CommandResult", what: str = "command", secrets: Iterable[str] = ()) -> "CommandExitError":
        """The error for a finished command that did not succeed; the message has
        the reason and the last lines of stderr (or stdout)."""
        if result.error:
            text, code = f"{what} could not start: {result.error}", "command_failed_to_start"
        elif result.timed_out:
            text, code = f"{what} timed out and was killed (exit code {result.exit_code})", "command_timed_out"
        elif result.oom:
            text, code = f"{what} ran out of memory (exit code {result.exit_code})", "command_out_of_memory"
        elif result.killed:
            text, code = f"{what} was killed (exit code {result.exit_code})", "command_killed"
        else:
            text, code = f"{what} exited with code {result.exit_code}", "command_exit"
        tail = (result.stderr or result.stdout).rstrip("\n").splitlines()[-5:]
        if tail:
            text += "\n" + "\n".join(f"  {line}" for line in tail)
        return cls(redact(text, secrets), result=result, code=code)


class NotSupportedError(NullspaceError, NotImplementedError):
    """A part of the SDK whose server feature does not exist yet. Also a builtin
    ``NotImplementedError``. (Warm pools raised it before the server had them;
    nothing does now.)"""


class WarmPoolEmptyError(ServerError):
    """503 ``warm_pool_empty``: ``Machine.create(warm_pool=…,
    warm_pool_mode="require")`` found no ready machine in the pool within
    ``warm_pool_wait_ms``. ``counts`` has the pool's ``ready``, ``starting``,
    ``in_use`` and ``failed`` as the server saw them. A subclass of
    :class:`ServerError`."""

    @property
    def ready(self) -> int:
        """The pool's ready machines then."""
        return int(self.counts.get("ready", 0))


_BY_STATUS: dict[int, type[NullspaceError]] = {
    400: InvalidArgumentError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: InvalidArgumentError,
    408: TimeoutError,
    409: ConflictError,
    413: InvalidArgumentError,
    415: InvalidArgumentError,
    422: FailedPreconditionError,
    429: RateLimitError,
}


def error_from_response(
    status: int,
    body: bytes | str,
    headers: Union[Mapping[str, str], Message, None] = None,
    *,
    method: str = "",
    path: str = "",
    secrets: Iterable[str] = (),
) -> NullspaceError:
    """The exception for an error answer of the API (any status >= 400).

    ``secrets`` are values to redact from the message, whatever the server said.
    """
    secrets = list(secrets)
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    code: str | None = None
    message = ""
    field: str | None = None
    details: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    try:
        doc = json.loads(text) if text else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
        err = doc["error"]
        code = err.get("code") if isinstance(err.get("code"), str) else None
        message = err.get("message") if isinstance(err.get("message"), str) else ""
        field = err.get("field") if isinstance(err.get("field"), str) else None
        if isinstance(err.get("details"), list):
            details = [d for d in err["details"] if isinstance(d, dict)]
        if isinstance(err.get("counts"), dict):
            counts = {k: v for k, v in err["counts"].items() if isinstance(v, int) and not isinstance(v, bool)}
    if not message:
        what = f"{method} {path} " if method else ""
        message = f"{what}answered HTTP {status}" + (f": {text.strip()[:200]}" if text.strip() else "")
    message = redact(message, secrets)
    details = [
        {k: (redact(v, secrets) if isinstance(v, str) else v) for k, v in d.items()} for d in details
    ]
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else NullspaceError)
    if status == 503 and code == "warm_pool_empty":
        cls = WarmPoolEmptyError
    kw: dict[str, Any] = {"code": code, "status": status, "field": field, "details": details, "counts": counts}
    if cls is RateLimitError:
        retry_after = None
        raw = headers.get("Retry-After") if headers is not None else None
        if raw:
            try:
                retry_after = float(raw)
            except ValueError:
                retry_after = None
        return RateLimitError(message, retry_after=retry_after, **kw)
    return cls(message, **kw)
