"""Connections the node has accepted but that have not yet requested an association.

Two stages, each holding at most ``limit`` connections, the oldest giving way to a new
one, so sockets that never associate cannot lock a real peer out:

- ``QuietConnections``: accepted, nothing received yet. One thread watches them all; a
  connection gets threads of its own (ours and pynetdicom's) only once its peer talks.
  A silent socket therefore costs a file descriptor, not three spinning threads.
- ``OpeningConnections``: talking (TLS handshake, A-ASSOCIATE-RQ arriving) but without a
  complete A-ASSOCIATE-RQ yet (PS3.8 §9.3.2).
"""

from __future__ import annotations

import contextlib
import logging
import select
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

LOG = logging.getLogger(__name__)

Address = tuple[str, int]


def shut(connection: Any) -> None:
    """Shut both directions with the plain socket's call, so a TLS handshake running on
    another thread ends without that thread's TLS state being touched."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(connection, socket.SHUT_RDWR)


def close(connection: Any) -> None:
    shut(connection)
    with contextlib.suppress(OSError):
        connection.close()


def _hung_up(connection: Any) -> bool:
    """Readable with nothing to read: the peer closed without a word (read on the plain
    socket, so the bytes of a TLS ClientHello stay where the handshake expects them)."""
    try:
        return not socket.socket.recv(connection, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        return True


class QuietConnections:
    """Accepted connections waiting for their first byte; ``on_talking`` gets each one
    as soon as it is readable, on this class's thread."""

    def __init__(self, limit: int, timeout: float,
                 on_talking: Callable[[Any, Address], None]) -> None:
        self._limit, self._timeout, self._on_talking = limit, timeout, on_talking
        self._waiting: dict[Any, tuple[Address, float]] = {}  # socket -> (peer, accepted)
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._selector.register(self._wake_reader, selectors.EVENT_READ)
        self._stopped = False
        self._thread = threading.Thread(target=self._watch, name="QuietConnections",
                                        daemon=True)
        self._thread.start()

    def add(self, connection: Any, peer: Address) -> None:
        """Watch ``connection``. When the limit is reached, waiting connections whose peer
        has meanwhile spoken are handed on first, then the oldest silent one is dropped:
        a burst must not push out a peer whose request is already waiting to be read."""
        with self._lock:
            talking = self._take_talking() if len(self._waiting) >= self._limit else []
            if len(self._waiting) >= self._limit:
                oldest = min(self._waiting, key=lambda c: self._waiting[c][1])
                LOG.warning("%d connections silent: dropping the oldest for %s",
                            self._limit, peer[0])
                self._forget(oldest)
                close(oldest)
            self._waiting[connection] = (peer, time.monotonic())
            self._selector.register(connection, selectors.EVENT_READ)
        self._wake_writer.send(b"\0")
        self._hand_on(talking)

    def _take_talking(self) -> list[tuple[Any, Address]]:
        """Remove and return the waiting connections that are readable now."""
        poll = select.poll()  # not select(): descriptors may be numbered past FD_SETSIZE
        by_descriptor = {}
        for connection in self._waiting:
            poll.register(connection, select.POLLIN)
            by_descriptor[connection.fileno()] = connection
        readable = [by_descriptor[descriptor] for descriptor, _ in poll.poll(0)]
        return [(connection, self._forget(connection)[0]) for connection in readable]

    def _hand_on(self, readable: list[tuple[Any, Address]]) -> None:
        for connection, peer in readable:
            if _hung_up(connection):
                close(connection)
            else:
                self._on_talking(connection, peer)

    def stop(self) -> None:
        self._stopped = True
        self._wake_writer.send(b"\0")
        self._thread.join(timeout=5)
        with self._lock:
            for connection in list(self._waiting):
                self._forget(connection)
                close(connection)
        self._selector.close()
        self._wake_reader.close()
        self._wake_writer.close()

    def _forget(self, connection: Any) -> tuple[Address, float]:
        self._selector.unregister(connection)
        return self._waiting.pop(connection)

    def _watch(self) -> None:
        while not self._stopped:
            ready = self._selector.select(timeout=min(self._timeout, 1.0))
            talking = []
            with self._lock:
                for key, _ in ready:
                    if key.fileobj is self._wake_reader:
                        self._wake_reader.recv(4096)
                    elif key.fileobj in self._waiting:
                        talking.append((key.fileobj, self._forget(key.fileobj)[0]))
                self._expire(time.monotonic() - self._timeout)
            self._hand_on(talking)

    def _expire(self, accepted_before: float) -> None:
        for connection, (peer, accepted) in list(self._waiting.items()):
            if accepted < accepted_before:
                LOG.info("connection from %s closed: silent for %.0f s", peer[0],
                         self._timeout)
                self._forget(connection)
                close(connection)


class OpeningConnections:
    """Talking connections without a complete A-ASSOCIATE-RQ yet."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._opening: dict[Any, float] = {}  # socket -> when it started talking
        self._lock = threading.Lock()

    def admit(self, connection: Any) -> Any | None:
        """Register ``connection``; returns the oldest one it displaces, if any."""
        with self._lock:
            for ended in [c for c in self._opening if c.fileno() == -1]:
                del self._opening[ended]
            displaced = None
            if len(self._opening) >= self._limit:
                displaced = min(self._opening, key=self._opening.__getitem__)
                del self._opening[displaced]
            self._opening[connection] = time.monotonic()
            return displaced

    def forget(self, connection: Any) -> None:
        """The connection requested its association, or ended."""
        with self._lock:
            self._opening.pop(connection, None)
