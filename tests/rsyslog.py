"""A real rsyslog collector for tests: TLS with client certificates on loopback.

rsyslog (Debian packages ``rsyslog`` and ``rsyslog-gnutls``) listens with imtcp and the
GnuTLS stream driver, accepts only clients whose certificate our test CA signed for
``localhost`` (``x509/name``), and writes every message it receives, raw, one per line.
A missing rsyslogd fails the test; it never skips.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from app.syslog_forward import BOM
from tests.helpers import eventually, free_port, require_tool
from tests.tls_material import TlsFiles

RSYSLOG_CONF = """\
global(workDirectory="{work}" maxMessageSize="64k"
       defaultNetstreamDriver="gtls"
       defaultNetstreamDriverCAFile="{tls.ca}"
       defaultNetstreamDriverCertFile="{tls.server_certificate}"
       defaultNetstreamDriverKeyFile="{tls.server_key}")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1"
       streamDriver.authMode="x509/name" permittedPeer=["localhost"])
template(name="raw" type="string" string="%rawmsg%\\n")
ruleset(name="collector") {{
    action(type="omfile" file="{received}" template="raw")
}}
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="collector")
"""


@dataclass(frozen=True)
class Received:
    """One message as rsyslog wrote it: the RFC 5424 header and the MSG after the BOM."""

    header: list[str]
    msg: bytes

    @property
    def xml(self) -> bytes:
        """The MSG of an audit feed message: the PS3.15 A.5 XML."""
        return self.msg

    @property
    def chain(self) -> dict:
        """The audit trail's hash chain detail carried in an audit message."""
        detail = next(ET.fromstring(self.xml).iter("ParticipantObjectDetail"))
        return json.loads(base64.b64decode(detail.get("value", "")))


class Rsyslog:
    """rsyslogd in the foreground on a fixed loopback port; stopped and started at will."""

    def __init__(self, directory: Path, tls: TlsFiles) -> None:
        self.executable = require_tool("rsyslogd", "rsyslog rsyslog-gnutls")
        self.directory, self.port = directory, free_port()
        self.received = directory / "received.log"
        self.conf = directory / "rsyslog.conf"
        (directory / "work").mkdir(parents=True)
        self.conf.write_text(RSYSLOG_CONF.format(work=directory / "work", tls=tls,
                                                 received=self.received, port=self.port))
        self.process: subprocess.Popen | None = None

    def start(self, within: float = 20) -> None:
        log = (self.directory / "rsyslogd.log").open("ab")
        self.process = subprocess.Popen(
            [self.executable, "-n", "-f", str(self.conf), "-i", str(self.directory / "pid")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + within
        while True:
            assert self.process.poll() is None, (
                f"rsyslogd exited ({self.process.returncode}) — is rsyslog-gnutls installed? "
                f"{(self.directory / 'rsyslogd.log').read_text(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                assert time.monotonic() < deadline, f"rsyslogd never listened on {self.port}"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def messages(self) -> list[Received]:
        if not self.received.exists():
            return []
        messages = []
        for line in self.received.read_bytes().splitlines():
            *header, body = line.split(b" ", 7)
            assert body.startswith(BOM), f"MSG without the UTF-8 BOM: {line[:120]!r}"
            messages.append(Received([part.decode() for part in header], body[len(BOM):]))
        return messages

    def wait_for(self, count: int, within: float = 20) -> list[Received]:
        """The first ``count`` messages, once that many were written."""
        eventually(lambda: len(self.messages()) >= count, within=within,
                   what=f"rsyslog received {count} message(s)")
        return self.messages()
