"""A gate a sandboxed build step can wait on over loopback.

The port is reserved (bound) but refuses connections until the test opens the
gate; then it answers HTTP 200. A build step waits with
``until wget -q -O /dev/null http://127.0.0.1:PORT/; do sleep 0.2; done`` —
the test decides when the build goes on, instead of guessing with sleeps.
"""

from __future__ import annotations

import socket
import threading


class Gate:
    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"

    def wait_cmd(self) -> str:
        """The shell loop a step runs to wait for the gate."""
        return f"until wget -q -O /dev/null {self.url}; do sleep 0.2; done"

    def open(self) -> None:
        """From now on every connection gets ``200 OK``."""
        self._sock.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                except OSError:
                    pass

    def close(self) -> None:
        self._sock.close()
