"""``machine.files``: read, write, list and remove files inside a machine.

Paths are absolute paths inside the machine; the server resolves them inside
the machine's root as if it were ``/``: ``..`` stops at the root and symlinks
(absolute ones too) point inside the machine, so no path reaches a host file.
A relative path is :class:`~nullspace.errors.InvalidArgumentError` (``field``
``path``); a missing file :class:`~nullspace.errors.NotFoundError`.
"""

from __future__ import annotations

from typing import Any

from nullspace.client import Client, quote_segment
from nullspace.errors import InvalidArgumentError
from nullspace.machine_models import FileEntry

__all__ = ["Files"]

# Files go through the API in one piece (the server caps them at 256 MiB by
# default): give such a call more time than an ordinary one.
_MIN_FILE_TIMEOUT = 120.0


def _mode_text(mode: int | str | None) -> str | None:
    if mode is None:
        return None
    if isinstance(mode, bool) or not isinstance(mode, (int, str)):
        raise InvalidArgumentError(f"mode must be an int like 0o644 or a string like '0644', got {mode!r}", field="mode")
    if isinstance(mode, str):
        try:
            mode = int(mode, 8)
        except ValueError:
            raise InvalidArgumentError(f"mode {mode!r} is not an octal number", field="mode") from None
    if not 0 <= mode <= 0o7777:
        raise InvalidArgumentError(f"mode {mode:o} is out of range (0 to 7777 octal)", field="mode")
    return f"{mode:04o}"


class Files:
    """The files of one machine (``machine.files``)."""

    def __init__(self, machine_id: str, client: Client) -> None:
        self._machine_id = machine_id
        self._client = client

    def _path(self, suffix: str = "") -> str:
        return f"/v1/machines/{quote_segment(self._machine_id)}/files{suffix}"

    def _timeout(self) -> float:
        return max(self._client.timeout, _MIN_FILE_TIMEOUT)

    def write(
        self,
        path: str,
        data: bytes | bytearray | memoryview | str,
        mode: int | str | None = None,
        *,
        uid: int | None = None,
        gid: int | None = None,
    ) -> FileEntry:
        """Writes ``data`` to ``path`` (made or replaced; a ``str`` is written as
        UTF-8), creating missing parent directories as the server does.

        ``mode``: permission bits, ``0o755`` or ``"0755"`` (default ``0644`` for a
        new file); ``uid``/``gid`` default to the template's user. Returns the
        written file's entry."""
        body = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        query: dict[str, Any] = {"path": path, "mode": _mode_text(mode), "uid": uid, "gid": gid}
        doc = self._client.request(
            "PUT", self._path(), query=query, data=body, content_type="application/octet-stream", timeout=self._timeout()
        ).json()
        return FileEntry.from_json(doc["file"])

    def read(self, path: str) -> bytes:
        """The bytes of the file at ``path``."""
        return self._client.request("GET", self._path(), query={"path": path}, timeout=self._timeout()).body

    def read_text(self, path: str, encoding: str = "utf-8", errors: str = "strict") -> str:
        """The file at ``path`` decoded as text."""
        return self.read(path).decode(encoding, errors)

    def list(self, path: str = "/") -> list[FileEntry]:
        """The entries of the directory ``path`` (name, path, type, size, mode,
        uid, gid, modified_at)."""
        doc = self._client.request("GET", self._path(":list"), query={"path": path}).json()
        return [FileEntry.from_json(e) for e in doc.get("entries", []) if isinstance(e, dict)]

    def remove(self, path: str, recursive: bool = False) -> str:
        """Removes the file (or, with ``recursive=True``, the directory tree) at
        ``path``; returns the path the server deleted. A non-empty directory
        without ``recursive`` is refused."""
        doc = self._client.request(
            "DELETE", self._path(), query={"path": path, "recursive": recursive or None}
        ).json()
        deleted = doc.get("deleted") if isinstance(doc, dict) else None
        return deleted if isinstance(deleted, str) else path

    def __repr__(self) -> str:
        return f"Files(machine_id={self._machine_id!r})"
