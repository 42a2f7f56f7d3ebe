"""The audit feed against a real rsyslog on loopback, over TLS with client certificates.

The collector (tests/rsyslog.py, fixture ``rsyslog``) accepts only clients whose
certificate our test CA signed, and writes every message it receives, raw, one per line.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app.atna import render_audit_message, validate_audit_message
from app.audit import AuditEvent, EventId, EventType, Outcome
from app.syslog_forward import CollectorUnavailable, SyslogCollector, SyslogForwarder
from app.workstation import Workstation
from tests.integration.test_cli import PASSPHRASE, environment, one_line, telerad
from tests.rsyslog import Rsyslog
from tests.tls_material import TlsFiles, make_tls_files

SOURCE = "TELERAD@test-ws"


def forwarder_to(rsyslog: Rsyslog, workstation: Workstation, tls: TlsFiles, *,
                 client_certificate: bool = True, ca: Path | None = None) -> SyslogForwarder:
    collector = SyslogCollector(
        "127.0.0.1", rsyslog.port, str(ca or tls.ca),
        str(tls.client_certificate) if client_certificate else "",
        str(tls.client_key) if client_certificate else "")
    return SyslogForwarder(workstation.database, workstation.audit, collector,
                           source_id=SOURCE, timeout=5)


def record_events(workstation: Workstation, count: int, start: int = 0) -> None:
    """Events of the kinds the workstation writes, with text that is not plain ASCII."""
    for n in range(start, start + count):
        if n % 3 == 0:
            event = AuditEvent(EventId.USER_AUTHENTICATION, "E", "drsmith",
                               event_type=EventType.LOGIN, source="127.0.0.1")
        elif n % 3 == 1:
            event = AuditEvent(EventId.IMPORT, "C", "STORESCU", source="127.0.0.1",
                               objects=((("study", f"1.2.826.0.1.3680043.2.1125.{n}"),)),
                               detail=f"event {n}: 12 instance(s) stored")
        else:
            event = AuditEvent(EventId.SECURITY_ALERT, "E", "drsmith", Outcome.SERIOUS_FAILURE,
                               objects=(("instance", f"1.2.826.0.1.3680043.2.1125.{n}.1"),),
                               detail=f"event {n}: access refused — «not assigned»\nline 2")
        workstation.audit.record(event)


def assert_whole_trail_arrived_once_in_order(rsyslog: Rsyslog,
                                             workstation: Workstation) -> None:
    rows = workstation.audit.events()
    received = rsyslog.wait_for(len(rows))
    assert [message.chain["seq"] for message in received] == [row["seq"] for row in rows]
    for message, row in zip(received, rows, strict=True):
        assert message.xml == render_audit_message(row, source_id=SOURCE)  # intact
        assert message.chain["hash"] == row["hash"]


def test_audit_events_arrive_intact_and_in_order(rsyslog: Rsyslog, workstation: Workstation,
                                                 tls: TlsFiles) -> None:
    record_events(workstation, 6)
    forwarder = forwarder_to(rsyslog, workstation, tls)

    assert forwarder.forward_pending() == 6
    assert (forwarder.cursor(), forwarder.pending()) == (6, 0)
    assert_whole_trail_arrived_once_in_order(rsyslog, workstation)
    for message in rsyslog.messages():
        pri_version, timestamp, _host, app_name, _procid, msgid, structured_data = message.header
        assert pri_version in ("<85>1", "<83>1")  # authpriv.notice, authpriv.err
        assert timestamp.endswith("Z") and len(timestamp) == len("2026-01-01T00:00:00.000000Z")
        assert (app_name, msgid, structured_data) == ("telerad", "IHE+RFC-3881", "-")
        validate_audit_message(message.xml)
    descriptions = [ET.fromstring(m.xml).findtext("EventIdentification/EventOutcomeDescription")
                    for m in rsyslog.messages()]
    assert "event 2: access refused — «not assigned»\nline 2" in descriptions


def test_collector_outage_loses_nothing_and_keeps_order(rsyslog: Rsyslog,
                                                        workstation: Workstation,
                                                        tls: TlsFiles) -> None:
    forwarder = forwarder_to(rsyslog, workstation, tls)
    record_events(workstation, 3)
    assert forwarder.forward_pending() == 3
    rsyslog.wait_for(3)

    rsyslog.stop()
    record_events(workstation, 4, start=3)
    with pytest.raises(CollectorUnavailable, match=r"4 audit event\(s\) stay queued"):
        forwarder.forward_pending()
    assert (forwarder.cursor(), forwarder.pending()) == (3, 4)

    rsyslog.start()
    record_events(workstation, 2, start=7)
    assert forwarder.forward_pending(now=forwarder.retry_at) == 6  # once the back-off is over
    assert_whole_trail_arrived_once_in_order(rsyslog, workstation)
    assert forwarder.forward_pending() == 0
    assert len(rsyslog.messages()) == 9


def test_collector_refusing_our_certificate_keeps_the_queue(rsyslog: Rsyslog,
                                                            workstation: Workstation,
                                                            tls: TlsFiles) -> None:
    """TLS 1.3 completes the client's handshake before rsyslog checks the certificate: the
    forwarder must notice that rsyslog hung up rather than count the events as sent."""
    record_events(workstation, 2)
    anonymous = forwarder_to(rsyslog, workstation, tls, client_certificate=False)
    with pytest.raises(CollectorUnavailable, match="client certificate"):
        anonymous.forward_pending()
    assert anonymous.cursor() == 0

    assert forwarder_to(rsyslog, workstation, tls).forward_pending() == 2
    assert_whole_trail_arrived_once_in_order(rsyslog, workstation)


def test_collector_with_an_untrusted_certificate_gets_nothing(rsyslog: Rsyslog,
                                                              workstation: Workstation,
                                                              tls: TlsFiles,
                                                              tmp_path: Path) -> None:
    other_ca = make_tls_files(tmp_path / "other").ca
    record_events(workstation, 2)
    forwarder = forwarder_to(rsyslog, workstation, tls, ca=other_ca)
    with pytest.raises(CollectorUnavailable, match="certificate verify failed"):
        forwarder.forward_pending()
    assert forwarder.cursor() == 0
    assert rsyslog.messages() == []


def test_background_forwarder_sends_new_events(rsyslog: Rsyslog, workstation: Workstation,
                                               tls: TlsFiles) -> None:
    forwarder = forwarder_to(rsyslog, workstation, tls)
    forwarder.start(poll_seconds=0.1)
    try:
        record_events(workstation, 3)
        rsyslog.wait_for(3)
        record_events(workstation, 2, start=3)
        rsyslog.wait_for(5)
    finally:
        forwarder.stop()
    assert_whole_trail_arrived_once_in_order(rsyslog, workstation)


def test_cli_exports_and_forwards(rsyslog: Rsyslog, tls: TlsFiles, tmp_path: Path) -> None:
    env = {**environment(tmp_path), "TELERAD_PASSPHRASE": PASSPHRASE}
    profile = tmp_path / "profile"
    for key, value in (("security.key_source", "passphrase"), ("audit.source_id", SOURCE),
                       ("audit.syslog.host", "127.0.0.1"), ("audit.syslog.port", str(rsyslog.port)),
                       ("audit.syslog.ca_certificates", str(tls.ca)),
                       ("audit.syslog.client_certificate", str(tls.client_certificate)),
                       ("audit.syslog.client_key", str(tls.client_key))):
        assert telerad("config", "set", key, value, profile=profile, env=env).returncode == 0
    for _ in range(2):  # each export is itself audited (110101 Audit Log Used)
        exported = telerad("audit", "export", "--format", "xml", "--out",
                           str(tmp_path / "audit.xml"), profile=profile, env=env)
        assert exported.returncode == 0, exported.stderr
    document = ET.parse(tmp_path / "audit.xml").getroot()
    assert [m.findtext("EventIdentification/EventOutcomeDescription") for m in document] == [
        "audit trail exported as xml: 0 event(s)"]

    forwarded = telerad("audit", "forward", profile=profile, env=env)
    assert forwarded.returncode == 0, forwarded.stderr
    assert one_line(forwarded.stdout) == (
        f"2 audit event(s) forwarded to 127.0.0.1:{rsyslog.port}")
    assert [m.chain["seq"] for m in rsyslog.wait_for(2)] == [1, 2]

    rsyslog.stop()
    assert telerad("audit", "export", profile=profile, env=env).returncode == 0  # one more
    failed = telerad("audit", "forward", profile=profile, env=env)
    assert failed.returncode == 1
    assert "did not take the audit feed" in one_line(failed.stderr)
    assert "1 audit event(s) stay queued" in failed.stderr
