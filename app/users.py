"""Local accounts of the workstation: who may log in, in which role, with which secrets.

Accounts live in the profile database (DESIGN rule 3). A password is kept only as its
Argon2id hash (RFC 9106) with its salt and cost; the TOTP secret (RFC 6238) is shown once,
as an otpauth URI and QR code, when the account is enrolled or its code is reset. Every
change an administrator makes is audited as a Security Alert, User Security Attributes
Changed (PS3.15 A.5.3.11).
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp

from app.audit import AuditEvent, AuditTrail, EventId, EventType
from app.crypto import RFC9106_SECOND, Argon2Parameters, derive_password_key
from app.database import Database
from app.errors import AuthError, UnknownUser, WeakPassword

ROLES = ("reporter", "it-auditor", "admin")
MIN_PASSWORD_LENGTH = 12  # NCSC password guidance: length over complexity
MAX_PASSWORD_LENGTH = 1024
TOTP_ISSUER = "telerad"
TOTP_STEP_SECONDS = 30  # RFC 6238 §5.2 recommended time step
SALT_BYTES = 16
# A lock with no end: only an administrator's `telerad users unlock` lifts it.
UNTIL_UNLOCKED = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)

_USERNAME = re.compile(r"[a-z0-9._-]{2,32}")
_GMC_NUMBER = re.compile(r"\d{7}")
_COLUMNS = "username, display_name, role, gmc_number, disabled, locked_until, created_at"


@dataclass(frozen=True)
class User:
    """An account as the rest of the workstation sees it: no secrets."""

    username: str
    display_name: str
    role: str
    gmc_number: str
    disabled: bool
    locked_until: datetime | None
    created_at: datetime

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


@dataclass(frozen=True)
class PasswordHash:
    """Argon2id hash of a password with the salt and cost it was made with."""

    salt: bytes
    parameters: Argon2Parameters
    digest: bytes

    @classmethod
    def of(cls, password: str, parameters: Argon2Parameters = RFC9106_SECOND) -> PasswordHash:
        salt = secrets.token_bytes(SALT_BYTES)
        return cls(salt, parameters, derive_password_key(password, salt, parameters))

    def matches(self, password: str) -> bool:
        """Constant-time comparison, so the time taken says nothing about the stored hash."""
        candidate = derive_password_key(password, self.salt, self.parameters)
        return hmac.compare_digest(candidate, self.digest)


@dataclass(frozen=True)
class FailureCounters:
    """Failed attempts in a row and the lock they led to (what the back-off is computed on)."""

    failed_attempts: int = 0
    last_failure_at: datetime | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Credentials:
    """What a login checks; only app.auth reads this."""

    user: User
    password: PasswordHash
    totp_secret: str
    totp_last_step: int
    counters: FailureCounters


def validate_username(username: str) -> str:
    if not _USERNAME.fullmatch(username):
        raise AuthError(
            f"user name {username!r} must be 2 to 32 characters of lowercase letters, digits, "
            "'.', '_' or '-' (for example apatel or a.patel)"
        )
    return username


def check_password(password: str, username: str) -> None:
    """Length over complexity (NCSC password guidance); the user name is never inside it."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(
            f"the password has {len(password)} characters: use at least {MIN_PASSWORD_LENGTH} "
            "(three or four unrelated words make one that is long and easy to remember)"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"the password is longer than {MAX_PASSWORD_LENGTH} characters")
    if username.lower() in password.lower():
        raise WeakPassword(f"the password must not contain the user name {username!r}")
    if len(set(password)) < 4:
        raise WeakPassword("the password repeats too few characters: use unrelated words")


def totp_step(now: datetime) -> int:
    """RFC 6238 §4.2 time step T of ``now`` (an aware datetime)."""
    return int(now.timestamp()) // TOTP_STEP_SECONDS


def totp_code(secret: str, step: int) -> str:
    """The six-digit code of ``secret`` for time step ``step`` (RFC 6238 over RFC 4226)."""
    return pyotp.TOTP(secret, interval=TOTP_STEP_SECONDS).generate_otp(step)


def otpauth_uri(username: str, secret: str) -> str:
    """What an authenticator app scans: issuer telerad, account = user name."""
    return pyotp.TOTP(secret, interval=TOTP_STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=TOTP_ISSUER
    )


def require_aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("times must be timezone-aware (UTC)")
    return now.astimezone(UTC)


def _stamp(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds") if moment else ""


def _moment(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class UserDirectory:
    """The profile's accounts: enrol, disable, unlock, reset the code, list."""

    def __init__(self, database: Database, audit: AuditTrail, *,
                 operator: str = "administrator") -> None:
        self._database = database
        self._audit = audit
        self._operator = operator  # who runs the administrative commands, for the audit

    # ---- administration ---------------------------------------------------------------

    def add_user(self, username: str, display_name: str, role: str, password: str,
                 gmc_number: str = "", *, now: datetime | None = None) -> tuple[User, str]:
        """Enrol an account; returns it and the otpauth URI its authenticator app scans."""
        validate_username(username)
        display_name = _validate_display_name(display_name)
        _validate_role(role, gmc_number)
        check_password(password, username)
        if self._row(username):
            raise AuthError(f"user {username!r} already exists; choose another user name")
        created = require_aware(now or datetime.now(UTC))
        secret = pyotp.random_base32()  # 160 bits, RFC 4226 §4 R6
        hashed = PasswordHash.of(password)
        with self._database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO users (username, display_name, role, gmc_number, password_salt, "
                "password_parameters, password_hash, totp_secret, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (username, display_name, role, gmc_number, hashed.salt,
                 hashed.parameters.encode(), hashed.digest, secret, _stamp(created)),
            )
        self._record_change(username, "C", f"account {username} added as {role}", created)
        return self.get(username), otpauth_uri(username, secret)

    def disable(self, username: str, *, now: datetime | None = None) -> User:
        """The account can no longer log in; its audit history stays."""
        self._update(username, "disabled = 1", (), f"account {username} disabled", now)
        return self.get(username)

    def unlock(self, username: str, *, now: datetime | None = None) -> User:
        """Lift a lockout and forget the failed attempts."""
        self._update(username, "failed_attempts = 0, last_failure_at = '', locked_until = ''",
                     (), f"account {username} unlocked", now)
        return self.get(username)

    def reset_totp(self, username: str, *, now: datetime | None = None) -> str:
        """A new TOTP secret (lost phone); the old codes stop working at once."""
        secret = pyotp.random_base32()
        self._update(username, "totp_secret = ?, totp_last_step = 0", (secret,),
                     f"one-time code of {username} reset", now)
        return otpauth_uri(username, secret)

    def current_code(self, username: str, *, now: datetime) -> str:
        """The code an authenticator app would show now. Callers allow it on demo profiles only."""
        now = require_aware(now)
        credentials = self.credentials(username)
        if credentials is None:
            raise UnknownUser(_unknown(username))
        self._audit.record(AuditEvent(
            EventId.SECURITY_ALERT, "R", self._operator,
            event_type=EventType.USE_OF_RESTRICTED_FUNCTION, objects=(("user", username),),
            detail=f"current one-time code of {username} shown (demo profile)",
            recorded_at=now.isoformat()))
        return totp_code(credentials.totp_secret, totp_step(now))

    # ---- reading ----------------------------------------------------------------------

    def get(self, username: str) -> User:
        row = self._row(username)
        if row is None:
            raise UnknownUser(_unknown(username))
        return _user(row)

    def list_users(self) -> list[User]:
        return [_user(row) for row in
                self._database.query(f"SELECT {_COLUMNS} FROM users ORDER BY username")]

    # ---- what app.auth needs ----------------------------------------------------------

    def credentials(self, username: str) -> Credentials | None:
        rows = self._database.query("SELECT * FROM users WHERE username = ?", (username,))
        if not rows:
            return None
        row = rows[0]
        return Credentials(
            user=_user(row),
            password=PasswordHash(bytes(row["password_salt"]),
                                  Argon2Parameters.decode(row["password_parameters"]),
                                  bytes(row["password_hash"])),
            totp_secret=row["totp_secret"],
            totp_last_step=row["totp_last_step"],
            counters=FailureCounters(row["failed_attempts"], _moment(row["last_failure_at"]),
                                     _moment(row["locked_until"])),
        )

    def record_failure(self, username: str, *, now: datetime, lock_after: int,
                       lock_until: datetime) -> FailureCounters:
        """Count one failed attempt; the ``lock_after``-th in a row locks the account."""
        with self._database.transaction() as cursor:
            cursor.execute("UPDATE users SET failed_attempts = failed_attempts + 1, "
                           "last_failure_at = ? WHERE username = ?", (_stamp(now), username))
            (failures,) = cursor.execute("SELECT failed_attempts FROM users WHERE username = ?",
                                         (username,)).fetchone()
            locked = lock_until if failures >= lock_after else None
            if locked:
                cursor.execute("UPDATE users SET locked_until = ? WHERE username = ?",
                               (_stamp(locked), username))
        return FailureCounters(failures, now, locked)

    def clear_failures(self, username: str) -> None:
        """Forget failed attempts once a lock has run out."""
        with self._database.transaction() as cursor:
            cursor.execute("UPDATE users SET failed_attempts = 0, last_failure_at = '', "
                           "locked_until = '' WHERE username = ?", (username,))

    def record_success(self, username: str, *, step: int) -> bool:
        """Consume time step ``step``; False if it (or a later one) was used meanwhile."""
        with self._database.transaction() as cursor:
            cursor.execute(
                "UPDATE users SET totp_last_step = ?, failed_attempts = 0, last_failure_at = '', "
                "locked_until = '' WHERE username = ? AND totp_last_step < ?",
                (step, username, step),
            )
            return cursor.rowcount == 1

    # ---- internals --------------------------------------------------------------------

    def _row(self, username: str) -> dict[str, object] | None:
        rows = self._database.query(f"SELECT {_COLUMNS} FROM users WHERE username = ?",
                                    (username,))
        return rows[0] if rows else None

    def _update(self, username: str, assignments: str, parameters: tuple[object, ...],
                detail: str, now: datetime | None) -> None:
        with self._database.transaction() as cursor:
            cursor.execute(f"UPDATE users SET {assignments} WHERE username = ?",
                           (*parameters, username))
            if cursor.rowcount != 1:
                raise UnknownUser(_unknown(username))
        self._record_change(username, "U", detail, require_aware(now or datetime.now(UTC)))

    def _record_change(self, username: str, action: str, detail: str, now: datetime) -> None:
        self._audit.record(AuditEvent(
            EventId.SECURITY_ALERT, action, self._operator,
            event_type=EventType.USER_SECURITY_ATTRIBUTES_CHANGED,
            objects=(("user", username),), detail=detail, recorded_at=now.isoformat()))


def _user(row: dict[str, object]) -> User:
    return User(
        username=str(row["username"]), display_name=str(row["display_name"]),
        role=str(row["role"]), gmc_number=str(row["gmc_number"]),
        disabled=bool(row["disabled"]), locked_until=_moment(str(row["locked_until"])),
        created_at=datetime.fromisoformat(str(row["created_at"])),
    )


def _unknown(username: str) -> str:
    return f"no user {username!r} on this workstation; see `telerad users list`"


def _validate_display_name(display_name: str) -> str:
    display_name = display_name.strip()
    if not display_name or len(display_name) > 64 or not display_name.isprintable():
        raise AuthError("the display name must be 1 to 64 printable characters, e.g. 'Dr A Patel'")
    return display_name


def _validate_role(role: str, gmc_number: str) -> None:
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if gmc_number and not _GMC_NUMBER.fullmatch(gmc_number):
        raise AuthError(f"GMC number {gmc_number!r} must be exactly 7 digits")
    if gmc_number and role != "reporter":
        raise AuthError(f"only reporters sign reports: leave the GMC number out for {role}")
