"""Who may see which study: enforced where the data is read, not only hidden in the GUI.

A reporter lists, opens and reads only the studies assigned to them (STANDARDS §8,
"Reporters may only open images assigned to them"); an IT auditor sees no images at all;
an administrator sees every study. Every refused attempt is a Security Alert (110113),
and so is an instance file that fails its AES-GCM integrity check (altered, truncated or
swapped on disk): it is never opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pydicom.dataset import Dataset

from app.audit import AuditEvent, AuditTrail, EventId, Outcome
from app.errors import IntegrityError, TeleradError
from app.store import SeriesSummary, StoredInstance, StudyStore, StudySummary

ROLES_WITH_IMAGES = ("reporter", "admin")


def access_without_login(store: StudyStore, audit: AuditTrail, default_reporter: str
                         ) -> StudyAccess:
    """Until sign-in exists: the configured default reporter's worklist, else every study."""
    if default_reporter:
        return StudyAccess(store, audit, default_reporter, "reporter")
    return StudyAccess(store, audit, "local user", "admin")


class AccessDenied(TeleradError):
    """The signed-in user may not see this study."""


@dataclass
class StudyAccess:
    """The store as one signed-in user may use it; the viewer and CLI read through this."""

    store: StudyStore
    audit: AuditTrail
    user: str
    role: str

    def _sees_everything(self) -> bool:
        return self.role == "admin"

    def _refuse(self, what: str, study_uid: str = "", sop_instance_uid: str = "") -> None:
        objects = (("study", study_uid),) if study_uid else (("instance", sop_instance_uid),)
        self.audit.record(AuditEvent(
            EventId.SECURITY_ALERT, "R", self.user, Outcome.SERIOUS_FAILURE, objects=objects,
            detail=f"access refused: {what}"))
        raise AccessDenied(f"{self.user} ({self.role}) may not {what}: the study is not "
                           "assigned to them")

    def _check(self, what: str, *, study_uid: str = "", sop_instance_uid: str = "") -> None:
        if self.role not in ROLES_WITH_IMAGES:
            self._refuse(what, study_uid, sop_instance_uid)
        owner = self.store.assigned_reporter(study_uid=study_uid,
                                             sop_instance_uid=sop_instance_uid)
        if owner is None or (owner != self.user and not self._sees_everything()):
            self._refuse(what, study_uid, sop_instance_uid)

    def list_studies(self) -> list[StudySummary]:
        if self.role not in ROLES_WITH_IMAGES:
            return []
        return self.store.list_studies(reporter=None if self._sees_everything() else self.user)

    def check_may_report(self, study_uid: str) -> None:
        """Only the assigned reporter writes, signs or returns a study's report."""
        if self.role != "reporter":
            self._refuse("report on a study", study_uid)
        self._check("report on a study", study_uid=study_uid)

    def list_series(self, study_uid: str) -> list[SeriesSummary]:
        self._check("list the series of a study", study_uid=study_uid)
        return self.store.list_series(study_uid)

    def list_instances(self, study_uid: str) -> list[StoredInstance]:
        self._check("list the images of a study", study_uid=study_uid)
        return self.store.list_instances(study_uid)

    def read_bytes(self, sop_instance_uid: str) -> bytes:
        self._check("read an image", sop_instance_uid=sop_instance_uid)
        with self._alert_on_tampering(sop_instance_uid):
            return self.store.read_bytes(sop_instance_uid)

    def open_instance(self, sop_instance_uid: str) -> Dataset:
        self._check("open an image", sop_instance_uid=sop_instance_uid)
        with self._alert_on_tampering(sop_instance_uid):
            return self.store.open_instance(sop_instance_uid)

    @contextmanager
    def _alert_on_tampering(self, sop_instance_uid: str) -> Iterator[None]:
        """Record a failed integrity check as a Security Alert (PS3.15 A.5.3.11), then let
        the IntegrityError reach the reader, who is shown the image as refused."""
        try:
            yield
        except IntegrityError:
            self.audit.record(AuditEvent(
                EventId.SECURITY_ALERT, "R", self.user, Outcome.SERIOUS_FAILURE,
                objects=(("instance", sop_instance_uid),),
                detail="integrity check failed: the instance file was not opened "
                       "(altered, truncated or swapped)"))
            raise
