"""The node's associations run on reactors that wake on work (app/prompt_association.py):
pynetdicom's behaviour at release, abort and network timeout is kept."""

from __future__ import annotations

import logging
import platform
import struct

import pytest
from pynetdicom import AE
from pynetdicom._globals import MODE_ACCEPTOR
from pynetdicom.sop_class import Verification

from app.heap import keep_freed_buffers
from app.prompt_association import (
    STANDARD_LOG_HANDLERS,
    PromptAssociation,
    PromptDIMSE,
    PromptDUL,
)
from tests.conftest import RunningNode
from tests.helpers import eventually


def _associate(node: RunningNode) -> object:
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(Verification)
    association = ae.associate(node.host, node.port, ae_title=node.ae_title)
    assert association.is_established
    return association


def _accepted(node: RunningNode) -> object:
    server = node.node._server
    return eventually(lambda: server.active_associations, what="the node's association")[0]


def test_the_node_serves_on_the_prompt_reactors_and_ends_on_release(
        running_node: RunningNode) -> None:
    association = _associate(running_node)
    accepted = _accepted(running_node)
    assert isinstance(accepted, PromptAssociation)
    assert isinstance(accepted.dul, PromptDUL)
    assert isinstance(accepted.dimse, PromptDIMSE)
    assert [association.send_c_echo().Status for _ in range(3)] == [0x0000] * 3
    association.release()
    assert association.is_released
    eventually(lambda: not accepted.is_alive() and accepted.is_released,
               what="the node's side released and its thread ended")
    assert not accepted.dul.is_alive()


def test_the_node_side_ends_when_the_peer_aborts(running_node: RunningNode) -> None:
    association = _associate(running_node)
    accepted = _accepted(running_node)
    association.abort()
    eventually(lambda: accepted.is_aborted and not accepted.is_alive(),
               what="the node's side aborted and its thread ended")


def test_a_silent_association_is_aborted_at_the_network_timeout(
        running_node: RunningNode) -> None:
    running_node.node._server.ae.network_timeout = 0.5  # taken by the next association
    association = _associate(running_node)
    accepted = _accepted(running_node)
    assert accepted.dul._idle_timer.timeout == 0.5
    eventually(lambda: association.is_aborted, what="the node aborted the idle association")
    eventually(lambda: not accepted.is_alive(), what="the node's thread ended")


def test_the_replacement_dul_keeps_the_ae_timeouts() -> None:
    ae = AE()
    ae.acse_timeout, ae.network_timeout = 7, 11
    association = PromptAssociation(ae, MODE_ACCEPTOR)
    assert isinstance(association.dul, PromptDUL)
    assert association.dul.artim_timer.timeout == 7  # ARTIM: PS3.8 §9.1.5
    assert association.dul._idle_timer.timeout == 11


def test_freed_buffers_are_kept_on_glibc() -> None:
    assert keep_freed_buffers() is (platform.libc_ver()[0] == "glibc")


@pytest.mark.parametrize(("level", "bound"), [(logging.WARNING, False), (logging.INFO, True)])
def test_pynetdicoms_logging_handlers_are_bound_only_when_they_would_log(
        level: int, bound: bool) -> None:
    logger = logging.getLogger("pynetdicom")
    previous = logger.level
    logger.setLevel(level)
    try:
        association = PromptAssociation(AE(), MODE_ACCEPTOR)
    finally:
        logger.setLevel(previous)
    for event, handler in STANDARD_LOG_HANDLERS:  # notification handlers: (handler, args)
        assert (handler in [bound_handler for bound_handler, _ in
                            association.get_handlers(event)]) is bound


def test_the_nodes_associations_drop_the_handlers_its_server_binds_again(
        running_node: RunningNode) -> None:
    """pynetdicom's server binds its own copy of the logging handlers to each association
    it creates; with them bound every C-STORE response would be encoded by pynetdicom."""
    logger = logging.getLogger("pynetdicom")
    previous = logger.level
    logger.setLevel(logging.WARNING)
    try:
        association = _associate(running_node)
        accepted = _accepted(running_node)
    finally:
        logger.setLevel(previous)
    assert any(handler is STANDARD_LOG_HANDLERS[0][1] for handler, _ in
               running_node.node._server.get_handlers(STANDARD_LOG_HANDLERS[0][0]))
    for event, handler in STANDARD_LOG_HANDLERS:
        assert handler not in [bound for bound, _ in accepted.get_handlers(event)]
    association.release()


class _Bytes:
    """What GuardedSocket.recv gives the DUL: the next bytes of a stream, fewer at its end."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def recv(self, size: int) -> bytes:
        taken, self._data = self._data[:size], self._data[size:]
        return taken


def _dul_reading(data: bytes) -> PromptDUL:
    dul = PromptAssociation(AE(), MODE_ACCEPTOR).dul
    dul.socket = _Bytes(data)
    dul._read_pdu_data()
    return dul


def _pdv(context_id: int, value: bytes) -> bytes:
    return struct.pack(">LB", len(value) + 1, context_id) + value


def test_a_p_data_pdus_values_are_handed_on_uncopied() -> None:
    """Two PDV items (PS3.8 §9.3.5.1): the command's last fragment and a data fragment."""
    items = _pdv(1, b"\x03command") + _pdv(1, b"\x00" + bytes(range(200)))
    dul = _dul_reading(struct.pack(">BBL", 0x04, 0, len(items)) + items)

    assert dul.event_queue.get_nowait() == "Evt10"
    primitive = dul._recv_pdu.get_nowait().to_primitive()
    values = primitive.presentation_data_value_list
    assert [(context, bytes(value)) for context, value in values] == [
        (1, b"\x03command"), (1, b"\x00" + bytes(range(200)))]
    assert all(isinstance(value, memoryview) for _, value in values)


@pytest.mark.parametrize(("data", "event"), [
    (struct.pack(">BBL", 0x04, 0, 9) + struct.pack(">LB", 40, 1) + b"\x00" * 4, "Evt19"),
    (struct.pack(">BBL", 0x04, 0, 100) + b"\x00" * 10, "Evt17"),
    (struct.pack(">BBL", 0x09, 0, 4) + b"\x00" * 4, "Evt19"),
    (b"\x04\x00", "Evt17"),
    (struct.pack(">BBL", 0x05, 0, 4) + b"\x00" * 4, "Evt12"),
], ids=["PDV item overruns its PDU", "PDU shorter than its length", "unknown PDU type",
        "connection ends within the header", "A-RELEASE-RQ, decoded by pynetdicom"])
def test_received_pdus_give_pynetdicoms_state_machine_events(data: bytes, event: str) -> None:
    assert _dul_reading(data).event_queue.get_nowait() == event  # PS3.8 §9.2 Table 9-10
