"""Login with password and one-time code, back-off, lockout and its audit (STANDARDS §8).

A login needs the password (Argon2id, RFC 9106) and the current TOTP code (RFC 6238: 30 s
step, one step of clock drift either side). A code is accepted once: a step at or before
the last one used is refused, so a code read over a shoulder cannot be replayed. Failures
in a row back off exponentially and then lock the account (Security Alert 110113); each
attempt is a User Authentication event 110114 with type Login 110122, a logout 110123
(PS3.15 A.5.3.12). A refusal never says whether the user name exists: unknown names are
counted, backed off and locked in memory exactly like real ones.
"""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from app.audit import AuditEvent, AuditTrail, EventId, EventType, Outcome
from app.config import Settings
from app.crypto import RFC9106_SECOND
from app.errors import (
    AccountDisabled,
    AccountLocked,
    AuthError,
    LoginRefused,
    LoginThrottled,
)
from app.users import (
    UNTIL_UNLOCKED,
    Credentials,
    FailureCounters,
    PasswordHash,
    User,
    UserDirectory,
    require_aware,
    totp_code,
    totp_step,
    validate_username,
)

TOTP_DRIFT_STEPS = 1  # RFC 6238 §5.2: one step back or forward for clock drift
BACKOFF_CAP_SECONDS = 300
UNKNOWN_NAMES_KEPT = 1000  # bound on the memory spent on failures of unknown user names
# Checked when the user name is unknown, so that a refusal takes as long as a real one.
_NOBODY = PasswordHash(bytes(16), RFC9106_SECOND, bytes(32))


@dataclass(frozen=True)
class LoginPolicy:
    """How many failures lock an account, for how long, and when the back-off starts."""

    max_failures: int = 5
    lockout_minutes: int = 15  # 0: until an administrator unlocks it
    backoff_start: int = 3
    backoff_cap_seconds: int = BACKOFF_CAP_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginPolicy:
        return cls(max_failures=settings["auth.max_failures"],
                   lockout_minutes=settings["auth.lockout_minutes"],
                   backoff_start=settings["auth.backoff_start"])

    def wait_seconds(self, counters: FailureCounters, now: datetime) -> float:
        """Time left before the next attempt: 2^(n - backoff_start) s after the n-th failure."""
        failures, last = counters.failed_attempts, counters.last_failure_at
        if failures < self.backoff_start or last is None:
            return 0.0
        delay = min(2 ** (failures - self.backoff_start), self.backoff_cap_seconds)
        return max((last + timedelta(seconds=delay) - now).total_seconds(), 0.0)

    def lock_until(self, now: datetime) -> datetime:
        if self.lockout_minutes == 0:
            return UNTIL_UNLOCKED
        return now + timedelta(minutes=self.lockout_minutes)


@dataclass(frozen=True)
class Session:
    """Who is logged in, since when; the GUI and the store's access checks receive this."""

    username: str
    role: str
    display_name: str
    started_at: datetime


@dataclass(frozen=True)
class _Check:
    """A login, or the code-only re-check before signing: what the audit and refusal say."""

    what: str
    refused: str


_LOGIN = _Check("login", "user name, password or code is wrong; check them and try again "
                         "(each code works once: if you have just used it, wait for the next)")
_RECHECK = _Check("one-time code re-check", "the one-time code is wrong or was already used; "
                                            "wait for the next code and try again")


def matching_step(secret: str, code: str, now: datetime, *, after: int) -> int | None:
    """The time step within the drift window whose code is ``code`` and is later than ``after``."""
    code = code.replace(" ", "")
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        return None
    current = totp_step(now)
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if step > after and hmac.compare_digest(totp_code(secret, step), code):
            return step
    return None


def locked_message(until: datetime) -> str:
    if until >= UNTIL_UNLOCKED:
        return ("the account is locked after too many failed attempts; ask the workstation's "
                "administrator to unlock it")
    return (f"the account is locked after too many failed attempts until "
            f"{until:%Y-%m-%d %H:%M} UTC; try again then, or ask the workstation's "
            "administrator to unlock it")


class Authenticator:
    """Checks logins and code re-checks against the directory, under the login policy."""

    def __init__(self, directory: UserDirectory, audit: AuditTrail,
                 policy: LoginPolicy | None = None) -> None:
        self._directory = directory
        self._audit = audit
        self._policy = policy or LoginPolicy()
        self._unknown: dict[str, FailureCounters] = {}

    def login(self, username: str, password: str, code: str, *, now: datetime) -> Session:
        """Password and current one-time code; raises a LoginRefused on any refusal."""
        now = require_aware(now)
        user = self._authenticate(username.strip().lower(), password, code, now, _LOGIN)
        return Session(user.username, user.role, user.display_name, now)

    def verify_code(self, username: str, code: str, now: datetime) -> None:
        """Re-authentication by one-time code alone (before signing): same counters, no replay."""
        self._authenticate(username.strip().lower(), None, code, require_aware(now), _RECHECK)

    def logout(self, session: Session, *, now: datetime) -> None:
        self._audit.record(AuditEvent(
            EventId.USER_AUTHENTICATION, "E", session.username, Outcome.SUCCESS,
            event_type=EventType.LOGOUT, detail="logout",
            recorded_at=require_aware(now).isoformat()))

    # ---- the check --------------------------------------------------------------------

    def _authenticate(self, name: str, password: str | None, code: str, now: datetime,
                      check: _Check) -> User:
        record = self._directory.credentials(name)
        counters = record.counters if record else self._unknown.get(name, FailureCounters())
        if counters.locked_until is not None:
            if now < counters.locked_until:
                self._attempt(name, check, now, Outcome.MINOR_FAILURE, "account locked")
                raise AccountLocked(locked_message(counters.locked_until))
            counters = self._forget_failures(name, record)
        wait = self._policy.wait_seconds(counters, now)
        if wait > 0:
            seconds = math.ceil(wait)
            self._attempt(name, check, now, Outcome.MINOR_FAILURE,
                          f"{seconds} s too early for the back-off")
            raise LoginThrottled(f"too many failed attempts: wait {seconds} s before trying "
                                 "again", wait)
        hashed = record.password if record else _NOBODY
        password_ok = password is None or hashed.matches(password)
        step = (matching_step(record.totp_secret, code, now, after=record.totp_last_step)
                if record else None)
        if record is None or step is None or not password_ok:
            self._fail(name, record, counters, check, now, _reason(record, password_ok, code, now))
        if record.user.disabled:
            self._attempt(name, check, now, Outcome.MINOR_FAILURE, "account disabled")
            raise AccountDisabled("this account is disabled; ask the workstation's "
                                  "administrator")
        if not self._directory.record_success(name, step=step):  # a concurrent login used it
            self._fail(name, record, counters, check, now, _reason(record, True, code, now))
        self._attempt(name, check, now, Outcome.SUCCESS, "accepted")
        return record.user

    def _fail(self, name: str, record: Credentials | None, counters: FailureCounters,
              check: _Check, now: datetime, reason: str) -> NoReturn:
        lock_until = self._policy.lock_until(now)
        if record:
            counters = self._directory.record_failure(
                name, now=now, lock_after=self._policy.max_failures, lock_until=lock_until)
        else:
            failures = counters.failed_attempts + 1
            locked = lock_until if failures >= self._policy.max_failures else None
            counters = FailureCounters(failures, now, locked)
            self._remember_unknown(name, counters)
        self._attempt(name, check, now, Outcome.MINOR_FAILURE, reason)
        if counters.locked_until is None:
            raise LoginRefused(check.refused)
        self._audit.record(AuditEvent(
            EventId.SECURITY_ALERT, "U", _actor(name), Outcome.SERIOUS_FAILURE,
            event_type=EventType.USER_SECURITY_ATTRIBUTES_CHANGED,
            objects=(("user", _actor(name)),), recorded_at=now.isoformat(),
            detail=f"account locked after {counters.failed_attempts} failed attempts in a row "
                   f"({reason})"))
        raise AccountLocked(f"{check.refused}; {locked_message(counters.locked_until)}")

    def _forget_failures(self, name: str, record: Credentials | None) -> FailureCounters:
        """A lock that has run out starts the count afresh."""
        if record:
            self._directory.clear_failures(name)
        else:
            self._unknown.pop(name, None)
        return FailureCounters()

    def _remember_unknown(self, name: str, counters: FailureCounters) -> None:
        self._unknown.pop(name, None)
        self._unknown[name] = counters
        while len(self._unknown) > UNKNOWN_NAMES_KEPT:
            del self._unknown[next(iter(self._unknown))]  # the oldest first

    def _attempt(self, name: str, check: _Check, now: datetime, outcome: Outcome,
                 detail: str) -> None:
        self._audit.record(AuditEvent(
            EventId.USER_AUTHENTICATION, "E", _actor(name), outcome,
            event_type=EventType.LOGIN, detail=f"{check.what}: {detail}",
            recorded_at=now.isoformat()))


def record_idle_lock(audit: AuditTrail, username: str, now: datetime) -> None:
    """The session locked for want of input: the end of active time until the next login
    (issue 7's working hours count from these events; PS3.15 A.5.3.12 Logout)."""
    audit.record(AuditEvent(EventId.USER_AUTHENTICATION, "E", _actor(username),
                            event_type=EventType.LOGOUT, detail="idle lock",
                            recorded_at=require_aware(now).isoformat()))


def _reason(record: Credentials | None, password_ok: bool, code: str, now: datetime) -> str:
    """Why an attempt failed, for IT's audit only (the user is told the generic refusal)."""
    if record is None:
        return "unknown user name"
    if not password_ok:
        return "wrong password"
    if matching_step(record.totp_secret, code, now, after=-1) is not None:
        return "one-time code already used (replay)"
    return "wrong one-time code"


def _actor(name: str) -> str:
    """The typed user name, unless it cannot be one (it may be a mistyped password)."""
    try:
        return validate_username(name)
    except AuthError:
        return "(not a user name)"
