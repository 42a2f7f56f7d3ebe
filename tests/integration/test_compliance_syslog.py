"""The compliance feed against a real rsyslog on loopback, over TLS with client certificates.

What the collector writes must be enough for IT to check the log off the workstation: every
entry once, in order, with its hash, signature and key, verifying against the registered key.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.audit import AuditEvent, EventId
from app.compliance_forward import compliance_forwarder
from app.syslog_forward import (
    CollectorUnavailable,
    FeedForwarder,
    SyslogCollector,
    SyslogForwarder,
)
from app.workstation import Workstation
from qa.compliance import (
    ComplianceEntry,
    ComplianceLog,
    EntryKind,
    first_break,
    key_fingerprint,
    load_public_key,
    public_key_pem,
    signing_key,
)
from tests.rsyslog import Received, Rsyslog
from tests.tls_material import TlsFiles

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
KINDS = (EntryKind.POSTURE, EntryKind.QA_RUN, EntryKind.DISPLAY_CHANGE, EntryKind.QA_OVERRIDE)


@pytest.fixture
def log(workstation: Workstation) -> ComplianceLog:
    return ComplianceLog(workstation.database, signing_key(workstation.database, NOW))


def collector(rsyslog: Rsyslog, tls: TlsFiles) -> SyslogCollector:
    return SyslogCollector("127.0.0.1", rsyslog.port, str(tls.ca), str(tls.client_certificate),
                           str(tls.client_key))


def feed(rsyslog: Rsyslog, workstation: Workstation, log: ComplianceLog,
         tls: TlsFiles) -> FeedForwarder:
    return compliance_forwarder(workstation.database, log, collector(rsyslog, tls), timeout=5)


def record_entries(log: ComplianceLog, count: int, start: int = 0) -> None:
    """Entries of every kind, with text that is not plain ASCII and a line break."""
    for n in range(start, start + count):
        kind = KINDS[n % len(KINDS)]
        payload = {"passed": n % 2 == 0, "note": f"entry {n}: écran «DP-1» → 2048×1536\nok",
                   "checks": [{"name": "firewall", "status": "unknown", "detail": "not root"}]}
        log.append(kind, payload, now=NOW + timedelta(hours=n))


def arrived(rsyslog: Rsyslog, count: int) -> list[Received]:
    return [m for m in rsyslog.wait_for(count) if m.header[5] == "telerad-compliance"]


def assert_whole_log_arrived_once_in_order(rsyslog: Rsyslog, log: ComplianceLog) -> None:
    entries = log.entries()
    received = [ComplianceEntry.from_record(json.loads(m.msg))
                for m in arrived(rsyslog, len(entries))]
    assert received == entries  # intact: every field, hash and signature, in seq order
    registered = load_public_key(public_key_pem(log.public_key))
    assert first_break(received, registered) is None


def test_compliance_entries_arrive_intact_and_in_order(rsyslog: Rsyslog,
                                                       workstation: Workstation,
                                                       log: ComplianceLog,
                                                       tls: TlsFiles) -> None:
    record_entries(log, 6)
    forwarder = feed(rsyslog, workstation, log, tls)

    assert forwarder.forward_pending() == 6
    assert (forwarder.cursor(), forwarder.pending()) == (6, 0)
    assert_whole_log_arrived_once_in_order(rsyslog, log)
    for message, entry in zip(rsyslog.messages(), log.entries(), strict=True):
        pri_version, timestamp, _host, app_name, _procid, msgid, structured_data = message.header
        warning = entry.kind == "qa-override" or entry.payload["passed"] is False
        assert pri_version == ("<84>1" if warning else "<85>1")  # authpriv.warning / .notice
        assert timestamp == datetime.fromisoformat(entry.recorded_at).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ")
        assert (app_name, msgid, structured_data) == ("telerad", "telerad-compliance", "-")
        record = json.loads(message.msg)
        assert (record["hash"], record["signature"]) == (entry.hash, entry.signature.hex())
        assert record["key_fingerprint"] == key_fingerprint(log.public_key)
        assert record["payload"]["note"].endswith("→ 2048×1536\nok")


def test_collector_outage_loses_no_entry_and_keeps_order(rsyslog: Rsyslog,
                                                         workstation: Workstation,
                                                         log: ComplianceLog,
                                                         tls: TlsFiles) -> None:
    forwarder = feed(rsyslog, workstation, log, tls)
    record_entries(log, 2)
    assert forwarder.forward_pending() == 2
    rsyslog.wait_for(2)

    rsyslog.stop()
    record_entries(log, 2, start=2)
    with pytest.raises(CollectorUnavailable, match=r"did not take the compliance feed.*"
                                                   r"2 compliance entry\(ies\) stay queued"):
        forwarder.forward_pending()
    assert (forwarder.cursor(), forwarder.pending()) == (2, 2)

    rsyslog.start()
    record_entries(log, 1, start=4)
    assert forwarder.forward_pending(now=forwarder.retry_at) == 3  # once the back-off is over
    assert_whole_log_arrived_once_in_order(rsyslog, log)
    assert forwarder.forward_pending() == 0
    assert len(rsyslog.messages()) == 5


def test_audit_and_compliance_feeds_share_the_collector_not_the_cursor(
        rsyslog: Rsyslog, workstation: Workstation, log: ComplianceLog, tls: TlsFiles) -> None:
    record_entries(log, 3)
    for _ in range(2):
        workstation.audit.record(AuditEvent(EventId.EXPORT, "R", "it-auditor"))
    audit = SyslogForwarder(workstation.database, workstation.audit, collector(rsyslog, tls),
                            source_id="TELERAD@test-ws", timeout=5)
    compliance = feed(rsyslog, workstation, log, tls)

    assert (compliance.forward_pending(), audit.forward_pending()) == (3, 2)
    assert (compliance.cursor(), audit.cursor()) == (3, 2)
    assert [m.header[5] for m in rsyslog.wait_for(5)] == ["telerad-compliance"] * 3 + [
        "IHE+RFC-3881"] * 2
    assert_whole_log_arrived_once_in_order(rsyslog, log)
