"""``TemplateWarmPool``: ready machines kept for a template, so a create is
served at once.

::

    pool = TemplateWarmPool.create("web:stable", name="web-pool", min_ready=2, max_ready=4)
    pool.wait_until_ready()
    with Machine.create(template="web:stable", warm_pool="web-pool") as m:
        print(m.warm_pool_checkout.result)   # "hit"

A pool belongs to the tenant that made it; another tenant's is
:class:`~nullspace.errors.NotFoundError`. ``Machine.create(warm_pool=…,
warm_pool_mode="prefer"|"require"|"bypass", warm_pool_wait_ms=…)`` checks a
machine out of it; ``require`` with no ready machine in time raises
:class:`~nullspace.errors.WarmPoolEmptyError` with the pool's counts.
"""

from __future__ import annotations

import time
from typing import Any

from nullspace.client import Client, quote_segment, resolve_client
from nullspace.errors import InvalidArgumentError, TimeoutError
from nullspace.streams import LogFollower, SSEEvent
from nullspace.warm_pool_models import WarmPoolCounts, WarmPoolInfo, WarmPoolReason

__all__ = ["TemplateWarmPool", "WarmPoolLogFollower"]

# The server waits at most this long in one ready request; longer waits ask again.
_MAX_SERVER_WAIT_MS = 600_000
# Drain and delete answer once the pool's ready machines are stopped.
_DRAIN_SECONDS = 300.0
_POLICIES = ("track_tag", "pinned_build")


def _count(value: Any, what: str, *, positive: bool = False) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < (1 if positive else 0):
        need = "a positive" if positive else "a non-negative"
        raise InvalidArgumentError(f"{what} must be {need} integer, got {value!r}", field=what)
    return value


def _pool_fields(
    min_ready: int | None,
    max_ready: int | None,
    version_policy: str | None,
    cpu_count: int | None,
    memory_mb: int | None,
    max_idle_ms: int | None,
) -> dict[str, Any]:
    if version_policy is not None and version_policy not in _POLICIES:
        raise InvalidArgumentError(
            f"version_policy must be track_tag or pinned_build, got {version_policy!r}", field="version_policy"
        )
    fields = {
        "min_ready": _count(min_ready, "min_ready"),
        "max_ready": _count(max_ready, "max_ready", positive=True),
        "version_policy": version_policy,
        "cpu_count": _count(cpu_count, "cpu_count", positive=True),
        "memory_mb": _count(memory_mb, "memory_mb", positive=True),
        "max_idle_ms": _count(max_idle_ms, "max_idle_ms"),
    }
    return {k: v for k, v in fields.items() if v is not None}


class WarmPoolLogFollower(LogFollower):
    """Iterates over a pool's log entries (:class:`~nullspace.models.LogEntry`:
    refills, failed starts with their output, checkouts, state changes).

    With ``follow=True`` it goes on until the pool is deleted (reconnecting
    with ``Last-Event-ID`` after a drop); ``pool`` is then the pool as it was
    deleted."""

    _kind = "warm pool"

    def __init__(self, client: Client, pool: str, *, offset: int = 0, follow: bool = False) -> None:
        super().__init__(client, pool, offset=offset, follow=follow)
        self.pool: WarmPoolInfo | None = None

    def _logs_path(self) -> str:
        assert self.build_id is not None
        return f"/v1/warm-pools/{quote_segment(self.build_id)}/logs"

    def _on_end(self, ev: SSEEvent) -> None:
        doc = ev.json()
        if isinstance(doc, dict) and isinstance(doc.get("warm_pool"), dict):
            doc = doc["warm_pool"]
        self.pool = WarmPoolInfo.from_json(doc)


class TemplateWarmPool:
    """One warm pool. ``info`` is the latest
    :class:`~nullspace.warm_pool_models.WarmPoolInfo` the handle saw
    (:meth:`refresh` asks again); every lifecycle call updates it.

    Make one with :meth:`create` (or ``Template.create_warm_pool``), find them
    with :meth:`get` and :meth:`list`."""

    def __init__(self, info: WarmPoolInfo, *, client: Client) -> None:
        self.info = info
        self._client = client

    # ---- construction ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        template: str,
        *,
        name: str,
        min_ready: int | None = None,
        max_ready: int | None = None,
        version_policy: str | None = None,
        cpu_count: int | None = None,
        memory_mb: int | None = None,
        max_idle_ms: int | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
    ) -> "TemplateWarmPool":
        """Creates a pool that keeps ``min_ready`` machines of ``template`` ready
        (at most ``max_ready``; default 1 and ``min_ready``). It starts them in
        the background: :meth:`wait_until_ready` waits for them.

        Args:
            template: any template ref (``name``, ``name:tag``, ``ns/name@tb_…``).
            name: the pool's name, unique among your pools (``[a-z0-9][a-z0-9._-]*``).
            version_policy: ``track_tag`` (machines from whatever the ref names
                now) or ``pinned_build`` (the build it named at create).
            cpu_count, memory_mb: override the template's resources.
            max_idle_ms: ready machines idle longer are recycled.

        Raises:
            InvalidArgumentError: a bad value (``field`` names it).
            NotFoundError: no such template (or not yours).
            ConflictError: you have a pool of that name already.
        """
        if not isinstance(template, str) or not template:
            raise InvalidArgumentError("template must be a template ref, e.g. build.canonical_ref", field="template")
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError("name is required: the pool's name", field="name")
        c = resolve_client(client, api_url, api_key)
        body = {"template": template, "name": name}
        body.update(_pool_fields(min_ready, max_ready, version_policy, cpu_count, memory_mb, max_idle_ms))
        doc = c.request("POST", "/v1/warm-pools", json=body).json()
        return cls(WarmPoolInfo.from_json(doc["warm_pool"]), client=c)

    @classmethod
    def get(
        cls,
        pool: str,
        *,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
    ) -> "TemplateWarmPool":
        """The pool with this id (``wp_…``) or name (another tenant's is
        :class:`~nullspace.errors.NotFoundError`)."""
        c = resolve_client(client, api_url, api_key)
        doc = c.request("GET", f"/v1/warm-pools/{quote_segment(pool)}").json()
        return cls(WarmPoolInfo.from_json(doc["warm_pool"]), client=c)

    @classmethod
    def list(
        cls,
        *,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
    ) -> "list[TemplateWarmPool]":
        """Your pools, each with its status counts."""
        c = resolve_client(client, api_url, api_key)
        pools: list[TemplateWarmPool] = []
        cursor: str | None = None
        while True:
            doc = c.request("GET", "/v1/warm-pools", query={"cursor": cursor}).json()
            pools.extend(cls(WarmPoolInfo.from_json(p), client=c) for p in doc.get("warm_pools", []))
            cursor = doc.get("next_cursor")
            if not cursor:
                return pools

    # ---- attributes ------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The pool id (``wp_…``)."""
        return self.info.id

    @property
    def name(self) -> str:
        """The pool's name."""
        return self.info.name

    @property
    def template(self) -> str:
        """The template ref the pool was created with."""
        return self.info.template

    @property
    def state(self) -> str:
        """``enabled``, ``disabled``, ``draining`` or ``degraded`` (as last seen)."""
        return self.info.state

    @property
    def reason(self) -> WarmPoolReason | None:
        """Why it is not healthy (``start_failed`` with the last output lines, …), or ``None``."""
        return self.info.reason

    @property
    def counts(self) -> WarmPoolCounts:
        """``ready``, ``starting``, ``in_use`` and ``failed`` (as last seen)."""
        return self.info.counts

    @property
    def serving_build(self) -> str | None:
        """The build (``tb_…``) its new machines run."""
        return self.info.serving_build

    @property
    def min_ready(self) -> int:
        """Ready machines it keeps."""
        return self.info.min_ready

    @property
    def max_ready(self) -> int:
        """Most ready machines it keeps."""
        return self.info.max_ready

    @property
    def client(self) -> Client:
        """The client the handle's calls go through."""
        return self._client

    def __repr__(self) -> str:
        c = self.counts
        return (
            f"TemplateWarmPool(id={self.id!r}, name={self.name!r}, state={self.state!r}, "
            f"ready={c.ready}, starting={c.starting}, in_use={c.in_use}, failed={c.failed})"
        )

    # ---- lifecycle --------------------------------------------------------------------

    def _path(self, suffix: str = "") -> str:
        return f"/v1/warm-pools/{quote_segment(self.id)}{suffix}"

    def _update(self, doc: Any) -> WarmPoolInfo:
        self.info = WarmPoolInfo.from_json(doc["warm_pool"])
        return self.info

    def refresh(self) -> WarmPoolInfo:
        """Asks for the pool again and updates :attr:`info`."""
        return self._update(self._client.request("GET", self._path()).json())

    def wait_until_ready(self, min_ready: int | None = None, timeout: float | None = None) -> WarmPoolInfo:
        """Waits until ``min_ready`` machines are ready (default: the pool's
        ``min_ready``), e.g. before a burst of creates. The server does the
        waiting: no polling.

        Raises:
            TimeoutError: ``timeout`` seconds passed first (``counts`` has the
                pool's counts then).
            ConflictError: the pool is degraded — its machines fail to start
                (``counts``; :attr:`reason` after :meth:`refresh` says why).
            InvalidArgumentError: ``min_ready`` is more than the pool's ``max_ready``.
        """
        query: dict[str, Any] = {"min_ready": _count(min_ready, "min_ready")}
        if timeout is not None and timeout <= 0:
            raise InvalidArgumentError(f"timeout must be positive seconds, got {timeout!r}", field="timeout")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait_ms = _MAX_SERVER_WAIT_MS
            if deadline is not None:
                wait_ms = max(1, min(wait_ms, int((deadline - time.monotonic()) * 1000)))
            query["timeout_ms"] = wait_ms
            try:
                doc = self._client.request(
                    "GET", self._path("/ready"), query=query, timeout=self._client.timeout + wait_ms / 1000
                ).json()
            except TimeoutError as e:
                if e.status == 408 and (deadline is None or time.monotonic() < deadline):
                    continue  # one server wait ended; the caller's has not
                raise
            return self._update(doc)

    def update(
        self,
        *,
        min_ready: int | None = None,
        max_ready: int | None = None,
        version_policy: str | None = None,
        cpu_count: int | None = None,
        memory_mb: int | None = None,
        max_idle_ms: int | None = None,
    ) -> WarmPoolInfo:
        """Changes the pool's targets, resources or version policy (only the
        arguments given). Lowering ``max_ready`` stops the ready machines above
        it; lowering only ``min_ready`` stops refilling and keeps them; machines
        in use are never touched. ``max_idle_ms=0`` turns recycling off."""
        body = _pool_fields(min_ready, max_ready, version_policy, cpu_count, memory_mb, max_idle_ms)
        if not body:
            raise InvalidArgumentError(
                "nothing to change: give min_ready, max_ready, version_policy, cpu_count, memory_mb or max_idle_ms",
                field="min_ready",
            )
        return self._update(self._client.request("PATCH", self._path(), json=body).json())

    def enable(self) -> WarmPoolInfo:
        """Starts refilling again (also clears ``degraded``)."""
        return self._update(self._client.request("POST", self._path("/enable"), json={}, idempotent=True).json())

    def disable(self) -> WarmPoolInfo:
        """Stops refilling; ready machines stay, and creates fall back to cold starts."""
        return self._update(self._client.request("POST", self._path("/disable"), json={}, idempotent=True).json())

    def drain(self) -> WarmPoolInfo:
        """Stops the pool's ready machines; answers once none is left (then ``disabled``)."""
        return self._update(
            self._client.request(
                "POST", self._path("/drain"), json={}, idempotent=True,
                timeout=max(self._client.timeout, _DRAIN_SECONDS),
            ).json()
        )

    def delete(self) -> WarmPoolInfo:
        """Drains the pool and removes it. Machines checked out of it live on."""
        return self._update(
            self._client.request("DELETE", self._path(), timeout=max(self._client.timeout, _DRAIN_SECONDS)).json()
        )

    def logs(self, offset: int = 0, follow: bool = False) -> WarmPoolLogFollower:
        """The pool's log from ``offset``: an iterator of
        :class:`~nullspace.models.LogEntry` (refills, failed starts with their
        output, checkouts, state changes). With ``follow=True`` it goes on with
        live entries until the pool is deleted."""
        return WarmPoolLogFollower(self._client, self.id, offset=offset, follow=follow)
