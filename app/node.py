"""The DICOM node: a Storage SCP for every Storage SOP class, plus Verification.

Only configured peers may associate (PS3.8 §7.1.1.3 calling/called AE titles); rejected
callers are audited as Security Alerts (110113). A C-STORE is answered 0x0000 only after
the store made the instance durable (PS3.4 B.2.3 statuses, STANDARDS §1).
"""

from __future__ import annotations

import logging
import secrets
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

from app.assignment import POLICY_FILE, AssignmentPolicy, load_policy
from app.audit import AuditEvent, AuditTrail, EventId, Outcome
from app.config import Settings, load_settings
from app.dicom_transport import TransportLimits, start_guarded_server
from app.errors import (
    ConfigError,
    DatasetMismatch,
    InvalidDicomValue,
    MalformedDataset,
    NodeError,
    OutOfResources,
    StoreError,
)
from app.heap import keep_freed_buffers
from app.import_ledger import ImportLedger, ImportStart
from app.pdu_framing import FramingLimits
from app.received_instance import received_instance
from app.store import PutResult, StudyStore
from reporting.dicom_send import send_without_delay

LOG = logging.getLogger(__name__)

# STANDARDS §1: uncompressed, deflated and every compressed syntax we store as received.
ACCEPTED_TRANSFER_SYNTAXES = [
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202",  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203",  # HTJ2K
    "1.2.840.10008.1.2.5",  # RLE Lossless
]


# C-STORE response statuses (PS3.4 B.2.3); the Error Comment tells the sender why.
STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_SOP_CLASS_MISMATCH = 0xA900
STATUS_CANNOT_UNDERSTAND = 0xC000
STATUS_INVALID_UID = 0xC001
STATUS_STORE_FAILED = 0xC002

# A-ASSOCIATE-RJ (PS3.8 §9.3.4): rejected-permanent, service-user, diagnostic
REJECT_CALLING_AE = (0x01, 0x01, 0x03)
REJECT_CALLED_AE = (0x01, 0x01, 0x07)
REJECT_LOCAL_LIMIT = (0x02, 0x03, 0x02)  # rejected-transient: local-limit-exceeded

# pynetdicom's own association limit, which counts connection threads (junk included);
# ours, node.maximum_associations, counts associations and is checked in _on_requested.
ASSOCIATION_THREADS_LIMIT = 10_000
ABORT_WAIT_SECONDS = 5.0  # for an association aborted at stop to record its events


# The store's errors as C-STORE statuses, most specific first (PS3.4 B.2.3)
_REFUSALS: tuple[tuple[type[StoreError], int, int], ...] = (
    (OutOfResources, STATUS_OUT_OF_RESOURCES, logging.ERROR),
    (MalformedDataset, STATUS_CANNOT_UNDERSTAND, logging.WARNING),
    (DatasetMismatch, STATUS_SOP_CLASS_MISMATCH, logging.WARNING),
    (InvalidDicomValue, STATUS_INVALID_UID, logging.WARNING),
    (StoreError, STATUS_STORE_FAILED, logging.ERROR),
)


def _refusal(error: StoreError) -> tuple[int, int]:
    """The status and log level for a refused instance."""
    return next((status, level) for kind, status, level in _REFUSALS
                if isinstance(error, kind))


def _failure(status: int, comment: str) -> Dataset:
    response = Dataset()
    response.Status = status
    response.ErrorComment = comment[:64]  # LO, 64 characters (PS3.7 C.4.2.1.4)
    return response


def server_tls_context(settings: Settings) -> ssl.SSLContext | None:
    """Server-side DICOM TLS (PS3.15 B.1, BCP 195: TLS 1.2+, client certificates required)."""
    if not settings["node.tls.enabled"]:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings["node.tls.certificate"], settings["node.tls.private_key"])
        context.load_verify_locations(settings["node.tls.ca_certificates"])
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"DICOM TLS is enabled but its files cannot be used: {exc}") from exc
    context.verify_mode = ssl.CERT_REQUIRED
    return context


@dataclass
class _Association:
    """Who is sending on one association and what it delivered (one Import per study)."""

    calling_ae: str
    called_ae: str  # decides the reporter: one AE title per reporter
    address: str
    stored: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    key: str = field(default_factory=lambda: secrets.token_hex(8))  # its imports' ledger key

    def import_start(self, study_uid: str) -> ImportStart | None:
        """What the index records with the study's first instance stored here; None once
        one is (the ledger then holds the study's import)."""
        if self.stored[study_uid]:
            return None
        return ImportStart(self.key, self.calling_ae, self.address)


class StorageNode:
    """Owns the pynetdicom AE and the association handlers."""

    def __init__(self, store: StudyStore, audit: AuditTrail, settings: Settings,
                 settings_file: Path | None = None) -> None:
        """``settings_file``, when given, is re-read when it changes, so peers added with
        `telerad peers add` while the node runs take effect at the next association."""
        self._store = store
        self._audit = audit
        self._imports = ImportLedger(audit)
        self.settings = settings
        self._settings_file = settings_file
        self._settings_stamp = self._stamp()
        self.assignment = self._load_policy()
        self._server = None
        self._associations: dict[int, _Association] = {}
        self._associations_lock = threading.Lock()

    # ---- life cycle ----------------------------------------------------------------------

    def start(self, host: str | None = None, port: int | None = None,
              ae_title: str | None = None) -> tuple[str, int]:
        """Listen in background threads; returns the bound (host, port)."""
        keep_freed_buffers()  # process-wide: received instances reuse freed buffers
        self._store.open_for_writing()  # one receiving node per profile, crash recovery
        self._audit_quarantine()
        if closed := self._imports.close_interrupted():
            LOG.warning("%d import(s) cut short by an unclean stop recorded in the audit trail",
                        closed)
        if ae_title:
            self.settings = self.settings.with_value("node.ae_title", ae_title)
        ae = AE(ae_title=self.settings["node.ae_title"])
        ae.maximum_pdu_size = self.settings["node.max_pdu_bytes"]
        ae.maximum_associations = ASSOCIATION_THREADS_LIMIT
        ae.acse_timeout = self.settings["node.association_request_seconds"]
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, ACCEPTED_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification, ACCEPTED_TRANSFER_SYNTAXES[:2])
        address = (host or self.settings["node.host"],
                   self.settings["node.port"] if port is None else port)
        handlers = [
            (evt.EVT_CONN_OPEN, send_without_delay),  # C-STORE-RSPs leave at once
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_C_STORE, self._on_c_store),
            (evt.EVT_CONN_CLOSE, self._on_connection_closed),
        ]
        try:
            self._server = start_guarded_server(
                ae, address, handlers, server_tls_context(self.settings),
                self._transport_limits(), self._on_connection_refused)
        except OSError as exc:
            raise NodeError(f"cannot listen on {address[0]}:{address[1]}: {exc.strerror}") from exc
        bound = self._server.server_address
        LOG.info("DICOM node %s listening on %s:%s", ae.ae_title, bound[0], bound[1])
        return bound[0], bound[1]

    def _audit_quarantine(self) -> None:
        """Files recovery set aside (never acknowledged, or failing authentication after a
        crash) are for IT to see in the audit trail, not only in a log."""
        if self._store.quarantined:
            names = ", ".join(path.name for path in self._store.quarantined[:5])
            self._audit.record(AuditEvent(
                EventId.SECURITY_ALERT, "E", actor=self.ae_title, outcome=Outcome.MINOR_FAILURE,
                detail=f"{len(self._store.quarantined)} file(s) from an interrupted run set "
                       f"aside in quarantine: {names}",
            ))

    def _transport_limits(self) -> TransportLimits:
        settings = self.settings
        return TransportLimits(
            framing=FramingLimits(
                max_pdu_bytes=settings["node.max_pdu_bytes"],
                max_message_bytes=settings["node.max_instance_megabytes"] * 1024 * 1024),
            stall_seconds=settings["node.receive_stall_ms"] / 1000,
            handshake_seconds=settings["node.association_request_seconds"],
            pending_connections=settings["node.pending_connections"],
        )

    def stop(self) -> None:
        """Stop listening, then abort the associations still open (their senders resend
        what got no answer) and wait for each to end, so its Import events are recorded."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        open_associations = server.active_associations
        for association in open_associations:
            association.abort()
        for association in open_associations:
            association.join(timeout=ABORT_WAIT_SECONDS)

    @property
    def ae_title(self) -> str:
        return self.settings["node.ae_title"]

    # ---- association control -------------------------------------------------------------

    def _called_titles(self) -> set[str]:
        return {self.ae_title, *self.settings["assignment.by_called_ae"]}

    def reporter_for(self, called_ae: str, dataset: Dataset | None = None) -> str:
        """The reporter a study belongs to: by the AE title it arrived on, else by the
        specialty rules of policy.toml, else the default reporter (app/assignment.py)."""
        by_called = self.settings["assignment.by_called_ae"]
        if called_ae in by_called:
            return by_called[called_ae]
        if dataset is not None:
            by_specialty = self.assignment.reporter_for(
                str(dataset.get("StudyInstanceUID", "")), str(dataset.get("Modality", "")),
                str(dataset.get("BodyPartExamined", "")),
                str(dataset.get("ReferringPhysicianName", "") or ""))
            if by_specialty:
                return by_specialty
        return self.settings["assignment.default_reporter"]

    def _policy_file(self) -> Path | None:
        return self._settings_file.parent / POLICY_FILE if self._settings_file else None

    def _load_policy(self) -> AssignmentPolicy:
        policy = self._policy_file()
        return load_policy(policy) if policy else AssignmentPolicy()

    def _stamp(self) -> tuple[int, int] | None:
        """When the settings and the policy file last changed."""
        if self._settings_file is None:
            return None
        stamps = []
        for path in (self._settings_file, self._policy_file()):
            try:
                stamps.append(path.stat().st_mtime_ns if path else 0)
            except FileNotFoundError:
                stamps.append(0)
        return stamps[0], stamps[1]

    def _reload_settings_if_changed(self) -> None:
        stamp = self._stamp()
        if stamp == self._settings_stamp or self._settings_file is None:
            return
        try:
            fresh, policy = load_settings(self._settings_file), self._load_policy()
        except ConfigError as exc:
            LOG.error("settings not reloaded, keeping the previous ones: %s", exc)
        else:
            self.settings = replace(fresh, values={
                **fresh.values, "node.ae_title": self.ae_title})
            self.assignment = policy
        self._settings_stamp = stamp

    def _on_requested(self, event: evt.Event) -> None:
        """Accept only configured peers calling one of our AE titles; audit the rest."""
        self._reload_settings_if_changed()
        request = event.assoc.requestor.primitive
        calling = request.calling_ae_title.strip()
        called = request.called_ae_title.strip()
        address = event.assoc.requestor.address
        peer = self.settings.peer(calling)
        if peer is None or (peer.host and peer.host != address):
            reason = f"unknown calling AE title {calling!r} from {address}"
            if peer is not None:
                reason = f"calling AE title {calling!r} from {address}, expected host {peer.host}"
            self._reject(event, REJECT_CALLING_AE, calling, address, reason)
        elif called not in self._called_titles():
            self._reject(event, REJECT_CALLED_AE, calling, address,
                         f"called AE title {called!r} is not one of ours")
        elif not self._register(event, _Association(calling, called, address)):
            LOG.warning("association from %s (%s) refused: %d associations already open",
                        calling, address, self.settings["node.maximum_associations"])
            event.assoc.acse.send_reject(*REJECT_LOCAL_LIMIT)
            event.assoc.kill()

    def _register(self, event: evt.Event, sender: _Association) -> bool:
        """Count the association against node.maximum_associations; False when full."""
        with self._associations_lock:
            if len(self._associations) >= self.settings["node.maximum_associations"]:
                return False
            self._associations[id(event.assoc)] = sender
            return True

    def _on_connection_refused(self, address: str, reason: str) -> None:
        """The transport aborted a connection (app/dicom_transport.py): a Security Alert."""
        self._audit.record(AuditEvent(
            EventId.SECURITY_ALERT, "E", actor=address, outcome=Outcome.MINOR_FAILURE,
            source=address, detail=f"connection aborted: {reason}",
        ))

    def _reject(self, event: evt.Event, reason_codes: tuple[int, int, int], calling: str,
                address: str, reason: str) -> None:
        LOG.warning("association rejected: %s", reason)
        event.assoc.acse.send_reject(*reason_codes)
        event.assoc.kill()  # as pynetdicom does: lets the DUL send the A-ASSOCIATE-RJ first
        self._audit.record(AuditEvent(
            EventId.SECURITY_ALERT, "E", actor=calling, outcome=Outcome.MINOR_FAILURE,
            source=address, detail=f"association rejected: {reason}",
        ))

    # ---- C-STORE -------------------------------------------------------------------------

    def _on_c_store(self, event: evt.Event) -> Dataset | int:
        sender = self._associations.get(id(event.assoc))
        if sender is None:  # cannot happen: every accepted association was registered
            return _failure(STATUS_STORE_FAILED, "association not registered")
        outcome = self._store_instance(event, sender)
        if isinstance(outcome, Dataset):
            sender.refused += 1
            return outcome
        result, study_uid = outcome
        counter = sender.duplicates if result is PutResult.DUPLICATE else sender.stored
        counter[study_uid] += 1
        return STATUS_SUCCESS

    def _store_instance(self, event: evt.Event,
                        sender: _Association) -> Dataset | tuple[PutResult, str]:
        """Store the instance: (result, study UID), or a failure response for the sender."""
        request = event.request
        try:
            encoded, dataset = received_instance(
                event.encoded_dataset(include_meta=False), event.context.transfer_syntax,
                request.AffectedSOPClassUID, request.AffectedSOPInstanceUID)
            study_uid = str(dataset.get("StudyInstanceUID", ""))  # put validates it
            result = self._store.put(
                encoded, dataset, calling_ae=sender.calling_ae, called_ae=sender.called_ae,
                reporter=self.reporter_for(sender.called_ae, dataset),
                opens_import=sender.import_start(study_uid),
            )
        except StoreError as exc:
            status, level = _refusal(exc)
            LOG.log(level, "C-STORE refused: %s", exc)
            return _failure(status, str(exc))
        except Exception as exc:  # any decoding fault of untrusted bytes
            LOG.warning("C-STORE refused, dataset cannot be parsed: %r", exc)
            return _failure(STATUS_CANNOT_UNDERSTAND, f"dataset cannot be parsed: {exc}")
        return result, study_uid

    # ---- end of association --------------------------------------------------------------

    def _on_connection_closed(self, event: evt.Event) -> None:
        with self._associations_lock:
            sender = self._associations.pop(id(event.assoc), None)
        if sender is None:
            return
        self._imports.end(sender.key, self._import_events(sender))

    @staticmethod
    def _import_events(sender: _Association) -> list[AuditEvent]:
        """One Import per study delivered; one for an association whose every instance
        was refused."""
        events = []
        for study_uid in sorted(set(sender.stored) | set(sender.duplicates)):
            stored, duplicates = sender.stored[study_uid], sender.duplicates[study_uid]
            LOG.info("%s at %s: study %s, %d stored, %d duplicate(s)", sender.calling_ae,
                     sender.address, study_uid, stored, duplicates)
            events.append(AuditEvent(
                EventId.IMPORT, "C", actor=sender.calling_ae, source=sender.address,
                outcome=Outcome.MINOR_FAILURE if sender.refused else Outcome.SUCCESS,
                objects=(("study", study_uid),),
                detail=f"{stored} instance(s) stored, {duplicates} duplicate(s), "
                       f"{sender.refused} refused in this association",
            ))
        if sender.refused and not (sender.stored or sender.duplicates):
            events.append(AuditEvent(
                EventId.IMPORT, "C", actor=sender.calling_ae, source=sender.address,
                outcome=Outcome.SERIOUS_FAILURE,
                detail=f"{sender.refused} instance(s) refused, none stored",
            ))
        return events
