"""Oversized and malformed PDUs (PS3.8 §9.3) sent to a `telerad serve` process.

Each connection must be aborted within 1 s (within the stall limit when the sender goes
silent mid-PDU), the node's resident memory must grow by less than twice the maximum PDU
size however many bytes the peer declares or sends, and the node must keep serving.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.config import DEFAULTS
from app.pdu_framing import PduType
from tests.helpers import free_port
from tests.robustness.node_process import HOST, ServeProcess, passphrase_profile_for
from tests.robustness.process_memory import peak_resident_bytes, reset_peak, resident_bytes
from tests.robustness.raw_peer import RawPeer, association_request, pdu, pdv_item, timed_echo

MAX_PDU = DEFAULTS["node.max_pdu_bytes"][0]
STALL = DEFAULTS["node.receive_stall_ms"][0] / 1000
ABORT_BOUND = 1.0
FLOOD = 8 * MAX_PDU  # what a hostile peer streams after its header


@dataclass
class Node:
    serve: ServeProcess

    @property
    def pid(self) -> int:
        return self.serve.pid

    @property
    def port(self) -> int:
        return self.serve.port


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("malformed")
    env = passphrase_profile_for(root / "profile", root / "scratch", "TESTSCU")
    serve = ServeProcess(root / "profile", free_port(), env, root / "serve.log")
    serve.start()
    try:
        for _ in range(3):  # warm the paths a refusal takes (audit, logging, threads)
            _refused_at_once(Node(serve), pdu(0x09, b"\0" * 4))
        yield Node(serve)
    finally:
        serve.discard()


def _refused_at_once(node: Node, offending: bytes, *, associated: bool = False,
                     then: bytes = b"") -> tuple[float, bytes]:
    """Associate if asked, send ``offending`` and as much of ``then`` as the node takes;
    returns (seconds until the node closed, what it sent after the offending bytes)."""
    peer = RawPeer(HOST, node.port)
    try:
        if associated:
            answer = peer.associate("TESTSCU", "TELERAD")
            assert answer[:1] == bytes([PduType.A_ASSOCIATE_AC]), "association not accepted"
        began = time.monotonic()
        peer.send(offending)
        for start in range(0, len(then), 65536):
            if not peer.send(then[start:start + 65536]):
                break
        closed = peer.wait_closed(since=began, within=ABORT_BOUND + 1)
    finally:
        peer.close()
    print(f"\n  aborted after {closed.after * 1000:.1f} ms")
    return closed.after, closed.received


def _memory_growth(node: Node, attack: Callable[[], object]) -> int:
    reset_peak(node.pid)
    before = resident_bytes(node.pid)
    attack()
    growth = peak_resident_bytes(node.pid) - before
    print(f"  resident memory grew by {growth / 1024:.0f} KiB (limit {2 * MAX_PDU // 1024} KiB)")
    return growth


@pytest.mark.parametrize("pdu_type", [PduType.A_ASSOCIATE_RQ, PduType.P_DATA_TF])
def test_declared_length_over_our_maximum_is_aborted_before_it_is_read(
        node: Node, pdu_type: PduType) -> None:
    outcome: list[tuple[float, bytes]] = []
    growth = _memory_growth(node, lambda: outcome.append(_refused_at_once(
        node, pdu(pdu_type, b"", declared=0xFFFFFFFF), then=b"\xAA" * FLOOD)))
    after, answer = outcome[0]
    assert after < ABORT_BOUND
    assert answer[:1] == bytes([PduType.A_ABORT]), "no A-ABORT before the close"
    assert growth < 2 * MAX_PDU
    timed_echo(HOST, node.port)


def test_p_data_over_the_announced_maximum_is_aborted_within_an_association(
        node: Node) -> None:
    after, answer = _refused_at_once(
        node, pdu(PduType.P_DATA_TF, b"", declared=MAX_PDU + 1), associated=True,
        then=b"\0" * (MAX_PDU + 1))
    assert after < ABORT_BOUND and answer[:1] == bytes([PduType.A_ABORT])
    timed_echo(HOST, node.port)


def test_unknown_pdu_type_is_aborted(node: Node) -> None:
    after, answer = _refused_at_once(node, pdu(0x09, b"\0" * 16))
    assert after < ABORT_BOUND and answer[:1] == bytes([PduType.A_ABORT])
    timed_echo(HOST, node.port)


def test_pdv_item_longer_than_its_pdu_is_aborted(node: Node) -> None:
    overflowing = pdu(PduType.P_DATA_TF, pdv_item(1, 0x03, b"\0" * 10, declared=5000))
    after, answer = _refused_at_once(node, overflowing, associated=True)
    assert after < ABORT_BOUND and answer[:1] == bytes([PduType.A_ABORT])
    timed_echo(HOST, node.port)


def test_truncated_pdu_from_a_sender_that_hangs_up_ends_the_connection(node: Node) -> None:
    request = association_request("TESTSCU", "TELERAD")
    peer = RawPeer(HOST, node.port)
    try:
        began = time.monotonic()
        peer.send(request[: len(request) // 2])
        peer.connection.shutdown(socket.SHUT_WR)
        closed = peer.wait_closed(since=began, within=ABORT_BOUND + 1)
    finally:
        peer.close()
    print(f"\n  closed after {closed.after * 1000:.1f} ms")
    assert closed.after < ABORT_BOUND
    timed_echo(HOST, node.port)


def test_truncated_pdu_from_a_silent_sender_is_aborted_at_the_stall_limit_within_a_second(
        node: Node) -> None:
    request = association_request("TESTSCU", "TELERAD")
    peer = RawPeer(HOST, node.port)
    try:
        began = time.monotonic()
        peer.send(request[: len(request) // 2])
        timed_echo(HOST, node.port)  # served meanwhile
        closed = peer.wait_closed(since=began, within=STALL + ABORT_BOUND + 1)
    finally:
        peer.close()
    print(f"\n  aborted after {closed.after * 1000:.1f} ms (stall limit {STALL} s)")
    assert closed.received[:1] == bytes([PduType.A_ABORT])
    assert closed.after < ABORT_BOUND


def test_node_log_names_each_aborted_connection(node: Node) -> None:
    log = Path(node.serve.log).read_text(errors="replace")
    assert "aborted: unknown PDU type 0x09" in log
    assert "declares 4294967295 bytes" in log
