"""A meter session: show each TG18 pattern at 1:1, the reporter types what the meter reads.

The 18 TG18-LN levels (for the GSDF conformance), ambient with the screen showing black
(TG18 §4.3: ambient is measured, not assumed), and the five TG18-UN80 points for
uniformity. The result is what qa.luminance evaluates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qa.patterns import LN_LEVELS, Pattern, tg18_ln, uniform

UNIFORMITY_KIND = "point-5"


@dataclass(frozen=True)
class MeterStep:
    kind: str  # "level", "ambient" or "uniformity"
    pattern: Pattern
    prompt: str
    ddl: int | None = None


def meter_steps(size: tuple[int, int]) -> list[MeterStep]:
    """18 levels, then ambient, then the uniformity points, in measuring order."""
    steps = [MeterStep("level", tg18_ln(i, size),
                       f"Hold the meter on the centre square (grey level {ddl}) and type the "
                       "reading in cd/m²", ddl)
             for i, ddl in enumerate(LN_LEVELS, start=1)]
    steps.append(MeterStep("ambient", tg18_ln(1, size),
                           "Ambient: point the meter at the black screen from the reading "
                           "position, room lights as when reporting; type the reading"))
    field80 = uniform("UN80", size)
    points = [t for t in field80.targets if t.kind == UNIFORMITY_KIND] or list(
        field80.targets[:5])
    steps += [MeterStep("uniformity", field80,
                        f"Uniformity point {n} of {len(points)}: hold the meter on the box at "
                        f"x {int(p.centre[0])}, y {int(p.centre[1])} and type the reading")
              for n, p in enumerate(points, start=1)]
    return steps


@dataclass
class MeterSession:
    steps: list[MeterStep]
    values: list[float] = field(default_factory=list)

    @property
    def current(self) -> MeterStep | None:
        return self.steps[len(self.values)] if len(self.values) < len(self.steps) else None

    def enter(self, text: str) -> None:
        """One reading, as typed; a value that is not a positive number is refused."""
        try:
            value = float(text.replace(",", ".").strip())
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a number of cd/m²") from exc
        if not 0 <= value < 10_000:
            raise ValueError(f"{value} cd/m² is not a plausible reading")
        self.values.append(value)

    def _of(self, kind: str) -> list[float]:
        return [v for s, v in zip(self.steps, self.values, strict=False) if s.kind == kind]

    @property
    def levels(self) -> tuple[tuple[int, ...], tuple[float, ...]]:
        pairs = [(s.ddl, v) for s, v in zip(self.steps, self.values, strict=False)
                 if s.kind == "level"]
        return tuple(d for d, _ in pairs if d is not None), tuple(v for _, v in pairs)

    @property
    def ambient(self) -> float:
        found = self._of("ambient")
        return found[0] if found else 0.0

    @property
    def uniformity(self) -> list[float]:
        return self._of("uniformity")
