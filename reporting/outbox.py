"""The durable outbox: every signed part becomes one entry per destination until delivered.

Messages are built once, at signing, and sealed with the study's key; a resend is the same
bytes (same SR SOP Instance UID, same HL7 MSH-10), so a receiver recognises a message it
already holds. An entry is claimed before it is sent; the claim names this process and
lapses after a lease, so after a crash (claimant gone) or a hang (lease over) another
worker takes it over. Network errors, HL7 ``AR`` and timeouts retry with exponential
back-off; ``AE`` and DICOM failure statuses stop the entry and show why (STANDARDS §4).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from reporting.errors import RejectedDelivery, RetryableDeliveryError
from reporting.model import ReportError

if TYPE_CHECKING:
    from reporting.records import Cursor, ReportDatabase, Vault


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed and sent; waiting for the acknowledgement
    ACKNOWLEDGED = "acknowledged"
    FAILED = "failed"  # refused by the destination: needs a person


# Worst first: a study's delivery is shown as the worst of its entries.
_SEVERITY = (DeliveryStatus.FAILED, DeliveryStatus.QUEUED, DeliveryStatus.SENDING,
             DeliveryStatus.ACKNOWLEDGED)
_SHOWN = {DeliveryStatus.FAILED: "failed", DeliveryStatus.QUEUED: "queued",
          DeliveryStatus.SENDING: "sent", DeliveryStatus.ACKNOWLEDGED: "acknowledged"}


def _utc(moment: datetime) -> str:
    """Times are compared as ISO text in SQL: always in UTC, so the order is the time's."""
    return moment.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class OutgoingMessage:
    destination: str  # "pacs:<AE title>" or "ris"
    payload: bytes  # DICOM Part 10 file or HL7 ER7 text, exactly as it will be sent


@dataclass(frozen=True)
class OutboxEntry:
    entry_id: int
    study_uid: str
    part_number: int
    destination: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: str
    last_error: str
    created_at: str
    sent_at: str
    acknowledged_at: str

    @property
    def shown_status(self) -> str:
        """Queued / sent / acknowledged / failed with the reason, as the reporter reads it."""
        if self.status is DeliveryStatus.FAILED:
            return f"failed: {self.last_error}"
        if self.status is DeliveryStatus.SENDING:
            return "sent, awaiting acknowledgement"
        if self.status is DeliveryStatus.QUEUED and self.last_error:
            return f"retrying (attempt {self.attempts}): {self.last_error}"
        return self.status.value


@dataclass(frozen=True)
class Delivery:
    """What one attempt did, for the audit trail and the status display."""

    entry: OutboxEntry
    status: DeliveryStatus
    error: str = ""


Sender = Callable[[str, bytes], None]  # (destination, payload); raises a DeliveryError


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: timedelta = timedelta(seconds=10)
    max_delay: timedelta = timedelta(minutes=10)
    lease: timedelta = timedelta(seconds=60)  # longer than any one send may take

    def delay(self, attempts: int) -> timedelta:
        return min(self.first_delay * 2 ** max(attempts - 1, 0), self.max_delay)


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_gone(claimant: str) -> bool:
    """True when the claimant ran on this machine and its process has ended."""
    host, _, pid = claimant.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _payload_purpose(destination: str, part_number: int) -> str:
    return f"outbox:{destination}:{part_number}"


def _entry(row: dict[str, Any]) -> OutboxEntry:
    return OutboxEntry(
        row["entry_id"], row["study_uid"], row["part_number"], row["destination"],
        DeliveryStatus(row["status"]), row["attempts"], row["next_attempt_at"],
        row["last_error"], row["created_at"], row["sent_at"], row["acknowledged_at"])


_COLUMNS = """entry_id, study_uid, part_number, destination, status, attempts,
              next_attempt_at, last_error, created_at, sent_at, acknowledged_at"""


class Outbox:
    """Entries in the profile database and the loop that delivers the due ones."""

    def __init__(self, database: ReportDatabase, vault: Vault, *,
                 policy: RetryPolicy | None = None, worker: str | None = None) -> None:
        self._database = database
        self._vault = vault
        self.policy = policy or RetryPolicy()
        self.worker = worker or this_process()

    def enqueue(self, cursor: Cursor, study_uid: str, part_number: int,
                messages: Sequence[OutgoingMessage], *, now: datetime) -> None:
        """Queue one entry per message inside the caller's (signing) transaction."""
        for message in messages:
            payload = self._vault.seal(study_uid, message.payload,
                                       _payload_purpose(message.destination, part_number))
            cursor.execute(
                """INSERT INTO outbox (study_uid, part_number, destination, payload,
                       next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?)""",
                (study_uid, part_number, message.destination, payload, _utc(now), _utc(now)))

    def entries(self, *, study_uid: str | None = None) -> list[OutboxEntry]:
        where, parameters = ("WHERE study_uid = ?", (study_uid,)) if study_uid else ("", ())
        return [_entry(row) for row in self._database.query(
            f"SELECT {_COLUMNS} FROM outbox {where} ORDER BY entry_id", parameters)]

    def delivery_by_study(self) -> dict[str, str]:
        """The worst status of each study's entries (failed > queued > sent > acknowledged)."""
        statuses: dict[str, set[str]] = {}
        for row in self._database.query("SELECT study_uid, status FROM outbox"):
            statuses.setdefault(row["study_uid"], set()).add(row["status"])
        return {study: _SHOWN[next(s for s in _SEVERITY if s.value in found)]
                for study, found in statuses.items()}

    def pending(self) -> int:
        return self._database.query(
            "SELECT count(*) AS n FROM outbox WHERE status IN ('queued', 'sending')")[0]["n"]

    def next_due(self) -> datetime | None:
        rows = self._database.query(
            """SELECT min(CASE WHEN status = 'queued' THEN next_attempt_at
                               ELSE claimed_until END) AS due
               FROM outbox WHERE status IN ('queued', 'sending')""")
        return datetime.fromisoformat(rows[0]["due"]) if rows[0]["due"] else None

    def retry(self, entry_id: int, *, now: datetime) -> OutboxEntry:
        """Queue a refused entry again, once a person has dealt with the refusal."""
        with self._database.transaction() as cursor:
            retried = cursor.execute(
                """UPDATE outbox SET status = 'queued', next_attempt_at = ?, claimed_by = '',
                       claimed_until = '', last_error = ''
                   WHERE entry_id = ? AND status = 'failed'""",
                (_utc(now), entry_id)).rowcount
        found = [e for e in self.entries() if e.entry_id == entry_id]
        if not found:
            raise KeyError(f"outbox entry {entry_id} does not exist")
        if not retried:
            raise ReportError(f"outbox entry {entry_id} is {found[0].shown_status}; only a "
                              "refused entry is queued again by hand")
        return found[0]

    # ---- delivering ---------------------------------------------------------------------

    def _claimable(self, now: datetime) -> list[dict[str, Any]]:
        rows = self._database.query(
            f"""SELECT {_COLUMNS}, claimed_by, claimed_until FROM outbox
                WHERE (status = 'queued' AND next_attempt_at <= ?) OR status = 'sending'
                ORDER BY entry_id""", (_utc(now),))
        return [row for row in rows if row["status"] == "queued"
                or row["claimed_until"] <= _utc(now) or row["claimed_by"] == self.worker
                or _process_gone(row["claimed_by"])]

    def claim_next(self, now: datetime) -> tuple[OutboxEntry, bytes] | None:
        """Take the oldest due entry for this worker; its payload, unsealed."""
        for row in self._claimable(now):
            with self._database.transaction() as cursor:
                claimed = cursor.execute(
                    """UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_until = ?,
                           attempts = attempts + 1, sent_at = ?
                       WHERE entry_id = ? AND status = ? AND claimed_by = ?""",
                    (self.worker, _utc(now + self.policy.lease), _utc(now),
                     row["entry_id"], row["status"], row["claimed_by"])).rowcount
            if not claimed:
                continue  # another worker was quicker
            payload = self._payload(row["entry_id"])
            return _entry(self._database.query(
                f"SELECT {_COLUMNS} FROM outbox WHERE entry_id = ?", (row["entry_id"],))[0]
            ), payload
        return None

    def _payload(self, entry_id: int) -> bytes:
        row = self._database.query(
            "SELECT study_uid, part_number, destination, payload FROM outbox "
            "WHERE entry_id = ?", (entry_id,))[0]
        return self._vault.unseal(row["study_uid"], row["payload"],
                                  _payload_purpose(row["destination"], row["part_number"]))

    def record(self, entry: OutboxEntry, outcome: DeliveryStatus, *, now: datetime,
               error: str = "") -> None:
        """Note the result of sending ``entry``: acknowledged, failed, or queued to retry."""
        if outcome is DeliveryStatus.ACKNOWLEDGED:
            sql, values = "status = 'acknowledged', acknowledged_at = ?, last_error = ''", (
                _utc(now),)
        elif outcome is DeliveryStatus.FAILED:
            sql, values = "status = 'failed', last_error = ?", (error,)
        else:
            retry_at = now + self.policy.delay(entry.attempts)
            sql, values = "status = 'queued', next_attempt_at = ?, last_error = ?", (
                _utc(retry_at), error)
        with self._database.transaction() as cursor:
            cursor.execute(
                f"UPDATE outbox SET {sql}, claimed_by = '', claimed_until = '' "
                "WHERE entry_id = ? AND claimed_by = ?", (*values, entry.entry_id, self.worker))

    def deliver_one(self, send: Sender, now: Callable[[], datetime]) -> Delivery | None:
        """Claim, send and record the oldest due entry; None when nothing is due."""
        claimed = self.claim_next(now())
        if claimed is None:
            return None
        entry, payload = claimed
        try:
            send(entry.destination, payload)
        except RejectedDelivery as refused:
            outcome, error = DeliveryStatus.FAILED, str(refused)
        except RetryableDeliveryError as failed:
            outcome, error = DeliveryStatus.QUEUED, str(failed)
        except Exception as unexpected:  # a fault of ours must not wedge the queue
            outcome, error = DeliveryStatus.QUEUED, f"unexpected error: {unexpected!r}"
        else:
            outcome, error = DeliveryStatus.ACKNOWLEDGED, ""
        self.record(entry, outcome, now=now(), error=error)
        return Delivery(entry, outcome, error)

    def deliver_due(self, send: Sender, now: Callable[[], datetime]) -> list[Delivery]:
        """Send every entry that is due now, oldest first."""
        done = []
        while (delivery := self.deliver_one(send, now)) is not None:
            done.append(delivery)
        return done
