"""The nullspace Python SDK: build templates on a nullspaced server and manage them.

Configuration: ``NULLSPACE_API_URL`` and ``NULLSPACE_API_KEY`` (or ``api_url=`` /
``api_key=`` / ``client=`` on every call). See README.md and docs/SDK-python.md.
"""

from nullspace._version import __version__
from nullspace.builds import TemplateBuild
from nullspace.client import Client
from nullspace.errors import (
    AuthenticationError,
    BuildError,
    ConflictError,
    ConnectionError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    NullspaceError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TimeoutError,
)
from nullspace.logger import default_build_logger
from nullspace.models import (
    BuildInfo,
    BuildPlan,
    BuildStatus,
    CacheSummary,
    ContextInspection,
    LogEntry,
    TemplateInfo,
    ValidationResult,
)
from nullspace.ready import ReadyCheck, wait_for_command, wait_for_file, wait_for_port, wait_for_url
from nullspace.secrets import BuildSecret
from nullspace.templates import Template

__all__ = [
    "__version__",
    "Client",
    "Template",
    "TemplateBuild",
    "BuildSecret",
    "ReadyCheck",
    "wait_for_port",
    "wait_for_url",
    "wait_for_file",
    "wait_for_command",
    "default_build_logger",
    "BuildInfo",
    "BuildStatus",
    "BuildPlan",
    "CacheSummary",
    "ContextInspection",
    "LogEntry",
    "TemplateInfo",
    "ValidationResult",
    "NullspaceError",
    "ConnectionError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "InvalidArgumentError",
    "FailedPreconditionError",
    "ConflictError",
    "RateLimitError",
    "TimeoutError",
    "ServerError",
    "BuildError",
]
