"""The state of one viewport, without Qt (napari keeps its viewer model the same way).

The Qt viewport renders a ViewState and sends intents back (scroll, window, invert);
everything a test needs to check — which slice, which window — lives here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from viewer.pipeline import Window

Listener = Callable[["ViewState"], None]


@dataclass(frozen=True)
class ViewState:
    """Slice, window and inversion of one viewport."""

    count: int
    index: int = 0
    window: Window | None = None  # None: the window stored in the image
    invert: bool = False

    def scrolled(self, steps: int) -> ViewState:
        return self.at(self.index + steps)

    def at(self, index: int) -> ViewState:
        return replace(self, index=min(max(index, 0), max(self.count - 1, 0)))

    def windowed(self, window: Window | None) -> ViewState:
        return replace(self, window=window)

    def toggled_invert(self) -> ViewState:
        return replace(self, invert=not self.invert)


@dataclass
class ViewModel:
    """Holds a ViewState and tells listeners when it changes."""

    state: ViewState
    listeners: list[Listener] = field(default_factory=list)

    def update(self, state: ViewState) -> None:
        if state == self.state:
            return
        self.state = state
        for listener in list(self.listeners):
            listener(state)


def dragged_window(start: Window, dx: float, dy: float, sensitivity: float) -> Window:
    """Right-drag W/L as on every workstation: right widens, up raises the level."""
    width = max(start.width + dx * sensitivity, 1.0)
    center = start.center - dy * sensitivity
    return Window(center, width, start.function, "manual")
