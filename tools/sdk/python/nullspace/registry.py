"""The template-ref calls of :class:`~nullspace.Template`: get, list, build
history, tags, aliases, names, visibility, delete.

A ref is ``name``, ``namespace/name``, ``name:tag`` or ``name@tb_…`` (a bare
name means its ``latest`` tag where a ref names a build).
"""

from __future__ import annotations

from typing import Any, Iterator, List, Sequence

from nullspace.client import Client, quote_segment, resolve_client
from nullspace.models import BuildInfo, TemplateInfo

__all__ = ["TemplateRegistryCalls"]


def _template(doc: Any) -> TemplateInfo:
    return TemplateInfo.from_json(doc["template"])


def _path(ref: str, suffix: str = "") -> str:
    return f"/v1/templates/{quote_segment(ref)}{suffix}"


class TemplateRegistryCalls:
    """Static registry calls; every one takes ``api_url=``, ``api_key=`` or ``client=``."""

    @staticmethod
    def get(
        ref: str, *, api_url: str | None = None, api_key: str | None = None, client: Client | None = None
    ) -> TemplateInfo:
        """The template: visibility, tags, aliases, latest ready build, and
        (``resolved``) the build the ref names."""
        c = resolve_client(client, api_url, api_key)
        return _template(c.request("GET", _path(ref)).json())

    @staticmethod
    def list(
        namespace: str | None = None,
        visibility: str | None = None,
        *,
        limit: int | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
    ) -> Iterator[TemplateInfo]:
        """Your templates (plus other tenants' public ones in ``namespace``, or
        with ``visibility="public"``), in namespace/name order. Iterates over
        every page; ``limit`` is the page size."""
        c = resolve_client(client, api_url, api_key)
        cursor: str | None = None
        while True:
            doc = c.request(
                "GET",
                "/v1/templates",
                query={"namespace": namespace, "visibility": visibility, "limit": limit, "cursor": cursor},
            ).json()
            for t in doc.get("templates", []):
                yield TemplateInfo.from_json(t)
            cursor = doc.get("next_cursor")
            if not cursor:
                return

    @staticmethod
    def list_builds(
        ref: str,
        status: str | None = None,
        tagged: bool | None = None,
        backend: str | None = None,
        *,
        limit: int | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
    ) -> Iterator[BuildInfo]:
        """The template's build history, newest first, failed, cancelled and
        untagged attempts included. Filters: ``status``, ``tagged`` (a tag points
        at it now), ``backend``. Iterates over every page; ``limit`` is the page size."""
        c = resolve_client(client, api_url, api_key)
        cursor: str | None = None
        while True:
            doc = c.request(
                "GET",
                _path(ref, "/builds"),
                query={"status": status, "tagged": tagged, "backend": backend, "limit": limit, "cursor": cursor},
            ).json()
            for b in doc.get("builds", []):
                yield BuildInfo.from_json(b)
            cursor = doc.get("next_cursor")
            if not cursor:
                return

    @staticmethod
    def assign_tags(
        ref: str,
        tags: str | Sequence[str],
        *,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
    ) -> TemplateInfo:
        """Points each tag at the build ``ref`` names (``name:tag``, ``name@tb_…``,
        or ``name`` for its latest). The build must be promotable."""
        c = resolve_client(client, api_url, api_key)
        body = {"tags": [tags] if isinstance(tags, str) else list(tags)}
        return _template(c.request("POST", _path(ref, "/tags"), json=body, idempotent=True).json())

    @staticmethod
    def remove_tag(
        ref: str, tag: str, *, api_url: str | None = None, api_key: str | None = None, client: Client | None = None
    ) -> TemplateInfo:
        """Removes a tag (a build left without tags starts its retention)."""
        c = resolve_client(client, api_url, api_key)
        return _template(c.request("DELETE", _path(ref, f"/tags/{quote_segment(tag)}")).json())

    @staticmethod
    def get_tags(
        ref: str, *, api_url: str | None = None, api_key: str | None = None, client: Client | None = None
    ) -> dict[str, str]:
        """The template's tags: ``{tag: build id}``."""
        return TemplateRegistryCalls.get(ref, api_url=api_url, api_key=api_key, client=client).tags

    @staticmethod
    def add_alias(
        ref: str, alias: str, *, api_url: str | None = None, api_key: str | None = None, client: Client | None = None
    ) -> TemplateInfo:
        """Adds another name of the template in its namespace, usable in every ref."""
        c = resolve_client(client, api_url, api_key)
        return _template(c.request("POST", _path(ref, "/aliases"), json={"alias": alias}).json())

    @staticmethod
    def list_aliases(
        ref: str, *, api_url: str | None = None, api_key: str | None = None, client: Client | None = None
    ) -> List[str]:  # `list` is a method of this class
        """The template's aliases."""
        c = resolve_client(client, api_url, api_key)
        return [a for a in c.request("GET", _path(ref, "/aliases")).json().get("aliases", []) if isinstance(a, str)]

    @staticmethod
    def remove_alias(
        ref: str, alias: str, *, api_url: str | None = None, api_key: str | None = None, client: Client | None = None
    ) -> TemplateInfo:
        """Removes an alias."""
        c = resolve_client(client, api_url, api_key)
        return _template(c.request("DELETE", _path(ref, f"/aliases/{quote_segment(alias)}")).json())

    @staticmethod
    def reserve_name(
        name: str,
        namespace: str | None = None,
        *,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
    ) -> TemplateInfo:
        """Creates an empty template before its first build (``name`` may be ``ns/name``)."""
        c = resolve_client(client, api_url, api_key)
        if namespace is None and "/" in name:
            namespace, name = name.split("/", 1)
        body: dict[str, Any] = {"name": name}
        if namespace is not None:
            body["namespace"] = namespace
        return _template(c.request("POST", "/v1/templates:reserve", json=body).json())

    @staticmethod
    def rename(
        ref: str,
        name: str,
        namespace: str | None = None,
        *,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
    ) -> TemplateInfo:
        """Renames (or moves to ``namespace``) a template; tags, aliases and
        history move with it. Refused while one of its builds is unfinished."""
        c = resolve_client(client, api_url, api_key)
        body: dict[str, Any] = {"name": name}
        if namespace is not None:
            body["namespace"] = namespace
        return _template(c.request("POST", _path(ref, "/rename"), json=body).json())

    @staticmethod
    def set_visibility(
        ref: str,
        visibility: str,
        *,
        api_url: str | None = None,
        api_key: str | None = None,
        client: Client | None = None,
    ) -> TemplateInfo:
        """``"private"`` or ``"public"`` (others can read and build on a public template)."""
        c = resolve_client(client, api_url, api_key)
        return _template(c.request("PUT", _path(ref, "/visibility"), json={"visibility": visibility}).json())

    @staticmethod
    def delete(
        ref: str, *, api_url: str | None = None, api_key: str | None = None, client: Client | None = None
    ) -> TemplateInfo:
        """Deletes the template with its tags, aliases and history (its builds
        stay readable by id). Refused while one of its builds is unfinished."""
        c = resolve_client(client, api_url, api_key)
        return _template(c.request("DELETE", _path(ref)).json())
