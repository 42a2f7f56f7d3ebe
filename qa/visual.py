"""The visual part of display QA: the reporter must find randomly placed targets.

A rubber stamp is not a test: each round shows a pattern at 1:1 and asks the reporter to
click where a low-contrast target is; a miss (or "cannot see it") fails the round, and
the visual test passes only when every round is found (pacsDisplay ambtest; TG270-sQC
±5 GL targets, whose places change every time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qa.patterns import Pattern, Target, ambient_target, hit, tg270_sqc

CLICK_TOLERANCE_PX = 6
OUTLINE_GL = 255
SQC_DARK_LEVELS = (15, 30, 45, 60)
SQC_BRIGHT_LEVELS = (195, 210, 225, 240)


@dataclass(frozen=True)
class VisualRound:
    pattern: Pattern
    pixels: np.ndarray  # what is shown (the pattern, maybe with a square outlined)
    accepted: tuple[Target, ...]  # a click on any of these finds the target
    prompt: str

    def judge(self, x: float, y: float) -> bool:
        return any(hit(t, x, y, CLICK_TOLERANCE_PX) for t in self.accepted)


@dataclass
class VisualTest:
    rounds: list[VisualRound]
    answers: list[tuple[float, float] | None] = field(default_factory=list)

    @property
    def current(self) -> VisualRound | None:
        return self.rounds[len(self.answers)] if len(self.answers) < len(self.rounds) else None

    def answer(self, click: tuple[float, float] | None) -> bool:
        """Record a click (None: the reporter cannot see the target); True if found."""
        round_ = self.current
        assert round_ is not None, "every round is answered"
        self.answers.append(click)
        return click is not None and round_.judge(*click)

    def result(self) -> dict[str, object]:
        found = [a is not None and r.judge(*a) for r, a in zip(self.rounds, self.answers,
                                                                   strict=False)]
        missed = [r.prompt for r, ok in zip(self.rounds, found, strict=False) if not ok]
        done = len(self.answers) == len(self.rounds)
        return {"passed": done and all(found), "rounds": len(self.rounds),
                "found": sum(found), "detail": "all targets found" if done and all(found)
                else f"missed: {'; '.join(missed) or 'test not finished'}"}


def _sqc_round(size: tuple[int, int], rng: np.random.Generator,
               levels: tuple[int, ...]) -> VisualRound:
    pattern = tg270_sqc(size, rng)
    level = int(rng.choice(levels))
    square = next(t for t in pattern.targets if t.kind == "square" and t.level == level)
    inside = tuple(t for t in pattern.targets if t.kind.startswith("bars")
                   and square.x <= t.x < square.x + square.width
                   and square.y <= t.y < square.y + square.height)
    pixels = pattern.pixels.copy()
    x0, y0, x1, y1 = square.x - 2, square.y - 2, square.x + square.width + 1, \
        square.y + square.height + 1
    pixels[y0, x0:x1 + 1] = pixels[y1, x0:x1 + 1] = OUTLINE_GL
    pixels[y0:y1 + 1, x0] = pixels[y0:y1 + 1, x1] = OUTLINE_GL
    return VisualRound(pattern, pixels, inside,
                       f"click a faint striped target inside the outlined square (grey {level})")


def visual_rounds(size: tuple[int, int], rng: np.random.Generator) -> list[VisualRound]:
    """Ambient test on black, then a dark and a bright sQC square: three rounds."""
    ambient = ambient_target(size, rng, background=0)
    return [
        VisualRound(ambient, ambient.pixels, ambient.targets,
                    "click the faint striped square on the black screen"),
        _sqc_round(size, rng, SQC_DARK_LEVELS),
        _sqc_round(size, rng, SQC_BRIGHT_LEVELS),
    ]
