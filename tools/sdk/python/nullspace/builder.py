"""The fluent template builder: one object per template definition.

Every method returns a NEW builder (the one it was called on is unchanged), so a
base definition can be shared and extended::

    base = Template.from_python_image("3.11").apt_install(["git"])
    web = base.pip_install(["flask"]).set_start_cmd("flask run", ready=wait_for_port(5000))

The source methods (``from_python_image``, ``from_image``, ``from_dockerfile``,
``from_dockerfile_content``, ``from_template``) work on the class, starting a
new builder, and on a builder, replacing its source: ``Template.from_image(x)``
and ``Template().from_image(x)`` are the same.
"""

from __future__ import annotations

import functools
import os
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Mapping, Sequence, TypeVar, Union

from nullspace.context import ContextArchive, pack_context
from nullspace.errors import InvalidArgumentError
from nullspace.ready import ReadyCheck
from nullspace.secrets import BuildSecret, SecretsInput, _Hidden, normalize_secrets, resolve_secrets, secret_values

__all__ = ["TemplateBuilder", "PreparedRequest"]

B = TypeVar("B", bound="TemplateBuilder")
R = TypeVar("R")


class _either_way(Generic[R]):
    """A method callable on the class (on a fresh builder) or on an instance."""

    def __init__(self, func: Callable[..., R]) -> None:
        self.func = func
        functools.update_wrapper(self, func)

    def __get__(self, obj: Any, owner: type) -> Callable[..., R]:
        return types.MethodType(self.func, obj if obj is not None else owner())


@dataclass(frozen=True)
class _Copy:
    src: str
    dest: str
    context_dir: str


@dataclass(frozen=True)
class _RegistryAuth:
    username: str
    password: _Hidden = field(repr=False)


@dataclass
class PreparedRequest:
    """A build request ready to send: ``payload`` carries secret values (send it,
    never print it); ``redacted`` is the same with ``***`` instead; ``archives``
    are the contexts to upload first; ``secrets`` the values to redact from
    any text of the call."""

    payload: dict[str, Any] = field(repr=False)
    redacted: dict[str, Any]
    archives: list[ContextArchive]
    secrets: list[str] = field(repr=False)


StepInput = Union[str, Sequence[str]]


def _str_list(value: StepInput, what: str) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    if not items or not all(isinstance(p, str) and p for p in items):
        raise InvalidArgumentError(f"{what} takes a non-empty string or list of strings", field=what)
    return items


def _str_map(envs: Mapping[str, Any], what: str) -> dict[str, str]:
    if not isinstance(envs, Mapping):
        raise InvalidArgumentError(f"{what} takes a mapping of names to values", field=what)
    return {str(k): str(v) for k, v in envs.items()}


class TemplateBuilder:
    """A template definition: a source, steps, runtime environment, a start
    command with its ready check, and build secrets.

    Args:
        context_dir: where ``copy`` sources are read from (default: the current
            directory when ``copy`` is called).
    """

    def __init__(self, context_dir: str | os.PathLike[str] | None = None) -> None:
        self._context_dir: str | None = os.path.abspath(os.fspath(context_dir)) if context_dir else None
        self._source: dict[str, Any] | None = None
        self._source_context: str | None = None  # a Dockerfile's directory
        self._auth: _RegistryAuth | None = None
        self._steps: tuple[dict[str, Any] | _Copy, ...] = ()
        self._runtime_envs: dict[str, str] = {}
        self._start_cmd: str | None = None
        self._ready: ReadyCheck | None = None
        self._ready_timeout_ms: int | None = None
        self._secrets: tuple[BuildSecret, ...] = ()

    def _with(self: B, **changes: Any) -> B:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        for k, v in changes.items():
            setattr(new, "_" + k, v)
        return new

    def _step(self: B, step: dict[str, Any] | _Copy) -> B:
        return self._with(steps=self._steps + (step,))

    # ---- sources ----------------------------------------------------------------

    @_either_way
    def from_python_image(self: B, version: str = "3.11") -> B:
        """Start from a Python base image (``"3.11"``)."""
        return self._with(source={"type": "python_image", "version": str(version)}, source_context=None, auth=None)

    @_either_way
    def from_image(self: B, image: str, auth: Mapping[str, str] | tuple[str, str] | None = None) -> B:
        """Start from an OCI image (``"debian:bookworm"``, ``"registry.example/team/app:1"``).

        ``auth``: ``{"username": …, "password": …}`` (or a ``(username, password)``
        pair) for a private registry. The password is never shown or stored.
        """
        ra = None
        if auth is not None:
            user, password = (auth["username"], auth["password"]) if isinstance(auth, Mapping) else auth
            if not user or not password:
                raise InvalidArgumentError("registry auth needs a username and a password", field="builder.source.auth")
            ra = _RegistryAuth(str(user), _Hidden(str(password)))
        return self._with(source={"type": "image", "image": image}, source_context=None, auth=ra)

    @_either_way
    def from_dockerfile(self: B, path: str | os.PathLike[str], context_dir: str | os.PathLike[str] | None = None) -> B:
        """Start from a Dockerfile file; its directory (or ``context_dir``) is the
        build context COPY reads, uploaded without what ``.dockerignore`` excludes.

        Dockerfile text (several lines, or starting with ``FROM``) is accepted
        too, as :meth:`from_dockerfile_content`.
        """
        p = os.fspath(path)
        if not os.path.isfile(p):
            if "\n" in p or p.lstrip().upper().startswith(("FROM ", "ARG ", "# SYNTAX")):
                return self.from_dockerfile_content(p, context_dir=context_dir)
            raise InvalidArgumentError(f"no Dockerfile at {p}", field="builder.source.content")
        with open(p, encoding="utf-8") as f:
            content = f.read()
        ctx = os.fspath(context_dir) if context_dir else os.path.dirname(os.path.abspath(p))
        return self._with(
            source={"type": "dockerfile", "content": content}, source_context=os.path.abspath(ctx), auth=None
        )

    @_either_way
    def from_dockerfile_content(self: B, content: str, context_dir: str | os.PathLike[str] | None = None) -> B:
        """Start from Dockerfile text; ``context_dir`` is the context its COPY lines read."""
        ctx = os.path.abspath(os.fspath(context_dir)) if context_dir else None
        return self._with(source={"type": "dockerfile", "content": content}, source_context=ctx, auth=None)

    @_either_way
    def from_template(self: B, ref: str) -> B:
        """Start from a ready template build: ``base:stable``, ``base``, ``ns/base@tb_…``."""
        return self._with(source={"type": "template", "ref": ref}, source_context=None, auth=None)

    # ---- steps ------------------------------------------------------------------

    def apt_install(self: B, packages: StepInput) -> B:
        """``apt-get install`` these Debian packages."""
        return self._step({"type": "apt_install", "packages": _str_list(packages, "apt_install")})

    def pip_install(self: B, packages: StepInput) -> B:
        """``pip install`` these Python packages."""
        return self._step({"type": "pip_install", "packages": _str_list(packages, "pip_install")})

    def npm_install(self: B, packages: StepInput, *, global_: bool = False) -> B:
        """``npm install`` these packages (``global_=True``: ``npm install -g``)."""
        step: dict[str, Any] = {"type": "npm_install", "packages": _str_list(packages, "npm_install")}
        if global_:
            step["global"] = True
        return self._step(step)

    def copy(
        self: B, src: StepInput, dest: str, *, context_dir: str | os.PathLike[str] | None = None
    ) -> B:
        """Copy local files into the image, like Docker's COPY: a directory's
        contents go into ``dest``; a file goes to ``dest`` (or into it when
        ``dest`` ends in ``/``). ``src`` is relative to the builder's context
        directory (``"."`` for all of it) and may be a pattern; the files are
        uploaded when the build starts, without what ``.dockerignore`` excludes.
        """
        base = os.fspath(context_dir) if context_dir else (self._context_dir or os.getcwd())
        out = self
        for s in _str_list(src, "copy"):
            out = out._step(_Copy(s, dest, os.path.abspath(base)))
        return out

    def run_cmd(self: B, cmd: StepInput, *, secrets: Sequence[str] | None = None) -> B:
        """Run shell command(s) (``/bin/sh -c``), one step each. ``secrets``: ids
        of build secrets the command reads from ``/run/secrets/<id>``."""
        out = self
        for c in _str_list(cmd, "run_cmd"):
            step: dict[str, Any] = {"type": "run", "cmd": c}
            if secrets:
                step["secrets"] = list(secrets)
            out = out._step(step)
        return out

    def set_envs(self: B, envs: Mapping[str, Any]) -> B:
        """Environment variables for the steps after this one (build time)."""
        return self._step({"type": "env", "envs": _str_map(envs, "set_envs")})

    def set_runtime_envs(self: B, envs: Mapping[str, Any]) -> B:
        """Environment defaults of machines started from the template (merged with earlier calls)."""
        return self._with(runtime_envs={**self._runtime_envs, **_str_map(envs, "set_runtime_envs")})

    def set_user(self: B, user: str | int) -> B:
        """Later steps (and the start command) run as this user: a name or a uid."""
        return self._step({"type": "user", "name": str(user)})

    def set_workdir(self: B, path: str) -> B:
        """The working directory of later steps (created when needed)."""
        return self._step({"type": "workdir", "path": path})

    def git_clone(self: B, url: str, dest: str | None = None, *, ref: str | None = None) -> B:
        """``git clone --depth 1 [--branch ref] url dest`` (``dest`` defaults to the
        repository's name in the working directory)."""
        if dest is None:
            dest = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or "repo"
        step: dict[str, Any] = {"type": "git_clone", "url": url, "dest": dest}
        if ref:
            step["ref"] = ref
        return self._step(step)

    def set_start_cmd(self: B, cmd: str, ready: ReadyCheck | None = None, *, ready_timeout_ms: int | None = None) -> B:
        """The command machines from this template start with, and the check
        (``wait_for_port(8000)``, ``wait_for_url``, ``wait_for_file``,
        ``wait_for_command``) that says it is ready. The build runs it once and
        fails if it does not become ready within ``ready_timeout_ms``."""
        return self._with(start_cmd=cmd, ready=ready, ready_timeout_ms=ready_timeout_ms)

    # ---- build secrets ------------------------------------------------------------

    def add_build_secret_env(self: B, id: str, env: str) -> B:
        """Build secret ``id`` from environment variable ``env`` (read when the build is sent)."""
        return self._with(secrets=self._secrets + (BuildSecret.from_env(id, env),))

    def add_build_secret_value(self: B, id: str, value: str) -> B:
        """Build secret ``id`` with this value (kept in memory only, never shown)."""
        return self._with(secrets=self._secrets + (BuildSecret.from_value(id, value),))

    def add_build_secret_file(self: B, id: str, path: str | os.PathLike[str]) -> B:
        """Build secret ``id`` from a file's contents (read when the build is sent)."""
        return self._with(secrets=self._secrets + (BuildSecret.from_file(id, path),))

    @property
    def build_secrets(self) -> tuple[BuildSecret, ...]:
        """The secrets this builder declares (ids and sources; values stay hidden)."""
        return self._secrets

    # ---- rendering ------------------------------------------------------------------

    def __repr__(self) -> str:
        src = self._source_summary()
        steps = [self._step_summary(s) for s in self._steps]
        parts = [src, f"steps={steps!r}"]
        if self._runtime_envs:
            parts.append(f"runtime_envs={self._runtime_envs!r}")
        if self._start_cmd:
            parts.append(f"start_cmd={self._start_cmd!r}")
        if self._secrets:
            parts.append(f"build_secrets={list(self._secrets)!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    __str__ = __repr__

    def _source_summary(self) -> str:
        s = self._source
        if s is None:
            return "no source"
        if s["type"] == "python_image":
            return f"python_image {s['version']}"
        if s["type"] == "image":
            return f"image {s['image']}" + (f" (auth: {self._auth.username} / ***)" if self._auth else "")
        if s["type"] == "template":
            return f"template {s['ref']}"
        return "dockerfile" + (f" (context {self._source_context})" if self._source_context else "")

    @staticmethod
    def _step_summary(s: dict[str, Any] | _Copy) -> str:
        if isinstance(s, _Copy):
            return f"copy {s.src} {s.dest}"
        kind = s["type"]
        if kind == "env":  # names only: build-time values may be sensitive
            detail = " ".join(f"{k}=…" for k in s["envs"])
        else:
            key = {"run": "cmd", "workdir": "path", "user": "name", "git_clone": "url"}.get(kind)
            detail = str(s[key]) if key else " ".join(s.get("packages", []))
        return f"{kind} {detail}"

    def to_request(self, name: str, **options: Any) -> dict[str, Any]:
        """The request :meth:`Template.build` would send, with secret values as
        ``***`` (the ``--render`` of the CLI). Contexts are packed to know
        their ids; nothing is sent."""
        return self._prepare(name, **options).redacted

    def _prepare(
        self,
        name: str,
        *,
        namespace: str | None = None,
        tags: Sequence[str] | None = None,
        cpu_count: int | None = None,
        memory_mb: int | None = None,
        disk_mb: int | None = None,
        internet_access: bool | None = None,
        build_backend: str | None = None,
        build_secrets: SecretsInput = None,
        skip_cache: bool | None = None,
        build_args: Mapping[str, str] | None = None,
        target: str | None = None,
    ) -> PreparedRequest:
        if self._source is None:
            raise InvalidArgumentError(
                "the template has no source: start it with from_python_image, from_image, "
                "from_dockerfile, from_dockerfile_content or from_template",
                field="builder.source",
            )
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError("a build needs a template name (name=…)", field="name")
        archives: dict[str, ContextArchive] = {}
        source = dict(self._source)
        if self._source_context:
            arch = pack_context(self._source_context)
            archives[arch.id] = arch
            source["context"] = arch.id
        # Copy steps: one archive per context directory, holding just what they copy.
        wanted: dict[str, list[str]] = {}
        for s in self._steps:
            if isinstance(s, _Copy):
                wanted.setdefault(s.context_dir, []).append(s.src)
        by_dir: dict[str, ContextArchive] = {}
        for d, srcs in wanted.items():
            by_dir[d] = pack_context(d, only=srcs)
            archives[by_dir[d].id] = by_dir[d]
        steps: list[dict[str, Any]] = []
        for s in self._steps:
            if isinstance(s, _Copy):
                steps.append({"type": "copy", "src": s.src, "dest": s.dest, "context": by_dir[s.context_dir].id})
            else:
                steps.append(dict(s))
        builder: dict[str, Any] = {"source": source, "steps": steps}
        if self._runtime_envs:
            builder["runtime_envs"] = dict(self._runtime_envs)
        if self._start_cmd is not None:
            builder["start_cmd"] = self._start_cmd
        if self._ready is not None:
            builder["ready"] = self._ready.to_json()
        if self._ready_timeout_ms is not None:
            builder["ready_timeout_ms"] = self._ready_timeout_ms
        payload: dict[str, Any] = {"name": name}
        if namespace is not None:
            payload["namespace"] = namespace
        if tags is not None:
            payload["tags"] = [tags] if isinstance(tags, str) else list(tags)
        payload["builder"] = builder
        for key, value in (
            ("cpu_count", cpu_count),
            ("memory_mb", memory_mb),
            ("disk_mb", disk_mb),
            ("internet_access", internet_access),
            ("build_backend", build_backend),
            ("skip_cache", skip_cache),
        ):
            if value is not None:
                payload[key] = value
        # Dockerfile ARG values (stored with the build; secrets go in build_secrets).
        if build_args:
            payload["build_args"] = {str(k): str(v) for k, v in build_args.items()}
        if target is not None:
            payload["target"] = target

        values: list[str] = []
        redacted_source = dict(source)
        if self._auth is not None:
            pw = self._auth.password.reveal()
            values.append(pw)
            source["auth"] = {"username": self._auth.username, "password": pw}
            redacted_source["auth"] = {"username": self._auth.username, "password": "***"}
        declared = list(self._secrets) + normalize_secrets(build_secrets)
        redacted: dict[str, Any] = {**payload, "builder": {**builder, "source": redacted_source}}
        if declared:
            resolved = resolve_secrets(declared)
            values += secret_values(resolved)
            payload["build_secrets"] = [r.wire() for r in resolved]
            redacted["build_secrets"] = [r.redacted() for r in resolved]
        return PreparedRequest(payload, redacted, list(archives.values()), values)
