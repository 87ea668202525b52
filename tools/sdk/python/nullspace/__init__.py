"""The nullspace Python SDK: build templates on a nullspaced server, manage them,
and run machines from them.

Configuration: ``NULLSPACE_API_URL`` and ``NULLSPACE_API_KEY`` (or ``api_url=`` /
``api_key=`` / ``client=`` on every call). See README.md and docs/SDK-python.md.
"""

from nullspace._version import __version__
from nullspace.builds import TemplateBuild
from nullspace.client import Client
from nullspace.commands import CommandHandle
from nullspace.errors import (
    AuthenticationError,
    BuildError,
    CommandExitError,
    ConflictError,
    ConnectionError,
    FailedPreconditionError,
    InvalidArgumentError,
    MachineError,
    NotFoundError,
    NotSupportedError,
    NullspaceError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TimeoutError,
    WarmPoolEmptyError,
)
from nullspace.logger import default_build_logger
from nullspace.machine_models import (
    CommandResult,
    CommandStatus,
    FileEntry,
    MachineFailure,
    MachineInfo,
    MachinePort,
    WarmPoolCheckout,
)
from nullspace.machines import Machine
from nullspace.models import (
    BuildInfo,
    BuildPlan,
    BuildStatus,
    CacheMountPrune,
    CacheSummary,
    ContextInspection,
    LogEntry,
    TemplateInfo,
    ValidationResult,
)
from nullspace.ready import ReadyCheck, wait_for_command, wait_for_file, wait_for_port, wait_for_url
from nullspace.secrets import BuildSecret
from nullspace.templates import Template
from nullspace.warm_pool_models import WarmPoolCounts, WarmPoolInfo, WarmPoolReason
from nullspace.warm_pools import TemplateWarmPool, WarmPoolLogFollower

__all__ = [
    "__version__",
    "Client",
    "Template",
    "TemplateBuild",
    "Machine",
    "CommandHandle",
    "TemplateWarmPool",
    "WarmPoolInfo",
    "WarmPoolCounts",
    "WarmPoolReason",
    "WarmPoolLogFollower",
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
    "CacheMountPrune",
    "CacheSummary",
    "ContextInspection",
    "LogEntry",
    "TemplateInfo",
    "ValidationResult",
    "MachineInfo",
    "MachineFailure",
    "MachinePort",
    "WarmPoolCheckout",
    "CommandResult",
    "CommandStatus",
    "FileEntry",
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
    "MachineError",
    "CommandExitError",
    "NotSupportedError",
    "WarmPoolEmptyError",
]
