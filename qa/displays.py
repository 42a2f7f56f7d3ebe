"""Display checks that need no meter (STANDARDS §6 "Matrix"): resolution, pixel pitch,
colour depth, refresh rate, OS scaling, and whether the screen changed since the baseline.

Screens are described by plain values (the GUI reads them from QScreen); a value the OS
does not expose is None and its check says "unknown", never "pass".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from qa.policy import QaPolicy


@dataclass(frozen=True)
class ScreenInfo:
    name: str
    width_px: int
    height_px: int
    width_mm: float | None  # physical size, when the OS knows it (EDID)
    height_mm: float | None
    depth_bits: int | None  # per channel
    refresh_hz: float | None
    scaling: float  # device pixel ratio; 1.0 = 100 %
    manufacturer: str = ""
    model: str = ""
    serial: str = ""

    @property
    def megapixels(self) -> float:
        return self.width_px * self.height_px / 1e6

    @property
    def pixel_pitch_mm(self) -> float | None:
        if not self.width_mm or not self.width_px:
            return None
        return self.width_mm / self.width_px

    @property
    def identity(self) -> str:
        return " ".join(filter(None, (self.manufacturer, self.model, self.serial))) or self.name

    def as_record(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class DisplayCheck:
    screen: str
    name: str
    status: str  # "pass" | "fail" | "unknown"
    detail: str


def _check(screen: ScreenInfo, name: str, ok: bool | None, detail: str) -> DisplayCheck:
    status = "unknown" if ok is None else ("pass" if ok else "fail")
    return DisplayCheck(screen.name, name, status, detail)


def check_screen(screen: ScreenInfo, policy: QaPolicy,
                 modalities: tuple[str, ...]) -> list[DisplayCheck]:
    """Every meterless check of one screen against the policy for ``modalities``."""
    need_mp, pitch_limit = policy.megapixels_for(modalities), policy.pitch_for(modalities)
    pitch = screen.pixel_pitch_mm
    return [
        _check(screen, "matrix", screen.megapixels >= need_mp,
               f"{screen.width_px}×{screen.height_px} = {screen.megapixels:.1f} MP "
               f"(needs ≥ {need_mp:g} MP for {'/'.join(modalities) or 'any modality'})"),
        _check(screen, "pixel pitch",
               None if pitch is None else (pitch_limit is None or pitch <= pitch_limit),
               "physical size not reported by the OS" if pitch is None else
               f"{pitch:.3f} mm" + (f" (needs ≤ {pitch_limit} mm)" if pitch_limit else "")),
        _check(screen, "colour depth",
               None if screen.depth_bits is None else screen.depth_bits >= policy.min_bits,
               "not reported" if screen.depth_bits is None else
               f"{screen.depth_bits} bits per channel (needs ≥ {policy.min_bits})"),
        _check(screen, "refresh rate", None if not screen.refresh_hz else screen.refresh_hz >= 50,
               "not reported" if not screen.refresh_hz else f"{screen.refresh_hz:.0f} Hz"),
        _check(screen, "OS scaling", screen.scaling == 1.0,
               f"{screen.scaling * 100:.0f} % (test patterns need 100 % to show 1:1)"),
    ]


def display_changes(current: list[ScreenInfo], baseline: list[ScreenInfo]) -> list[str]:
    """What differs from the baseline screens: added, removed or re-configured."""
    before = {s.identity: s for s in baseline}
    now = {s.identity: s for s in current}
    changes = [f"new display: {name}" for name in now.keys() - before.keys()]
    changes += [f"display removed: {name}" for name in before.keys() - now.keys()]
    for name in now.keys() & before.keys():
        old, new = before[name], now[name]
        if (old.width_px, old.height_px, old.scaling) != (new.width_px, new.height_px,
                                                           new.scaling):
            changes.append(f"{name}: {old.width_px}×{old.height_px}@{old.scaling:g} → "
                           f"{new.width_px}×{new.height_px}@{new.scaling:g}")
    return sorted(changes)
