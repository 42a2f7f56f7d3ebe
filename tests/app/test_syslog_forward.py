"""The syslog form of an audit event (RFC 5424/5425) and the queue while no collector answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.atna import render_audit_message
from app.audit import AuditEvent, EventId, Outcome
from app.errors import ConfigError
from app.syslog_forward import (
    BOM,
    CollectorUnavailable,
    SyslogCollector,
    SyslogForwarder,
    octet_counted,
    syslog_message,
)
from app.workstation import Workstation
from tests.helpers import free_port
from tests.tls_material import make_tls_files

HEADER = re.compile(
    rb"<(?P<pri>\d{1,3})>1 (?P<timestamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) "
    rb"(?P<hostname>\S+) telerad (?P<procid>\d+) IHE\+RFC-3881 - ")


@pytest.mark.parametrize(("outcome", "pri"), [
    (Outcome.SUCCESS, 85), (Outcome.MINOR_FAILURE, 84),
    (Outcome.SERIOUS_FAILURE, 83), (Outcome.MAJOR_FAILURE, 83),
])
def test_header_is_rfc5424_with_authpriv_and_severity_by_outcome(
        workstation: Workstation, outcome: Outcome, pri: int) -> None:
    workstation.audit.record(AuditEvent(EventId.SECURITY_ALERT, "E", "drsmith", outcome,
                                        recorded_at="2026-03-04T05:06:07.089+00:00"))
    (row,) = workstation.audit.events()
    xml = render_audit_message(row, source_id="WS")
    message = syslog_message(row, xml, hostname="ws07.trust.nhs.uk", procid="4242")
    header = HEADER.match(message)
    assert header, message[:120]
    assert int(header["pri"]) == pri  # facility 10 × 8 + severity
    assert header["timestamp"] == b"2026-03-04T05:06:07.089000Z"
    assert header["hostname"] == b"ws07.trust.nhs.uk"
    assert message[header.end():] == BOM + xml


def test_frame_counts_octets_not_characters(workstation: Workstation) -> None:
    workstation.audit.record(AuditEvent(EventId.SECURITY_ALERT, "E", "drsmith",
                                        detail="prior shown: née Smith, 2 × checked"))
    (row,) = workstation.audit.events()
    message = syslog_message(row, render_audit_message(row, source_id="WS"),
                             hostname="ws 07", procid="1")
    length, _, rest = octet_counted(message).partition(b" ")
    assert int(length) == len(rest) == len(message)
    assert b" ws_07 " in message  # no space inside a header field


def test_no_host_means_no_feed(workstation: Workstation) -> None:
    assert SyslogCollector.from_settings(workstation.settings) is None


def test_unreadable_certificate_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"audit\.syslog"):
        SyslogCollector("127.0.0.1", ca_certificates=str(tmp_path / "missing.pem")).tls_context()


def test_collector_down_keeps_the_queue_and_backs_off(workstation: Workstation,
                                                      tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "tls")
    collector = SyslogCollector("127.0.0.1", free_port(), str(tls.ca))
    forwarder = SyslogForwarder(workstation.database, workstation.audit, collector,
                                source_id="WS", timeout=2)
    for _ in range(3):
        workstation.audit.record(AuditEvent(EventId.EXPORT, "R", "drsmith"))

    with pytest.raises(CollectorUnavailable, match=r"3 audit event\(s\) stay queued"):
        forwarder.forward_pending(now=100.0)
    assert (forwarder.cursor(), forwarder.pending()) == (0, 3)
    assert forwarder.retry_at == 102.0
    assert forwarder.forward_pending(now=101.0) == 0  # still backing off: no attempt
    with pytest.raises(CollectorUnavailable):
        forwarder.forward_pending(now=102.0)
    assert forwarder.retry_at == 106.0  # the wait doubles
    assert (forwarder.cursor(), forwarder.pending()) == (0, 3)
