"""Window presets a CT reader expects on the number keys (STANDARDS §2, HU centre/width)."""

from __future__ import annotations

from viewer.pipeline import Window

CT_PRESETS: dict[str, Window] = {
    "brain": Window(40, 80, explanation="brain"),
    "subdural": Window(75, 215, explanation="subdural"),
    "stroke": Window(40, 40, explanation="stroke"),
    "bone": Window(400, 1800, explanation="bone"),
    "lung": Window(-600, 1500, explanation="lung"),
    "mediastinum": Window(50, 350, explanation="mediastinum"),
    "abdomen": Window(40, 400, explanation="abdomen"),
    "liver": Window(60, 160, explanation="liver"),
}

# Keys 1–8 in the order above; 9 returns to the window stored in the image.
PRESET_KEYS: dict[int, str] = {number: name for number, name in enumerate(CT_PRESETS, start=1)}
STORED_WINDOW_KEY = 9


def preset(name: str) -> Window:
    """A preset by name; the error lists the ones that exist."""
    try:
        return CT_PRESETS[name.lower()]
    except KeyError:
        raise KeyError(f"no window preset {name!r}; presets: {', '.join(CT_PRESETS)}") from None
