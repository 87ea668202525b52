"""Build contexts: local files packed into the tar the server stores.

A context is content-addressed: its id is ``bc_`` + the first 32 hex digits of
the sha256 of the tar bytes, so the SDK knows it before uploading and an
unchanged directory is never stored twice. Packing is deterministic (sorted
paths, owner 0, whole-second mtimes), like the CLI's. What the context's
top-level ``.dockerignore`` excludes never leaves this machine.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from dataclasses import dataclass, field
from typing import Iterable

from nullspace.dockerignore import DockerIgnore, clean_path, glob_match
from nullspace.errors import InvalidArgumentError

__all__ = ["ContextArchive", "pack_context", "context_id"]


def context_id(tar_bytes: bytes) -> tuple[str, str]:
    """(id, digest) of a context tar."""
    hexd = hashlib.sha256(tar_bytes).hexdigest()
    return "bc_" + hexd[:32], "sha256:" + hexd


@dataclass(frozen=True)
class ContextArchive:
    """A packed context: the tar bytes, their id and what went in."""

    root: str
    tar: bytes = field(repr=False)
    id: str
    digest: str
    files: int
    bytes: int
    ignored: int  # paths .dockerignore excluded
    skipped: list[str]  # device files, fifos, sockets: not packed


def _wanted(rel: str, selectors: list[str] | None) -> bool:
    if selectors is None:
        return True
    for sel in selectors:
        if sel == "" or rel == sel or rel.startswith(sel + "/"):
            return True
        if any(ch in sel for ch in "*?[") and (
            glob_match(sel, rel) or any(rel[i] == "/" and glob_match(sel, rel[:i]) for i in range(len(rel)))
        ):
            return True
    return False


def _under_selector(rel_dir: str, selectors: list[str] | None) -> bool:
    # Whether a directory may hold something a selector wants (so walk it).
    if selectors is None:
        return True
    for sel in selectors:
        if any(ch in sel for ch in "*?[") or sel == "":
            return True
        if sel == rel_dir or sel.startswith(rel_dir + "/") or rel_dir.startswith(sel + "/"):
            return True
    return False


def pack_context(root: str | os.PathLike[str], only: Iterable[str] | None = None) -> ContextArchive:
    """Packs directory ``root`` without what its ``.dockerignore`` excludes.

    ``only``: copy sources relative to ``root`` (paths or patterns, ``"."`` for
    everything); when given, just the entries they name (and everything under
    the directories they name) are packed, plus ``.dockerignore`` itself.
    """
    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root):
        raise InvalidArgumentError(f"build context {root} is not a directory", field="context")
    rules = ""
    ignore_path = os.path.join(root, ".dockerignore")
    if os.path.isfile(ignore_path):
        with open(ignore_path, encoding="utf-8", errors="replace") as f:
            rules = f.read()
    ignore = DockerIgnore(rules)
    prune = not ignore.has_reincludes
    selectors = None if only is None else [clean_path(s) for s in only]

    entries: list[tuple[str, str]] = []  # (relative path, absolute path)
    ignored = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        keep_dirs = []
        for name in sorted(dirnames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            full = os.path.join(dirpath, name)
            if ignore and ignore.ignores(rel):
                ignored += 1
                if prune or os.path.islink(full):
                    continue  # nothing inside can come back: not even walked
            elif _wanted(rel, selectors):
                entries.append((rel, full))
            if not os.path.islink(full) and _under_selector(rel, selectors):
                keep_dirs.append(name)
        dirnames[:] = keep_dirs
        for name in filenames:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if rel != ".dockerignore" and ignore and ignore.ignores(rel):
                ignored += 1
                continue
            if rel == ".dockerignore" or _wanted(rel, selectors):
                entries.append((rel, os.path.join(dirpath, name)))
    entries.sort()

    buf = io.BytesIO()
    files = total = 0
    skipped: list[str] = []
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, full in entries:
            try:
                st = os.lstat(full)
            except OSError as e:
                raise InvalidArgumentError(f"cannot read {full}: {e.strerror}", field="context") from None
            info = tarfile.TarInfo(rel)
            info.mode = stat.S_IMODE(st.st_mode)
            info.mtime = int(st.st_mtime)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(full)
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                try:
                    with open(full, "rb") as f:
                        data = f.read()
                except OSError as e:
                    raise InvalidArgumentError(f"cannot read {full}: {e.strerror}", field="context") from None
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                files += 1
                total += len(data)
            else:
                skipped.append(rel)
    data = buf.getvalue()
    cid, digest = context_id(data)
    return ContextArchive(root, data, cid, digest, files, total, ignored, skipped)
