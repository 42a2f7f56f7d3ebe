"""Deliver the outbox: SR reports to the PACS by C-STORE, ORU^R01 to the RIS over MLLP.

A worker thread runs in the app while a reader is signed in (the messages are sealed to
the reading key like the rest of the study), in ``telerad outbox send --user`` and beside
the node in ``telerad serve``, which can deliver only while the profile has no reader
enrolled yet. Each attempt is audited as Export (110106); when every
destination has acknowledged a study's report the study counts as delivered (turnaround
stops, retention may start: STANDARDS §5, §8).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from app.audit import AuditEvent, AuditTrail, EventId, Outcome
from app.config import Settings
from app.store import StudyStore
from app.tls import client_tls_context
from app.workstation import Workstation
from reporting.dicom_send import store_sr
from reporting.errors import RejectedDelivery
from reporting.mllp import deliver_oru
from reporting.outbox import Delivery, DeliveryStatus, Outbox, RetryPolicy, Sender

PACS_PREFIX = "pacs:"
RIS = "ris"


def destinations(settings: Settings) -> list[str]:
    """Where a newly signed part goes: every PACS peer, and the RIS when one is set."""
    found = [PACS_PREFIX + peer.ae_title for peer in settings.peers if peer.role == "pacs"]
    return [*found, RIS] if settings["ris.host"].strip() else found


def ris_tls_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings["ris.tls.enabled"]:
        return None
    return client_tls_context(settings["ris.tls.ca_certificates"],
                              settings["ris.tls.client_certificate"],
                              settings["ris.tls.client_key"], setting="ris.tls")


def sender_for(settings: Settings) -> Sender:
    """Send one payload to a destination as the settings describe it now."""
    def send(destination: str, payload: bytes) -> None:
        if destination == RIS:
            host = settings["ris.host"].strip()
            if not host:
                raise RejectedDelivery("no RIS is configured any more (ris.host is empty)")
            deliver_oru(host, settings["ris.port"], payload.decode("utf-8"),
                        timeout=settings["ris.ack_timeout_seconds"],
                        ssl_context=ris_tls_context(settings))
            return
        peer = settings.peer(destination.removeprefix(PACS_PREFIX))
        if peer is None or peer.role != "pacs":
            raise RejectedDelivery(f"{destination} is no longer a configured PACS peer")
        store_sr(payload, host=peer.host, port=peer.port, called_ae=peer.ae_title,
                 calling_ae=settings["node.ae_title"],
                 timeout=settings["pacs.store_timeout_seconds"])
    return send


def retry_policy(settings: Settings) -> RetryPolicy:
    longest_send = max(settings["ris.ack_timeout_seconds"], settings["pacs.store_timeout_seconds"])
    return RetryPolicy(first_delay=timedelta(seconds=settings["outbox.retry_first_seconds"]),
                       max_delay=timedelta(seconds=settings["outbox.retry_max_seconds"]),
                       lease=timedelta(seconds=2 * longest_send + 5))


def outbox_of(workstation: Workstation) -> Outbox:
    return Outbox(workstation.database, workstation.store,
                  policy=retry_policy(workstation.settings))


def audit_delivery(audit: AuditTrail, delivery: Delivery) -> None:
    """Export (110106) per attempt that ended: acknowledged, refused or to be retried."""
    entry = delivery.entry
    outcome = {DeliveryStatus.ACKNOWLEDGED: Outcome.SUCCESS,
               DeliveryStatus.FAILED: Outcome.SERIOUS_FAILURE}.get(delivery.status,
                                                                   Outcome.MINOR_FAILURE)
    words = {DeliveryStatus.ACKNOWLEDGED: "acknowledged", DeliveryStatus.FAILED: "refused"}
    what = words.get(delivery.status, "will be retried")
    detail = f"report part {entry.part_number} to {entry.destination}: {what}"
    audit.record(AuditEvent(
        EventId.EXPORT, "R", "outbox", outcome, objects=(("study", entry.study_uid),),
        detail=f"{detail} ({delivery.error})" if delivery.error else detail))


def note_delivered(store: StudyStore, outbox: Outbox, study_uid: str, now: datetime) -> None:
    """The study's report counts as delivered once all entries of its first part are."""
    first = [e for e in outbox.entries(study_uid=study_uid) if e.part_number == 1]
    if first and all(e.status is DeliveryStatus.ACKNOWLEDGED for e in first):
        store.mark_report_delivered(study_uid, now)


class DeliveryWorker:
    """Delivers due entries in a background thread; ``wake()`` after signing."""

    def __init__(self, workstation: Workstation, *,
                 on_delivery: Callable[[Delivery], None] | None = None) -> None:
        self._workstation = workstation
        self._outbox = outbox_of(workstation)
        self._on_delivery = on_delivery
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)

    def start(self) -> DeliveryWorker:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=60)

    def deliver_due(self) -> list[Delivery]:
        """One round: send everything due now, audit it, note delivered studies. Nothing
        while no reader has signed in: the messages are sealed like the rest of the study."""
        if self._workstation.store.locked:
            return []
        settings = self._workstation.reload_settings()  # `telerad peers`/`config` may change it
        done = self._outbox.deliver_due(sender_for(settings), lambda: datetime.now(UTC))
        for delivery in done:
            audit_delivery(self._workstation.audit, delivery)
            if delivery.status is DeliveryStatus.ACKNOWLEDGED:
                note_delivered(self._workstation.store, self._outbox,
                               delivery.entry.study_uid, datetime.now(UTC))
            if self._on_delivery:
                self._on_delivery(delivery)
        return done

    def _seconds_to_next(self) -> float:
        due = self._outbox.next_due()
        if due is None:
            return 60.0
        return min(max((due - datetime.now(UTC)).total_seconds(), 0.05), 60.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception as exc:  # the worker must outlive a damaged entry or a full disk
                self._workstation.audit.record(AuditEvent(
                    EventId.EXPORT, "R", "outbox", Outcome.MAJOR_FAILURE,
                    detail=f"outbox worker error: {exc}"))
            self._wake.wait(self._seconds_to_next())
            self._wake.clear()
