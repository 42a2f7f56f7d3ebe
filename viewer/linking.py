"""Linked scrolling of current and prior by slice location (STANDARDS §3, issue 3).

Same Frame of Reference: the two series share patient coordinates, so the prior slice
nearest the current slice's location is the same anatomy. Different frames of reference
(the usual case for a scan months apart): the reporter first brings both panes to the same
anatomy, and linking keeps the table-position offset between them from then on.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from viewer.geometry import nearest_index


@dataclass(frozen=True)
class SliceLink:
    """Maps a current slice index to the prior slice index at the same anatomy."""

    current_locations: tuple[float | None, ...]
    prior_locations: tuple[float | None, ...]
    offset_mm: float  # prior location − current location for the same anatomy
    same_frame_of_reference: bool

    @classmethod
    def engage(cls, current_locations: Sequence[float | None],
               prior_locations: Sequence[float | None], current_index: int, prior_index: int,
               same_frame_of_reference: bool) -> SliceLink | None:
        """Link as the panes stand now; None when either series has no slice locations."""
        here = current_locations[current_index]
        there = prior_locations[prior_index]
        if here is None or there is None:
            return None
        offset = 0.0 if same_frame_of_reference else there - here
        return cls(tuple(current_locations), tuple(prior_locations), offset,
                   same_frame_of_reference)

    def prior_index(self, current_index: int) -> int | None:
        """The prior slice for ``current_index``; None outside the prior's coverage."""
        here = self.current_locations[current_index]
        if here is None:
            return None
        target = here + self.offset_mm
        index = nearest_index(self.prior_locations, target)
        if index is None:
            return None
        known = [v for v in self.prior_locations if v is not None]
        step = _typical_step(known)
        if not min(known) - step / 2 <= target <= max(known) + step / 2:
            return None
        return index


def _typical_step(locations: Sequence[float]) -> float:
    ordered = sorted(locations)
    steps = sorted(b - a for a, b in itertools.pairwise(ordered) if b > a)
    return steps[len(steps) // 2] if steps else 0.0
