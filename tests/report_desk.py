"""A reporter's desk on a real profile: an enrolled reporter, her study and a prior."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.access import StudyAccess
from app.auth import Authenticator, LoginPolicy
from app.reports import ReportDesk
from app.users import UserDirectory, totp_code, totp_step
from app.workstation import Workstation
from tests.helpers import small_plan
from tests.reading_room import store_plan

REPORTER = "alice"
OTHER_REPORTER = "bob"
PASSWORD = "correct horse battery staple"
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class Desk:
    workstation: Workstation
    desk: ReportDesk
    directory: UserDirectory
    study_uid: str
    prior_uid: str

    def code(self, at: datetime) -> str:
        """The code Alice's authenticator shows at ``at``."""
        credentials = self.directory.credentials(REPORTER)
        assert credentials is not None
        return totp_code(credentials.totp_secret, totp_step(at))

    def desk_for(self, user: str, role: str = "reporter") -> ReportDesk:
        return ReportDesk(self.workstation, StudyAccess(
            self.workstation.store, self.workstation.audit, user, role), self.desk.check_code)


def open_desk(workstation: Workstation, *, slices: int = 3) -> Desk:
    """Alice (GMC 7654321) with a CT chest assigned to her and its prior; Bob enrolled too."""
    directory = UserDirectory(workstation.database, workstation.audit)
    directory.add_user(REPORTER, "Dr Alice Smith", "reporter", PASSWORD, "7654321", now=START)
    directory.add_user(OTHER_REPORTER, "Dr Bob Jones", "reporter", PASSWORD, "1234567",
                       now=START)
    current, prior = small_plan("CT_CHEST", slices), small_plan("CT_CHEST", 2, prior=True)
    for plan in (current, prior):
        store_plan(workstation.store, plan, reporter=REPORTER)
    authenticator = Authenticator(directory, workstation.audit,
                                  LoginPolicy.from_settings(workstation.settings))
    access = StudyAccess(workstation.store, workstation.audit, REPORTER, "reporter")
    desk = ReportDesk(workstation, access, lambda user, code, now: authenticator.verify_code(
        user, code, now))
    return Desk(workstation, desk, directory, current.study_uid, prior.study_uid)


def later(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)
