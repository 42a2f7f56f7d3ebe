"""Slow senders and floods: a configured peer's C-ECHO succeeds within 2 s throughout.

The hostile peers: senders trickling a PDU at one byte per second, more idle sockets than
the node holds associations and pending connections together, a burst of connections
that say nothing, and TLS connections that never send a ClientHello. The echoing peer's
every timeout is 2 s (raw_peer.ECHO_BOUND), so a slower echo fails the test.
"""

from __future__ import annotations

import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from app.node import StorageNode
from tests.conftest import RunningNode
from tests.helpers import eventually
from tests.robustness.raw_peer import RawPeer, association_request, pdu, timed_echo
from tests.tls_material import TlsFiles, make_tls_files

FLOOD_SECONDS = 5.0  # how long each hostile load runs while the echoes go on


def echoes_during(load: Callable[[threading.Event], None], echo: Callable[[], float]
                  ) -> list[float]:
    """Run ``load`` in threads until it is told to stop; echo every 0.25 s meanwhile."""
    stop = threading.Event()
    hostile = threading.Thread(target=load, args=(stop,), daemon=True)
    hostile.start()
    latencies: list[float] = []
    try:
        time.sleep(0.5)  # let the load build up first
        ends = time.monotonic() + FLOOD_SECONDS
        while time.monotonic() < ends:
            latencies.append(echo())
            time.sleep(0.25)
    finally:
        stop.set()
        hostile.join(timeout=10)
    print(f"\n  {len(latencies)} C-ECHOs, median {statistics.median(latencies) * 1000:.1f} ms, "
          f"slowest {max(latencies) * 1000:.1f} ms")
    return latencies


def _trickle(host: str, port: int, stop: threading.Event, aborted: list[float]) -> None:
    """One slow sender: an A-ASSOCIATE-RQ at one byte per second, again when dropped.
    Records the seconds from its first byte until the node ended the connection."""
    request = association_request("TESTSCU", "TELERAD")
    while not stop.is_set():
        peer = RawPeer(host, port)
        began = time.monotonic()
        for index in range(len(request)):
            peer.send(request[index:index + 1])
            if peer.closed_within(1.0):
                aborted.append(time.monotonic() - began)
                break
            if stop.is_set():
                break
        else:
            raise AssertionError("a one-byte-per-second request was accepted whole")
        peer.close()


def test_echo_is_served_while_senders_trickle_one_byte_per_second(
        running_node: RunningNode) -> None:
    host, port = running_node.host, running_node.port
    aborted: list[float] = []

    def trickling(stop: threading.Event) -> None:
        senders = [threading.Thread(target=_trickle, args=(host, port, stop, aborted))
                   for _ in range(8)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()

    echoes_during(trickling, lambda: timed_echo(host, port))
    print(f"  {len(aborted)} slow senders dropped, after {statistics.median(aborted):.1f} s "
          "(median)")
    assert len(aborted) >= 8


@contextmanager
def idle_sockets(host: str, port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that never send a byte."""
    with ExitStack() as stack:
        yield [stack.enter_context(socket.create_connection((host, port), timeout=5))
               for _ in range(count)]


def test_echo_is_served_with_more_idle_sockets_than_the_node_holds(
        running_node: RunningNode) -> None:
    settings = running_node.node.settings
    count = (settings["node.maximum_associations"] + settings["node.pending_connections"]
             + 10)
    host, port = running_node.host, running_node.port
    with idle_sockets(host, port, count):
        echoes_during(lambda stop: stop.wait(), lambda: timed_echo(host, port))


BURST = """
import socket, sys, time
host, port, ends = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
opened = 0
while time.monotonic() < ends:
    sockets = [socket.create_connection((host, port), timeout=5) for _ in range(20)]
    opened += len(sockets)
    time.sleep(0.05)
    for connection in sockets:
        connection.close()
print(opened)
"""


def test_echo_is_served_during_a_burst_of_silent_connections(
        running_node: RunningNode) -> None:
    """The burst comes from a process of its own, as an attacker's would."""
    host, port = running_node.host, running_node.port
    opened: list[int] = []

    def bursting(stop: threading.Event) -> None:
        burst = subprocess.run(
            [sys.executable, "-c", BURST, host, str(port), str(FLOOD_SECONDS + 0.5)],
            capture_output=True, text=True, check=True, timeout=60)
        opened.append(int(burst.stdout))

    echoes_during(bursting, lambda: timed_echo(host, port))
    print(f"  {opened[0]} silent connections opened")
    assert opened[0] > 20 * FLOOD_SECONDS


def test_association_limit_counts_associations_and_refuses_one_more(
        running_node: RunningNode) -> None:
    limit = running_node.node.settings["node.maximum_associations"]
    ae = AE("TESTSCU")
    ae.add_requested_context(Verification)
    held = [ae.associate(running_node.host, running_node.port, ae_title="TELERAD")
            for _ in range(limit)]
    try:
        assert all(association.is_established for association in held)
        refused = ae.associate(running_node.host, running_node.port, ae_title="TELERAD")
        assert refused.is_rejected
        assert (refused.acceptor.primitive.result, refused.acceptor.primitive.diagnostic) == (
            0x02, 0x02)  # rejected-transient, local-limit-exceeded (PS3.8 Table 9-21)
    finally:
        for association in held:
            association.release()
    timed_echo(running_node.host, running_node.port)


@pytest.fixture
def tls_node(running_node: RunningNode, tmp_path: Path) -> Iterator[tuple[int, TlsFiles]]:
    files = make_tls_files(tmp_path / "tls")
    settings = running_node.node.settings
    for key, value in {"node.tls.enabled": True,
                       "node.tls.certificate": str(files.server_certificate),
                       "node.tls.private_key": str(files.server_key),
                       "node.tls.ca_certificates": str(files.ca)}.items():
        settings = settings.with_value(key, value)
    workstation = running_node.workstation
    node = StorageNode(workstation.store, workstation.audit, settings)
    _host, port = node.start(host="127.0.0.1", port=0)
    try:
        yield port, files
    finally:
        node.stop()


def test_tls_echo_is_served_while_connections_never_send_a_client_hello(
        tls_node: tuple[int, TlsFiles]) -> None:
    port, files = tls_node
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(files.ca))
    context.load_cert_chain(str(files.client_certificate), str(files.client_key))
    with idle_sockets("127.0.0.1", port, 40):
        echoes_during(lambda stop: stop.wait(), lambda: timed_echo(
            "127.0.0.1", port, tls_args=(context, "localhost")))


def test_aborted_connections_are_audited(running_node: RunningNode) -> None:
    peer = RawPeer(running_node.host, running_node.port)
    peer.send(pdu(0x09, b"\0" * 4))
    peer.wait_closed(since=time.monotonic(), within=2)
    peer.close()
    alerts = eventually(  # recorded just after the connection is shut
        lambda: [event for event in running_node.workstation.audit.events()
                 if "connection aborted: unknown PDU type" in str(event["detail"])],
        what="a Security Alert for the aborted connection")
    assert alerts[-1]["source"] == "127.0.0.1"
