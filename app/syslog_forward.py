"""The audit feed: each audit event as RFC 5424 syslog over TLS (RFC 5425) to the trust's collector.

IHE ATNA (STANDARDS §7): facility 10 (security/authorization), MSGID ``IHE+RFC-3881``, the
PS3.15 A.5 XML as MSG, octet-counting framing ("MSG-LEN SP SYSLOG-MSG", RFC 5425 §4.3),
TLS 1.2 or newer with the collector's certificate checked against the configured CAs and
its name, and a client certificate when the collector asks for one.

The queue is the audit trail itself plus one cursor per collector (table
``audit_forwarding``): events after the cursor are sent in ``seq`` order, and the cursor
moves only once the collector has taken them, so nothing is lost while it is down and
nothing overtakes an earlier event. Syslog has no acknowledgement, so "taken" is the most
TCP and TLS can tell: the collector kept the session open after the handshake (a collector
refusing our certificate closes it at once) and closed it only after reading our
close_notify (RFC 5425 §4.4). If a session breaks before that point its events are sent
again: a collector may see an entry twice, never a gap; the seq and hash carried in each
message tell it which entry it already holds.

``FeedForwarder`` is that machinery for any queue with a cursor per collector: the audit
feed here, the device compliance log in ``app/compliance_forward.py``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from app.atna import render_audit_message, utc_timestamp
from app.audit import AuditTrail
from app.database import Database
from app.errors import TeleradError
from app.tls import client_tls_context

LOG = logging.getLogger(__name__)

FACILITY_AUTHPRIV = 10  # RFC 5424 §6.2.1 "security/authorization messages", as IHE ATNA asks
# EventOutcomeIndicator -> RFC 5424 severity: success is "notice" (5, the IHE default),
# a minor failure "warning" (4), serious and major failures "error" (3)
SEVERITY_BY_OUTCOME = {0: 5, 4: 4, 8: 3, 12: 3}
APP_NAME, MSGID = "telerad", "IHE+RFC-3881"
BOM = b"\xef\xbb\xbf"  # RFC 5424 §6.4: a UTF-8 MSG starts with the byte order mark


class CollectorUnavailable(TeleradError):
    """The syslog collector cannot be reached or did not take the messages; they stay queued."""


@dataclass(frozen=True)
class SyslogCollector:
    """Where the audit feed goes and how the TLS session is authenticated (RFC 5425 §5)."""

    host: str
    port: int = 6514
    ca_certificates: str = ""  # PEM bundle; empty = the operating system's trusted CAs
    client_certificate: str = ""
    client_key: str = ""  # empty = the key is in the client certificate file

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_settings(cls, settings: Any) -> SyslogCollector | None:
        """The configured collector, or None when ``audit.syslog.host`` is empty (feed off)."""
        host = settings["audit.syslog.host"].strip()
        if not host:
            return None
        return cls(host, settings["audit.syslog.port"], settings["audit.syslog.ca_certificates"],
                   settings["audit.syslog.client_certificate"],
                   settings["audit.syslog.client_key"])

    def tls_context(self) -> ssl.SSLContext:
        """TLS ≥ 1.2, server certificate and name verified (RFC 5425 §5.2, BCP 195)."""
        return client_tls_context(self.ca_certificates, self.client_certificate,
                                  self.client_key, setting="audit.syslog")


def audit_source_id(settings: Any) -> str:
    """AuditSourceID: ``audit.source_id``, else this node's AE title at this host's name."""
    return settings["audit.source_id"] or f"{settings['node.ae_title']}@{socket.gethostname()}"


def _header_field(value: str, limit: int) -> str:
    """RFC 5424 header fields are printable US-ASCII without spaces; empty is NILVALUE."""
    cleaned = "".join(ch if 33 <= ord(ch) <= 126 else "_" for ch in value)[:limit]
    return cleaned or "-"


def rfc5424_message(msg: bytes, *, facility: int, severity: int, recorded_at: str,
                    hostname: str, procid: str, msgid: str) -> bytes:
    """One RFC 5424 SYSLOG-MSG: header, no structured data, BOM and ``msg`` (UTF-8) as MSG.

    TIMESTAMP is when the entry was recorded, not when it was sent, so a resent entry is
    the same message and a collector orders a late delivery where it belongs.
    """
    header = " ".join((f"<{facility * 8 + severity}>1", utc_timestamp(recorded_at),
                       _header_field(hostname, 255), APP_NAME, _header_field(procid, 128),
                       _header_field(msgid, 32), "-"))
    return header.encode("ascii") + b" " + BOM + msg


def syslog_message(event_row: Mapping[str, Any], xml: bytes, *, hostname: str,
                   procid: str) -> bytes:
    """The audit event as SYSLOG-MSG: authpriv, severity by outcome, the A.5 XML as MSG."""
    return rfc5424_message(xml, facility=FACILITY_AUTHPRIV,
                           severity=SEVERITY_BY_OUTCOME.get(int(event_row["outcome"]), 3),
                           recorded_at=str(event_row["recorded_at"]), hostname=hostname,
                           procid=procid, msgid=MSGID)


def octet_counted(message: bytes) -> bytes:
    """RFC 5425 §4.3 framing: MSG-LEN SP SYSLOG-MSG."""
    return str(len(message)).encode("ascii") + b" " + message


class SyslogQueue(Protocol):
    """A feed's entries in ``seq`` order and how far each collector has taken them."""

    feed: str  # names the feed in messages and logs: "audit"
    items: str  # what it holds, counted: "audit event(s)"

    def cursor(self, collector: str) -> int: ...
    def advance(self, collector: str, seq: int) -> None: ...
    def pending(self, after_seq: int) -> int: ...
    def batch(self, after_seq: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` (seq, SYSLOG-MSG) pairs after ``after_seq``, oldest first."""
        ...


class FeedForwarder:
    """Sends one queue to one collector, in order, from a cursor kept in the database."""

    def __init__(self, queue: SyslogQueue, collector: SyslogCollector, *,
                 batch_size: int = 200, timeout: float = 10.0, first_retry: float = 2.0,
                 longest_retry: float = 300.0, acceptance_wait: float = 0.2) -> None:
        self.collector, self.queue = collector, queue
        self._context = collector.tls_context()
        self._batch_size, self._timeout = batch_size, timeout
        self._first_retry, self._longest_retry = first_retry, longest_retry
        self._acceptance_wait = acceptance_wait
        self._lock = threading.Lock()
        self._failures, self.retry_at, self.last_error = 0, float("-inf"), ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the queue -------------------------------------------------------------------------

    def cursor(self) -> int:
        """``seq`` of the last entry the collector took (0: none yet)."""
        return self.queue.cursor(self.collector.name)

    def pending(self) -> int:
        return self.queue.pending(self.cursor())

    def forward_pending(self, now: float | None = None) -> int:
        """One pass: send every queued entry in order; returns how many the collector took.

        ``now`` (monotonic seconds) lets the caller drive the back-off: after a failure the
        next attempt waits 2, 4, 8 … up to 300 s, and a call before then sends nothing.
        Raises CollectorUnavailable with the queue left where it was.
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            if now < self.retry_at:
                return 0
            sent = 0
            try:
                while batch := self.queue.batch(self.cursor(), self._batch_size):
                    self._deliver([octet_counted(message) for _, message in batch])
                    self.queue.advance(self.collector.name, batch[-1][0])
                    sent += len(batch)
            except TeleradError as exc:
                self._failures += 1
                delay = min(self._longest_retry, self._first_retry * 2 ** (self._failures - 1))
                self.retry_at, self.last_error = now + delay, str(exc)
                if isinstance(exc, CollectorUnavailable):
                    raise CollectorUnavailable(
                        f"{exc}; {self.pending()} {self.queue.items} stay queued") from exc
                raise
            self._failures, self.retry_at, self.last_error = 0, float("-inf"), ""
            return sent

    # ---- the TLS session ----------------------------------------------------------------

    def _deliver(self, frames: Sequence[bytes]) -> None:
        """One session per batch: handshake, accepted, every frame, closed by the collector."""
        host, feed = self.collector.host, self.queue.feed
        try:
            started = time.monotonic()
            with socket.create_connection((host, self.collector.port), self._timeout) as raw:
                round_trip = time.monotonic() - started
                with self._context.wrap_socket(raw, server_hostname=host) as tls:
                    self._expect_open(tls, max(self._acceptance_wait, 2 * round_trip),
                                      "right after the TLS handshake (does it accept this "
                                      "workstation's client certificate?)")
                    for frame in frames:
                        tls.sendall(frame)
                    self._expect_open(tls, 0, "before the messages were all sent")
                    # our close_notify, then the collector's (RFC 5425 §4.4); rsyslog closes
                    # TCP instead, which it does only after reading all we sent
                    with contextlib.suppress(ssl.SSLEOFError, ssl.SSLZeroReturnError):
                        tls.unwrap()
        except OSError as exc:  # ssl.SSLError and socket timeouts included
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise CollectorUnavailable(
                f"{feed} collector {self.collector.name} did not take the {feed} feed: {reason}"
            ) from exc

    def _expect_open(self, tls: ssl.SSLSocket, seconds: float, when: str) -> None:
        """Raise if the collector hangs up (or talks) within ``seconds``; 0 only looks.

        A collector refusing our certificate closes right after the handshake, which TLS 1.3
        completes on our side before the server has checked it; one that breaks while we
        write has closed before our close_notify. Either way its entries are not counted.
        """
        tls.settimeout(seconds)
        try:
            data = tls.recv(1)
        except (TimeoutError, ssl.SSLWantReadError):
            return  # still open and silent, as a syslog receiver is
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            data = b""
        finally:
            tls.settimeout(self._timeout)
        raise ConnectionAbortedError(0, f"the collector {'sent data' if data else 'hung up'} "
                                        f"{when}")

    # ---- background ------------------------------------------------------------------------

    def start(self, poll_seconds: float = 5.0) -> None:
        """Forward in a background thread every ``poll_seconds`` (with the back-off)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(poll_seconds,),
                                        name=f"{self.queue.feed}-syslog-forwarder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout)

    def _run(self, poll_seconds: float) -> None:
        failing = False
        while True:
            try:
                sent = self.forward_pending()
                if sent or (failing and not self.last_error):
                    LOG.info("%s feed: %d %s sent to %s", self.queue.feed, sent,
                             self.queue.items, self.collector.name)
                failing = bool(self.last_error)
            except TeleradError as exc:
                if not failing:  # once per outage, not at every retry
                    LOG.warning("%s feed paused: %s", self.queue.feed, exc)
                failing = True
            if self._stop.wait(poll_seconds):
                return


class AuditQueue:
    """The audit trail as a syslog queue: PS3.15 A.5 XML per event, cursor in
    ``audit_forwarding``."""

    feed, items = "audit", "audit event(s)"

    def __init__(self, database: Database, audit: AuditTrail, *, source_id: str,
                 enterprise_site: str = "", hostname: str | None = None) -> None:
        self._database, self._audit = database, audit
        self._source_id, self._enterprise_site = source_id, enterprise_site
        self._hostname = hostname or socket.gethostname()

    def cursor(self, collector: str) -> int:
        rows = self._database.query(
            "SELECT last_forwarded_seq FROM audit_forwarding WHERE collector = ?", [collector])
        return int(rows[0]["last_forwarded_seq"]) if rows else 0

    def pending(self, after_seq: int) -> int:
        rows = self._database.query("SELECT count(*) AS n FROM audit_events WHERE seq > ?",
                                    [after_seq])
        return int(rows[0]["n"])

    def advance(self, collector: str, seq: int) -> None:
        # never backwards, even if another process forwarded further meanwhile
        with self._database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO audit_forwarding (collector, last_forwarded_seq, last_forwarded_at) "
                "VALUES (?, ?, ?) ON CONFLICT(collector) DO UPDATE SET "
                "last_forwarded_seq = excluded.last_forwarded_seq, "
                "last_forwarded_at = excluded.last_forwarded_at "
                "WHERE excluded.last_forwarded_seq > audit_forwarding.last_forwarded_seq",
                [collector, seq, datetime.now(UTC).isoformat()])

    def batch(self, after_seq: int, limit: int) -> list[tuple[int, bytes]]:
        return [(int(row["seq"]), self._message(row))
                for row in self._audit.events(since_seq=after_seq, limit=limit)]

    def _message(self, row: Mapping[str, Any]) -> bytes:
        xml = render_audit_message(dict(row), source_id=self._source_id,
                                   enterprise_site=self._enterprise_site)
        return syslog_message(row, xml, hostname=self._hostname, procid=str(os.getpid()))


class SyslogForwarder(FeedForwarder):
    """The audit feed: the audit trail forwarded to one collector (IHE ATNA)."""

    def __init__(self, database: Database, audit: AuditTrail, collector: SyslogCollector, *,
                 source_id: str, enterprise_site: str = "", hostname: str | None = None,
                 **pacing: Any) -> None:
        """``pacing``: batch_size, timeout, first_retry, longest_retry, acceptance_wait."""
        queue = AuditQueue(database, audit, source_id=source_id,
                           enterprise_site=enterprise_site, hostname=hostname)
        super().__init__(queue, collector, **pacing)


def forwarder_from_settings(settings: Any, database: Database,
                            audit: AuditTrail) -> SyslogForwarder | None:
    """The forwarder the settings describe, or None when no collector is configured."""
    collector = SyslogCollector.from_settings(settings)
    if collector is None:
        return None
    return SyslogForwarder(database, audit, collector, source_id=audit_source_id(settings),
                           enterprise_site=settings["audit.enterprise_site"])
