"""The package installs offline into a fresh venv with the README's command
(the `sdk_venv` fixture runs it), and is importable from there."""

from __future__ import annotations

import subprocess


def test_offline_install_into_a_fresh_venv(sdk_venv):
    py = str(sdk_venv / "bin" / "python")
    r = subprocess.run(
        [py, "-c", "import nullspace, pathlib; p = pathlib.Path(nullspace.__file__).parent; "
                   "print(p); print((p / 'py.typed').exists()); print(nullspace.__version__)"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, check=True, cwd=sdk_venv,
    )
    where, typed, version = r.stdout.split()
    assert where.startswith(str(sdk_venv)) and "site-packages" in where
    assert typed == "True" and version == "0.1.0"
    show = subprocess.run([str(sdk_venv / "bin" / "pip"), "show", "nullspace"], capture_output=True, text=True)
    fields = dict(line.split(":", 1) for line in show.stdout.splitlines() if ":" in line)
    assert fields["Requires"].strip() == ""  # the standard library only
