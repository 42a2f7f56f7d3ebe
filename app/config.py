"""Settings: one TOML file per profile, every key documented next to its default.

``telerad config show`` prints the effective value of each key and where it came from
(the default below or the profile's ``settings.toml``), the way Orthanc documents its
configuration file.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w

from app.errors import ConfigError
from app.object_files import replace_durably

PEER_ROLES = ("sender", "pacs")

# key -> (default, explanation). The single source of defaults and their documentation.
DEFAULTS: dict[str, tuple[Any, str]] = {
    "node.ae_title": ("TELERAD", "AE title of this workstation's DICOM node (PS3.8 §9.3.2)"),
    "node.host": ("127.0.0.1", "address the node listens on; set the trust-facing one explicitly"),
    "node.port": (11112, "TCP port of the node (11112 is the IANA DICOM port without root)"),
    "node.max_pdu_bytes": (
        1048576,
        "largest P-DATA PDU we accept (PS3.8 §9.3.1); peers send at most this much per PDU",
    ),
    "node.maximum_associations": (10, "concurrent associations before new ones are refused"),
    "node.pending_connections": (
        16,
        "connections held before their association request is complete (TLS handshake "
        "included); beyond this the oldest such connection is dropped for the new one",
    ),
    "node.association_request_seconds": (
        10,
        "a connection without a complete A-ASSOCIATE-RQ is closed after this (ARTIM, "
        "PS3.8 §9.1.5); also the TLS handshake's deadline",
    ),
    "node.receive_stall_ms": (
        900,
        "a PDU that stops arriving for this many milliseconds is aborted, and a PDU must "
        "arrive at 32 KiB/s on average after this allowance (slow or stalled senders); "
        "raise it on a lossy link",
    ),
    "node.max_instance_megabytes": (
        2048,
        "largest dataset accepted in one C-STORE; a larger one aborts the association",
    ),
    "node.study_quiet_seconds": (
        120,
        "a study counts as complete after this many seconds without a new instance",
    ),
    "node.tls.enabled": (False, "DICOM TLS (PS3.15 Annex B, BCP 195: TLS 1.2 or newer)"),
    "node.tls.certificate": ("", "PEM certificate of this node"),
    "node.tls.private_key": ("", "PEM private key of this node"),
    "node.tls.ca_certificates": ("", "PEM bundle of CAs whose client certificates are trusted"),
    "security.key_source": (
        "keyring",
        "'keyring' keeps the master key in the OS keyring; 'passphrase' derives it with "
        "Argon2id from TELERAD_PASSPHRASE (or a prompt) for machines without a keyring",
    ),
    "retention.days_after_delivery": (
        30,
        "local copies of a study are crypto-shredded this many days after its report was "
        "delivered to the trust (never before delivery); `telerad retention run` applies it",
    ),
    "viewer.current_side": (
        "left",
        "site policy: the side of the CURRENT study ('left' or 'right'); the prior is always "
        "on the other side and the reporter cannot swap them (right scan, right patient)",
    ),
    "assignment.default_reporter": ("", "reporter given studies no other rule assigns"),
    "assignment.by_called_ae": (
        {},
        "called AE title -> reporter: a study arriving on that AE title is theirs",
    ),
    "auth.max_failures": (
        5,
        "failed logins in a row (wrong password or one-time code) that lock the account; "
        "the lock is audited as a Security Alert (110113)",
    ),
    "auth.lockout_minutes": (
        15,
        "how long a locked account stays locked; 0 keeps it locked until an administrator "
        "runs `telerad users unlock`",
    ),
    "auth.backoff_start": (
        3,
        "after this many failures in a row each further attempt must wait 2^(n - this) "
        "seconds (at most 5 minutes), so guessing is slow long before the lock",
    ),
    "auth.idle_lock_minutes": (
        5,
        "minutes without input after which every window hides patient data until the "
        "reporter re-authenticates (the node keeps receiving)",
    ),
    "profile.demo": (
        False,
        "a throw-away demo profile: only then may `telerad users code` print a user's "
        "current one-time code; never set it on a profile that holds real patients",
    ),
    "audit.syslog.host": (
        "",
        "the trust's syslog collector for the audit feed (PS3.15 A.5 XML in RFC 5424 over "
        "TLS, RFC 5425); empty = no feed. Events queue until it takes them "
        "(`telerad audit forward`)",
    ),
    "audit.syslog.port": (6514, "TCP port of the collector (6514: syslog over TLS, RFC 5425)"),
    "audit.syslog.ca_certificates": (
        "",
        "PEM bundle of the CAs that sign the collector's certificate; empty = the operating "
        "system's trusted CAs. The certificate must also name the host (RFC 5425 §5.2)",
    ),
    "audit.syslog.client_certificate": (
        "",
        "PEM certificate this workstation shows when the collector asks for one; empty = none",
    ),
    "audit.syslog.client_key": (
        "",
        "PEM private key of the client certificate; empty = it is in the certificate file",
    ),
    "audit.source_id": (
        "",
        "AuditSourceID of the audit messages (PS3.15 A.5.1); empty = node.ae_title@host name",
    ),
    "reporting.organisation": (
        "Teleradiology reporting service",
        "Verifying Organization of our SR reports (PS3.3 C.17.2) and the sending facility "
        "named to the trust",
    ),
    "reporting.sending_facility": ("TELERAD", "MSH-4 sending facility of our HL7 messages"),
    "ris.host": ("", "the trust's RIS taking HL7 ORU^R01 over MLLP; empty = no RIS"),
    "ris.port": (2575, "TCP port of the RIS MLLP listener"),
    "ris.receiving_application": ("RIS", "MSH-5 receiving application, as the RIS expects"),
    "ris.receiving_facility": ("", "MSH-6 receiving facility, e.g. the trust's code"),
    "ris.ack_timeout_seconds": (
        10,
        "seconds to wait for the RIS's ACK; no answer counts as a failure to retry (same "
        "MSH-10)",
    ),
    "ris.tls.enabled": (False, "MLLP over TLS 1.2 or newer to the RIS"),
    "ris.tls.ca_certificates": (
        "", "PEM bundle of the CAs that sign the RIS certificate; empty = the system's CAs"),
    "ris.tls.client_certificate": (
        "", "PEM certificate (with its key, or see ris.tls.client_key) shown to the RIS"),
    "ris.tls.client_key": ("", "PEM private key of the client certificate"),
    "pacs.store_timeout_seconds": (
        30, "seconds a C-STORE of one report to the PACS may take before it is retried"),
    "outbox.retry_first_seconds": (
        10, "first wait before a failed delivery is tried again; doubles each time"),
    "outbox.retry_max_seconds": (600, "longest wait between delivery attempts"),
    "audit.enterprise_site": (
        "",
        "AuditEnterpriseSiteID of the audit messages, e.g. the trust's organisation code",
    ),
    "oversight.max_hours_per_day": (
        10,
        "active hours (login to logout or idle lock) in one UTC day above which `telerad kpi` "
        "lists a gentle warning; it never blocks a clinical action (STANDARDS §5)",
    ),
    "oversight.max_hours_per_week": (
        48,
        "active hours in one ISO week (Monday to Sunday, UTC) above which a warning is "
        "listed; never blocks",
    ),
    "oversight.max_minutes_without_break": (
        120,
        "minutes of active work without a break (signed out or locked for 5 minutes or "
        "more) above which a warning suggests a break; never blocks",
    ),
}


@dataclass(frozen=True)
class Peer:
    """A DICOM peer allowed to associate with us; a ``pacs`` peer also receives our SRs."""

    ae_title: str
    host: str = ""
    port: int = 0
    role: str = "sender"

    def __post_init__(self) -> None:
        validate_ae_title(self.ae_title)
        if self.role not in PEER_ROLES:
            roles = ", ".join(PEER_ROLES)
            raise ConfigError(f"peer role must be one of {roles}, not {self.role!r}")
        if self.role == "pacs" and not (self.host and self.port):
            raise ConfigError(f"PACS peer {self.ae_title} needs --host and --port")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"peer port {self.port} is not a TCP port")


def validate_ae_title(title: str) -> str:
    """AE titles are 1–16 characters of the default repertoire, no backslash (PS3.5 §6.2 AE)."""
    if not title.strip() or len(title) > 16 or "\\" in title:
        raise ConfigError(f"AE title {title!r} must be 1 to 16 characters without a backslash")
    if not all(32 <= ord(ch) < 127 for ch in title):
        raise ConfigError(f"AE title {title!r} may hold printable ASCII only")
    return title.strip()


_RANGES: dict[str, tuple[int, int]] = {
    "node.port": (1, 65535),
    "node.max_pdu_bytes": (4096, 16 * 1024 * 1024),  # never unlimited (STANDARDS §1)
    "node.maximum_associations": (1, 1000),
    "node.pending_connections": (1, 1000),
    "node.association_request_seconds": (1, 300),
    "node.receive_stall_ms": (100, 300_000),
    "node.max_instance_megabytes": (1, 64 * 1024),
    "node.study_quiet_seconds": (0, 7 * 24 * 3600),
    "retention.days_after_delivery": (0, 3650),
    "auth.max_failures": (1, 100),
    "auth.lockout_minutes": (0, 7 * 24 * 60),
    "auth.backoff_start": (1, 100),
    "auth.idle_lock_minutes": (1, 24 * 60),
    "audit.syslog.port": (1, 65535),
    "ris.port": (1, 65535),
    "ris.ack_timeout_seconds": (1, 600),
    "pacs.store_timeout_seconds": (1, 3600),
    "outbox.retry_first_seconds": (1, 3600),
    "outbox.retry_max_seconds": (1, 24 * 3600),
    "oversight.max_hours_per_day": (1, 24),
    "oversight.max_hours_per_week": (1, 7 * 24),
    "oversight.max_minutes_without_break": (10, 24 * 60),
}


def validate_setting(key: str, value: Any) -> Any:
    """Type and range of one setting; raises ConfigError naming the key."""
    if key not in DEFAULTS:
        raise ConfigError(f"unknown setting {key!r}; see `telerad config show`")
    expected = type(DEFAULTS[key][0])
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{key} must be {expected.__name__}, not {value!r}")
    if key in _RANGES and not _RANGES[key][0] <= value <= _RANGES[key][1]:
        low, high = _RANGES[key]
        raise ConfigError(f"{key} must be between {low} and {high}, not {value}")
    if key == "viewer.current_side" and value not in ("left", "right"):
        raise ConfigError(f"{key} must be 'left' or 'right', not {value!r}")
    if key == "node.ae_title":
        validate_ae_title(value)
    if key == "assignment.by_called_ae":
        for title, reporter in value.items():
            validate_ae_title(title)
            if not isinstance(reporter, str):
                raise ConfigError(f"{key}.{title} must name a reporter")
    return value


@dataclass(frozen=True)
class Settings:
    """Effective settings: defaults overlaid with the profile's file."""

    values: dict[str, Any]
    peers: tuple[Peer, ...] = field(default_factory=tuple)
    from_file: frozenset[str] = frozenset()

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def with_value(self, key: str, value: Any) -> Settings:
        validate_setting(key, value)
        return replace(self, values={**self.values, key: value}, from_file=self.from_file | {key})

    def with_peers(self, peers: tuple[Peer, ...]) -> Settings:
        return replace(self, peers=peers)

    def peer(self, ae_title: str) -> Peer | None:
        return next((p for p in self.peers if p.ae_title == ae_title.strip()), None)

    def describe(self) -> list[tuple[str, Any, str, str]]:
        """(key, value, source, explanation) for ``telerad config show``."""
        return [
            (key, self.values[key], "settings.toml" if key in self.from_file else "default", doc)
            for key, (_, doc) in DEFAULTS.items()
        ]


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and dotted not in DEFAULTS:
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, leaf = dotted.split(".")
        table = nested
        for part in parents:
            table = table.setdefault(part, {})
        table[leaf] = value
    return nested


def load_settings(path: Path) -> Settings:
    """Read ``settings.toml``; a missing file means all defaults."""
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path.name} is not valid TOML: {exc}") from exc
    peers_raw = raw.pop("peers", [])
    flat = _flatten(raw)
    unknown = sorted(set(flat) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"{path.name}: unknown setting(s) {', '.join(unknown)}")
    values = {key: flat.get(key, default) for key, (default, _) in DEFAULTS.items()}
    for key in flat:
        try:
            validate_setting(key, values[key])
        except ConfigError as exc:
            raise ConfigError(f"{path.name}: {exc}") from exc
    try:
        peers = tuple(Peer(**entry) for entry in peers_raw)
    except TypeError as exc:
        raise ConfigError(f"{path.name}: a [[peers]] entry has an unknown key ({exc})") from exc
    return Settings(values=values, peers=peers, from_file=frozenset(flat))


def save_settings(settings: Settings, path: Path) -> None:
    """Write only the keys that differ from defaults or were set, plus the peers."""
    document = _nest({key: settings.values[key] for key in sorted(settings.from_file)})
    if settings.peers:
        document["peers"] = [
            {k: v for k, v in asdict(peer).items() if v not in ("", 0)} for peer in settings.peers
        ]
    replace_durably(path, tomli_w.dumps(document).encode("utf-8"))
