"""uvicorn's WebSocket protocol (websockets, sans-I/O) with a keepalive that a held-back stream
survives.

uvicorn pings every connection (`ws_ping_interval`) and closes it 1011 "keepalive ping
timeout" when the pong is `ws_ping_timeout` late. A pong travels in the same TCP stream as the
client's audio, behind it. While a live stream is held back on purpose (overload=wait: the
route does not read the next message until the session has caught up, and uvicorn stops
reading the socket meanwhile) the pong waits unread behind audio, and the stock protocol would
close a perfectly healthy connection. So:

- a pong that is late while reading is paused (a message is waiting for the app) does not
  close the connection: the deadline is re-armed, and checked again once reading resumes;
- whether the peer is still there is then a question for TCP: every connection gets
  TCP_USER_TIMEOUT = ping interval + ping timeout, so data we sent (our pings, our events)
  that the peer's kernel does not acknowledge for that long aborts the connection (Linux also
  applies it to a peer whose receive window stays shut: a client that stopped reading).

`hark serve` runs uvicorn with this class (`ws=`); its keepalive settings come from
HARK_LIVE_PING_INTERVAL_S and HARK_LIVE_PING_TIMEOUT_S.
"""

from __future__ import annotations

import contextlib
import socket
from asyncio.transports import BaseTransport

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class KeepaliveProtocol(WebSocketsSansIOProtocol):
    def connection_made(self, transport: BaseTransport) -> None:
        super().connection_made(transport)
        interval, timeout = self.ping_interval, self.ping_timeout
        sock = transport.get_extra_info("socket")
        option = getattr(socket, "TCP_USER_TIMEOUT", None)  # Linux
        if sock is not None and option is not None and interval and timeout:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, option, round((interval + timeout) * 1000))

    def keepalive_timeout(self) -> None:
        if self.read_paused and self.ping_timeout and not self.transport.is_closing():
            # The pong may be behind the audio we are not reading yet: not a dead peer.
            self.pong_timer = self.loop.call_later(self.ping_timeout, self.keepalive_timeout)
            return
        super().keepalive_timeout()
