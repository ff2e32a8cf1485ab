"""A TCP proxy a test runs in front of the API that breaks one connection on purpose:
once ``cut_after`` bytes have gone from client to server (over every connection), it
closes the connection carrying them, mid-request, as a dropped network would; every
connection after that is passed through whole."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class CuttingProxy:
    def __init__(self, upstream: tuple[str, int], cut_after: int) -> None:
        self.upstream = upstream
        self.cut_after = cut_after
        self.sent = 0  # client -> server bytes passed on, all connections together
        self.cuts = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pair, args=(client,), daemon=True).start()

    def _pair(self, client: socket.socket) -> None:
        server = socket.create_connection(self.upstream)
        back = threading.Thread(target=self._pipe, args=(server, client, False), daemon=True)
        back.start()
        self._pipe(client, server, True)

    def _pipe(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        try:
            while data := source.recv(16384):
                if upstream:
                    with self._lock:
                        left = self.cut_after - self.sent if self.cuts == 0 else len(data)
                        if left < len(data):  # the cut: pass what fits, then hang up
                            self.cuts += 1
                            self.sent += max(left, 0)
                            sink.sendall(data[: max(left, 0)])
                            break
                        self.sent += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self._listener.close()


@contextmanager
def cutting_proxy(upstream: tuple[str, int], cut_after: int) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(upstream, cut_after)
    threading.Thread(target=proxy._serve, daemon=True).start()
    try:
        yield proxy
    finally:
        proxy.close()
