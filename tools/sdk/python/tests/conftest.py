"""Fixtures of the SDK suite: one real nullspaced for most tests (sandboxed when
this runs as root, with the shared test images and a local package index), the
SDK installed into a fresh venv, and runners for the examples.

Run: /usr/bin/python3 -m pytest tools/sdk/python/tests (meson: `meson test -C build sdk_python`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SDK_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = SDK_DIR.parents[2]
EXAMPLES = SDK_DIR / "examples"
sys.path.insert(0, str(SDK_DIR))  # the SDK from the checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))

import nullspace  # noqa: E402
from support.daemon import Nullspaced  # noqa: E402
from support.helpers import SANDBOX_REASON  # noqa: E402
from support.package_index import PackageIndex  # noqa: E402
from support.wheels import DEBIAN_REQUIRES, wheel_from_installed  # noqa: E402

# The real distributions the samples pip-install (and what they depend on),
# packed from Debian's python3-* packages into the local index: pytest for the
# Dockerfile sample, fastapi and uvicorn for the quick example.
# Machine addresses (one /30 each) of the session's server; test_machines.py's
# server takes the other half of 10.84.0.0/16.
SESSION_MACHINE_RANGE = "10.84.0.0/17"

INDEX_DISTRIBUTIONS = [
    "pytest", "pluggy", "iniconfig", "attrs", "packaging",
    "fastapi", "pydantic", "starlette", "anyio", "idna", "sniffio", "typing_extensions",
    "uvicorn", "asgiref", "click", "h11", "wsproto",
]


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sdk")


@pytest.fixture(scope="session")
def package_index(session_dir: Path):
    wheels = session_dir / "wheels"
    for dist in INDEX_DISTRIBUTIONS:
        wheel_from_installed(dist, wheels, DEBIAN_REQUIRES.get(dist))
    index = PackageIndex(wheels)
    yield index
    index.close()


@pytest.fixture(scope="session")
def images_dir() -> str:
    return os.environ.get("NULLSPACE_TEST_IMAGES") or str(REPO_ROOT / ".test-images")


@pytest.fixture(scope="session")
def server(session_dir: Path, package_index: PackageIndex, images_dir: str):
    """The shared server: sandboxed builds (and machines) as root, host executor
    otherwise. Its machines get addresses from a range of their own, not the
    daemon's default nor another suite's."""
    isolation = "host" if SANDBOX_REASON else "sandbox"
    d = Nullspaced(
        session_dir / "server",
        "--isolation", isolation,
        "--images-dir", images_dir,
        "--pip-index-url", package_index.url,
        "--executor-slots", "4",
        "--machine-network-range", SESSION_MACHINE_RANGE,
    )
    yield d
    cancel_unfinished(d.url)
    stop_machines(d.url)
    d.stop()
    remove_data_dir(d.data_dir / "data")


def remove_data_dir(path: Path) -> None:
    """Frees the session's artifacts and layers (hundreds of MB), unless something
    is still mounted under them."""
    with open("/proc/mounts") as f:
        if any(line.split()[1].startswith(str(path)) for line in f):
            return
    shutil.rmtree(path, ignore_errors=True)


def stop_machines(url: str, api_key: str | None = None) -> None:
    """Kills the machines a failed test left running (a server that stops
    stops them too, but then its shutdown has to)."""
    with nullspace.Client(url, api_key) as c:
        try:
            left = [i for i in nullspace.Machine.list(client=c) if not i.is_terminal]
        except nullspace.NullspaceError:
            return  # a server without machines (host isolation)
        for info in left:
            try:
                nullspace.Machine(info, client=c).kill()
            except nullspace.NullspaceError:
                pass


def cancel_unfinished(url: str) -> None:
    """Cancels what a failed test left running: a server stopped mid-build would
    leave the build's container and mounts for its next start to clean up."""
    with nullspace.Client(url) as c:
        for t in nullspace.Template.list(client=c):
            for status in ("waiting", "queued", "building"):
                for b in nullspace.Template.list_builds(t.ref, status=status, client=c):
                    try:
                        nullspace.TemplateBuild(b, client=c).cancel(reason="the test session is over")
                    except nullspace.ConflictError:
                        pass  # it ended meanwhile


@pytest.fixture(scope="session")
def client(server: Nullspaced) -> nullspace.Client:
    c = nullspace.Client(server.url)
    yield c
    c.close()


@pytest.fixture(scope="session")
def sdk_venv(session_dir: Path) -> Path:
    """A fresh venv with the SDK installed by the README's offline command,
    from a copy of tools/sdk/python (pip writes build files next to the source)."""
    src = session_dir / "sdk-src"
    shutil.copytree(SDK_DIR, src, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.egg-info", "build"))
    venv = session_dir / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k != "PYTHONPATH"}
    r = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--no-build-isolation", "--no-index", str(src)],
        capture_output=True, text=True, env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return venv

