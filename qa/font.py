"""A 5×7 bitmap font for burning labels and TG18-QC letters into test patterns.

Built in so that a pattern is self-describing in a screenshot without any font
file or GUI toolkit; glyphs are the classic 5×7 dot-matrix shapes.
"""

from typing import Final

import numpy as np

GLYPH_WIDTH: Final = 5
GLYPH_HEIGHT: Final = 7
ADVANCE: Final = GLYPH_WIDTH + 1  # one blank column between characters
LABEL_MARGIN: Final = 4  # px from the image corner to the label box
LABEL_PAD: Final = 2  # px of backing grey around the text, per unit of scale

# Each glyph: seven rows of five cells, "#" = ink, "." = blank, rows separated by "/".
_GLYPHS: Final[dict[str, str]] = {
    "A": ".###./#...#/#...#/#####/#...#/#...#/#...#",
    "B": "####./#...#/#...#/####./#...#/#...#/####.",
    "C": ".###./#...#/#..../#..../#..../#...#/.###.",
    "D": "####./#...#/#...#/#...#/#...#/#...#/####.",
    "E": "#####/#..../#..../####./#..../#..../#####",
    "F": "#####/#..../#..../####./#..../#..../#....",
    "G": ".###./#...#/#..../#.###/#...#/#...#/.####",
    "H": "#...#/#...#/#...#/#####/#...#/#...#/#...#",
    "I": ".###./..#../..#../..#../..#../..#../.###.",
    "J": "..###/...#./...#./...#./...#./#..#./.##..",
    "K": "#...#/#..#./#.#../##.../#.#../#..#./#...#",
    "L": "#..../#..../#..../#..../#..../#..../#####",
    "M": "#...#/##.##/#.#.#/#.#.#/#...#/#...#/#...#",
    "N": "#...#/#...#/##..#/#.#.#/#..##/#...#/#...#",
    "O": ".###./#...#/#...#/#...#/#...#/#...#/.###.",
    "P": "####./#...#/#...#/####./#..../#..../#....",
    "Q": ".###./#...#/#...#/#...#/#.#.#/#..#./.##.#",
    "R": "####./#...#/#...#/####./#.#../#..#./#...#",
    "S": ".####/#..../#..../.###./....#/....#/####.",
    "T": "#####/..#../..#../..#../..#../..#../..#..",
    "U": "#...#/#...#/#...#/#...#/#...#/#...#/.###.",
    "V": "#...#/#...#/#...#/#...#/#...#/.#.#./..#..",
    "W": "#...#/#...#/#...#/#.#.#/#.#.#/#.#.#/.#.#.",
    "X": "#...#/#...#/.#.#./..#../.#.#./#...#/#...#",
    "Y": "#...#/#...#/.#.#./..#../..#../..#../..#..",
    "Z": "#####/....#/...#./..#../.#.../#..../#####",
    "0": ".###./#...#/#..##/#.#.#/##..#/#...#/.###.",
    "1": "..#../.##../..#../..#../..#../..#../.###.",
    "2": ".###./#...#/....#/...#./..#../.#.../#####",
    "3": "#####/...#./..#../...#./....#/#...#/.###.",
    "4": "...#./..##./.#.#./#..#./#####/...#./...#.",
    "5": "#####/#..../####./....#/....#/#...#/.###.",
    "6": "..##./.#.../#..../####./#...#/#...#/.###.",
    "7": "#####/....#/...#./..#../.#.../.#.../.#...",
    "8": ".###./#...#/#...#/.###./#...#/#...#/.###.",
    "9": ".###./#...#/#...#/.####/....#/...#./.##..",
    " ": "...../...../...../...../...../...../.....",
    "-": "...../...../...../#####/...../...../.....",
    "(": "...#./..#../.#.../.#.../.#.../..#../...#.",
    ")": ".#.../..#../...#./...#./...#./..#../.#...",
    ",": "...../...../...../...../.##../..#../.#...",
    ".": "...../...../...../...../...../.##../.##..",
    ":": "...../.##../.##../...../.##../.##../.....",
    "%": "##.../##..#/...#./..#../.#.../#..##/...##",
    "/": "...../....#/...#./..#../.#.../#..../.....",
    "+": "...../..#../..#../#####/..#../..#../.....",
    "=": "...../...../#####/...../#####/...../.....",
    "#": ".#.#./.#.#./#####/.#.#./#####/.#.#./.#.#.",
    "?": ".###./#...#/....#/...#./..#../...../..#..",
}

# Typographic characters a label may carry, drawn with their nearest glyph.
_SUBSTITUTES: Final = {"—": "-", "–": "-", "×": "X", "±": "+"}


def _parse(rows: str) -> np.ndarray:
    return np.array([[cell == "#" for cell in row] for row in rows.split("/")], dtype=bool)


_BITMAPS: Final[dict[str, np.ndarray]] = {char: _parse(rows) for char, rows in _GLYPHS.items()}


def glyph(char: str) -> np.ndarray:
    """The 7×5 boolean ink mask of `char`: lower case drawn as upper case, unknown as "?"."""
    char = _SUBSTITUTES.get(char, char).upper()
    return _BITMAPS.get(char, _BITMAPS["?"])


def text_width(text: str, scale: int = 1) -> int:
    """Width in pixels of `text` rendered at `scale` (no trailing blank column)."""
    return max(len(text) * ADVANCE - 1, 0) * scale


def render(text: str, scale: int = 1, max_width: int | None = None) -> np.ndarray:
    """Boolean ink mask of `text`, each font cell drawn as a `scale`×`scale` block.

    Characters that would not fit in `max_width` pixels are left off, so a label
    never runs off a small screen.
    """
    if scale < 1:
        raise ValueError(f"Font scale must be at least 1, got {scale}")
    if max_width is not None:
        fitting = (max_width // scale + 1) // ADVANCE
        text = text[: max(fitting, 0)]
    mask = np.zeros((GLYPH_HEIGHT, max(len(text) * ADVANCE - 1, 0)), dtype=bool)
    for i, char in enumerate(text):
        mask[:, i * ADVANCE : i * ADVANCE + GLYPH_WIDTH] = glyph(char)
    return np.kron(mask, np.ones((scale, scale), dtype=bool))


def stamp(pixels: np.ndarray, text: str, x: int, y: int, scale: int, level: int) -> None:
    """Write `text` into `pixels` with its top-left corner at (x, y), ink at grey `level`."""
    mask = render(text, scale)
    pixels[y : y + mask.shape[0], x : x + mask.shape[1]][mask] = level


def burn_label(pixels: np.ndarray, text: str, backing: int) -> tuple[int, int, int, int, int]:
    """Burn `text` into the top-left corner of `pixels`; return the box (x, y, w, h) and ink GL.

    The box is filled with `backing` and the text drawn 128 GL away from it: easy
    to read, with less glare than white text beside a dark test field. Glyphs grow
    by one pixel per 1024 px of the shorter side.
    """
    height, width = pixels.shape
    scale = max(1, min(width, height) // 1024)
    pad = LABEL_PAD * scale
    mask = render(text, scale, max_width=width - 2 * (LABEL_MARGIN + pad))
    ink = backing + 128 if backing < 128 else backing - 128
    x = y = LABEL_MARGIN
    w, h = mask.shape[1] + 2 * pad, mask.shape[0] + 2 * pad
    pixels[y : y + h, x : x + w] = backing
    pixels[y + pad : y + h - pad, x + pad : x + w - pad][mask] = ink
    return x, y, w, h, ink
