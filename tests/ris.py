"""A test RIS: hl7apy's MLLP server on a free loopback port that answers as it is told.

Behaviours: "AA", "AE", "AR" (answer that code), "silent" (read the message, never answer)
and "mismatch" (AA for another control id). A list is used one behaviour per message; once
it runs out its last behaviour keeps applying. Every message received is recorded in order.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections import deque
from collections.abc import Sequence
from types import TracebackType

from hl7apy.mllp import AbstractErrorHandler, AbstractHandler, MLLPServer, UnsupportedMessageType

from reporting.hl7 import ORU_MESSAGE_TYPE, build_ack, message_control_id
from reporting.mllp import END_BLOCK, START_BLOCK

BEHAVIOURS = ("AA", "AE", "AR", "silent", "mismatch")
REFUSAL_TEXT = {"AE": "Unknown accession number", "AR": "RIS database busy, try later"}


class _TlsMllpServer(MLLPServer):
    """MLLPServer whose connections are TLS when given a context.

    The handshake runs in the connection's own thread (socketserver's ``finish_request``), so
    a client that never completes it cannot stall the accept loop.
    """

    def __init__(self, host: str, port: int, handlers: dict, timeout: float,
                 ssl_context: ssl.SSLContext | None) -> None:
        self.ssl_context = ssl_context
        super().__init__(host, port, handlers, timeout=timeout)

    def finish_request(self, request: socket.socket, client_address: tuple) -> None:
        if self.ssl_context is not None:
            request.settimeout(self.timeout)
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except OSError:
                return  # failed handshake: the client sees the connection close
        super().finish_request(request, client_address)


class _AnswerOru(AbstractHandler):
    def __init__(self, message: str, ris: RecordingRis) -> None:
        super().__init__(message)
        self.ris = ris

    def reply(self) -> str:
        return self.ris.answer(self.incoming_message)


class _AnswerOtherTypes(AbstractErrorHandler):
    """Any other message type is answered the same way; unreadable input gets no answer."""

    def __init__(self, exc: Exception, message: str, ris: RecordingRis) -> None:
        super().__init__(exc, message)
        self.ris = ris

    def reply(self) -> str:
        if isinstance(self.exc, UnsupportedMessageType):
            return self.ris.answer(self.incoming_message)
        return ""


class RecordingRis:
    """An MLLP listener on 127.0.0.1 (optionally TLS) that records what it receives."""

    def __init__(self, behaviour: str | Sequence[str] = "AA", *,
                 ssl_context: ssl.SSLContext | None = None, timeout: float = 5.0) -> None:
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._behaviours: deque[str] = deque()
        self._received: list[str] = []
        self.behaviour = behaviour
        handlers = {ORU_MESSAGE_TYPE: (_AnswerOru, self), "ERR": (_AnswerOtherTypes, self)}
        self._server = _TlsMllpServer("127.0.0.1", 0, handlers, timeout, ssl_context)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def behaviour(self) -> str:
        with self._lock:
            return self._behaviours[0]

    @behaviour.setter
    def behaviour(self, behaviour: str | Sequence[str]) -> None:
        planned = [behaviour] if isinstance(behaviour, str) else list(behaviour)
        unknown = [b for b in planned if b not in BEHAVIOURS]
        if not planned or unknown:
            raise ValueError(f"behaviours are {', '.join(BEHAVIOURS)}; got {planned!r}")
        with self._lock:
            self._behaviours = deque(planned)

    @property
    def received(self) -> list[str]:
        """Every message received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._received)

    def control_ids(self) -> list[str]:
        """MSH-10 of every message received, in order (a resend repeats its id)."""
        return [message_control_id(message) for message in self.received]

    def unique_control_ids(self) -> list[str]:
        """MSH-10s received, each once, in the order first seen."""
        return list(dict.fromkeys(self.control_ids()))

    def answer(self, message: str) -> str:
        """Record ``message`` and return the framed ACK the next behaviour calls for."""
        with self._lock:
            self._received.append(message)
            many = len(self._behaviours) > 1
            behaviour = self._behaviours.popleft() if many else self._behaviours[0]
        if behaviour == "silent":
            self._closing.wait()  # hold the connection open until the RIS stops
            return ""
        if behaviour == "mismatch":
            sent_id = message_control_id(message)
            message = message.replace(f"|{sent_id}|", f"|{sent_id}X|", 1)
        code = "AA" if behaviour == "mismatch" else behaviour
        return f"{START_BLOCK}{build_ack(message, code, REFUSAL_TEXT.get(code, ''))}{END_BLOCK}"

    def start(self) -> RecordingRis:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()  # releases connections held by "silent"
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> RecordingRis:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
