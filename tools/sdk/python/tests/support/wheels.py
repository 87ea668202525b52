"""Wheels made from Python distributions installed on this machine.

PyPI is not reachable here, so the local package index serves the real
packages the samples ask for, packed from Debian's python3-* installs: the same
code, as a pure-Python wheel pip can install anywhere.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata as md
import io
import re
import zipfile
from pathlib import Path


# What Debian's packages depend on, where their upstream metadata says otherwise:
# Debian 12 ships fastapi 0.92 (metadata: starlette<0.26) with starlette 0.26.1,
# uvicorn 0.17.6 as an egg-info without its runtime requirements, and anyio
# without idna and sniffio. These are the packages' `Depends:` lines, as
# requirements.
DEBIAN_REQUIRES: dict[str, list[str]] = {
    "fastapi": ["pydantic>=1.8.2", "starlette>=0.25.0", "uvicorn"],
    "uvicorn": ["asgiref", "click", "h11", "wsproto", "typing-extensions"],
    "anyio": ["idna", "sniffio", "typing-extensions"],
}


def normalize(name: str) -> str:
    """A project name as PEP 503 writes it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _payload_files(dist: md.Distribution, root: Path) -> list[Path]:
    # The distribution's own files (its RECORD), or its top-level packages.
    out: list[Path] = []
    for f in dist.files or []:
        p = Path(dist.locate_file(f)).resolve()
        if root not in p.parents or ".dist-info" in str(f) or ".egg-info" in str(f):
            continue
        if "__pycache__" in p.parts or p.suffix == ".pyc" or not p.is_file():
            continue
        out.append(p)
    if out:
        return out
    top = (dist.read_text("top_level.txt") or "").split()
    for name in top:
        pkg, mod = root / name, root / f"{name}.py"
        if pkg.is_dir():
            out += [p for p in pkg.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        elif mod.is_file():
            out.append(mod)
    return out


def wheel_from_installed(dist_name: str, out_dir: Path, requires: list[str] | None = None) -> Path:
    """Packs installed distribution ``dist_name`` as ``<name>-<version>-py3-none-any.whl``.

    ``requires`` replaces the distribution's own ``Requires-Dist`` lines: for
    packages whose upstream metadata Debian did not update when it patched them
    to work with the versions it ships (see DEBIAN_REQUIRES)."""
    dist = md.distribution(dist_name)
    name, version = dist.metadata["Name"], dist.version
    root = Path(dist.locate_file("")).resolve()
    files = _payload_files(dist, root)
    if not files:
        raise RuntimeError(f"no files found for installed distribution {dist_name}")
    info = f"{re.sub(r'[-_.]+', '_', name)}-{version}.dist-info"
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if dist.metadata.get("Requires-Python"):
        meta.append(f"Requires-Python: {dist.metadata['Requires-Python']}")
    meta += [f"Requires-Dist: {r}" for r in (dist.requires or [] if requires is None else requires)]
    extra = {
        "METADATA": "\n".join(meta) + "\n",
        "WHEEL": "Wheel-Version: 1.0\nGenerator: nullspace-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    for optional in ("entry_points.txt", "top_level.txt"):
        text = dist.read_text(optional)
        if text:
            extra[optional] = text
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{info.removesuffix('.dist-info')}-py3-none-any.whl"
    record = io.StringIO()
    rows = csv.writer(record, lineterminator="\n")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as whl:
        for f in sorted(set(files)):  # an egg-info may list a file twice
            arc = f.relative_to(root).as_posix()
            data = f.read_bytes()
            whl.writestr(arc, data)
            rows.writerow([arc, _digest(data), len(data)])
        for fname, text in extra.items():
            data = text.encode()
            whl.writestr(f"{info}/{fname}", data)
            rows.writerow([f"{info}/{fname}", _digest(data), len(data)])
        rows.writerow([f"{info}/RECORD", "", ""])
        whl.writestr(f"{info}/RECORD", record.getvalue())
    return path
