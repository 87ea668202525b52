"""Typed views of the API's JSON objects (docs/API.md).

Each view has the fields the API documents as attributes and the whole object
as ``raw``, so fields a newer server adds are never lost. Views are immutable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = [
    "TERMINAL_STATUSES",
    "CacheDecision",
    "LogEntry",
    "CacheSummary",
    "BuildFailure",
    "ArtifactInfo",
    "BuildOptions",
    "BuildInfo",
    "BuildStatus",
    "LatestReadyBuild",
    "ResolvedBuild",
    "TemplateInfo",
    "ErrorDetail",
    "ValidationResult",
    "PlanBase",
    "PlanStep",
    "BuildPlan",
    "ContextFile",
    "ContextProblem",
    "ContextInspection",
    "BuildContext",
    "CacheMountPrune",
]

TERMINAL_STATUSES = frozenset({"ready", "error", "cancelled"})


def _int(v: Any, default: int = 0) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else default


def _opt_int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _str(v: Any, default: str = "") -> str:
    return v if isinstance(v, str) else default


def _opt_str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _dict(v: Any) -> dict[str, Any]:
    return dict(v) if isinstance(v, Mapping) else {}


def _strs(v: Any) -> list[str]:
    return [x for x in v if isinstance(x, str)] if isinstance(v, list) else []


@dataclass(frozen=True)
class CacheDecision:
    """Why a step did or did not come from the layer cache."""

    status: str  # hit | miss | bypass
    key: str
    reason: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "CacheDecision":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        return cls(_str(d.get("status")), _str(d.get("key")), _str(d.get("reason")))


@dataclass(frozen=True)
class LogEntry:
    """One entry of a build's durable log; ``offset`` is dense from 0 per build."""

    offset: int
    ts: str
    level: str
    kind: str  # log | status | step | cache | cancelled | error
    message: str
    step: int | None = None
    phase: str | None = None  # base | step | finalize | ready | artifact
    stream: str | None = None  # stdout | stderr
    status: str | None = None  # on status entries: the build's new status
    attempt: int | None = None
    cache: CacheDecision | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "LogEntry":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        cache = d.get("cache")
        return cls(
            offset=_int(d.get("offset")),
            ts=_str(d.get("ts")),
            level=_str(d.get("level"), "info"),
            kind=_str(d.get("kind"), "log"),
            message=_str(d.get("message")),
            step=_opt_int(d.get("step")),
            phase=_opt_str(d.get("phase")),
            stream=_opt_str(d.get("stream")),
            status=_opt_str(d.get("status")),
            attempt=_opt_int(d.get("attempt")),
            cache=CacheDecision.from_json(cache) if isinstance(cache, Mapping) else None,
            raw=dict(d),
        )


@dataclass(frozen=True)
class CacheSummary:
    """How many of a build's steps came from the layer cache."""

    steps: int = 0
    hits: int = 0
    misses: int = 0
    bytes_reused: int = 0

    @classmethod
    def from_json(cls, d: Any) -> "CacheSummary":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        d = _dict(d)
        return cls(_int(d.get("steps")), _int(d.get("hits")), _int(d.get("misses")), _int(d.get("bytes_reused")))


@dataclass(frozen=True)
class BuildFailure:
    """A failed build's ``error``: what failed, at which step, with its last lines."""

    code: str
    message: str
    step: int | None = None
    last_lines: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "BuildFailure":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        return cls(_str(d.get("code")), _str(d.get("message")), _opt_int(d.get("step")), _strs(d.get("last_lines")))


@dataclass(frozen=True)
class ArtifactInfo:
    """The ext4 root filesystem image a sandboxed build made."""

    format: str
    digest: str
    image_bytes: int
    used_bytes: int
    disk_mb: int

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "ArtifactInfo":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        return cls(
            _str(d.get("format")),
            _str(d.get("digest")),
            _int(d.get("image_bytes")),
            _int(d.get("used_bytes")),
            _int(d.get("disk_mb")),
        )


@dataclass(frozen=True)
class BuildOptions:
    """The resources and switches a build ran with."""

    cpu_count: int = 0
    memory_mb: int = 0
    disk_mb: int = 0
    internet_access: bool = True
    skip_cache: bool = False

    @classmethod
    def from_json(cls, d: Any) -> "BuildOptions":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        d = _dict(d)
        return cls(
            _int(d.get("cpu_count")),
            _int(d.get("memory_mb")),
            _int(d.get("disk_mb")),
            bool(d.get("internet_access", True)),
            bool(d.get("skip_cache", False)),
        )


@dataclass(frozen=True)
class BuildInfo:
    """The API's Build object (one template build and where it stands)."""

    id: str
    name: str
    namespace: str
    status: str  # waiting | queued | building | ready | error | cancelled
    tags: list[str] = field(default_factory=list)
    current_tags: list[str] = field(default_factory=list)
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    retry_of: str | None = None
    build_backend: str | None = None
    options: BuildOptions = field(default_factory=BuildOptions)
    definition: dict[str, Any] = field(default_factory=dict, repr=False)
    error: BuildFailure | None = None
    cancel_reason: str | None = None
    canonical_ref: str | None = None
    cache_summary: CacheSummary = field(default_factory=CacheSummary)
    artifact: ArtifactInfo | None = None
    artifact_availability: str | None = None  # pending | available | expired | deleted
    promotability: str | None = None  # promotable | not_ready | expired
    retention_expires_at: str | None = None
    log_next_offset: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        """Whether the build has ended (ready, error or cancelled)."""
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "BuildInfo":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        err = d.get("error")
        art = d.get("artifact")
        return cls(
            id=_str(d.get("id")),
            name=_str(d.get("name")),
            namespace=_str(d.get("namespace")),
            status=_str(d.get("status")),
            tags=_strs(d.get("tags")),
            current_tags=_strs(d.get("current_tags")),
            created_at=_opt_str(d.get("created_at")),
            started_at=_opt_str(d.get("started_at")),
            finished_at=_opt_str(d.get("finished_at")),
            retry_of=_opt_str(d.get("retry_of")),
            build_backend=_opt_str(d.get("build_backend")),
            options=BuildOptions.from_json(d.get("options")),
            definition=_dict(d.get("definition")),
            error=BuildFailure.from_json(err) if isinstance(err, Mapping) else None,
            cancel_reason=_opt_str(d.get("cancel_reason")),
            canonical_ref=_opt_str(d.get("canonical_ref")),
            cache_summary=CacheSummary.from_json(d.get("cache_summary")),
            artifact=ArtifactInfo.from_json(art) if isinstance(art, Mapping) else None,
            artifact_availability=_opt_str(d.get("artifact_availability")),
            promotability=_opt_str(d.get("promotability")),
            retention_expires_at=_opt_str(d.get("retention_expires_at")),
            log_next_offset=_int(d.get("log_next_offset")),
            raw=dict(d),
        )


@dataclass(frozen=True)
class BuildStatus:
    """A status snapshot: the build, log entries from the asked offset, and
    ``next_offset`` to ask from next time."""

    build: BuildInfo
    logs: list[LogEntry] = field(default_factory=list)
    next_offset: int = 0

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "BuildStatus":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        logs = d.get("logs")
        return cls(
            build=BuildInfo.from_json(_dict(d.get("build"))),
            logs=[LogEntry.from_json(e) for e in logs if isinstance(e, Mapping)] if isinstance(logs, list) else [],
            next_offset=_int(d.get("next_offset")),
        )


@dataclass(frozen=True)
class LatestReadyBuild:
    """A template's most recent ready build."""

    id: str
    canonical_ref: str
    finished_at: str | None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "LatestReadyBuild":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        return cls(_str(d.get("id")), _str(d.get("canonical_ref")), _opt_str(d.get("finished_at")))


@dataclass(frozen=True)
class ResolvedBuild:
    """The build a template ref (its tag, ``@tb_…`` or ``latest``) names."""

    build_id: str
    canonical_ref: str
    status: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "ResolvedBuild":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        return cls(_str(d.get("build_id")), _str(d.get("canonical_ref")), _str(d.get("status")))


@dataclass(frozen=True)
class TemplateInfo:
    """The API's Template object: a family of builds under ``namespace/name``."""

    name: str
    namespace: str
    visibility: str = "private"
    tags: dict[str, str] = field(default_factory=dict)  # tag -> build id
    aliases: list[str] = field(default_factory=list)
    created_at: str | None = None
    latest_ready_build: LatestReadyBuild | None = None
    resolved: ResolvedBuild | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ref(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "TemplateInfo":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        lrb = d.get("latest_ready_build")
        res = d.get("resolved")
        tags = d.get("tags")
        return cls(
            name=_str(d.get("name")),
            namespace=_str(d.get("namespace")),
            visibility=_str(d.get("visibility"), "private"),
            tags={k: v for k, v in tags.items() if isinstance(v, str)} if isinstance(tags, Mapping) else {},
            aliases=_strs(d.get("aliases")),
            created_at=_opt_str(d.get("created_at")),
            latest_ready_build=LatestReadyBuild.from_json(lrb) if isinstance(lrb, Mapping) and lrb else None,
            resolved=ResolvedBuild.from_json(res) if isinstance(res, Mapping) and res else None,
            raw=dict(d),
        )


@dataclass(frozen=True)
class ErrorDetail:
    """One problem of a request: its code, sentence and the field it is about."""

    code: str
    message: str
    field: str | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "ErrorDetail":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        return cls(_str(d.get("code")), _str(d.get("message")), _opt_str(d.get("field")))


@dataclass(frozen=True)
class ValidationResult:
    """``Template.validate``: every rule violation and warning of a request."""

    valid: bool
    errors: list[ErrorDetail] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "ValidationResult":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        errs = d.get("errors")
        return cls(
            valid=bool(d.get("valid")),
            errors=[ErrorDetail.from_json(e) for e in errs if isinstance(e, Mapping)] if isinstance(errs, list) else [],
            warnings=_strs(d.get("warnings")),
        )


@dataclass(frozen=True)
class PlanBase:
    """Where a plan starts: the source and its cache key."""

    summary: str
    cache_key: str


@dataclass(frozen=True)
class PlanStep:
    """One normalized step of a plan with its cache key."""

    index: int
    type: str
    summary: str
    cache_key: str


@dataclass(frozen=True)
class BuildPlan:
    """``Template.plan``: the normalized plan, a cache key per step."""

    backend: str
    base: PlanBase | None
    steps: list[PlanStep]
    resources: dict[str, Any]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "BuildPlan":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        base = d.get("base")
        steps = d.get("steps")
        return cls(
            backend=_str(d.get("backend")),
            base=PlanBase(_str(base.get("summary")), _str(base.get("cache_key"))) if isinstance(base, Mapping) else None,
            steps=[
                PlanStep(_int(s.get("index")), _str(s.get("type")), _str(s.get("summary")), _str(s.get("cache_key")))
                for s in steps
                if isinstance(s, Mapping)
            ]
            if isinstance(steps, list)
            else [],
            resources=_dict(d.get("resources")),
            raw=dict(d),
        )


@dataclass(frozen=True)
class ContextFile:
    """A file of a build context."""

    path: str
    type: str
    size: int
    mode: int
    context: str | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "ContextFile":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        return cls(_str(d.get("path")), _str(d.get("type")), _int(d.get("size")), _int(d.get("mode")), _opt_str(d.get("context")))


@dataclass(frozen=True)
class ContextProblem:
    """A warning or an unsupported entry of a build context."""

    path: str
    reason: str
    context: str | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "ContextProblem":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        return cls(_str(d.get("path")), _str(d.get("reason")), _opt_str(d.get("context")))


@dataclass(frozen=True)
class ContextInspection:
    """``Template.inspect_build_context``: the files a build would see, warnings
    (large files, duplicates, what ``.dockerignore`` excludes), unsupported
    entries (device files, fifos, links escaping the root), and the request
    payload with secret values as ``***``."""

    files: list[ContextFile]
    warnings: list[ContextProblem]
    unsupported: list[ContextProblem]
    request: dict[str, Any] | None


@dataclass(frozen=True)
class BuildContext:
    """An uploaded build context (content-addressed: the same bytes, the same id)."""

    id: str
    digest: str
    files: int
    bytes: int

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "BuildContext":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        return cls(_str(d.get("id")), _str(d.get("digest")), _int(d.get("files")), _int(d.get("bytes")))


@dataclass(frozen=True)
class CacheMountPrune:
    """``Template.prune_cache_mounts``: the cache mount directories removed,
    the bytes they held when last used, and those kept because a running step
    holds them."""

    removed: int = 0
    bytes_freed: int = 0
    in_use: int = 0

    @classmethod
    def from_json(cls, d: Any) -> "CacheMountPrune":
        """The view of the API\'s JSON object ``d`` (missing fields take defaults)."""
        d = _dict(d)
        return cls(_int(d.get("removed")), _int(d.get("bytes_freed")), _int(d.get("in_use")))
