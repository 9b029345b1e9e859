"""uvicorn's HTTP/1.1 protocol (httptools), with every request head bounded in size and in time.

uvicorn holds a request's unfinished head in memory however large it grows, and waits for it
however slowly it comes: one client trickling header lines, or sending 100 MB of them, holds a
connection and its memory for as long as it likes. Here a head (request line and headers) larger
than ``max_head_bytes`` is answered 431 and the connection closed as soon as that many bytes are
in, and a head not complete ``head_timeout`` seconds after the connection opened (or after the
first byte of a later request on it) is answered 408 and closed. Bodies have their own limits
(``VH_MAX_BODY_BYTES``, per route).
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import os
import signal
import sys
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class BoundedHeadProtocol(HttpToolsProtocol):
    _head_bytes = 0
    _head_deadline: asyncio.TimerHandle | None = None

    def __init__(self, *args: Any, max_head_bytes: int, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_head_bytes = max_head_bytes
        self.head_timeout = head_timeout

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        reading_head = self._head_deadline is not None
        if reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still no end of the head after this many bytes: refuse before holding any more of it.
        if self._head_deadline is not None and reading_head and self._head_bytes > self.max_head_bytes:
            self._refuse(b"431 Request Header Fields Too Large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_deadline is None:
            self._await_head()

    def on_headers_complete(self) -> None:
        self._head_done()
        super().on_headers_complete()

    def _await_head(self) -> None:
        self._head_bytes = 0
        self._head_deadline = self.loop.call_later(self.head_timeout, self._refuse, b"408 Request Timeout")

    def _head_done(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _refuse(self, status: bytes) -> None:
        self._head_done()
        if not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            self.transport.close()


def bounded_protocol(max_head_bytes: int, head_timeout: float) -> functools.partial[BoundedHeadProtocol]:
    """The protocol for uvicorn's ``http=``, with these bounds (picklable: worker processes get it too)."""
    return functools.partial(BoundedHeadProtocol, max_head_bytes=max_head_bytes, head_timeout=head_timeout)


PR_SET_PDEATHSIG = 1


def end_with_parent(parent_pid: int) -> None:
    """Have this worker process stopped (SIGTERM: requests in flight are finished) when `serve`, its
    parent, dies, even killed with SIGKILL: an orphaned worker would go on holding the port."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before that
        raise SystemExit(1)
