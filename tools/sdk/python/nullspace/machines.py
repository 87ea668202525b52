"""``Machine``: start a machine from a template build, run commands in it, move
files in and out, reach its ports, and stop it.

::

    with Machine.create(template=build.canonical_ref) as machine:
        print(machine.commands.run("python3 --version", shell=True).stdout)

A machine is an isolated container over the template's root filesystem with
the template's runtime envs, user, workdir and start command. ``with`` kills
it on exit; otherwise it runs until :meth:`Machine.kill` or its timeout
(``timeout=`` seconds at create, :meth:`Machine.set_timeout` later).
"""

from __future__ import annotations

import time
from typing import Any, Iterator, Mapping

from nullspace.client import Client, quote_segment, resolve_client
from nullspace.commands import Commands
from nullspace.errors import InvalidArgumentError, MachineError, NotFoundError, NullspaceError, TimeoutError
from nullspace.files import Files
from nullspace.machine_models import MachineInfo, WarmPoolCheckout
from nullspace.streams import LogFollower, SSEEvent

__all__ = ["Machine", "MachineLogFollower"]

# A create that waits for the machine to be ready (its start command and
# ready check included) may take longer than an ordinary call.
_CREATE_WAIT_SECONDS = 600.0
# A stop sends SIGTERM, waits the server's grace period, then SIGKILL.
_STOP_SECONDS = 120.0


def _timeout_ms(timeout: float | None, timeout_ms: int | None) -> int | None:
    if timeout is not None and timeout_ms is not None:
        raise InvalidArgumentError("pass timeout (seconds) or timeout_ms, not both", field="timeout")
    if timeout is not None:
        if timeout <= 0:
            raise InvalidArgumentError(f"timeout must be positive seconds, got {timeout!r}", field="timeout")
        return max(1, int(timeout * 1000))
    if timeout_ms is not None and timeout_ms <= 0:
        raise InvalidArgumentError(f"timeout_ms must be positive, got {timeout_ms!r}", field="timeout_ms")
    return timeout_ms


def _str_map(value: Mapping[str, Any] | None, what: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"{what} must be a mapping of names to strings", field=what)
    return {str(k): str(v) for k, v in value.items()}


class MachineLogFollower(LogFollower):
    """Iterates over a machine's log entries (:class:`~nullspace.models.LogEntry`:
    start output, ready checks, commands, state changes).

    With ``follow=True`` it goes on until the machine ends (reconnecting with
    ``Last-Event-ID`` after a drop); ``machine`` is then the ended
    :class:`~nullspace.machine_models.MachineInfo`."""

    _kind = "machine"

    def __init__(self, client: Client, machine_id: str, *, offset: int = 0, follow: bool = False) -> None:
        super().__init__(client, machine_id, offset=offset, follow=follow)
        self.machine: MachineInfo | None = None

    @property
    def machine_id(self) -> str:
        """The machine followed."""
        assert self.build_id is not None
        return self.build_id

    def _logs_path(self) -> str:
        return f"/v1/machines/{quote_segment(self.machine_id)}/logs"

    def _on_end(self, ev: SSEEvent) -> None:
        doc = ev.json()
        if isinstance(doc, dict) and isinstance(doc.get("machine"), dict):
            doc = doc["machine"]
        self.machine = MachineInfo.from_json(doc)


class Machine:
    """One machine. ``info`` is the latest :class:`~nullspace.machine_models.MachineInfo`
    the handle saw (``refresh()`` asks again); ``commands`` and ``files`` act
    inside it.

    Make one with :meth:`create` or :meth:`connect`; use it as a context manager
    to kill it when the block ends.
    """

    def __init__(self, info: MachineInfo, *, client: Client) -> None:
        self.info = info
        self._client = client
        self.commands = Commands(info.id, client)
        self.files = Files(info.id, client)

    # ---- construction ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        template: str = "",
        *,
        envs: Mapping[str, str] | None = None,
        cpu_count: int | None = None,
        memory_mb: int | None = None,
        timeout: float | None = None,
        timeout_ms: int | None = None,
        labels: Mapping[str, str] | None = None,
        internet_access: bool | None = None,
        wait: bool = True,
        warm_pool: str | None = None,
        warm_pool_mode: str | None = None,
        warm_pool_wait_ms: int | None = None,
        request_timeout: float | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
    ) -> "Machine":
        """Starts a machine from ``template`` (any ref: ``name``, ``name:tag``,
        ``namespace/name@tb_…``; a ready build's ``canonical_ref`` names exactly
        that build).

        Args:
            envs: environment variables added to the template's runtime envs
                (the server keeps their names only).
            cpu_count, memory_mb: override the template's resources.
            timeout: seconds until the server stops the machine (or
                ``timeout_ms``); default: the server's (5 minutes).
            labels: ``{key: value}`` to find it again with :meth:`list`.
            internet_access: ``False`` leaves it loopback only (``True`` never
                overrides a template built without internet access).
            wait: answer once the machine is ready (its start command running
                and its ready check passed); with ``False`` it is returned at
                ``starting`` (see :meth:`wait_until_ready`).
            warm_pool: a warm pool (name or ``wp_…``) to check a ready machine
                out of; ``template`` may then be empty (the pool's is used).
            warm_pool_mode: ``prefer`` (default: a ready machine, else a cold
                start), ``require`` (a ready machine or
                :class:`~nullspace.errors.WarmPoolEmptyError`) or ``bypass`` (a
                cold start from the pool's template).
            warm_pool_wait_ms: with ``require``, how long to wait for a ready
                machine. :attr:`warm_pool_checkout` says how it was served.
            request_timeout: seconds the create call may take (default 600 with
                ``wait``, else the client's timeout).

        Raises:
            NotFoundError: no such template or build (or not yours).
            FailedPreconditionError: the build cannot start a machine, or the
                start failed (the message names the failure code and the start
                command's last output lines).
            RateLimitError: too many machines are alive.
            InvalidArgumentError: a bad value (``field`` names it).
            WarmPoolEmptyError: ``require`` found no ready machine in time
                (``counts`` has the pool's).
        """
        if not isinstance(template, str) or not (template or warm_pool):
            raise InvalidArgumentError("template must be a template ref, e.g. build.canonical_ref", field="template")
        c = resolve_client(client, api_url, api_key)
        body: dict[str, Any] = {"template": template} if template else {}
        for key, value in (
            ("envs", _str_map(envs, "envs")),
            ("cpu_count", cpu_count),
            ("memory_mb", memory_mb),
            ("timeout_ms", _timeout_ms(timeout, timeout_ms)),
            ("labels", _str_map(labels, "labels")),
            ("internet_access", internet_access),
            ("warm_pool", warm_pool),
            ("warm_pool_mode", warm_pool_mode),
            ("warm_pool_wait_ms", warm_pool_wait_ms),
        ):
            if value is not None:
                body[key] = value
        body["wait"] = bool(wait)
        if request_timeout is None:
            request_timeout = max(c.timeout, _CREATE_WAIT_SECONDS) if wait else c.timeout
        doc = c.request("POST", "/v1/machines", json=body, timeout=request_timeout).json()
        return cls(MachineInfo.from_json(doc["machine"]), client=c)

    @classmethod
    def connect(
        cls,
        machine_id: str,
        *,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
    ) -> "Machine":
        """A handle on an existing machine (another tenant's is :class:`NotFoundError`)."""
        c = resolve_client(client, api_url, api_key)
        doc = c.request("GET", f"/v1/machines/{quote_segment(machine_id)}").json()
        return cls(MachineInfo.from_json(doc["machine"]), client=c)

    @staticmethod
    def list(
        state: str | None = None,
        template: str | None = None,
        label: str | None = None,
        *,
        limit: int | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
    ) -> Iterator[MachineInfo]:
        """Your machines, iterating over every page (``limit`` is the page size).

        Filters: ``state`` (``ready``, ``stopped``, …), ``template`` (the ref as
        the create named it), ``label`` (``"key"`` or ``"key=value"``)."""
        c = resolve_client(client, api_url, api_key)
        cursor: str | None = None
        while True:
            doc = c.request(
                "GET",
                "/v1/machines",
                query={"state": state, "template": template, "label": label, "limit": limit, "cursor": cursor},
            ).json()
            for m in doc.get("machines", []):
                yield MachineInfo.from_json(m)
            cursor = doc.get("next_cursor")
            if not cursor:
                return

    # ---- attributes ------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The machine id (``m_…``)."""
        return self.info.id

    @property
    def machine_id(self) -> str:
        """Same as :attr:`id`."""
        return self.info.id

    @property
    def state(self) -> str:
        """``starting``, ``ready``, ``paused``, ``stopping``, ``stopped`` or ``failed`` (as last seen)."""
        return self.info.state

    @property
    def template(self) -> str:
        """The template ref the machine was created with."""
        return self.info.template

    @property
    def canonical_ref(self) -> str | None:
        """``namespace/name@tb_…``: the build the machine runs."""
        return self.info.canonical_ref

    @property
    def warm_pool_checkout(self) -> WarmPoolCheckout | None:
        """How a warm pool served the create (``result``: ``hit``, ``fallback``
        or ``bypass``; ``pool_id``, ``waited_ms``, ``reason``), or ``None``."""
        return self.info.warm_pool_checkout

    @property
    def client(self) -> Client:
        """The client the handle's calls go through."""
        return self._client

    def __repr__(self) -> str:
        return f"Machine(id={self.id!r}, state={self.state!r}, template={self.template!r})"

    # ---- lifecycle --------------------------------------------------------------------

    def _path(self, suffix: str = "") -> str:
        return f"/v1/machines/{quote_segment(self.id)}{suffix}"

    def _update(self, doc: Any) -> MachineInfo:
        self.info = MachineInfo.from_json(doc["machine"])
        return self.info

    def refresh(self) -> MachineInfo:
        """Asks for the machine again and updates :attr:`info`."""
        return self._update(self._client.request("GET", self._path()).json())

    def get_info(self) -> MachineInfo:
        """Same as :meth:`refresh`."""
        return self.refresh()

    def is_running(self) -> bool:
        """Whether the machine is ready (asks the server)."""
        return self.refresh().state == "ready"

    def wait_until_ready(self, timeout: float | None = None, poll_interval: float = 0.5) -> MachineInfo:
        """Waits for a machine created with ``wait=False`` to be ready.

        Raises :class:`~nullspace.errors.MachineError` if it fails or stops
        first, :class:`~nullspace.errors.TimeoutError` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.refresh()
            if info.state in ("ready", "paused"):
                return info
            if info.state in ("stopping", "stopped", "failed"):
                why = f": {info.failure.code}: {info.failure.message}" if info.failure else ""
                raise MachineError(f"machine {self.id} is {info.state}{why}", machine=info, code=info.failure.code if info.failure else info.state)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"machine {self.id} is still {info.state} after {timeout:g} s", code="timeout")
            time.sleep(poll_interval)

    def kill(self) -> MachineInfo:
        """Stops the machine (SIGTERM, a grace period, then SIGKILL) and removes
        its root; returns it ``stopped``. Killing a machine that has already
        ended returns it as it is."""
        return self._update(
            self._client.request("DELETE", self._path(), timeout=max(self._client.timeout, _STOP_SECONDS)).json()
        )

    def pause(self) -> MachineInfo:
        """Freezes every process of the machine (its memory is kept)."""
        return self._update(self._client.request("POST", self._path("/pause"), json={}).json())

    def resume(self) -> MachineInfo:
        """Thaws a paused machine."""
        return self._update(self._client.request("POST", self._path("/resume"), json={}).json())

    def set_timeout(self, timeout: float) -> MachineInfo:
        """The machine is now stopped ``timeout`` seconds from now (unless
        extended again); ``info.timeout_at`` is the new deadline."""
        ms = _timeout_ms(timeout, None)
        return self._update(
            self._client.request("POST", self._path("/timeout"), json={"timeout_ms": ms}, idempotent=True).json()
        )

    def __enter__(self) -> "Machine":
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        # Kill on the way out; a machine that is already gone is fine, and a
        # failure to kill never hides the exception that ended the block.
        try:
            self.kill()
        except NotFoundError:
            pass
        except NullspaceError:
            if exc_type is None:
                raise

    # ---- ports and logs -----------------------------------------------------------------

    def port_url(self, port: int) -> str:
        """The full URL through which the server proxies HTTP to ``port`` inside
        the machine: ``{api_url}/v1/machines/{id}/ports/{port}/``. With API
        keys, requests to it need the ``Authorization: Bearer`` header too."""
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidArgumentError(f"port must be 1 to 65535, got {port!r}", field="port")
        return f"{self._client.api_url}{self._path(f'/ports/{port}/')}"

    def get_host(self, port: int) -> str:
        """The full URL of ``port`` (E2B's name; see :meth:`port_url`: here it is a
        URL with a scheme and a path, not a bare host name)."""
        return self.port_url(port)

    def logs(self, offset: int = 0, follow: bool = False) -> MachineLogFollower:
        """The machine's log from ``offset``: an iterator of
        :class:`~nullspace.models.LogEntry` (start command output, ready checks,
        commands run, state changes). With ``follow=True`` it goes on with live
        entries until the machine ends."""
        return MachineLogFollower(self._client, self.id, offset=offset, follow=follow)
