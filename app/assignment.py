"""Which reporter a study belongs to: its called AE title, else the specialty rules of the
profile's policy file, else the default reporter (DESIGN "Access").

``policy.toml`` in the profile maps what a study is (modality, body part, referrer) to a
specialty code, and each specialty code to the reporters who hold it::

    [[assignment.rules]]            # first matching rule wins
    specialty = "NEURO"
    modalities = ["CT", "MR"]       # empty or absent: any
    body_parts = ["HEAD", "BRAIN"]
    referrers = []                  # referring physician names (PN), e.g. "SMITH^JOHN"

    [assignment.specialists]
    NEURO = ["apatel", "bjones"]

When several reporters hold a specialty, studies are shared between them by a hash of
the Study Instance UID: even on average, the same for every instance of a study, and
with no look-up while images arrive.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import ConfigError
from viewer.comparison import normalise_name

POLICY_FILE = "policy.toml"


def _upper(values: Any, where: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{POLICY_FILE}: {where} must be a list of strings")
    return tuple(v.strip().upper() for v in values)


@dataclass(frozen=True)
class SpecialtyRule:
    specialty: str
    modalities: tuple[str, ...] = ()
    body_parts: tuple[str, ...] = ()
    referrers: tuple[str, ...] = ()  # normalised PN

    def matches(self, modality: str, body_part: str, referrer: str) -> bool:
        return ((not self.modalities or modality.upper() in self.modalities)
                and (not self.body_parts or body_part.upper() in self.body_parts)
                and (not self.referrers or normalise_name(referrer) in self.referrers))


@dataclass(frozen=True)
class AssignmentPolicy:
    rules: tuple[SpecialtyRule, ...] = ()
    specialists: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def specialty_for(self, modality: str, body_part: str, referrer: str) -> str | None:
        return next((rule.specialty for rule in self.rules
                     if rule.matches(modality, body_part, referrer)), None)

    def reporter_for(self, study_uid: str, modality: str, body_part: str,
                     referrer: str) -> str | None:
        """A reporter holding the study's specialty; None when no rule or nobody holds it."""
        specialty = self.specialty_for(modality, body_part, referrer)
        holders = self.specialists.get(specialty or "", ())
        if not holders:
            return None
        digest = hashlib.sha256(study_uid.encode("ascii", "replace")).digest()
        return holders[int.from_bytes(digest[:8], "big") % len(holders)]


def _rule(entry: Any, number: int) -> SpecialtyRule:
    where = f"assignment.rules[{number}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("specialty"), str):
        raise ConfigError(f"{POLICY_FILE}: {where} needs a specialty code")
    unknown = set(entry) - {"specialty", "modalities", "body_parts", "referrers"}
    if unknown:
        raise ConfigError(f"{POLICY_FILE}: {where} has unknown key(s) {', '.join(unknown)}")
    return SpecialtyRule(
        entry["specialty"].strip().upper(),
        _upper(entry.get("modalities", []), f"{where}.modalities"),
        _upper(entry.get("body_parts", []), f"{where}.body_parts"),
        tuple(normalise_name(r) for r in _upper(entry.get("referrers", []),
                                                 f"{where}.referrers")))


def load_policy(path: Path) -> AssignmentPolicy:
    """The assignment part of ``policy.toml``; no file means no specialty rules."""
    if not path.exists():
        return AssignmentPolicy()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8")).get("assignment", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{POLICY_FILE} is not valid TOML: {exc}") from exc
    rules = tuple(_rule(entry, n) for n, entry in enumerate(data.get("rules", [])))
    specialists = {code.strip().upper(): tuple(_upper(names, f"specialists.{code}"))
                   for code, names in data.get("specialists", {}).items()}
    lowered = {code: tuple(name.lower() for name in names)
               for code, names in specialists.items()}
    return AssignmentPolicy(rules, lowered)
