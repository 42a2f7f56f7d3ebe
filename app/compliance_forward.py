"""The compliance feed: the device compliance log as RFC 5424 syslog over TLS (RFC 5425).

Issue 6: IT receives every compliance entry at the trust's collector, the same one as the
audit feed (``audit.syslog.*``), through the same session, framing and cursor rules
(app/syslog_forward.py); the cursor per collector is in ``compliance_forwarding``. One
message per entry: facility 10 (security/authorization), severity notice, or warning for a
failed outcome and for a QA override; MSGID ``telerad-compliance``; MSG the entry as one
line of JSON (UTF-8 after the BOM): seq, recorded_at, kind, payload, prev_hash, hash,
signature (hex) and ``key_fingerprint`` naming the signing key. With the public key IT
registered, the collector can check each hash, signature and link off the workstation.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from app.database import Database
from app.syslog_forward import (
    FACILITY_AUTHPRIV,
    FeedForwarder,
    SyslogCollector,
    rfc5424_message,
)
from qa.compliance import ComplianceEntry, ComplianceLog, EntryKind, key_fingerprint, outcome

MSGID = "telerad-compliance"
SEVERITY_NOTICE, SEVERITY_WARNING = 5, 4


def compliance_message(entry: ComplianceEntry, *, fingerprint: str, hostname: str,
                       procid: str) -> bytes:
    """One SYSLOG-MSG for one entry; TIMESTAMP is when the entry was recorded."""
    record = entry.record()
    payload = record["payload"] if isinstance(record["payload"], dict) else {}
    warn = entry.kind == EntryKind.QA_OVERRIDE or outcome(payload) == "fail"
    body = json.dumps({**record, "key_fingerprint": fingerprint}, ensure_ascii=False,
                      separators=(",", ":"))
    return rfc5424_message(body.encode("utf-8"), facility=FACILITY_AUTHPRIV,
                           severity=SEVERITY_WARNING if warn else SEVERITY_NOTICE,
                           recorded_at=entry.recorded_at, hostname=hostname, procid=procid,
                           msgid=MSGID)


class ComplianceQueue:
    """The compliance log as a syslog queue (``FeedForwarder`` sends it)."""

    feed, items = "compliance", "compliance entry(ies)"

    def __init__(self, database: Database, log: ComplianceLog, *,
                 hostname: str | None = None) -> None:
        self._database, self._log = database, log
        self._fingerprint = key_fingerprint(log.public_key)
        self._hostname = hostname or socket.gethostname()

    def cursor(self, collector: str) -> int:
        rows = self._database.query(
            "SELECT last_forwarded_seq FROM compliance_forwarding WHERE collector = ?",
            [collector])
        return int(rows[0]["last_forwarded_seq"]) if rows else 0

    def pending(self, after_seq: int) -> int:
        rows = self._database.query("SELECT count(*) AS n FROM compliance_log WHERE seq > ?",
                                    [after_seq])
        return int(rows[0]["n"])

    def advance(self, collector: str, seq: int) -> None:
        # never backwards, even if another process forwarded further meanwhile
        with self._database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO compliance_forwarding (collector, last_forwarded_seq) "
                "VALUES (?, ?) ON CONFLICT(collector) DO UPDATE SET "
                "last_forwarded_seq = excluded.last_forwarded_seq "
                "WHERE excluded.last_forwarded_seq > compliance_forwarding.last_forwarded_seq",
                [collector, seq])

    def batch(self, after_seq: int, limit: int) -> list[tuple[int, bytes]]:
        procid = str(os.getpid())
        return [(entry.seq, compliance_message(entry, fingerprint=self._fingerprint,
                                               hostname=self._hostname, procid=procid))
                for entry in self._log.entries(after_seq, limit=limit)]


def compliance_forwarder(database: Database, log: ComplianceLog, collector: SyslogCollector,
                         *, hostname: str | None = None, **pacing: Any) -> FeedForwarder:
    """``pacing``: batch_size, timeout, first_retry, longest_retry, acceptance_wait."""
    return FeedForwarder(ComplianceQueue(database, log, hostname=hostname), collector,
                         **pacing)


def compliance_forwarder_from_settings(settings: Any, database: Database,
                                       log: ComplianceLog) -> FeedForwarder | None:
    """The feed to the configured collector, or None when ``audit.syslog.host`` is empty."""
    collector = SyslogCollector.from_settings(settings)
    return None if collector is None else compliance_forwarder(database, log, collector)
