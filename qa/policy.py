"""Display QA policy: how often, how strict, what a diagnostic screen must offer.

Defaults come from ``resources/display_policy.toml`` (STANDARDS §6); a profile's
``policy.toml`` may override any ``[qa]`` key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULTS_FILE = Path(__file__).resolve().parent.parent / "resources" / "display_policy.toml"


class PolicyError(ValueError):
    """The QA policy file has a value that cannot be used; the message names it."""


@dataclass(frozen=True)
class QaPolicy:
    interval_days: int = 7
    grace_days: int = 1
    allow_override: bool = True
    display_class: str = "primary"
    min_lmax: float = 350.0
    min_bits: int = 8
    max_uniformity_percent: float = 30.0
    modalities: list[str] = field(default_factory=lambda: ["CT", "MR", "CR", "DX"])
    min_megapixels: dict[str, float] = field(default_factory=dict)
    max_pixel_pitch_mm: dict[str, float] = field(default_factory=dict)

    def megapixels_for(self, modalities: tuple[str, ...]) -> float:
        """The strictest matrix any of the modalities needs (0 when none is listed)."""
        return max((self.min_megapixels.get(m.upper(), 0.0) for m in modalities), default=0.0)

    def pitch_for(self, modalities: tuple[str, ...]) -> float | None:
        limits = [self.max_pixel_pitch_mm[m.upper()] for m in modalities
                  if m.upper() in self.max_pixel_pitch_mm]
        return min(limits) if limits else None


def _qa_table(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")).get("qa", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path.name} is not valid TOML: {exc}") from exc


def load_qa_policy(profile_policy: Path | None = None) -> QaPolicy:
    """Defaults overlaid with the profile's ``[qa]`` table; wrong types are named."""
    values = _qa_table(DEFAULTS_FILE)
    if profile_policy is not None and profile_policy.exists():
        values = values | _qa_table(profile_policy)
    known = {f.name: f for f in fields(QaPolicy)}
    unknown = set(values) - set(known)
    if unknown:
        raise PolicyError(f"policy [qa]: unknown key(s) {', '.join(sorted(unknown))}")
    defaults = QaPolicy()
    for name, value in values.items():
        expected = type(getattr(defaults, name))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            values[name] = float(value)
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise PolicyError(f"policy qa.{name} must be {expected.__name__}, not {value!r}")
    if values.get("display_class", "primary") not in ("primary", "secondary"):
        raise PolicyError("policy qa.display_class must be 'primary' or 'secondary'")
    return QaPolicy(**values)
