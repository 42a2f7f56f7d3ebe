"""The node's associations: pynetdicom's, without the waste a busy receiver pays for.

pynetdicom 3.0 runs each association on two threads that poll (its own code says "TODO:
try and make this event based"): the DUL thread sleeps 1 ms whenever a pass found
nothing to do, the association thread sleeps 1 ms before every look at the DIMSE queue.
A C-STORE therefore waited for a sleep to end three times: before its request was read,
before the handler was called and before the response was sent, about 1.5 ms of each
instance's 6 ms (``tests/bench/ingest.py --steps``). Here the DUL thread waits in
``select`` on the peer's socket and on a wake-up socket written whenever a primitive is
queued for it; the association thread waits on an event set whenever a DIMSE message or
an A-RELEASE/A-ABORT reaches it. Both loops still look round at least every
``IDLE_WAIT`` for timers (ARTIM, network timeout), so an idle association wakes 100
times a second rather than 1,000.

Also: a P-DATA-TF PDU's values reach the DIMSE layer as views of the bytes read, not
copied three times; a C-STORE response is encoded directly (app/store_response.py); and
pynetdicom's logging handlers are unbound unless its logger would show them. Everything
else, the state machine (PS3.8 §9.2) included, is pynetdicom's own.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import socket
import ssl
import struct
import threading
import time
from typing import Any

from pynetdicom import evt
from pynetdicom._handlers import (
    standard_dimse_recv_handler,
    standard_dimse_sent_handler,
    standard_pdu_recv_handler,
    standard_pdu_sent_handler,
)
from pynetdicom.association import Association
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu import A_ABORT_RQ, P_DATA_TF
from pynetdicom.pdu_items import PresentationDataValueItem
from pynetdicom.pdu_primitives import P_DATA

from app.store_response import encode_store_response

LOG = logging.getLogger(__name__)

IDLE_WAIT = 0.01  # seconds between looks when nothing wakes a reactor
PDU_HEADER = struct.Struct(">BBL")  # type, reserved, length (PS3.8 §9.3.1)
PDU_TYPES = range(0x01, 0x08)
P_DATA_TF_TYPE = 0x04
PDV_LENGTH = struct.Struct(">L")
PDV_OVERHEAD = 6  # a PDV item's length, context ID and control header (PS3.8 §9.3.5.1)
LAST_COMMAND_FRAGMENT = b"\x03"  # message control header: command, last fragment


class SignallingQueue(queue.Queue[Any]):
    """A queue that sets ``arrived`` after every put."""

    def __init__(self, arrived: threading.Event) -> None:
        super().__init__()
        self._arrived = arrived

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self._arrived.set()


class PromptDUL(DULServiceProvider):
    """pynetdicom's DUL reactor, waiting on its socket and its send queue."""

    def __init__(self, assoc: PromptAssociation) -> None:
        super().__init__(assoc)
        self.to_user_queue = SignallingQueue(assoc.arrived)
        self._waker: socket.socket | None = None  # written to wake the reactor while it runs

    def send_pdu(self, primitive: Any) -> None:
        super().send_pdu(primitive)
        self._wake()

    def kill_dul(self) -> None:
        super().kill_dul()
        self._wake()

    def stop_dul(self) -> bool:
        """As pynetdicom's: stop the reactor once the connection is closed (Sta1)."""
        if self.state_machine.current_state != "Sta1":
            return False
        self.kill_dul()
        while self.is_alive():
            time.sleep(0.001)
        return True

    def run_reactor(self) -> None:
        """pynetdicom 3.0's ``run_reactor`` with ``_wait_for_work`` for its 1 ms sleep."""
        self._waker, wakeup = socket.socketpair()
        self._waker.setblocking(False)  # a full pair already holds a wake-up
        wakeup.setblocking(False)
        self._idle_timer.start()
        idle = False
        try:
            while True:
                if not self.assoc._dul_ready.is_set():
                    self.assoc._dul_ready.set()
                    idle = True
                if idle:
                    self._wait_for_work(wakeup)
                if self._kill_thread:
                    break
                if self.artim_timer.expired:
                    self.event_queue.put("Evt18")
                if not self._step():
                    return
                try:
                    event = self.event_queue.get(block=False)
                except queue.Empty:
                    idle = True
                    continue
                self.state_machine.do_action(event)
                idle = False
        finally:
            self._waker.close()
            wakeup.close()

    def _step(self) -> bool:
        """Queue the event for one primitive to send or one PDU received; on an error,
        abort as pynetdicom does (False: the reactor ends)."""
        try:
            if not self._process_recv_primitive() and self._is_transport_event():
                self._idle_timer.restart()
            return True
        except Exception:
            LOG.exception("error in the DUL reactor, aborting the association")
            abort = A_ABORT_RQ()
            abort.source, abort.reason_diagnostic = 0x02, 0x00
            with contextlib.suppress(Exception):
                self.socket.send(abort.encode())
            self.assoc.is_aborted, self.assoc.is_established = True, False
            self.assoc._kill = self._kill_thread = True
            return False

    def _read_pdu_data(self) -> None:
        """pynetdicom's ``_read_pdu_data`` (PS3.8 §9.3), with a P-DATA-TF PDU's values
        handed on as views of the bytes read: its own decoder copies each value three
        times, half a megabyte per CT slice."""
        header = self._receive(PDU_HEADER.size)
        if len(header) < PDU_HEADER.size:
            self.event_queue.put("Evt17")  # transport connection closed
            return
        pdu_type, _, length = PDU_HEADER.unpack(header)
        if pdu_type not in PDU_TYPES:
            LOG.error("unknown PDU type 0x%02X received", pdu_type)
            self.event_queue.put("Evt19")  # unrecognised PDU
            return
        body = self._receive(length)
        if len(body) != length:
            LOG.error("the received PDU is shorter than its length (%d of %d bytes)",
                      len(body), length)
            self.event_queue.put("Evt17")
            return
        try:
            pdu, event = (self._p_data(body) if pdu_type == P_DATA_TF_TYPE
                          else self._decode_pdu(bytearray(header) + body))
        except Exception:
            LOG.exception("unable to decode the received PDU")
            self.event_queue.put("Evt19")
            return
        self.event_queue.put(event)
        self._recv_pdu.put(pdu)

    def _receive(self, size: int) -> bytes | bytearray:
        """``size`` bytes, fewer if the connection ended (then Evt17, as in pynetdicom)."""
        try:
            return self.socket.recv(size)
        except OSError:  # TimeoutError included
            return b""

    def _p_data(self, body: bytes | bytearray) -> tuple[P_DATA_TF, str]:
        """A P-DATA-TF PDU whose PDV items (PS3.8 §9.3.5.1) are views of ``body``."""
        pdu, view, offset = P_DATA_TF(), memoryview(body), 0
        while offset < len(view):
            (item_length,) = PDV_LENGTH.unpack_from(view, offset)
            end = offset + 4 + item_length
            if item_length < 2 or end > len(view):
                raise ValueError(f"PDV item of {item_length} bytes at {offset} overruns its PDU")
            item = PresentationDataValueItem()
            item.presentation_context_id = view[offset + 4]
            item.presentation_data_value = view[offset + 5:end]
            pdu.presentation_data_value_items.append(item)
            offset = end
        evt.trigger(self.assoc, evt.EVT_PDU_RECV, {"pdu": pdu})
        return pdu, "Evt10"  # P-DATA-TF PDU received

    def _wait_for_work(self, wakeup: socket.socket) -> None:
        """Until the peer sends, a primitive is queued, or ``IDLE_WAIT`` passes."""
        if not self.to_provider_queue.empty() or not self.event_queue.empty():
            return
        connection = self.socket.socket if self.socket else None
        if isinstance(connection, ssl.SSLSocket) and connection.pending():
            return  # decrypted bytes that select cannot see
        waiting_on = [wakeup] + ([connection] if connection is not None else [])
        with contextlib.suppress(OSError, ValueError):  # closed: the next pass sees it
            select.select(waiting_on, [], [], IDLE_WAIT)
        with contextlib.suppress(OSError):
            wakeup.recv(4096)

    def _wake(self) -> None:
        waker = self._waker
        if waker is not None:
            with contextlib.suppress(OSError):  # closed as the reactor ended: nothing to wake
                waker.send(b"\0")


# pynetdicom's logging handlers, bound to every association: they build their messages
# for every PDU and DIMSE message (and copy each received data set only to test whether
# it is empty) before the pynetdicom logger discards them.
STANDARD_LOG_HANDLERS = ((evt.EVT_DIMSE_RECV, standard_dimse_recv_handler),
                         (evt.EVT_DIMSE_SENT, standard_dimse_sent_handler),
                         (evt.EVT_PDU_RECV, standard_pdu_recv_handler),
                         (evt.EVT_PDU_SENT, standard_pdu_sent_handler))


class PromptDIMSE(DIMSEServiceProvider):
    """pynetdicom's DIMSE provider, sending a C-STORE response encoded directly
    (app/store_response.py) when nothing listens for the sent message."""

    def send_msg(self, primitive: Any, context_id: int) -> None:
        command = encode_store_response(primitive)
        limit = self.maximum_pdu_size  # 0: no limit (PS3.8 §D.1)
        if (command is None or (limit and len(command) + PDV_OVERHEAD > limit)
                or self.assoc.get_handlers(evt.EVT_DIMSE_SENT)):
            super().send_msg(primitive, context_id)
            return
        data = P_DATA()
        data.presentation_data_value_list.append((context_id, LAST_COMMAND_FRAGMENT + command))
        self.dul.send_pdu(data)


class PromptAssociation(Association):
    """An acceptor association whose reactor waits on ``arrived`` instead of sleeping,
    without pynetdicom's logging handlers unless its logger would show their INFO lines."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.arrived = threading.Event()
        super().__init__(*args, **kwargs)
        self.dul = PromptDUL(self)
        self.dimse = PromptDIMSE(self)
        self.dimse.msg_queue = SignallingQueue(self.arrived)
        # The timers live in the DUL: give the new one the timeouts set on the old.
        self.acse_timeout, self.network_timeout = self.acse_timeout, self.network_timeout
        self.unbind_silent_log_handlers()

    def unbind_silent_log_handlers(self) -> None:
        """Unbind pynetdicom's logging handlers unless its logger would show their lines.
        Called again once the server's handlers are bound: the server binds them too."""
        if not logging.getLogger("pynetdicom").isEnabledFor(logging.INFO):
            for event, handler in STANDARD_LOG_HANDLERS:
                self.unbind(event, handler)

    def _run_reactor(self) -> None:
        """pynetdicom 3.0's acceptor loop: serve DIMSE messages, end on release, abort,
        a stopped DUL or the network timeout; between passes, wait for ``arrived``."""
        self._is_paused = False
        while not self._kill:
            self.arrived.clear()
            if self.dimse.msg_queue.empty():
                self.arrived.wait(IDLE_WAIT)
            self._is_paused = True
            self._reactor_checkpoint.wait()
            self._is_paused = False
            context_id, message = self.dimse.get_msg(block=False)
            if message:
                self._serve_request(message, context_id)
            if self._ended():
                return

    def _ended(self) -> bool:
        """pynetdicom's end-of-association checks, in its order."""
        if self.is_established and self.acse.is_release_requested():
            return self._end_by_release()
        if self.acse.is_aborted():
            return self._end_by_abort()
        if not self.dul.is_alive():
            self.kill()
            return True
        if self.dul.idle_timer_expired():
            return self._end_by_network_timeout()
        return False

    def _end_by_release(self) -> bool:
        self.acse.send_release(is_response=True)
        LOG.debug("association released")
        self.is_released, self.is_established = True, False
        evt.trigger(self, evt.EVT_RELEASED, {})
        self.kill()
        return True

    def _end_by_abort(self) -> bool:
        LOG.debug("association aborted%s", " (A-P-ABORT)" if self.acse.is_aborted(
            "a-p-abort") else "")
        self.dul.receive_pdu(wait=False)  # so EVT_ACSE_RECV fires for subscribers
        self.is_aborted, self.is_established = True, False
        evt.trigger(self, evt.EVT_ABORTED, {})
        self.kill()
        return True

    def _end_by_network_timeout(self) -> bool:
        LOG.warning("network timeout: the peer sent nothing for %s s", self.network_timeout)
        if self.network_timeout_response == "A-RELEASE":
            self._is_paused = True
            self._reactor_checkpoint.wait()
            self.release()
            self._is_paused = False
        else:
            self.abort()
        self.kill()
        return True
