"""A PEP 503 "simple" package index on loopback, serving wheels from a directory.

nullspaced is started with ``--pip-index-url`` pointing here, so the samples'
``pip install`` steps download from it as written. Every request is recorded,
so a test can show that pip really came here.
"""

from __future__ import annotations

import hashlib
import html
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .wheels import normalize


class PackageIndex:
    """Serves ``/simple/``, ``/simple/<project>/`` and ``/files/<wheel>``."""

    def __init__(self, wheel_dir: Path) -> None:
        self.wheel_dir = wheel_dir
        self.requests: list[str] = []
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                index.requests.append(self.path)
                status, ctype, body = index._answer(urllib.parse.unquote(self.path.split("?", 1)[0]))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/simple/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _projects(self) -> dict[str, list[Path]]:
        out: dict[str, list[Path]] = {}
        for whl in sorted(self.wheel_dir.glob("*.whl")):
            out.setdefault(normalize(whl.name.split("-", 1)[0]), []).append(whl)
        return out

    def _answer(self, path: str) -> tuple[int, str, bytes]:
        projects = self._projects()
        if path in ("/simple", "/simple/"):
            links = "".join(f'<a href="{p}/">{p}</a>\n' for p in projects)
            return 200, "text/html", f"<!DOCTYPE html><html><body>\n{links}</body></html>".encode()
        if path.startswith("/simple/"):
            name = normalize(path.removeprefix("/simple/").strip("/"))
            if name not in projects:
                return 404, "text/plain", b"not found"
            links = "".join(
                f'<a href="/files/{html.escape(w.name)}#sha256={hashlib.sha256(w.read_bytes()).hexdigest()}">'
                f"{html.escape(w.name)}</a>\n"
                for w in projects[name]
            )
            return 200, "text/html", f"<!DOCTYPE html><html><body>\n{links}</body></html>".encode()
        if path.startswith("/files/"):
            f = self.wheel_dir / path.removeprefix("/files/")
            if f.parent == self.wheel_dir and f.is_file():
                return 200, "application/octet-stream", f.read_bytes()
        return 404, "text/plain", b"not found"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
