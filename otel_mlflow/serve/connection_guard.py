"""Deadlines and a cap for the receiver's HTTP connections: what uvicorn does not enforce by itself.

uvicorn (h11) closes a connection left idle after a response, but that timer is cancelled by any byte received,
and none runs on a new connection or while a request's headers arrive: a client sending one header line every
few seconds holds its connection for ever (slowloris). The guard wraps uvicorn's h11 protocol through uvicorn's
public ``http`` setting (a protocol factory), passes every asyncio ``Protocol`` call through unchanged, and closes
a connection that

- sends nothing for ``read_timeout`` seconds after opening or after its last response (idle), or
- has not finished a request's headers ``read_timeout`` seconds after that request's first byte.

Neither deadline moves when more bytes trickle in. A connection past ``max_connections``, or past
``max_per_client`` from one address, gets a 503 with ``Retry-After`` at once and is closed: a client cannot hold
the receiver's connections (nor its file descriptors) open, and one client cannot take them all.

The body's deadline belongs to the app, which sees the body start and end (:mod:`.http_app`); the app tells the
guard where each request starts and ends, naming the connection by the peer address that ASGI puts in
``scope["client"]`` (so uvicorn must not rewrite it from proxy headers: ``proxy_headers=False``).

Usage::

    guard = ConnectionGuard(read_timeout=30, max_connections=1000, max_per_client=100)
    uvicorn.Config(app, http=guard.protocol, proxy_headers=False, ...)
    guard.request_started(scope["client"])                  # in the app, as a request begins
    guard.request_finished(scope["client"])                 # once its response is sent
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

_Peer = tuple[str, int]


class ConnectionGuard:
    """Counts open connections and holds their deadlines; used on the server's event loop only."""

    def __init__(self, read_timeout: float, max_connections: int, max_per_client: int | None = None) -> None:
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self.max_per_client = max_per_client or max_connections
        self.stats = {"connections_timed_out": 0, "connections_over_cap": 0}
        self._open: dict[_Peer | None, _GuardedConnection] = {}
        self._per_client: dict[str, int] = {}

    def admit(self, peer: _Peer | None) -> bool:
        """Count a new connection from ``peer``; False (not counted) past either cap."""
        client = peer[0] if peer else ""
        if len(self._open) >= self.max_connections or self._per_client.get(client, 0) >= self.max_per_client:
            self.stats["connections_over_cap"] += 1
            return False
        self._per_client[client] = self._per_client.get(client, 0) + 1
        return True

    def leave(self, peer: _Peer | None) -> None:
        client = peer[0] if peer else ""
        left = self._per_client.get(client, 0) - 1
        if left > 0:
            self._per_client[client] = left
        else:
            self._per_client.pop(client, None)

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def protocol(self, **uvicorn_arguments: Any) -> asyncio.Protocol:
        """uvicorn's ``http`` setting: its h11 protocol, made with the arguments uvicorn gives, inside a guard."""
        return _GuardedConnection(self, H11Protocol(**uvicorn_arguments))

    def request_started(self, client: Sequence[Any] | None) -> None:
        """Stop the connection's clock (the app bounds the body)."""
        connection = self._open.get(_peer(client))
        if connection is not None:
            connection.in_request()

    def request_finished(self, client: Sequence[Any] | None) -> None:
        """The response is sent: the connection may wait ``read_timeout`` for the next request."""
        connection = self._open.get(_peer(client))
        if connection is not None:
            connection.idle()


_OVER_CAP_TEXT = b"too many connections open; retry in 5 seconds"
OVER_CAP = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_OVER_CAP_TEXT), _OVER_CAP_TEXT)
)
"""The whole answer of a connection past a cap, written before anything is read."""


class _GuardedConnection(asyncio.Protocol):
    def __init__(self, guard: ConnectionGuard, inner: H11Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self._admitted = False
        self._peer: _Peer | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._awaiting_first_byte = True
        self._in_request = False

    # asyncio.Protocol, passed through -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._peer = _peer(transport.get_extra_info("peername"))
        if not self.guard.admit(self._peer):  # answered and closed at once: it holds nothing of ours
            transport.write(OVER_CAP)
            transport.close()
            return
        self._admitted = True
        self.guard._open[self._peer] = self
        self._arm()  # idle until the first byte
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        if self._awaiting_first_byte and not self._in_request:
            self._awaiting_first_byte = False
            self._arm()  # the headers' deadline: from this first byte, not moved by the next ones
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._admitted:
            self.inner.eof_received()  # h11's answer is always None: the transport closes itself
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        if not self._admitted:
            return
        self.guard.leave(self._peer)
        if self.guard._open.get(self._peer) is self:
            del self.guard._open[self._peer]
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self.inner.resume_writing()

    # the app's signals ---------------------------------------------------------------------------------
    def in_request(self) -> None:
        self._in_request = True
        self._cancel()

    def idle(self) -> None:
        self._in_request = False
        self._awaiting_first_byte = True
        self._arm()

    # deadlines -----------------------------------------------------------------------------------------
    def _arm(self) -> None:
        self._cancel()
        self._timer = asyncio.get_running_loop().call_later(self.guard.read_timeout, self._expire)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            self.guard.stats["connections_timed_out"] += 1
            self._transport.close()


def _peer(address: Sequence[Any] | None) -> _Peer | None:
    """(host, port) as ASGI's ``scope["client"]`` gives it (IPv6 peer names carry two more fields)."""
    if not address or len(address) < 2:
        return None
    return str(address[0]), int(address[1])
