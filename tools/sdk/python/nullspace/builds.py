"""``TemplateBuild``: a handle on one build, to poll, follow, cancel, retry and promote it."""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Callable, Sequence

from nullspace.client import Client, resolve_client, quote_segment
from nullspace.errors import BuildError, TimeoutError
from nullspace.models import ArtifactInfo, BuildFailure, BuildInfo, BuildStatus, CacheSummary, LogEntry
from nullspace.secrets import SecretsInput, normalize_secrets, resolve_secrets, secret_values
from nullspace.streams import LogFollower

__all__ = ["TemplateBuild", "LogCallback"]

LogCallback = Callable[[LogEntry], Any]


class TemplateBuild:
    """One build of a template.

    The attributes (``status``, ``name``, ``canonical_ref``, ``cache_summary``,
    ``artifact_availability``, ``promotability``, ``retention_expires_at``, …)
    are those of the latest answer the handle saw; :meth:`refresh` or
    :meth:`get_status` ask again. ``info`` is the whole
    :class:`~nullspace.models.BuildInfo`.
    """

    def __init__(self, info: BuildInfo, *, client: Client, secrets: Sequence[str] = ()) -> None:
        self.info = info
        self._client = client
        # Values of this build's secrets, in memory only: redacted from errors.
        self._secrets = list(secrets)

    # ---- construction ---------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        build_id: str,
        *,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
    ) -> "TemplateBuild":
        """A handle on an existing build (started elsewhere, or by an earlier process)."""
        c = resolve_client(client, api_url, api_key)
        doc = c.request("GET", f"/v1/builds/{quote_segment(build_id)}", query={"limit": 0}).json()
        return cls(BuildInfo.from_json(doc["build"]), client=c)

    # ---- attributes ------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The build id (``tb_…``)."""
        return self.info.id

    @property
    def build_id(self) -> str:
        """Same as :attr:`id`."""
        return self.info.id

    @property
    def status(self) -> str:
        """``waiting``, ``queued``, ``building``, ``ready``, ``error`` or ``cancelled``."""
        return self.info.status

    @property
    def name(self) -> str:
        """The template's name."""
        return self.info.name

    @property
    def namespace(self) -> str:
        """The template's namespace."""
        return self.info.namespace

    @property
    def tags(self) -> list[str]:
        """The tags requested for this build."""
        return self.info.tags

    @property
    def current_tags(self) -> list[str]:
        """The tags that point at this build now."""
        return self.info.current_tags

    @property
    def canonical_ref(self) -> str | None:
        """``namespace/name@tb_…`` once the build is ready: the immutable ref of its artifact."""
        return self.info.canonical_ref

    @property
    def template_id(self) -> str | None:
        """Same as :attr:`canonical_ref`: what machines are started from."""
        return self.info.canonical_ref

    @property
    def cache_summary(self) -> CacheSummary:
        """Steps, cache hits, misses and bytes reused."""
        return self.info.cache_summary

    @property
    def artifact(self) -> ArtifactInfo | None:
        """The root filesystem image, when the build made one."""
        return self.info.artifact

    @property
    def artifact_availability(self) -> str | None:
        """``pending``, ``available``, ``expired`` or ``deleted``."""
        return self.info.artifact_availability

    @property
    def promotability(self) -> str | None:
        """``promotable``, ``not_ready`` or ``expired``."""
        return self.info.promotability

    @property
    def retention_expires_at(self) -> str | None:
        """When an untagged or failed build's artifact expires (``None``: kept)."""
        return self.info.retention_expires_at

    @property
    def error(self) -> BuildFailure | None:
        """A failed build's error: code, message, failing step, last output lines."""
        return self.info.error

    @property
    def retry_of(self) -> str | None:
        """The build this one retries."""
        return self.info.retry_of

    @property
    def is_terminal(self) -> bool:
        """Whether the build has ended."""
        return self.info.is_terminal

    def __repr__(self) -> str:
        ref = f", canonical_ref={self.canonical_ref!r}" if self.canonical_ref else ""
        return f"TemplateBuild(id={self.id!r}, name={self.name!r}, status={self.status!r}{ref})"

    # ---- calls ------------------------------------------------------------------------

    def _path(self, suffix: str = "") -> str:
        return f"/v1/builds/{quote_segment(self.id)}{suffix}"

    def refresh(self) -> BuildInfo:
        """Asks for the build again and updates the attributes."""
        return self.get_status(limit=0).build

    def get_status(
        self,
        offset: int = 0,
        *,
        limit: int | None = None,
        wait_ms: int | None = None,
        timeout: float | None = None,
    ) -> BuildStatus:
        """The build and its log entries from ``offset`` (at most ``limit``), and
        ``next_offset`` to ask from next time. ``wait_ms``: wait up to that long
        for an entry at or after ``offset`` (a long-poll)."""
        t = (timeout if timeout is not None else self._client.timeout) + (wait_ms or 0) / 1000
        doc = self._client.request(
            "GET",
            self._path(),
            query={"offset": offset, "limit": limit, "wait_ms": wait_ms or None},
            timeout=t,
            secrets=self._secrets,
        ).json()
        st = BuildStatus.from_json(doc)
        self.info = st.build
        return st

    def logs(self, offset: int = 0, *, follow: bool = False) -> LogFollower:
        """The log from ``offset``: an iterator of :class:`~nullspace.models.LogEntry`.

        With ``follow=True`` it goes on with live entries until the build ends
        (reconnecting with ``Last-Event-ID`` if the connection drops); the
        returned iterator's ``build`` is then the terminal build.
        """
        return LogFollower(self._client, self.id, offset=offset, follow=follow, secrets=self._secrets)

    def follow(self, on_log_entry: LogCallback | None = None, *, offset: int = 0) -> BuildInfo:
        """Streams the log from ``offset`` to the build's end, calling
        ``on_log_entry`` for each entry; returns the terminal build."""
        follower = self.logs(offset, follow=True)
        for entry in follower:
            if on_log_entry:
                on_log_entry(entry)
        assert follower.build is not None
        self.info = follower.build
        return follower.build

    def cancel(self, reason: str | None = None) -> "TemplateBuild":
        """Cancels a waiting, queued or running build (its processes are killed);
        the reason is kept in its log. A finished build raises
        :class:`~nullspace.errors.ConflictError`."""
        body = {"reason": reason} if reason else {}
        doc = self._client.request("POST", self._path("/cancel"), json=body, secrets=self._secrets).json()
        self.info = BuildInfo.from_json(doc["build"])
        return self

    def retry(self, tags: Sequence[str] | None = None, build_secrets: SecretsInput = None) -> "TemplateBuild":
        """A new attempt from the stored definition (a new build, ``retry_of`` this one).

        ``tags`` replaces the tags when given. Secret values are never stored:
        a build that used build secrets needs fresh values for the same ids,
        else :class:`~nullspace.errors.FailedPreconditionError` (an
        :class:`~nullspace.errors.InvalidArgumentError`) names the missing ones.
        """
        resolved = resolve_secrets(normalize_secrets(build_secrets))
        body: dict[str, Any] = {"build_secrets": [r.wire() for r in resolved]}
        if tags is not None:
            body["tags"] = [tags] if isinstance(tags, str) else list(tags)
        values = secret_values(resolved)
        doc = self._client.request("POST", self._path("/retry"), json=body, secrets=values).json()
        return TemplateBuild(BuildInfo.from_json(doc["build"]), client=self._client, secrets=values)

    def promote(self, tag: str) -> "TemplateBuild":
        """Moves ``tag`` of the template to this ready build. A build that is not
        ready (or whose artifact expired) raises
        :class:`~nullspace.errors.FailedPreconditionError`."""
        doc = self._client.request(
            "POST", self._path("/promote"), json={"tag": tag}, idempotent=True, secrets=self._secrets
        ).json()
        self.info = BuildInfo.from_json(doc["build"])
        return self

    def wait_until_terminal(
        self,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        on_log_entry: LogCallback | None = None,
        *,
        offset: int = 0,
    ) -> BuildStatus:
        """Polls until the build is ready, failed or cancelled and returns the
        final snapshot (``.build`` is the terminal build, ``.logs`` the entries
        seen while waiting, from ``offset``).

        Each poll asks only for entries not seen yet and waits on the server for
        up to ``poll_interval`` seconds for new ones (a long-poll), so
        ``on_log_entry`` sees entries as they come. Raises
        :class:`~nullspace.errors.TimeoutError` after ``timeout`` seconds. A
        failed build is returned, not raised: check ``.build.status``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        cursor = offset
        seen: list[LogEntry] = []
        while True:
            started = time.monotonic()
            wait = poll_interval
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - started))
            st = self.get_status(cursor, wait_ms=int(wait * 1000) or None)
            for entry in st.logs:
                cursor = entry.offset + 1
                seen.append(entry)
                if on_log_entry:
                    on_log_entry(entry)
            if st.build.is_terminal and cursor >= st.build.log_next_offset:
                return BuildStatus(st.build, seen, cursor)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"build {self.id} is still {st.build.status} after {timeout:g} s", code="timeout"
                )
            if not st.logs:
                # The server answered before the interval was over without news
                # (its long-poll cap is lower): do not ask again at once.
                rest = wait - (time.monotonic() - started)
                if rest > 0:
                    time.sleep(rest)

    def raise_for_status(self) -> "TemplateBuild":
        """Raises :class:`~nullspace.errors.BuildError` if the build failed or was
        cancelled; returns the handle otherwise."""
        if self.info.status in ("error", "cancelled"):
            raise BuildError.from_build(self.info, secrets=self._secrets)
        return self


def follow_to_end(
    follower: LogFollower, on_log_entry: LogCallback | None, keep: int = 50
) -> tuple[BuildInfo, list[LogEntry]]:
    """Reads a follower to its end, calling ``on_log_entry``; returns the terminal
    build and the last ``keep`` entries (for a BuildError)."""
    recent: deque[LogEntry] = deque(maxlen=keep)
    for entry in follower:
        recent.append(entry)
        if on_log_entry:
            on_log_entry(entry)
    assert follower.build is not None
    return follower.build, list(recent)
