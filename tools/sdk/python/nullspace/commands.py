"""``machine.commands``: run commands in a machine, in the foreground (to their
end, optionally streaming their output to callbacks) or in the background
(a :class:`CommandHandle` to wait for, read from offsets, or kill).

How ``cmd`` is run:

- a ``str`` with ``shell=False`` (the default) is ONE program, run without a
  shell: ``run("/usr/bin/env")``; no word splitting, no ``$VAR``;
- a list is the argv: ``run(["python3", "-c", "print(1)"])``;
- ``shell=True`` runs a ``str`` with ``/bin/sh -c``: pipes, redirections,
  variables; a list is quoted into one shell line first (``shlex.join``).

Exit codes follow E2B's semantics: a command that exits non-zero (or is ended
by a signal, times out, or cannot start) raises
:class:`~nullspace.errors.CommandExitError`, which carries the whole
:class:`~nullspace.machine_models.CommandResult` (``stdout``, ``stderr``,
``exit_code``). Pass ``check=False`` to get the result back instead.
"""

from __future__ import annotations

import http.client
import json
import shlex
import time
from typing import Any, Callable, Literal, Mapping, Sequence, overload

from nullspace.client import Client, quote_segment
from nullspace.errors import CommandExitError, ConnectionError, InvalidArgumentError, NullspaceError, TimeoutError
from nullspace.machine_models import CommandResult, CommandStatus
from nullspace.streams import _lines, iter_sse

__all__ = ["Commands", "CommandHandle", "OutputCallback"]

OutputCallback = Callable[[str], Any]

# A command without a timeout of its own can run as long as its machine: the
# HTTP call waiting for it gets the longest machine lifetime the server allows.
_UNBOUNDED_SECONDS = 24 * 3600.0
_READ_ERRORS = (OSError, http.client.HTTPException)


def _command_body(
    cmd: str | Sequence[str],
    shell: bool,
    envs: Mapping[str, str] | None,
    cwd: str | None,
    user: str | int | None,
    timeout: float | None,
    stdin: str | bytes | None,
    background: bool,
) -> dict[str, Any]:
    if isinstance(cmd, str):
        if not cmd:
            raise InvalidArgumentError("cmd is empty", field="cmd")
        wire: str | list[str] = cmd if shell else [cmd]
    elif isinstance(cmd, Sequence) and cmd and all(isinstance(a, str) for a in cmd):
        wire = shlex.join(cmd) if shell else list(cmd)
    else:
        raise InvalidArgumentError("cmd must be a non-empty string or a list of strings", field="cmd")
    body: dict[str, Any] = {"cmd": wire, "shell": bool(shell)}
    if envs:
        body["envs"] = {str(k): str(v) for k, v in envs.items()}
    if cwd is not None:
        body["cwd"] = cwd
    if user is not None:
        body["user"] = str(user)
    if timeout is not None:
        if timeout <= 0:
            raise InvalidArgumentError(f"timeout must be positive seconds, got {timeout!r}", field="timeout")
        body["timeout_ms"] = max(1, int(timeout * 1000))
    if stdin is not None:
        if isinstance(stdin, (bytes, bytearray)):
            try:
                stdin = bytes(stdin).decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidArgumentError("stdin must be text (UTF-8); write binary input with files.write", field="stdin") from None
        body["stdin"] = stdin
    if background:
        body["background"] = True
    return body


def _describe(cmd: str | Sequence[str]) -> str:
    text = cmd if isinstance(cmd, str) else shlex.join(cmd)
    return f"command {text[:80]!r}"


class Commands:
    """The commands of one machine (``machine.commands``)."""

    def __init__(self, machine_id: str, client: Client) -> None:
        self._machine_id = machine_id
        self._client = client

    def _path(self, suffix: str = "") -> str:
        return f"/v1/machines/{quote_segment(self._machine_id)}/commands{suffix}"

    @overload
    def run(
        self,
        cmd: str | Sequence[str],
        shell: bool = ...,
        envs: Mapping[str, str] | None = ...,
        cwd: str | None = ...,
        user: str | int | None = ...,
        timeout: float | None = ...,
        stdin: str | bytes | None = ...,
        background: Literal[False] = ...,
        on_stdout: OutputCallback | None = ...,
        on_stderr: OutputCallback | None = ...,
        *,
        check: bool = ...,
    ) -> CommandResult: ...

    @overload
    def run(
        self,
        cmd: str | Sequence[str],
        shell: bool = ...,
        envs: Mapping[str, str] | None = ...,
        cwd: str | None = ...,
        user: str | int | None = ...,
        timeout: float | None = ...,
        stdin: str | bytes | None = ...,
        *,
        background: Literal[True],
        on_stdout: OutputCallback | None = ...,
        on_stderr: OutputCallback | None = ...,
        check: bool = ...,
    ) -> "CommandHandle": ...

    def run(
        self,
        cmd: str | Sequence[str],
        shell: bool = False,
        envs: Mapping[str, str] | None = None,
        cwd: str | None = None,
        user: str | int | None = None,
        timeout: float | None = None,
        stdin: str | bytes | None = None,
        background: bool = False,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
        *,
        check: bool = True,
    ) -> "CommandResult | CommandHandle":
        """Runs ``cmd`` in the machine (see the module text for how ``cmd`` and
        ``shell`` are read).

        Args:
            envs: added to the machine's environment for this command.
            cwd: the working directory (default: the template's workdir).
            user: a user name or uid (default: the template's user).
            timeout: seconds after which the command's whole process tree is
                killed (``timed_out`` in the result); default: none, the
                machine's own timeout bounds it.
            stdin: text given to the command's standard input (then closed).
            background: start it and return a :class:`CommandHandle` at once.
            on_stdout, on_stderr: called with each piece of output as it comes
                (the server streams it as Server-Sent Events); in the
                background, they are called while :meth:`CommandHandle.wait`
                runs.
            check: raise :class:`~nullspace.errors.CommandExitError` when the
                command does not exit with 0 (the default, like E2B); with
                ``False`` the result is returned whatever the exit code.

        Returns:
            the :class:`~nullspace.machine_models.CommandResult` (``stdout``,
            ``stderr``, ``exit_code``, ``duration_ms``, ``truncated``,
            ``timed_out``, ``killed``, ``oom``, ``error``), or a
            :class:`CommandHandle` with ``background=True``.
        """
        body = _command_body(cmd, shell, envs, cwd, user, timeout, stdin, background)
        what = _describe(cmd)
        if background:
            doc = self._client.request("POST", self._path(), json=body).json()
            cid = doc.get("command_id") if isinstance(doc, dict) else None
            if not isinstance(cid, str) or not cid:
                raise NullspaceError(f"the server started {what} but named no command_id: {doc!r}", code="bad_answer")
            return CommandHandle(self, cid, what=what, on_stdout=on_stdout, on_stderr=on_stderr, check=check)
        wait_for = (timeout if timeout is not None else _UNBOUNDED_SECONDS) + self._client.timeout
        if on_stdout is None and on_stderr is None:
            doc = self._client.request("POST", self._path(), json=body, timeout=wait_for).json()
            result = CommandResult.from_json(doc)
        else:
            result = self._run_streaming(body, what, on_stdout, on_stderr, wait_for)
        if check and not result.ok:
            raise CommandExitError.from_result(result, what)
        return result

    def _run_streaming(
        self,
        body: dict[str, Any],
        what: str,
        on_stdout: OutputCallback | None,
        on_stderr: OutputCallback | None,
        wait_for: float,
    ) -> CommandResult:
        out: list[str] = []
        err: list[str] = []
        # The server sends no pings between output events: a quiet command is
        # waited for as long as the command itself may run.
        stream = self._client.open_stream(
            "POST", self._path(), json=body, headers={"Accept": "text/event-stream"}, read_timeout=wait_for
        )
        try:
            for ev in iter_sse(_lines(stream)):
                if ev.event in ("stdout", "stderr"):
                    doc = ev.json()
                    text = doc.get("data", "") if isinstance(doc, dict) else ""
                    if not isinstance(text, str) or not text:
                        continue
                    (out if ev.event == "stdout" else err).append(text)
                    callback = on_stdout if ev.event == "stdout" else on_stderr
                    if callback is not None:
                        callback(text)
                elif ev.event == "exit":
                    return CommandResult.from_json(ev.json(), stdout="".join(out), stderr="".join(err))
                elif ev.event == "error":
                    doc = ev.json()
                    inner = doc.get("error", doc) if isinstance(doc, dict) else {}
                    message = inner.get("message") if isinstance(inner, dict) else None
                    raise NullspaceError(
                        f"{what} failed: {message or ev.data}",
                        code=inner.get("code") if isinstance(inner, dict) else None,
                    )
        except _READ_ERRORS + (json.JSONDecodeError,) as e:
            raise ConnectionError(
                f"lost the output stream of {what} in machine {self._machine_id} before it ended "
                f"(it may still be running): {e}",
                code="connection_failed",
            ) from e
        finally:
            stream.close()
        raise ConnectionError(
            f"the output stream of {what} in machine {self._machine_id} ended before its exit "
            "(it may still be running)",
            code="connection_failed",
        )

    def connect(
        self,
        command_id: str,
        *,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> "CommandHandle":
        """A handle on a background command started earlier (by its id)."""
        return CommandHandle(self, command_id, on_stdout=on_stdout, on_stderr=on_stderr)

    def get(self, command_id: str, stdout_offset: int = 0, stderr_offset: int = 0) -> CommandStatus:
        """A background command's state and its output from the given offsets."""
        doc = self._client.request(
            "GET",
            self._path(f"/{quote_segment(command_id)}"),
            query={"stdout_offset": stdout_offset, "stderr_offset": stderr_offset},
        ).json()
        return CommandStatus.from_json(doc)

    def kill(self, command_id: str) -> CommandStatus:
        """Kills a background command's whole process tree; returns its state."""
        doc = self._client.request("POST", self._path(f"/{quote_segment(command_id)}/kill"), json={}).json()
        return CommandStatus.from_json(doc)

    def __repr__(self) -> str:
        return f"Commands(machine_id={self._machine_id!r})"


class CommandHandle:
    """A command running in the background.

    ``stdout``/``stderr`` hold the output read so far (by :meth:`wait` or
    :meth:`poll`); :meth:`output` reads from any offsets without changing them.
    """

    def __init__(
        self,
        commands: Commands,
        command_id: str,
        *,
        what: str | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
        check: bool = True,
    ) -> None:
        self._commands = commands
        self.id = command_id
        self._what = what or f"command {command_id}"
        self._on_stdout = on_stdout
        self._on_stderr = on_stderr
        self._check = check
        self._out: list[str] = []
        self._err: list[str] = []
        self._stdout_next = 0
        self._stderr_next = 0
        self._last: CommandStatus | None = None

    @property
    def command_id(self) -> str:
        """Same as :attr:`id`."""
        return self.id

    @property
    def stdout(self) -> str:
        """The standard output read so far."""
        return "".join(self._out)

    @property
    def stderr(self) -> str:
        """The standard error read so far."""
        return "".join(self._err)

    @property
    def exit_code(self) -> int | None:
        """The exit code once the command has ended (as last seen), else ``None``."""
        return None if self._last is None or self._last.running else self._last.exit_code

    def __repr__(self) -> str:
        state = "unknown" if self._last is None else ("running" if self._last.running else f"exit {self._last.exit_code}")
        return f"CommandHandle(id={self.id!r}, {state})"

    def output(self, stdout_offset: int = 0, stderr_offset: int = 0) -> CommandStatus:
        """The command's state and output from the given byte offsets of each
        stream (``stdout_next``/``stderr_next`` say where to read next). Does
        not move :meth:`poll`'s position."""
        return self._commands.get(self.id, stdout_offset, stderr_offset)

    def poll(self) -> CommandStatus:
        """Reads the output that came since the last read, adds it to
        ``stdout``/``stderr``, calls the callbacks with it, and returns the
        state (``running`` False once it has ended)."""
        st = self._commands.get(self.id, self._stdout_next, self._stderr_next)
        self._take(st)
        return st

    def _take(self, st: CommandStatus) -> None:
        if st.result.stdout:
            self._out.append(st.result.stdout)
            if self._on_stdout is not None:
                self._on_stdout(st.result.stdout)
        if st.result.stderr:
            self._err.append(st.result.stderr)
            if self._on_stderr is not None:
                self._on_stderr(st.result.stderr)
        self._stdout_next = max(self._stdout_next, st.stdout_next)
        self._stderr_next = max(self._stderr_next, st.stderr_next)
        self._last = st

    def wait(
        self,
        timeout: float | None = None,
        *,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
        check: bool | None = None,
        poll_interval: float = 0.5,
    ) -> CommandResult:
        """Waits for the command to end, calling the callbacks with its output
        as it comes, and returns its :class:`~nullspace.machine_models.CommandResult`
        with all of its output.

        Raises :class:`~nullspace.errors.CommandExitError` for a non-zero exit
        (unless ``check=False``, or ``check=False`` was given to ``run``) and
        :class:`~nullspace.errors.TimeoutError` if it still runs after
        ``timeout`` seconds (it is not killed)."""
        if on_stdout is not None:
            self._on_stdout = on_stdout
        if on_stderr is not None:
            self._on_stderr = on_stderr
        check = self._check if check is None else check
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.05
        while True:
            st = self.poll()
            if not st.running:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"{self._what} still runs after {timeout:g} s", code="timeout")
            got_output = bool(st.result.stdout or st.result.stderr)
            delay = 0.05 if got_output else min(delay * 2, poll_interval)
            pause = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
        result = CommandResult.from_json(st.result.raw, stdout=self.stdout, stderr=self.stderr)
        if check and not result.ok:
            raise CommandExitError.from_result(result, self._what)
        return result

    def kill(self) -> CommandStatus:
        """Kills the command (its whole process tree) and returns its state;
        a :meth:`wait` afterwards returns (or raises) with ``killed`` set."""
        st = self._commands.kill(self.id)
        self._last = st
        return st
