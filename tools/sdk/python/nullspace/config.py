"""Where the server is and which key to use.

Every entry point takes ``api_url=`` and ``api_key=`` (or a ready
:class:`~nullspace.client.Client` as ``client=``); whatever is not given comes
from the environment, the same variables the CLI reads:

- ``NULLSPACE_API_URL`` (``NULLSPACE_SERVER`` is accepted as an older alias),
  default ``http://127.0.0.1:7070``;
- ``NULLSPACE_API_KEY``, default none (a server without keys needs none).
"""

from __future__ import annotations

import os

DEFAULT_API_URL = "http://127.0.0.1:7070"
ENV_API_URL = "NULLSPACE_API_URL"
ENV_API_URL_ALIAS = "NULLSPACE_SERVER"
ENV_API_KEY = "NULLSPACE_API_KEY"


def resolve_api_url(api_url: str | None = None) -> str:
    """``api_url``, else ``$NULLSPACE_API_URL``, else ``$NULLSPACE_SERVER``, else the default."""
    for value in (api_url, os.environ.get(ENV_API_URL), os.environ.get(ENV_API_URL_ALIAS)):
        if value:
            return value.rstrip("/")
    return DEFAULT_API_URL


def resolve_api_key(api_key: str | None = None) -> str | None:
    """``api_key``, else ``$NULLSPACE_API_KEY``, else ``None``."""
    if api_key:
        return api_key
    return os.environ.get(ENV_API_KEY) or None
