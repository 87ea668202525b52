"""``Template``: the builder of a template definition, and the template API.

``Template()`` (or any ``Template.from_…`` source) starts a definition; the
static calls build it (``Template.build``, ``build_in_background``,
``validate``, ``plan``, ``inspect_build_context``) and manage template refs
(``get``, ``list``, ``list_builds``, tags, aliases, names, visibility,
``delete``), and prune the caller's cache mounts (``prune_cache_mounts``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nullspace.build_calls import TemplateBuildCalls
from nullspace.builder import TemplateBuilder
from nullspace.cache_mounts import TemplateCacheMountCalls
from nullspace.client import Client
from nullspace.errors import InvalidArgumentError
from nullspace.registry import TemplateRegistryCalls

if TYPE_CHECKING:  # pragma: no cover
    from nullspace.warm_pools import TemplateWarmPool

__all__ = ["Template"]


def _template_ref(template: Any) -> str:
    """A ref from a ref string, a build (its canonical_ref) or a template (its ref)."""
    if isinstance(template, str):
        return template
    for attr in ("canonical_ref", "ref"):
        ref = getattr(template, attr, None)
        if isinstance(ref, str) and ref:
            return ref
    raise InvalidArgumentError(
        "template must be a template ref, a build (canonical_ref) or a template (ref)", field="template"
    )


class Template(TemplateBuilder, TemplateBuildCalls, TemplateRegistryCalls, TemplateCacheMountCalls):
    """A template definition (see :class:`~nullspace.builder.TemplateBuilder` for
    the fluent steps) and the static template calls::

        builder = Template.from_python_image("3.11").apt_install(["git"]).pip_install(["pytest"])
        build = Template.build(builder, name="my-template", tags=["stable"],
                               on_log_entry=default_build_logger())
        print(build.status, build.canonical_ref)
    """

    @staticmethod
    def create_warm_pool(
        template: Any,
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
        """:meth:`TemplateWarmPool.create <nullspace.warm_pools.TemplateWarmPool.create>`
        for a template ref, a build (its ``canonical_ref``: the pool runs that
        build) or a :class:`~nullspace.models.TemplateInfo` (its ``ref``)."""
        from nullspace.warm_pools import TemplateWarmPool

        return TemplateWarmPool.create(
            _template_ref(template),
            name=name,
            min_ready=min_ready,
            max_ready=max_ready,
            version_policy=version_policy,
            cpu_count=cpu_count,
            memory_mb=memory_mb,
            max_idle_ms=max_idle_ms,
            api_url=api_url,
            api_key=api_key,
            client=client,
        )
