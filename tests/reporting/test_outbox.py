"""The outbox: a signed report leaves exactly as built, retries when the network fails, stops
when the destination refuses it, and survives a worker that crashed or hung."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from app.workstation import Workstation
from reporting.errors import RejectedDelivery, RetryableDeliveryError
from reporting.model import Draft, PartKind, Report, SignedPart
from reporting.outbox import DeliveryStatus, Outbox, OutboxEntry, OutgoingMessage, RetryPolicy
from reporting.records import ReportBook
from tests.helpers import small_plan
from tests.reading_room import store_plan
from tests.reporting.samples import REPORTER

AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PACS, RIS = "pacs:PACS", "ris"
BACK_OFF = RetryPolicy(first_delay=timedelta(seconds=10), max_delay=timedelta(seconds=60),
                       lease=timedelta(seconds=60))
SECTIONS = {"findings": "Clear lungs.", "impression": "No acute abnormality."}


@dataclass
class Destinations:
    """What the PACS and the RIS answer, scripted per destination: each send takes the next
    outcome (an exception to raise, or None for acknowledged); acknowledged when none is left."""

    script: dict[str, list[Exception | None]] = field(default_factory=dict)
    sent: list[tuple[str, bytes]] = field(default_factory=list)

    def send(self, destination: str, payload: bytes) -> None:
        self.sent.append((destination, payload))
        outcomes = self.script.get(destination, [])
        outcome = outcomes.pop(0) if outcomes else None
        if outcome is not None:
            raise outcome


def at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def payload(destination: str, part: SignedPart) -> bytes:
    """Stand-in for the SR or ORU: bytes that must leave unchanged, non-ASCII included."""
    return b"\x00\xff" + f"{destination}|{part.hl7_control_id}|é".encode()


@dataclass
class Desk:
    workstation: Workstation
    outbox: Outbox
    book: ReportBook
    chest: str  # study UIDs
    head: str

    def sign(self, study_uid: str, destinations: Sequence[str], *, when: datetime = AT
             ) -> list[OutgoingMessage]:
        """Sign a report on the study; the messages queued for ``destinations``."""
        built: list[OutgoingMessage] = []

        def messages(report: Report, part: SignedPart) -> list[OutgoingMessage]:
            built.extend(OutgoingMessage(d, payload(d, part)) for d in destinations)
            return built

        draft = Draft(study_uid, REPORTER.username, PartKind.REPORT,
                      when - timedelta(minutes=10), sections=SECTIONS)
        self.book.sign(draft, REPORTER, signed_at=when, messages=messages)
        return built

    def worker(self, name: str) -> Outbox:
        """Another delivery worker on the same profile (the app beside `telerad serve`)."""
        return Outbox(self.workstation.database, self.workstation.store, policy=BACK_OFF,
                      worker=name)

    def entry(self, study_uid: str, destination: str) -> OutboxEntry:
        (found,) = [e for e in self.outbox.entries(study_uid=study_uid)
                    if e.destination == destination]
        return found


@pytest.fixture
def desk(workstation: Workstation) -> Desk:
    """Two stored studies (a CT chest and a CT head), nothing signed yet."""
    chest, head = small_plan("CT_CHEST", 3), small_plan("CT_HEAD", 3)
    for plan in (chest, head):
        store_plan(workstation.store, plan)
    outbox = Outbox(workstation.database, workstation.store, policy=BACK_OFF,
                    worker="telerad-app")
    book = ReportBook(workstation.database, workstation.store, outbox)
    return Desk(workstation, outbox, book, chest.study_uid, head.study_uid)


def dead_process() -> str:
    """A claimant name of this machine whose process has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return f"{socket.gethostname()}:{process.pid}"


def due(entry: OutboxEntry) -> datetime:
    return datetime.fromisoformat(entry.next_attempt_at)


# ---- delivering -----------------------------------------------------------------------------

def test_entries_are_delivered_oldest_first_and_acknowledged(desk: Desk) -> None:
    chest = desk.sign(desk.chest, [PACS, RIS], when=AT)
    head = desk.sign(desk.head, [PACS], when=AT + timedelta(minutes=5))
    peers = Destinations()

    early = desk.outbox.deliver_due(peers.send, at(AT + timedelta(minutes=1)))
    later = desk.outbox.deliver_due(peers.send, at(AT + timedelta(minutes=6)))

    assert [d.status for d in early] == [DeliveryStatus.ACKNOWLEDGED] * 2
    assert [d.status for d in later] == [DeliveryStatus.ACKNOWLEDGED]
    assert peers.sent == [(m.destination, m.payload) for m in (*chest, *head)]
    assert [(e.shown_status, e.attempts) for e in desk.outbox.entries()] == [
        ("acknowledged", 1)] * 3
    assert desk.entry(desk.head, PACS).acknowledged_at == (
        AT + timedelta(minutes=6)).isoformat()
    assert desk.outbox.pending() == 0
    assert desk.outbox.next_due() is None
    assert desk.outbox.deliver_due(peers.send, at(AT + timedelta(days=1))) == []


def test_retryable_failure_backs_off_exponentially_up_to_the_maximum(desk: Desk) -> None:
    desk.sign(desk.chest, [PACS])
    peers = Destinations({PACS: [RetryableDeliveryError("PACS out of resources (0xA700)")] * 5})

    delays, now = [], AT
    for _ in range(5):
        assert desk.outbox.deliver_due(peers.send, at(now - timedelta(seconds=1))) == []
        (delivery,) = desk.outbox.deliver_due(peers.send, at(now))
        assert delivery.status is DeliveryStatus.QUEUED
        retry_at = due(desk.entry(desk.chest, PACS))
        delays.append((retry_at - now).total_seconds())
        now = retry_at

    assert delays == [10, 20, 40, 60, 60]
    entry = desk.entry(desk.chest, PACS)
    assert entry.shown_status == "retrying (attempt 5): PACS out of resources (0xA700)"
    (delivery,) = desk.outbox.deliver_due(peers.send, at(now))
    assert delivery.status is DeliveryStatus.ACKNOWLEDGED
    assert desk.entry(desk.chest, PACS).shown_status == "acknowledged"


def test_rejection_stops_the_entry_until_retried(desk: Desk) -> None:
    desk.sign(desk.chest, [RIS])
    peers = Destinations({RIS: [RejectedDelivery("HL7 AE: unknown patient identifier")]})

    (refused,) = desk.outbox.deliver_due(peers.send, at(AT))

    assert refused.status is DeliveryStatus.FAILED
    entry = desk.entry(desk.chest, RIS)
    assert entry.shown_status == "failed: HL7 AE: unknown patient identifier"
    a_month_later = AT + timedelta(days=30)
    assert desk.outbox.deliver_due(peers.send, at(a_month_later)) == []
    assert len(peers.sent) == 1
    assert desk.outbox.pending() == 0
    assert desk.outbox.next_due() is None

    requeued = desk.outbox.retry(entry.entry_id, now=a_month_later)

    assert requeued.status is DeliveryStatus.QUEUED
    assert desk.outbox.next_due() == a_month_later
    (delivery,) = desk.outbox.deliver_due(peers.send, at(a_month_later))
    assert delivery.status is DeliveryStatus.ACKNOWLEDGED
    assert desk.entry(desk.chest, RIS).attempts == 2


def test_retrying_an_unknown_entry_is_refused(desk: Desk) -> None:
    with pytest.raises(KeyError, match="outbox entry 99 does not exist"):
        desk.outbox.retry(99, now=AT)


def test_payload_is_sent_byte_identical_on_every_attempt(desk: Desk) -> None:
    (message,) = desk.sign(desk.chest, [PACS])
    peers = Destinations({PACS: [RetryableDeliveryError("association refused"),
                                 RetryableDeliveryError("timed out waiting for C-STORE-RSP")]})

    desk.outbox.deliver_due(peers.send, at(AT))
    desk.outbox.deliver_due(peers.send, at(AT + timedelta(minutes=1)))
    desk.outbox.deliver_due(peers.send, at(AT + timedelta(minutes=2)))

    assert peers.sent == [(PACS, message.payload)] * 3
    assert desk.entry(desk.chest, PACS).status is DeliveryStatus.ACKNOWLEDGED


def test_unexpected_error_in_send_requeues_instead_of_wedging(desk: Desk) -> None:
    desk.sign(desk.chest, [PACS, RIS])
    peers = Destinations({PACS: [ValueError("bug in the SR sender")]})

    deliveries = desk.outbox.deliver_due(peers.send, at(AT))

    assert [(d.entry.destination, d.status) for d in deliveries] == [
        (PACS, DeliveryStatus.QUEUED), (RIS, DeliveryStatus.ACKNOWLEDGED)]
    entry = desk.entry(desk.chest, PACS)
    assert entry.shown_status == (
        "retrying (attempt 1): unexpected error: ValueError('bug in the SR sender')")
    assert due(entry) == AT + timedelta(seconds=10)
    (again,) = desk.outbox.deliver_due(peers.send, at(due(entry)))
    assert again.status is DeliveryStatus.ACKNOWLEDGED


# ---- claims and leases -----------------------------------------------------------------------

def test_entry_of_a_process_that_ended_is_taken_over_at_once(desk: Desk) -> None:
    (message,) = desk.sign(desk.chest, [PACS])
    crashed = desk.worker(dead_process())
    claimed = crashed.claim_next(AT)
    assert claimed is not None
    stuck = desk.entry(desk.chest, PACS)
    assert (stuck.status, stuck.attempts) == (DeliveryStatus.SENDING, 1)
    peers = Destinations()

    (delivery,) = desk.worker("telerad-serve").deliver_due(
        peers.send, at(AT + timedelta(seconds=1)))

    assert delivery.status is DeliveryStatus.ACKNOWLEDGED
    assert peers.sent == [(PACS, message.payload)]
    assert desk.entry(desk.chest, PACS).attempts == 2


def test_entry_claimed_by_a_live_worker_waits_for_its_lease(desk: Desk) -> None:
    desk.sign(desk.chest, [PACS])
    busy = desk.worker(f"{socket.gethostname()}:{os.getpid()}")  # alive: this very process
    claimed = busy.claim_next(AT)
    assert claimed is not None
    other, peers = desk.worker("telerad-serve"), Destinations()

    assert other.deliver_due(peers.send, at(AT + timedelta(seconds=30))) == []
    assert desk.entry(desk.chest, PACS).status is DeliveryStatus.SENDING
    assert other.next_due() == AT + BACK_OFF.lease

    (delivery,) = other.deliver_due(peers.send, at(AT + BACK_OFF.lease))

    assert delivery.status is DeliveryStatus.ACKNOWLEDGED
    assert len(peers.sent) == 1
    # The hung worker's late answer does not overwrite what the other one recorded.
    busy.record(claimed[0], DeliveryStatus.FAILED, now=AT + timedelta(minutes=5),
                error="timed out")
    assert desk.entry(desk.chest, PACS).status is DeliveryStatus.ACKNOWLEDGED


def test_worker_on_another_machine_keeps_its_claim_for_the_lease(desk: Desk) -> None:
    desk.sign(desk.chest, [PACS])
    assert desk.worker("reading-room-2:4242").claim_next(AT) is not None

    assert desk.worker("telerad-serve").claim_next(AT + timedelta(seconds=59)) is None
    assert desk.worker("telerad-serve").claim_next(AT + timedelta(seconds=60)) is not None


# ---- what the reporter sees ------------------------------------------------------------------

def test_study_delivery_shows_the_worst_status(desk: Desk) -> None:
    desk.sign(desk.chest, [PACS, RIS])
    desk.sign(desk.head, [PACS, RIS])
    peers = Destinations({RIS: [RejectedDelivery("HL7 AE: unknown order"),
                                RetryableDeliveryError("HL7 AR: RIS busy")]})

    desk.outbox.deliver_due(peers.send, at(AT))

    assert desk.outbox.delivery_by_study() == {desk.chest: "failed", desk.head: "queued"}
    desk.outbox.retry(desk.entry(desk.chest, RIS).entry_id, now=AT + timedelta(minutes=1))
    desk.outbox.deliver_due(peers.send, at(AT + timedelta(minutes=1)))
    assert desk.outbox.delivery_by_study() == {desk.chest: "acknowledged",
                                               desk.head: "acknowledged"}


def test_claimed_entry_shows_as_sent_awaiting_acknowledgement(desk: Desk) -> None:
    desk.sign(desk.chest, [PACS, RIS])
    desk.outbox.claim_next(AT)

    assert desk.entry(desk.chest, PACS).shown_status == "sent, awaiting acknowledgement"
    assert desk.entry(desk.chest, RIS).shown_status == "queued"
    assert desk.outbox.delivery_by_study() == {desk.chest: "queued"}
    assert desk.outbox.pending() == 2


def test_next_due_is_the_earliest_due_entry(desk: Desk) -> None:
    assert desk.outbox.next_due() is None
    desk.sign(desk.head, [PACS], when=AT + timedelta(minutes=5))
    desk.sign(desk.chest, [PACS, RIS], when=AT)

    assert desk.outbox.next_due() == AT

    peers = Destinations({PACS: [RetryableDeliveryError("network unreachable")]})
    desk.outbox.deliver_due(peers.send, at(AT))

    assert desk.outbox.next_due() == AT + timedelta(seconds=10)
    desk.outbox.deliver_due(peers.send, at(AT + timedelta(seconds=10)))
    assert desk.outbox.next_due() == AT + timedelta(minutes=5)
