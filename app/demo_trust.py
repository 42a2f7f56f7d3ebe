"""The demo's stand-in for the trust: a PACS and a RIS on loopback that take our reports.

Only `telerad demo` starts these, so a newcomer sees a signed report go out and come back
acknowledged without any server to install. The window and the note printed at start say
that they are simulated. Real deployments point ``peers`` and ``ris.*`` at the trust.
"""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass, field

from pynetdicom import AE, evt
from pynetdicom.sop_class import (
    BasicTextSRStorage,
    ComprehensiveSRStorage,
    EnhancedSRStorage,
)

from app.config import Peer, Settings
from reporting.hl7 import build_ack
from reporting.mllp import END_BLOCK, frame

DEMO_PACS_AE = "DEMOPACS"
LOOPBACK = "127.0.0.1"


class _MllpHandler(socketserver.StreamRequestHandler):
    """Answers every MLLP block with an AA, as a RIS that accepted the report."""

    def handle(self) -> None:
        buffer = b""
        while chunk := self.request.recv(65536):
            buffer += chunk
            while END_BLOCK.encode() in buffer:
                block, _, buffer = buffer.partition(END_BLOCK.encode())
                message = block.lstrip(b"\x0b").decode("utf-8", errors="replace")
                self.server.received.append(message)  # type: ignore[attr-defined]
                self.request.sendall(frame(build_ack(message, "AA")))


class _MllpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _MllpHandler)
        self.received: list[str] = []


@dataclass
class DemoTrust:
    """A simulated PACS (DICOM storage SCP for SR) and RIS (MLLP, answers AA)."""

    stored_reports: list[str] = field(default_factory=list)  # SOP Instance UIDs

    def start(self) -> DemoTrust:
        ae = AE(ae_title=DEMO_PACS_AE)
        for sop_class in (EnhancedSRStorage, ComprehensiveSRStorage, BasicTextSRStorage):
            ae.add_supported_context(sop_class)
        self._pacs = ae.start_server((LOOPBACK, 0), block=False, evt_handlers=[
            (evt.EVT_C_STORE, self._stored)])
        self._ris = _MllpServer()
        threading.Thread(target=self._ris.serve_forever, daemon=True, name="demo-ris").start()
        return self

    def _stored(self, event: evt.Event) -> int:
        self.stored_reports.append(event.request.AffectedSOPInstanceUID)
        return 0x0000

    @property
    def ris_messages(self) -> list[str]:
        return list(self._ris.received)

    def configure(self, settings: Settings) -> Settings:
        """Point the profile's PACS peer and RIS at this simulated trust."""
        pacs = Peer(DEMO_PACS_AE, LOOPBACK, self._pacs.server_address[1], "pacs")
        others = tuple(p for p in settings.peers if p.ae_title != DEMO_PACS_AE)
        return (settings.with_peers((*others, pacs)).with_value("ris.host", LOOPBACK)
                .with_value("ris.port", self._ris.server_address[1])
                .with_value("ris.receiving_application", "DEMORIS"))

    def stop(self) -> None:
        self._pacs.shutdown()
        self._ris.shutdown()
        self._ris.server_close()
