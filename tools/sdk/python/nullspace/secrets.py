"""Build secrets: request-time values resolved on this machine.

A secret is described by its id and where its value comes from (a literal
value, an environment variable, a file); the value is read only when a request
is sent, kept in memory only, and never shown: ``repr``/``str`` print ``***``
and every error text of the call is redacted with it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence, Union

from nullspace.errors import InvalidArgumentError

__all__ = ["BuildSecret", "ResolvedSecret", "SecretsInput", "normalize_secrets", "resolve_secrets", "secret_values"]


class _Hidden:
    """A secret value that prints as ``***``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself: only for a request body."""
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__

    def __copy__(self) -> "_Hidden":
        return self

    def __deepcopy__(self, memo: Any) -> "_Hidden":
        return self

    def __reduce__(self) -> Any:  # never pickled (written somewhere) with its value
        raise TypeError("secret values cannot be pickled")


@dataclass(frozen=True, repr=False)
class BuildSecret:
    """Where one build secret's value comes from.

    Make one with :meth:`from_value`, :meth:`from_env` or :meth:`from_file`.
    ``repr`` shows the id and the source, never the value.
    """

    id: str
    source: str  # "value" | "env" | "file"
    env: str | None = None
    path: str | None = None
    _value: _Hidden | None = None

    @classmethod
    def from_value(cls, id: str, value: str) -> "BuildSecret":
        """A literal value (held in memory only)."""
        _check_id(id)
        if not isinstance(value, str) or not value:
            raise InvalidArgumentError(f"build secret {id!r} needs a non-empty string value", field="build_secrets")
        return cls(id, "value", _value=_Hidden(value))

    @classmethod
    def from_env(cls, id: str, env: str) -> "BuildSecret":
        """The value of environment variable ``env``, read when the request is sent."""
        _check_id(id)
        if not env:
            raise InvalidArgumentError(f"build secret {id!r} needs an environment variable name", field="build_secrets")
        return cls(id, "env", env=env)

    @classmethod
    def from_file(cls, id: str, path: str | os.PathLike[str]) -> "BuildSecret":
        """The contents of file ``path`` (UTF-8), read when the request is sent."""
        _check_id(id)
        return cls(id, "file", path=os.fspath(path))

    def resolve(self) -> "ResolvedSecret":
        """Reads the value now. Errors name the secret's id and where it was
        looked for, never a value."""
        if self.source == "value":
            assert self._value is not None
            return ResolvedSecret(self.id, "value", _Hidden(self._value.reveal()))
        if self.source == "env":
            assert self.env is not None
            value = os.environ.get(self.env)
            if not value:
                raise InvalidArgumentError(
                    f"build secret {self.id!r}: environment variable {self.env} is not set (or empty)",
                    field="build_secrets",
                )
            return ResolvedSecret(self.id, "env", _Hidden(value))
        assert self.path is not None
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise InvalidArgumentError(
                f"build secret {self.id!r}: cannot read {self.path} ({e.strerror or type(e).__name__})",
                field="build_secrets",
            ) from None
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgumentError(
                f"build secret {self.id!r}: {self.path} is not UTF-8 text", field="build_secrets"
            ) from None
        if not value:
            raise InvalidArgumentError(f"build secret {self.id!r}: {self.path} is empty", field="build_secrets")
        return ResolvedSecret(self.id, "file", _Hidden(value))

    def __repr__(self) -> str:
        where = {"env": f", env={self.env!r}", "file": f", path={self.path!r}"}.get(self.source, "")
        return f"BuildSecret(id={self.id!r}, source={self.source!r}{where})"

    __str__ = __repr__


@dataclass(frozen=True, repr=False)
class ResolvedSecret:
    """A secret with its value read; ``value`` is revealed only for the request body."""

    id: str
    source: str
    _value: _Hidden

    @property
    def value(self) -> str:
        """The value itself (never print it)."""
        return self._value.reveal()

    def wire(self) -> dict[str, str]:
        """The ``build_secrets`` entry of a request."""
        return {"id": self.id, "value": self._value.reveal(), "source": self.source}

    def redacted(self) -> dict[str, str]:
        """The entry as it may be shown: the value is ``***``."""
        return {"id": self.id, "value": "***", "source": self.source}

    def __repr__(self) -> str:
        return f"ResolvedSecret(id={self.id!r}, source={self.source!r}, value='***')"

    __str__ = __repr__


# What `build_secrets=` accepts: BuildSecret objects, dicts such as
# {"id": "tok", "env": "TOKEN"} / {"id": "tok", "value": "…"} / {"id": "tok",
# "file": "path"}, or one mapping of id -> literal value.
SecretsInput = Union[Mapping[str, str], Sequence[Union[BuildSecret, Mapping[str, Any]]], None]


def _check_id(id: str) -> None:
    if not isinstance(id, str) or not id:
        raise InvalidArgumentError("a build secret needs a non-empty id", field="build_secrets")


def normalize_secrets(secrets: SecretsInput) -> list[BuildSecret]:
    """``build_secrets=`` in any accepted form as a list of :class:`BuildSecret`."""
    if secrets is None:
        return []
    if isinstance(secrets, Mapping):
        return [BuildSecret.from_value(k, v) for k, v in secrets.items()]
    out: list[BuildSecret] = []
    for s in secrets:
        if isinstance(s, BuildSecret):
            out.append(s)
        elif isinstance(s, Mapping):
            sid = s.get("id")
            if not isinstance(sid, str):
                raise InvalidArgumentError("each build secret needs an 'id'", field="build_secrets")
            if "env" in s:
                out.append(BuildSecret.from_env(sid, s["env"]))
            elif "file" in s or "path" in s:
                out.append(BuildSecret.from_file(sid, s.get("file") or s["path"]))
            elif "value" in s:
                out.append(BuildSecret.from_value(sid, s["value"]))
            else:
                raise InvalidArgumentError(
                    f"build secret {sid!r} needs one of 'value', 'env' or 'file'", field="build_secrets"
                )
        else:
            raise InvalidArgumentError(
                f"build_secrets takes BuildSecret objects or dicts, got {type(s).__name__}", field="build_secrets"
            )
    return out


def resolve_secrets(secrets: Iterable[BuildSecret]) -> list[ResolvedSecret]:
    """Reads every value; a later definition of the same id replaces an earlier one."""
    by_id: dict[str, ResolvedSecret] = {}
    for s in secrets:
        by_id[s.id] = s.resolve()
    return list(by_id.values())


def secret_values(resolved: Iterable[ResolvedSecret]) -> list[str]:
    """The values to redact from any text of a call, with and without a trailing newline."""
    out: list[str] = []
    for r in resolved:
        v = r.value
        out.append(v)
        if v.endswith("\n") and len(v) > 1:
            out.append(v.rstrip("\n"))
    return out
