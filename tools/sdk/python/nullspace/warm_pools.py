"""``TemplateWarmPool``: a placeholder until nullspaced has warm pools.

Warm pools (ready machines kept for a template, checked out by
``Machine.create(warm_pool=…)``) need server routes (``/v1/warm-pools``) that
do not exist yet. Every use of this name raises
:class:`~nullspace.errors.NotSupportedError` (also a ``NotImplementedError``)
saying so, instead of failing later with a confusing 404.
"""

from __future__ import annotations

from typing import Any, NoReturn

from nullspace.errors import NotSupportedError

__all__ = ["TemplateWarmPool", "WARM_POOLS_MISSING"]

WARM_POOLS_MISSING = (
    "warm pools are not available: nullspaced has no warm-pool routes (/v1/warm-pools) yet, "
    "so TemplateWarmPool cannot create, get, list, update, enable, disable, drain or delete one; "
    "create machines with Machine.create(template=…) without a pool"
)


def _missing(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise NotSupportedError(WARM_POOLS_MISSING, code="not_implemented")


class TemplateWarmPool:
    """Not available yet: every call raises :class:`~nullspace.errors.NotSupportedError`.

    The planned surface is ``create``, ``get``, ``list``, ``wait_until_ready``,
    ``update``, ``enable``, ``disable``, ``drain`` and ``delete``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _missing()

    create = staticmethod(_missing)
    get = staticmethod(_missing)
    list = staticmethod(_missing)
    wait_until_ready = staticmethod(_missing)
    update = staticmethod(_missing)
    enable = staticmethod(_missing)
    disable = staticmethod(_missing)
    drain = staticmethod(_missing)
    delete = staticmethod(_missing)
