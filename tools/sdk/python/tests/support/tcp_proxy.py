"""A TCP proxy on loopback that a test can sever: every open connection is cut
at once (the client sees its stream end mid-way), new ones are accepted and
forwarded as before. It keeps the first bytes of each connection, so a test can
read the request a client sent."""

from __future__ import annotations

import socket
import struct
import threading


class SeverableProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.requests: list[bytes] = []  # the first bytes each client sent
        self.severed = 0
        self._cut_next = 0  # connections whose answer is cut at its first byte
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            index = len(self.requests)
            with self._lock:
                self.requests.append(b"")
                self._open += [client, upstream]
                cut = self._cut_next > 0
                self._cut_next -= int(cut)
            threading.Thread(target=self._pump, args=(client, upstream, index, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None, cut), daemon=True).start()

    def cut_next_answers(self, n: int = 1) -> None:
        """The next ``n`` connections lose their answer: when the server's first
        bytes arrive, the connection is cut instead (the request did reach it)."""
        with self._lock:
            self._cut_next += n

    def _pump(self, src: socket.socket, dst: socket.socket, record: int | None, cut: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record is not None and len(self.requests[record]) < 8192:
                    self.requests[record] += data
                if cut:
                    self._abort([src, dst])
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def sever(self) -> None:
        """Cuts every open connection (RST), as a network failure would."""
        with self._lock:
            conns, self._open = self._open, []
            self.severed += 1
        self._abort(conns)

    @staticmethod
    def _abort(conns: list[socket.socket]) -> None:
        for s in conns:
            try:
                # Abortive: no lingering. shutdown() first, because a close()
                # alone does not wake the pump blocked in recv() on it (and the
                # socket would live on while that thread holds it).
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self._listener.close()
        self.sever()
