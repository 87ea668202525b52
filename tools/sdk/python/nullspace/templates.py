"""``Template``: the builder of a template definition, and the template API.

``Template()`` (or any ``Template.from_…`` source) starts a definition; the
static calls build it (``Template.build``, ``build_in_background``,
``validate``, ``plan``, ``inspect_build_context``) and manage template refs
(``get``, ``list``, ``list_builds``, tags, aliases, names, visibility,
``delete``).
"""

from __future__ import annotations

from typing import Any, NoReturn

from nullspace.build_calls import TemplateBuildCalls
from nullspace.builder import TemplateBuilder
from nullspace.errors import NotSupportedError
from nullspace.registry import TemplateRegistryCalls
from nullspace.warm_pools import WARM_POOLS_MISSING

__all__ = ["Template"]


class Template(TemplateBuilder, TemplateBuildCalls, TemplateRegistryCalls):
    """A template definition (see :class:`~nullspace.builder.TemplateBuilder` for
    the fluent steps) and the static template calls::

        builder = Template.from_python_image("3.11").apt_install(["git"]).pip_install(["pytest"])
        build = Template.build(builder, name="my-template", tags=["stable"],
                               on_log_entry=default_build_logger())
        print(build.status, build.canonical_ref)
    """

    @staticmethod
    def create_warm_pool(*args: Any, **kwargs: Any) -> NoReturn:
        """Not available yet: raises :class:`~nullspace.errors.NotSupportedError`
        (nullspaced has no warm pools; see :class:`~nullspace.TemplateWarmPool`)."""
        raise NotSupportedError(WARM_POOLS_MISSING, code="not_implemented")
