"""Display QA test patterns generated exactly with numpy (AAPM TG18 2005, AAPM TG270 2019).

Pixels are 8-bit grey levels (GL 0..255, uint8) to be shown at 1:1, with no
zoom, window/level or interpolation (TG18, 2005: a pattern fills the display
pixel for pixel). `to_bit_depth` widens any pattern for a 10-bit screen.
Sizes are (width, height); arrays are indexed [y, x]; every box is
half-open, [x, x + width) × [y, y + height), origin at the top-left pixel.
Each pattern carries its label burned into the top-left corner (`label_box`)
so that a screenshot says it is synthetic and how it must be shown.
"""

import math
from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from qa import font

Size = tuple[int, int]

GL_MAX: Final = 255
DEFAULT_SIZE: Final[Size] = (1024, 1024)
LN_LEVELS: Final = tuple(range(0, 256, 15))  # TG18-LN / TG270: 18 DDLs, 0..255 every 15

BAR_PX: Final = 6  # width of one bar and of the gap between bars (TG270-sQC, ambient test)
BAR_COUNT: Final = 3
BAR_TARGET_PX: Final = (2 * BAR_COUNT - 1) * BAR_PX  # a bar target is 30×30 px


class PatternError(ValueError):
    """A pattern cannot be generated as asked (screen too small, level out of range)."""


@dataclass(frozen=True)
class Target:
    """A box in a pattern to find, measure or check: `level` is its own GL (None for a bare
    place such as a meter position) and `contrast_gl` its GL minus the GL around it."""

    x: int
    y: int
    width: int
    height: int
    contrast_gl: int
    kind: str
    level: int | None = None

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2


@dataclass(frozen=True, eq=False)
class Pattern:
    """A generated test pattern; `pixels` is read-only and `label` names it as synthetic."""

    name: str
    pixels: np.ndarray
    targets: tuple[Target, ...]
    label: str
    label_box: Target | None = None
    bit_depth: int = 8

    def __post_init__(self) -> None:
        if self.pixels.ndim != 2 or self.pixels.dtype not in (np.uint8, np.uint16):
            raise PatternError(f"{self.name}: pixels must be a 2-D uint8/uint16 array")
        self.pixels.setflags(write=False)

    @property
    def size(self) -> Size:
        return self.pixels.shape[1], self.pixels.shape[0]

    def of_kind(self, *kinds: str) -> tuple[Target, ...]:
        """The targets of the given kinds, in pattern order."""
        return tuple(t for t in self.targets if t.kind in kinds)


def hit(target: Target, x: float, y: float, tolerance_px: float = 0) -> bool:
    """True when a click at (x, y) lies on `target` or within `tolerance_px` of its box."""
    return (
        target.x - tolerance_px <= x < target.x + target.width + tolerance_px
        and target.y - tolerance_px <= y < target.y + target.height + tolerance_px
    )


def to_bit_depth(pattern: Pattern, bits: int = 10) -> Pattern:
    """The pattern for a `bits`-deep screen (uint16): every GL shifted left by bits − 8.

    The shift keeps every step and contrast exact (×4 at 10 bits); the price is
    that white becomes 1020, not 1023.
    """
    if pattern.bit_depth != 8 or not 9 <= bits <= 16:
        raise PatternError(f"Can widen an 8-bit pattern to 9..16 bits, not {bits}")
    shift = bits - 8

    def widen(t: Target) -> Target:
        level = None if t.level is None else t.level << shift
        return replace(t, contrast_gl=t.contrast_gl * (1 << shift), level=level)

    box = None if pattern.label_box is None else widen(pattern.label_box)
    pixels = pattern.pixels.astype(np.uint16) << shift
    return Pattern(pattern.name, pixels, tuple(map(widen, pattern.targets)),
                   pattern.label, box, bits)


# ---- shared drawing -------------------------------------------------------------------------


def _canvas(size: Size, minimum: Size, name: str, background: int) -> np.ndarray:
    width, height = (int(v) for v in size)
    if width < minimum[0] or height < minimum[1]:
        raise PatternError(f"{name} needs at least {minimum[0]}×{minimum[1]} pixels, got "
                           f"{width}×{height}: use the full-screen size of the display under test")
    if not 0 <= background <= GL_MAX:
        raise PatternError(f"{name}: background must be a grey level 0..{GL_MAX}, not {background}")
    return np.full((height, width), background, dtype=np.uint8)


def _fill(pixels: np.ndarray, box: tuple[int, int, int, int], level: int) -> None:
    x, y, w, h = box
    pixels[y : y + h, x : x + w] = level


def _draw_bars(pixels: np.ndarray, x: int, y: int, surround: int, contrast: int,
               vertical: bool) -> Target:
    """Three 6-px bars 6 px apart in a 30×30 box, `contrast` GL from `surround`."""
    level = surround + contrast
    for i in range(BAR_COUNT):
        offset = 2 * i * BAR_PX
        bar = (x + offset, y, BAR_PX, BAR_TARGET_PX) if vertical else (
            x, y + offset, BAR_TARGET_PX, BAR_PX)
        _fill(pixels, bar, level)
    kind = "bars-vertical" if vertical else "bars-horizontal"
    return Target(x, y, BAR_TARGET_PX, BAR_TARGET_PX, contrast, kind, level)


def _finish(name: str, pixels: np.ndarray, targets: list[Target], backing: int) -> Pattern:
    """Burn the label into the top-left corner on `backing` grey and wrap up the pattern."""
    label = f"{name} (synthetic, generated by telerad) — show at 1:1"
    x, y, w, h, ink = font.burn_label(pixels, label, backing)
    box = Target(x, y, w, h, ink - backing, "label", ink)
    return Pattern(name, pixels, tuple(targets), label, box)


# ---- TG18-QC ----------------------------------------------------------------------------------

QC_BACKGROUND: Final = 128
QC_STEPS: Final = tuple(range(8, 256, 16))  # 16 luminance patches, GL 8..248
QC_STEP_DELTA: Final = 4  # the ±4 GL corner squares in each patch
QC_DARK, QC_5_PERCENT = 0, 13  # round(0.05 × 255)
QC_BRIGHT, QC_95_PERCENT = 255, 242  # round(0.95 × 255)
QC_TEXT: Final = "QUALITY CONTROL"
QC_LETTER_PANELS: Final = ((0, +1), (128, +1), (255, -1))  # (background, contrast sign)
QC_RESOLUTION_CELLS: Final = ((1, 1), (13, 1), (7, 7), (1, 13), (13, 13))


@dataclass(frozen=True)
class _QCGrid:
    """TG18-QC layout: a 16×16 grid of c-px cells centred on the screen."""

    ox: int
    oy: int
    c: int

    def box(self, col: int, row: int, cols: int = 1, rows: int = 1) -> tuple[int, int, int, int]:
        return self.ox + col * self.c, self.oy + row * self.c, cols * self.c, rows * self.c


def tg18_qc(size: Size = DEFAULT_SIZE) -> Pattern:
    """TG18-QC (TG18, 2005; after SMPTE RP-133) on a GL-128 background.

    Layout on a 16×16 grid of c = min(width, height) // 16 px cells, centred;
    positions below are for 1024×1024 (c = 64, grid origin 0, 0):
      - row 0: margin holding the label;
      - 16 steps GL 8..248 at x = 64·i, y = 256, 64×128 each, with 16×16 corner
        squares 8 px in: +4 GL top-left and bottom-right, −4 GL top-right and
        bottom-left ("step", "step-patch");
      - 0 % square (256, 64) 128×128 holding a 5 % GL-13 square at (288, 96) 64×64;
        100 % square (640, 64) holding a 95 % GL-242 square at (672, 96);
      - "QUALITY CONTROL" on 320×64 panels of GL 0, 128, 255 at x = 32, 352, 672,
        y = 640; the letters, 3× scaled 5×7 glyphs, are +14..+1 GL on 0 and 128
        and −14..−1 GL on 255 ("letter");
      - ramp x = 0..1023, y = 768, 32 tall, GL = x // 4 (x · 256 // ramp width);
      - resolution blocks 128×128 at (64, 64), (832, 64), (448, 448), (64, 832),
        (832, 832): quadrants of 1-px vertical, 1-px horizontal (top) and 2-px
        vertical, 2-px horizontal (bottom) lines, each quadrant 0/255 in its upper
        half and 128/130 in its lower half ("lines-v1" … "lines-h2").
    """
    pixels = _canvas(size, (512, 512), "TG18-QC", QC_BACKGROUND)
    height, width = pixels.shape
    c = min(width, height) // 16
    grid = _QCGrid((width - 16 * c) // 2, (height - 16 * c) // 2, c)
    targets = [*_qc_steps(pixels, grid), *_qc_low_high(pixels, grid),
               *_qc_letters(pixels, grid), _qc_ramp(pixels, grid), *_qc_resolution(pixels, grid)]
    return _finish("TG18-QC", pixels, targets, QC_BACKGROUND)


def _qc_steps(pixels: np.ndarray, grid: _QCGrid) -> list[Target]:
    targets = []
    side, inset = grid.c // 4, grid.c // 8
    for i, level in enumerate(QC_STEPS):
        x, y, w, h = box = grid.box(i, 4, 1, 2)
        _fill(pixels, box, level)
        targets.append(Target(x, y, w, h, level - QC_BACKGROUND, "step", level))
        near_x, far_x = x + inset, x + w - inset - side
        near_y, far_y = y + inset, y + h - inset - side
        for px, py, sign in ((near_x, near_y, 1), (far_x, near_y, -1),
                             (near_x, far_y, -1), (far_x, far_y, 1)):
            delta = sign * QC_STEP_DELTA
            _fill(pixels, (px, py, side, side), level + delta)
            targets.append(Target(px, py, side, side, delta, "step-patch", level + delta))
    return targets


def _qc_low_high(pixels: np.ndarray, grid: _QCGrid) -> list[Target]:
    targets = []
    for col, outer, inner, kind in ((4, QC_DARK, QC_5_PERCENT, "5%"),
                                    (10, QC_BRIGHT, QC_95_PERCENT, "95%")):
        x, y, w, h = box = grid.box(col, 1, 2, 2)
        _fill(pixels, box, outer)
        targets.append(Target(x, y, w, h, outer - QC_BACKGROUND, f"{kind}-surround", outer))
        inner_box = (x + grid.c // 2, y + grid.c // 2, grid.c, grid.c)
        _fill(pixels, inner_box, inner)
        targets.append(Target(*inner_box, inner - outer, kind, inner))
    return targets


def _qc_letters(pixels: np.ndarray, grid: _QCGrid) -> list[Target]:
    """The three "QUALITY CONTROL" panels: letter n of 14 is 14 − n GL off its panel."""
    targets = []
    pad = grid.c // 8
    scale = max(1, (5 * grid.c - 2 * pad) // (len(QC_TEXT) * font.ADVANCE))
    glyph_w, glyph_h = font.GLYPH_WIDTH * scale, font.GLYPH_HEIGHT * scale
    for j, (background, sign) in enumerate(QC_LETTER_PANELS):
        x, y, w, h = panel = (grid.ox + grid.c // 2 + 5 * grid.c * j, grid.oy + 10 * grid.c,
                              5 * grid.c, grid.c)
        _fill(pixels, panel, background)
        tx = x + (w - font.text_width(QC_TEXT, scale)) // 2
        ty = y + (h - glyph_h) // 2
        letters = [(i, ch) for i, ch in enumerate(QC_TEXT) if ch != " "]
        for n, (i, ch) in enumerate(letters):
            contrast = sign * (len(letters) - n)
            lx = tx + i * font.ADVANCE * scale
            font.stamp(pixels, ch, lx, ty, scale, background + contrast)
            targets.append(Target(lx, ty, glyph_w, glyph_h, contrast, "letter",
                                  background + contrast))
    return targets


def _qc_ramp(pixels: np.ndarray, grid: _QCGrid) -> Target:
    x, y, w, _ = grid.box(0, 12, 16, 1)
    h = grid.c // 2
    pixels[y : y + h, x : x + w] = (np.arange(w) * 256 // w).astype(np.uint8)
    return Target(x, y, w, h, 0, "ramp")


def _qc_resolution(pixels: np.ndarray, grid: _QCGrid) -> list[Target]:
    targets = []
    half = grid.c // 2
    for col, row in QC_RESOLUTION_CELLS:
        bx, by, _, _ = grid.box(col, row)
        for qx, qy, period, vertical in ((0, 0, 1, True), (1, 0, 1, False),
                                         (0, 1, 2, True), (1, 1, 2, False)):
            for sy, (low, high) in ((0, (0, 255)), (half, (128, 130))):
                box = (bx + qx * grid.c, by + qy * grid.c + sy, grid.c, half)
                _draw_lines(pixels, box, period, vertical, low, high)
                kind = f"lines-{'v' if vertical else 'h'}{period}"
                targets.append(Target(*box, high - low, kind, high))
    return targets


def _draw_lines(pixels: np.ndarray, box: tuple[int, int, int, int], period: int,
                vertical: bool, low: int, high: int) -> None:
    """Lines `period` px wide, alternating `high`/`low`, starting with `high` at the box edge."""
    x, y, w, h = box
    phase = np.arange(w if vertical else h) // period % 2
    line = np.where(phase == 0, high, low).astype(np.uint8)
    pixels[y : y + h, x : x + w] = line[np.newaxis, :] if vertical else line[:, np.newaxis]


# ---- TG270-sQC --------------------------------------------------------------------------------

SQC_SQUARE_PX: Final = 128
SQC_COLUMNS: Final = 6
SQC_BACKGROUND: Final = 0
SQC_CONTRAST: Final = 5
SQC_EDGE_CONTRAST: Final = 3  # where ±5 cannot be drawn (GL 0 and 255)
SQC_LARGE_PX: Final = 256
SQC_LARGE_LEVELS: Final = (0, 128, 255)
SQC_GRADIENT_PX: Final = 64
SQC_TARGET_MARGIN: Final = 4
SQC_WIDTH: Final = SQC_COLUMNS * SQC_SQUARE_PX  # 768
SQC_HEIGHT: Final = 3 * SQC_SQUARE_PX + SQC_LARGE_PX + SQC_GRADIENT_PX  # 704


def sqc_contrasts(level: int) -> tuple[int, int]:
    """The two target contrasts in the TG270-sQC square of `level`: −5 and +5 GL.

    At GL 0 the −5 target becomes +3 and at GL 255 the +5 target becomes −3, as in
    the TG270-sQC pattern distributed with pacsDisplay (TG270, 2019).
    """
    if level == 0:
        return SQC_EDGE_CONTRAST, SQC_CONTRAST
    if level == GL_MAX:
        return -SQC_CONTRAST, -SQC_EDGE_CONTRAST
    return -SQC_CONTRAST, SQC_CONTRAST


def tg270_sqc(size: Size = DEFAULT_SIZE, rng: np.random.Generator | None = None) -> Pattern:
    """TG270-sQC: 18 squares of 128 px at GL 0..255 step 15, each with two bar targets.

    The 768×704 block is centred on a GL-0 screen; at 1024×1024 its origin is
    (128, 160). Square k (GL 15·k) sits at origin + (128·(k % 6), 128·(k // 6));
    below them, 256-px squares of GL 0, 128, 255 at origin + (256·j, 384) and a
    64-px ramp at origin + (0, 640) with GL = dx // 3. Each square holds a darker
    and a brighter 30×30 target of three 6-px bars (`sqc_contrasts`) in two
    different 64-px quadrants, at a random offset (≥ 4 px from the quadrant edge)
    and random orientation drawn from `rng`, so that the reporter must find them.
    """
    pixels = _canvas(size, (SQC_WIDTH, SQC_HEIGHT + 64), "TG270-sQC", SQC_BACKGROUND)
    rng = np.random.default_rng() if rng is None else rng
    height, width = pixels.shape
    ox, oy = (width - SQC_WIDTH) // 2, (height - SQC_HEIGHT) // 2
    targets: list[Target] = []
    for k, level in enumerate(LN_LEVELS):
        x = ox + SQC_SQUARE_PX * (k % SQC_COLUMNS)
        y = oy + SQC_SQUARE_PX * (k // SQC_COLUMNS)
        _fill(pixels, (x, y, SQC_SQUARE_PX, SQC_SQUARE_PX), level)
        targets.append(Target(x, y, SQC_SQUARE_PX, SQC_SQUARE_PX, level - SQC_BACKGROUND,
                              "square", level))
        targets += _sqc_square_targets(pixels, x, y, level, rng)
    for j, level in enumerate(SQC_LARGE_LEVELS):
        box = (ox + SQC_LARGE_PX * j, oy + 3 * SQC_SQUARE_PX, SQC_LARGE_PX, SQC_LARGE_PX)
        _fill(pixels, box, level)
        targets.append(Target(*box, level - SQC_BACKGROUND, "large-square", level))
    gy = oy + 3 * SQC_SQUARE_PX + SQC_LARGE_PX
    ramp = np.arange(SQC_WIDTH) * 256 // SQC_WIDTH
    pixels[gy : gy + SQC_GRADIENT_PX, ox : ox + SQC_WIDTH] = ramp.astype(np.uint8)
    targets.append(Target(ox, gy, SQC_WIDTH, SQC_GRADIENT_PX, 0, "ramp"))
    return _finish("TG270-sQC", pixels, targets, SQC_BACKGROUND)


def _sqc_square_targets(pixels: np.ndarray, x: int, y: int, level: int,
                        rng: np.random.Generator) -> list[Target]:
    quarter = SQC_SQUARE_PX // 2
    span = quarter - 2 * SQC_TARGET_MARGIN - BAR_TARGET_PX  # free play inside a quadrant
    quadrants = rng.choice(4, size=2, replace=False)
    targets = []
    for contrast, quadrant in zip(sqc_contrasts(level), quadrants, strict=True):
        tx = x + quarter * (quadrant % 2) + SQC_TARGET_MARGIN + int(rng.integers(0, span + 1))
        ty = y + quarter * (quadrant // 2) + SQC_TARGET_MARGIN + int(rng.integers(0, span + 1))
        vertical = bool(rng.integers(0, 2))
        targets.append(_draw_bars(pixels, tx, ty, level, contrast, vertical))
    return targets


# ---- TG18-UN, TG18-LN, ambient test ----------------------------------------------------------

UN_LEVELS: Final = {"UN10": 26, "UN80": 204}  # round(0.10 × 255), round(0.80 × 255)
LN_BACKGROUND: Final = 51  # round(0.20 × 255)
AMBIENT_CONTRAST: Final = 3


def uniform(level: str | int = "UN10", size: Size = DEFAULT_SIZE) -> Pattern:
    """TG18-UN10 / UN80 (TG18 §4.4): one GL over the whole screen, for uniformity.

    `level` is "UN10" (GL 26), "UN80" (GL 204) or any GL. Targets mark the meter
    positions, boxes min(width, height) // 10 px square centred on the 3×3 grid
    at 10 %, 50 % and 90 % of width and height: the 9 points of TG270 ("point-9")
    and their centre and four corners, the 5 points of TG18 ("point-5").
    """
    if isinstance(level, str) and level not in UN_LEVELS:
        raise PatternError(f"Uniform field is UN10, UN80 or a grey level, not {level!r}")
    gl = UN_LEVELS[level] if isinstance(level, str) else level
    name = f"TG18-{level}" if isinstance(level, str) else f"Uniform GL {gl}"
    pixels = _canvas(size, (512, 512), name, gl)
    height, width = pixels.shape
    side = min(width, height) // 10
    targets = []
    for kind, fractions in (("point-5", ((1, 1), (9, 1), (5, 5), (1, 9), (9, 9))),
                            ("point-9", tuple((i, j) for j in (1, 5, 9) for i in (1, 5, 9)))):
        for fx, fy in fractions:
            cx, cy = width * fx // 10, height * fy // 10
            targets.append(Target(cx - side // 2, cy - side // 2, side, side, 0, kind, gl))
    return _finish(name, pixels, targets, gl)


def tg18_ln(index: int, size: Size = DEFAULT_SIZE) -> Pattern:
    """TG18-LN8-`index` (index 1..18, GL LN_LEVELS[index − 1]) for the meter (TG18 §4.3).

    A central square of 10 % of the screen area, side isqrt(width·height // 10)
    (323 px at 1024×1024, origin 350, 350), at the level, on a GL-51 (20 %) field.
    """
    if not 1 <= index <= len(LN_LEVELS):
        raise PatternError(f"TG18-LN index runs 1..{len(LN_LEVELS)}, got {index}")
    level = LN_LEVELS[index - 1]
    name = f"TG18-LN8-{index:02d}"
    pixels = _canvas(size, (512, 512), name, LN_BACKGROUND)
    height, width = pixels.shape
    side = math.isqrt(width * height // 10)
    box = ((width - side) // 2, (height - side) // 2, side, side)
    _fill(pixels, box, level)
    target = Target(*box, level - LN_BACKGROUND, "measurement", level)
    return _finish(name, pixels, [target], LN_BACKGROUND)


def central_span(extent: int, length: int) -> tuple[int, int]:
    """First and last start of a `length`-px object lying wholly in the central 80 % of `extent`."""
    return -(-extent // 10), extent * 9 // 10 - length


def ambient_target(size: Size = DEFAULT_SIZE, rng: np.random.Generator | None = None,
                   background: int = 0) -> Pattern:
    """Ambient test (pacsDisplay ambtest): one 3-GL bar target at a random place.

    Three 6-px bars in a 30×30 box, +3 GL from `background` (−3 on GL > 252), at
    a random position and orientation wholly inside the central 80 % of the
    screen; ambient light that washes out this contrast fails the test (TG18 §4.2).
    """
    pixels = _canvas(size, (512, 512), "Ambient test", background)
    rng = np.random.default_rng() if rng is None else rng
    height, width = pixels.shape
    contrast = AMBIENT_CONTRAST if background + AMBIENT_CONTRAST <= GL_MAX else -AMBIENT_CONTRAST
    (x_first, x_last), (y_first, y_last) = (central_span(n, BAR_TARGET_PX) for n in (width, height))
    x, y = int(rng.integers(x_first, x_last + 1)), int(rng.integers(y_first, y_last + 1))
    target = _draw_bars(pixels, x, y, background, contrast, bool(rng.integers(0, 2)))
    return _finish("Ambient test", pixels, [target], background)
