"""The build calls of :class:`~nullspace.Template`: build, build in the
background, validate, plan, inspect the build context."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from nullspace.builder import PreparedRequest, TemplateBuilder
from nullspace.builds import LogCallback, TemplateBuild, follow_to_end
from nullspace.client import Client, quote_segment, resolve_client
from nullspace.errors import BuildError, ConnectionError, NullspaceError
from nullspace.models import (
    BuildContext,
    BuildInfo,
    BuildPlan,
    BuildStatus,
    ContextFile,
    ContextInspection,
    ContextProblem,
    ValidationResult,
)
from nullspace.redaction import redact
from nullspace.secrets import SecretsInput
from nullspace.streams import LogFollower

__all__ = ["TemplateBuildCalls"]

# validate/plan/inspect need a name; this one stands in when none is given.
_PLACEHOLDER_NAME = "template"


def _upload_contexts(client: Client, prep: PreparedRequest) -> None:
    for arch in prep.archives:
        doc = client.request(
            "POST",
            "/v1/build-contexts",
            data=arch.tar,
            content_type="application/x-tar",
            idempotent=True,  # content-addressed: the same bytes, the same id
            timeout=max(client.timeout, 120.0),
            secrets=prep.secrets,
        ).json()
        uploaded = BuildContext.from_json(doc["context"])
        if uploaded.id != arch.id:
            raise NullspaceError(
                f"the server stored the build context of {arch.root} as {uploaded.id}, "
                f"not {arch.id}: was it changed in transit?",
                code="context_mismatch",
            )


class TemplateBuildCalls:
    """Static build calls; every one takes ``api_url=``, ``api_key=`` or ``client=``."""

    @staticmethod
    def build(
        builder: TemplateBuilder,
        name: str,
        tags: Sequence[str] | None = None,
        *,
        namespace: str | None = None,
        cpu_count: int | None = None,
        memory_mb: int | None = None,
        disk_mb: int | None = None,
        internet_access: bool | None = None,
        build_backend: str | None = None,
        build_secrets: SecretsInput = None,
        skip_cache: bool | None = None,
        build_args: Mapping[str, str] | None = None,
        target: str | None = None,
        on_log_entry: LogCallback | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
    ) -> TemplateBuild:
        """Builds a template and waits for it, following its log live.

        Uploads the builder's local build contexts, starts the build, and reads
        its log stream to the end, calling ``on_log_entry`` with each entry
        (``default_build_logger()`` prints them). If the connection drops, the
        stream is resumed with ``Last-Event-ID``: no entry is lost or repeated.

        Returns the ready build (``canonical_ref`` is what machines start from).
        Raises :class:`~nullspace.errors.BuildError` (failing step, last lines)
        if the build fails or is cancelled, :class:`~nullspace.errors.InvalidArgumentError`
        if the server refuses the request (``field`` says where).
        """
        c = resolve_client(client, api_url, api_key)
        prep = builder._prepare(
            name,
            namespace=namespace,
            tags=tags,
            cpu_count=cpu_count,
            memory_mb=memory_mb,
            disk_mb=disk_mb,
            internet_access=internet_access,
            build_backend=build_backend,
            build_secrets=build_secrets,
            skip_cache=skip_cache,
            build_args=build_args,
            target=target,
        )
        _upload_contexts(c, prep)
        stream = c.open_stream(
            "POST", "/v1/builds", json=prep.payload, headers={"Accept": "text/event-stream"}, secrets=prep.secrets
        )
        follower = LogFollower(c, stream=stream, secrets=prep.secrets)
        try:
            final, recent = follow_to_end(follower, on_log_entry)
        except ConnectionError as e:
            if follower.build_id:
                e.message = redact(
                    f"{e.message} (build {follower.build_id} goes on: TemplateBuild.connect"
                    f"({follower.build_id!r}) finds it again)",
                    prep.secrets,
                )
                e.args = (e.message,)
            raise
        build = TemplateBuild(final, client=c, secrets=prep.secrets)
        if final.status != "ready":
            raise BuildError.from_build(final, recent, prep.secrets)
        return build

    @staticmethod
    def build_in_background(
        builder: TemplateBuilder,
        name: str,
        tags: Sequence[str] | None = None,
        *,
        namespace: str | None = None,
        cpu_count: int | None = None,
        memory_mb: int | None = None,
        disk_mb: int | None = None,
        internet_access: bool | None = None,
        build_backend: str | None = None,
        build_secrets: SecretsInput = None,
        skip_cache: bool | None = None,
        build_args: Mapping[str, str] | None = None,
        target: str | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
    ) -> TemplateBuild:
        """Starts a build and returns at once with its handle (status ``queued``
        or ``waiting``); poll it with ``get_status``/``wait_until_terminal``, or
        find it again later with ``TemplateBuild.connect(id)``."""
        c = resolve_client(client, api_url, api_key)
        prep = builder._prepare(
            name,
            namespace=namespace,
            tags=tags,
            cpu_count=cpu_count,
            memory_mb=memory_mb,
            disk_mb=disk_mb,
            internet_access=internet_access,
            build_backend=build_backend,
            build_secrets=build_secrets,
            skip_cache=skip_cache,
            build_args=build_args,
            target=target,
        )
        _upload_contexts(c, prep)
        doc = c.request("POST", "/v1/builds", json=prep.payload, secrets=prep.secrets).json()
        return TemplateBuild(BuildInfo.from_json(doc["build"]), client=c, secrets=prep.secrets)

    @staticmethod
    def get_build_status(
        build_id: str,
        offset: int = 0,
        *,
        limit: int | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
    ) -> BuildStatus:
        """A build's status and its log entries from ``offset`` (see
        :meth:`TemplateBuild.get_status`)."""
        c = resolve_client(client, api_url, api_key)
        doc = c.request(
            "GET", f"/v1/builds/{quote_segment(build_id)}", query={"offset": offset, "limit": limit}
        ).json()
        return BuildStatus.from_json(doc)

    @staticmethod
    def validate(
        builder: TemplateBuilder,
        name: str | None = None,
        *,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
        **options: Any,
    ) -> ValidationResult:
        """Checks the request against every rule of the server without starting
        anything: ``valid``, every error (each naming its field), warnings.
        ``options`` are those of :meth:`build` (``cpu_count``, ``memory_mb``, …).
        Secret values are checked to be readable here but never sent."""
        c = resolve_client(client, api_url, api_key)
        prep = builder._prepare(name or _PLACEHOLDER_NAME, **options)
        doc = c.request("POST", "/v1/builds:validate", json=prep.redacted, idempotent=True).json()
        return ValidationResult.from_json(doc)

    @staticmethod
    def plan(
        builder: TemplateBuilder,
        name: str | None = None,
        *,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
        **options: Any,
    ) -> BuildPlan:
        """The normalized plan the server would run, with a cache key per step
        (secret values never enter a key, and are not sent)."""
        c = resolve_client(client, api_url, api_key)
        prep = builder._prepare(name or _PLACEHOLDER_NAME, **options)
        doc = c.request("POST", "/v1/builds:plan", json=prep.redacted, idempotent=True).json()
        return BuildPlan.from_json(doc["plan"])

    @staticmethod
    def inspect_build_context(
        builder: TemplateBuilder,
        name: str | None = None,
        *,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
        **options: Any,
    ) -> ContextInspection:
        """What a build of ``builder`` would upload and see, without uploading
        or starting anything: the files of its local contexts (what
        ``.dockerignore`` excludes is left out and listed in the warnings),
        large or duplicate files, unsupported entries (device files, fifos,
        links escaping the context), and the request payload (secret values
        ``***``)."""
        c = resolve_client(client, api_url, api_key)
        prep = builder._prepare(name or _PLACEHOLDER_NAME, **options)
        files: list[ContextFile] = []
        warnings: list[ContextProblem] = []
        unsupported: list[ContextProblem] = []
        local = {a.id for a in prep.archives}
        for arch in prep.archives:
            doc = c.request(
                "POST",
                "/v1/builds:inspect-context",
                data=arch.tar,
                content_type="application/x-tar",
                idempotent=True,
            ).json()
            files += [ContextFile.from_json({**f, "context": arch.id}) for f in doc.get("files", [])]
            warnings += [ContextProblem.from_json({**w, "context": arch.id}) for w in doc.get("warnings", [])]
            unsupported += [ContextProblem.from_json({**u, "context": arch.id}) for u in doc.get("unsupported", [])]
            if arch.ignored:
                warnings.append(
                    ContextProblem(".dockerignore", f"{arch.ignored} paths excluded by .dockerignore, not uploaded", arch.id)
                )
        doc = c.request("POST", "/v1/builds:inspect-context", json=prep.redacted, idempotent=True).json()
        files += [ContextFile.from_json(f) for f in doc.get("files", [])]
        # Contexts inspected locally above are not uploaded yet: the server says so; drop that.
        warnings += [
            ContextProblem.from_json(w) for w in doc.get("warnings", []) if w.get("context") not in local
        ]
        unsupported += [ContextProblem.from_json(u) for u in doc.get("unsupported", [])]
        return ContextInspection(files, warnings, unsupported, doc.get("request"))
