"""Typed views of the warm-pool API's JSON objects (docs/API.md, warm pools).

Like :mod:`nullspace.models`: each view has the documented fields as
attributes and the whole object as ``raw``; views are immutable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from nullspace.models import _int, _opt_int, _opt_str, _str, _strs

__all__ = ["WarmPoolCounts", "WarmPoolReason", "WarmPoolInfo"]


@dataclass(frozen=True)
class WarmPoolCounts:
    """A pool's machines: ``ready`` (waiting for a checkout), ``starting``,
    ``in_use`` (checked out, not ended yet) and ``failed`` (starts that failed
    since the pool was created)."""

    ready: int = 0
    starting: int = 0
    in_use: int = 0
    failed: int = 0

    @classmethod
    def from_json(cls, d: Any) -> "WarmPoolCounts":
        """The view of a ``counts`` object (a WarmPool's, or an error's)."""
        if not isinstance(d, Mapping):
            return cls()
        return cls(_int(d.get("ready")), _int(d.get("starting")), _int(d.get("in_use")), _int(d.get("failed")))


@dataclass(frozen=True)
class WarmPoolReason:
    """Why a pool is not healthy: ``code`` (``start_failed``, ``disabled``,
    ``draining``, …), a sentence, and the last failed start's output lines."""

    code: str
    message: str = ""
    last_lines: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "WarmPoolReason":
        """The view of the API's JSON object ``d`` (missing fields take defaults)."""
        return cls(_str(d.get("code")), _str(d.get("message")), _strs(d.get("last_lines")))


@dataclass(frozen=True)
class WarmPoolInfo:
    """The API's WarmPool object: ready machines kept for a template."""

    id: str
    name: str
    template: str = ""
    state: str = ""  # enabled | disabled | draining | degraded
    min_ready: int = 0
    max_ready: int = 0
    cpu_count: int | None = None  # None: the template's
    memory_mb: int | None = None
    version_policy: str = "track_tag"  # track_tag | pinned_build
    max_idle_ms: int | None = None
    reason: WarmPoolReason | None = None
    serving_build: str | None = None  # the build its new machines run
    counts: WarmPoolCounts = field(default_factory=WarmPoolCounts)
    created_at: str | None = None
    updated_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "WarmPoolInfo":
        """The view of the API's JSON object ``d`` (missing fields take defaults)."""
        reason = d.get("reason")
        return cls(
            id=_str(d.get("id")),
            name=_str(d.get("name")),
            template=_str(d.get("template")),
            state=_str(d.get("state")),
            min_ready=_int(d.get("min_ready")),
            max_ready=_int(d.get("max_ready")),
            cpu_count=_opt_int(d.get("cpu_count")),
            memory_mb=_opt_int(d.get("memory_mb")),
            version_policy=_str(d.get("version_policy"), "track_tag"),
            max_idle_ms=_opt_int(d.get("max_idle_ms")),
            reason=WarmPoolReason.from_json(reason) if isinstance(reason, Mapping) else None,
            serving_build=_opt_str(d.get("serving_build")),
            counts=WarmPoolCounts.from_json(d.get("counts")),
            created_at=_opt_str(d.get("created_at")),
            updated_at=_opt_str(d.get("updated_at")),
            raw=dict(d),
        )
