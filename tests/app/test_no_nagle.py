"""Every association we open or accept sends without Nagle's delay (STANDARDS §1)."""

from __future__ import annotations

import socket

from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

from reporting.dicom_send import send_without_delay
from tests.conftest import RunningNode
from tests.helpers import eventually


def _nodelay(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def test_both_ends_of_an_association_set_tcp_nodelay(running_node: RunningNode) -> None:
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(Verification)
    association = ae.associate(running_node.host, running_node.port,
                               ae_title=running_node.ae_title,
                               evt_handlers=[(evt.EVT_CONN_OPEN, send_without_delay)])
    try:
        assert association.is_established
        assert _nodelay(association.dul.socket.socket)  # ours, as the sender
        server = running_node.node._server
        eventually(lambda: server.active_associations, what="the node's side")
        accepted = server.active_associations[0].dul.socket.socket
        assert _nodelay(accepted)  # the node's, answering
    finally:
        association.release()
