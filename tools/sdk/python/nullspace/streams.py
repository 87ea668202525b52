"""Build log streams: SSE and NDJSON parsing, and a follower that resumes.

The server streams a build's log as Server-Sent Events (``id: <offset>``,
``event: log``, ``data: <entry>``, a final ``event: end`` with the terminal
build; ``: ping`` comments keep the connection alive) or as NDJSON. A
:class:`LogFollower` reads such a stream to the end; when the connection drops
(or the server restarts and ends the stream without ``end``) it reconnects with
``Last-Event-ID`` set to the last offset it delivered, so every entry is
delivered exactly once and in order.
"""

from __future__ import annotations

import http.client
import json
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from nullspace.client import Client, StreamResponse, quote_segment
from nullspace.errors import ConnectionError, TimeoutError
from nullspace.models import BuildInfo, LogEntry
from nullspace.redaction import redact

__all__ = ["SSEEvent", "iter_sse", "iter_ndjson", "LogFollower"]

# A dropped stream shows up as one of these while reading.
_READ_ERRORS = (OSError, http.client.HTTPException)
# A stream that stayed open this long was working (the server pings every 15 s).
_HEALTHY_SECONDS = 30.0


@dataclass(frozen=True)
class SSEEvent:
    """One Server-Sent Event: its ``event`` name (``message`` when none was
    given), ``data`` (multi-line data joined with newlines) and ``id``."""

    event: str
    data: str
    id: str | None = None

    def json(self) -> Any:
        """``data`` parsed as JSON."""
        return json.loads(self.data)


def iter_sse(lines: Iterable[bytes]) -> Iterator[SSEEvent]:
    """The events of an SSE byte stream given line by line (comments skipped).

    An event is complete at its blank line; a stream that ends in the middle
    of an event does not yield it.
    """
    event = ""
    data: list[str] = []
    event_id: str | None = None
    seen = False
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if seen:
                yield SSEEvent(event or "message", "\n".join(data), event_id)
            event, data, event_id, seen = "", [], None, False
            continue
        if line.startswith(":"):
            continue  # a comment: `: ping`
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        seen = True
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = value


def iter_ndjson(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The JSON objects of an NDJSON byte stream given line by line (blank lines skipped)."""
    for raw in lines:
        line = raw.strip()
        if line:
            doc = json.loads(line)
            if isinstance(doc, dict):
                yield doc


def _lines(stream: StreamResponse) -> Iterator[bytes]:
    while True:
        line = stream.readline()
        if not line:
            return
        yield line


class LogFollower:
    """Iterates over a build's log entries until the build is terminal.

    Args:
        client: the transport.
        build_id: the build to follow; ``None`` when ``stream`` is the answer of
            ``POST /v1/builds`` (its first event names the build).
        offset: the first offset wanted.
        stream: an already open SSE stream to read first.
        follow: keep streaming live entries until the build ends; without it
            the stored log is replayed and iteration stops at its end.
        reconnect_window: seconds to keep trying to reconnect after a drop
            before raising :class:`~nullspace.errors.ConnectionError`.
        secrets: values to redact from error text.
        on_build: called with the created build when the stream announces it.

    After iteration, ``build`` is the terminal :class:`~nullspace.models.BuildInfo`
    (or ``None`` if a replay without ``follow`` ended before the build did), and
    ``reconnects`` counts how often the stream was re-opened.
    """

    def __init__(
        self,
        client: Client,
        build_id: str | None = None,
        *,
        offset: int = 0,
        stream: StreamResponse | None = None,
        follow: bool = True,
        reconnect_window: float = 120.0,
        secrets: Iterable[str] = (),
        on_build: Callable[[BuildInfo], None] | None = None,
    ) -> None:
        if build_id is None and stream is None:
            raise ValueError("LogFollower needs a build id or an open stream")
        self._client = client
        self.build_id = build_id
        self.next_offset = offset
        self._stream = stream
        self._follow = follow
        self._window = reconnect_window
        self._secrets = list(secrets)
        self._on_build = on_build
        self.build: BuildInfo | None = None
        self.reconnects = 0

    def __iter__(self) -> Iterator[LogEntry]:
        return self._run()

    def close(self) -> None:
        """Closes the open stream, if any (iteration then stops at the next read)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    # What is followed: the words in errors and the log route (MachineLogFollower
    # follows a machine's log the same way).
    _kind = "build"

    def _logs_path(self) -> str:
        assert self.build_id is not None
        return f"/v1/builds/{quote_segment(self.build_id)}/logs"

    def _on_end(self, ev: SSEEvent) -> None:
        self.build = BuildInfo.from_json(ev.json())

    def _open(self) -> StreamResponse:
        assert self.build_id is not None
        headers = {"Accept": "text/event-stream"}
        query: dict[str, Any] = {"follow": self._follow}
        if self.next_offset > 0:
            # Resume right after the last entry delivered.
            headers["Last-Event-ID"] = str(self.next_offset - 1)
        else:
            query["offset"] = 0
        return self._client.open_stream(
            "GET",
            self._logs_path(),
            query=query,
            headers=headers,
            secrets=self._secrets,
        )

    def _run(self) -> Iterator[LogEntry]:
        # `trouble_since`: when the current run of failed connections began (a
        # connection that delivered entries, or lived a while, ends a run).
        trouble_since: float | None = None
        delay = 0.1
        while True:
            if self._stream is None:
                try:
                    self._stream = self._open()
                except (ConnectionError, TimeoutError) as e:
                    now = time.monotonic()
                    trouble_since = trouble_since or now
                    if now - trouble_since > self._window:
                        raise ConnectionError(
                            redact(
                                f"lost the log stream of {self._kind} {self.build_id} and could not "
                                f"reconnect within {self._window:g} s: {e.message}",
                                self._secrets,
                            ),
                            code="connection_failed",
                        ) from e
                    delay = self._pause(delay)
                    continue
            stream = self._stream
            opened_at = time.monotonic()
            offset_before = self.next_offset
            ended_cleanly = False
            try:
                for ev in iter_sse(_lines(stream)):
                    if ev.event == "build":
                        created = BuildInfo.from_json(ev.json())
                        self.build_id = created.id
                        if self._on_build:
                            self._on_build(created)
                    elif ev.event == "log":
                        entry = LogEntry.from_json(ev.json())
                        if entry.offset < self.next_offset:
                            continue  # already delivered before a reconnect
                        self.next_offset = entry.offset + 1
                        yield entry
                    elif ev.event == "end":
                        self._on_end(ev)
                        return
                ended_cleanly = True
            except _READ_ERRORS + (json.JSONDecodeError,):
                pass  # dropped mid-stream (reset, silence, truncated chunk, cut JSON)
            finally:
                stream.close()
                self._stream = None
            if ended_cleanly and not self._follow:
                return  # a replay of a build that has not ended yet
            if self.build_id is None:
                raise ConnectionError(
                    "the connection was lost before the server named the build; "
                    "look for it with Template.list_builds",
                    code="connection_failed",
                )
            now = time.monotonic()
            if self.next_offset > offset_before or now - opened_at > _HEALTHY_SECONDS:
                trouble_since, delay = None, 0.1
            else:
                trouble_since = trouble_since or now
                if now - trouble_since > self._window:
                    raise ConnectionError(
                        f"the log stream of {self._kind} {self.build_id} keeps dropping; "
                        f"gave up after {self._window:g} s",
                        code="connection_failed",
                    )
                delay = self._pause(delay)
            self.reconnects += 1

    @staticmethod
    def _pause(delay: float) -> float:
        time.sleep(delay * (0.5 + random.random() / 2))
        return min(delay * 2, 5.0)
