"""The cache-mount call of :class:`~nullspace.Template`: pruning the caller's
Dockerfile cache mounts (``RUN --mount=type=cache``), the SDK's
``nullspace cache prune``."""

from __future__ import annotations

from nullspace.client import Client, resolve_client
from nullspace.models import CacheMountPrune

__all__ = ["TemplateCacheMountCalls"]


class TemplateCacheMountCalls:
    """Static cache-mount calls; every one takes ``api_url=``, ``api_key=`` or ``client=``."""

    @staticmethod
    def prune_cache_mounts(
        *, api_url: str | None = None, api_key: str | None = None, client: Client | None = None
    ) -> CacheMountPrune:
        """Deletes your cache mount directories that no running build step
        holds; the next build that names one starts it empty. Other tenants'
        caches are untouched. Returns how many were ``removed``, the
        ``bytes_freed`` and how many a running step kept (``in_use``)."""
        c = resolve_client(client, api_url, api_key)
        # Safe to send again: a second prune removes what the first left, if anything.
        doc = c.request("POST", "/v1/cache-mounts:prune", idempotent=True).json()
        return CacheMountPrune.from_json(doc)
