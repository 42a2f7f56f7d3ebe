"""Display QA test patterns: exact grey levels at the documented positions (TG18, TG270)."""

import numpy as np
import pytest

from qa import font
from qa.patterns import (
    BAR_PX,
    LN_BACKGROUND,
    LN_LEVELS,
    QC_STEPS,
    Pattern,
    PatternError,
    Target,
    ambient_target,
    central_span,
    hit,
    sqc_contrasts,
    tg18_ln,
    tg18_qc,
    tg270_sqc,
    to_bit_depth,
    uniform,
)


def area(pattern: Pattern, t: Target) -> np.ndarray:
    return pattern.pixels[t.y : t.y + t.height, t.x : t.x + t.width]


def outside_label(pattern: Pattern) -> np.ndarray:
    """Mask of the pixels outside the burned-in label box."""
    assert pattern.label_box is not None
    mask = np.ones(pattern.pixels.shape, dtype=bool)
    box = pattern.label_box
    mask[box.y : box.y + box.height, box.x : box.x + box.width] = False
    return mask


def run_widths(line: np.ndarray, value: int) -> list[int]:
    """Lengths of the runs of `value` along a 1-D line."""
    padded = np.concatenate(([False], line == value, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(edges[1::2] - edges[::2])


def every_pattern(size: tuple[int, int] = (1024, 1024)) -> list[Pattern]:
    rng = np.random.default_rng(7)
    return [
        tg18_qc(size),
        tg270_sqc(size, rng),
        uniform("UN10", size),
        uniform("UN80", size),
        tg18_ln(1, size),
        tg18_ln(18, size),
        ambient_target(size, rng),
    ]


# ---- TG18-QC ----------------------------------------------------------------------------------


def test_qc_has_sixteen_steps_from_8_to_248_by_16_at_the_documented_places() -> None:
    qc = tg18_qc()
    assert tuple(range(8, 249, 16)) == QC_STEPS
    for i, level in enumerate(QC_STEPS):
        # documented: step i at x = 64·i, y = 256, 64×128; its middle is free of patches
        assert np.all(qc.pixels[280:360, 64 * i + 24 : 64 * i + 40] == level)
    assert [t.level for t in qc.of_kind("step")] == list(QC_STEPS)


def test_qc_steps_carry_plus_and_minus_4_gl_corner_squares() -> None:
    qc = tg18_qc()
    for i, level in enumerate(QC_STEPS):
        x = 64 * i
        assert np.all(qc.pixels[264:280, x + 8 : x + 24] == level + 4)  # top-left
        assert np.all(qc.pixels[264:280, x + 40 : x + 56] == level - 4)  # top-right
        assert np.all(qc.pixels[360:376, x + 8 : x + 24] == level - 4)  # bottom-left
        assert np.all(qc.pixels[360:376, x + 40 : x + 56] == level + 4)  # bottom-right
    patches = qc.of_kind("step-patch")
    assert sorted({p.contrast_gl for p in patches}) == [-4, 4]
    assert all(np.all(area(qc, p) == p.level) for p in patches)


def test_qc_5_percent_patch_in_black_and_95_percent_patch_in_white() -> None:
    qc = tg18_qc()
    assert np.all(qc.pixels[96:160, 288:352] == 13)
    assert np.all(qc.pixels[64:96, 256:384] == 0) and np.all(qc.pixels[160:192, 256:384] == 0)
    assert np.all(qc.pixels[96:160, 672:736] == 242)
    assert np.all(qc.pixels[64:96, 640:768] == 255) and np.all(qc.pixels[96:160, 640:672] == 255)


def test_qc_letters_run_from_14_down_to_1_gl_on_black_grey_and_white() -> None:
    qc = tg18_qc()
    letters = qc.of_kind("letter")
    assert len(letters) == 3 * 14
    panels = [letters[i : i + 14] for i in range(0, 42, 14)]
    for panel, background, sign in zip(panels, (0, 128, 255), (1, 1, -1), strict=True):
        assert [t.contrast_gl for t in panel] == [sign * c for c in range(14, 0, -1)]
        for t in panel:
            values = set(np.unique(area(qc, t)).tolist())
            assert values == {background, background + t.contrast_gl}
    assert np.all(qc.pixels[640:704, 32:40] == 0) and np.all(qc.pixels[640:704, 984:992] == 255)


def test_qc_resolution_blocks_alternate_at_one_and_two_pixels() -> None:
    qc = tg18_qc()
    for bx, by in ((64, 64), (832, 64), (448, 448), (64, 832), (832, 832)):
        assert qc.pixels[by, bx : bx + 6].tolist() == [255, 0, 255, 0, 255, 0]
        assert qc.pixels[by : by + 4, bx + 64].tolist() == [255, 0, 255, 0]
        assert qc.pixels[by + 64, bx : bx + 6].tolist() == [255, 255, 0, 0, 255, 255]
        assert qc.pixels[by + 64 : by + 68, bx + 64].tolist() == [255, 255, 0, 0]
        assert qc.pixels[by + 32, bx : bx + 4].tolist() == [130, 128, 130, 128]
        assert qc.pixels[by + 96, bx : bx + 4].tolist() == [130, 130, 128, 128]
    assert len(qc.of_kind("lines-v1", "lines-h1", "lines-v2", "lines-h2")) == 5 * 8


def test_qc_ramp_covers_every_grey_level() -> None:
    qc = tg18_qc()
    assert qc.pixels[780].tolist() == [x // 4 for x in range(1024)]


def test_qc_is_centred_on_a_wide_screen() -> None:
    qc = tg18_qc((1920, 1080))
    assert qc.pixels.shape == (1080, 1920)
    cell, ox, oy = 1080 // 16, (1920 - 16 * 67) // 2, (1080 - 16 * 67) // 2
    first = qc.of_kind("step")[0]
    assert (first.x, first.y, first.width, first.height) == (ox, oy + 4 * cell, cell, 2 * cell)
    assert np.all(qc.pixels[:, :ox][outside_label(qc)[:, :ox]] == 128)


# ---- TG270-sQC --------------------------------------------------------------------------------


def test_sqc_squares_run_0_to_255_by_15_at_the_documented_places() -> None:
    sqc = tg270_sqc(rng=np.random.default_rng(1))
    squares = sqc.of_kind("square")
    assert [s.level for s in squares] == list(LN_LEVELS)
    for k, s in enumerate(squares):
        x, y = 128 + 128 * (k % 6), 160 + 128 * (k // 6)
        assert (s.x, s.y, s.width, s.height) == (x, y, 128, 128)
        assert sqc.pixels[s.y, s.x] == s.level  # corner pixel: targets keep 4 px away
    assert [s.level for s in sqc.of_kind("large-square")] == [0, 128, 255]
    assert np.all(sqc.pixels[544:800, 384:640] == 128)
    assert sqc.pixels[820, 128:896].tolist() == [dx // 3 for dx in range(768)]


def test_sqc_targets_are_5_gl_off_their_square_and_3_gl_at_black_and_white() -> None:
    sqc = tg270_sqc(rng=np.random.default_rng(2))
    bars = sqc.of_kind("bars-vertical", "bars-horizontal")
    squares = sqc.of_kind("square")
    assert len(bars) == 2 * 18
    for square, pair in zip(squares, zip(bars[::2], bars[1::2], strict=True), strict=True):
        expected = {0: {3, 5}, 255: {-5, -3}}.get(square.level, {-5, 5})
        assert {t.contrast_gl for t in pair} == expected
        assert sqc_contrasts(square.level) == tuple(sorted(expected))
        for t in pair:
            assert square.x + 4 <= t.x and t.x + t.width <= square.x + square.width - 4
            assert square.y + 4 <= t.y and t.y + t.height <= square.y + square.height - 4
            assert set(np.unique(area(sqc, t)).tolist()) == {square.level, t.level}
            assert t.level == square.level + t.contrast_gl


def test_sqc_bars_are_6_px_wide_and_6_px_apart() -> None:
    sqc = tg270_sqc(rng=np.random.default_rng(3))
    for t in sqc.of_kind("bars-vertical", "bars-horizontal"):
        pixels = area(sqc, t)
        line = pixels[t.height // 2] if t.kind == "bars-vertical" else pixels[:, t.width // 2]
        assert run_widths(line, t.level) == [BAR_PX] * 3
        assert run_widths(line, t.level - t.contrast_gl) == [BAR_PX] * 2


def test_sqc_targets_move_with_another_seed_and_repeat_with_the_same_seed() -> None:
    first = tg270_sqc(rng=np.random.default_rng(11))
    again = tg270_sqc(rng=np.random.default_rng(11))
    other = tg270_sqc(rng=np.random.default_rng(12))
    assert first.targets == again.targets
    assert np.array_equal(first.pixels, again.pixels)
    assert first.targets != other.targets
    assert not np.array_equal(first.pixels, other.pixels)


# ---- TG18-UN, TG18-LN --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "level"), [("UN10", 26), ("UN80", 204)])
def test_uniform_field_is_one_grey_level_outside_the_label(name: str, level: int) -> None:
    field = uniform(name, (1280, 1024))
    assert field.name == f"TG18-{name}"
    assert np.all(field.pixels[outside_label(field)] == level)


def test_uniform_field_marks_5_tg18_and_9_tg270_meter_points() -> None:
    field = uniform("UN80", (1000, 800))
    five, nine = field.of_kind("point-5"), field.of_kind("point-9")
    assert len(five) == 5 and len(nine) == 9
    assert {t.centre for t in nine} == {(x, y) for x in (100, 500, 900) for y in (80, 400, 720)}
    assert {t.centre for t in five} == {(100, 80), (900, 80), (500, 400), (100, 720), (900, 720)}
    assert all(t.width == t.height == 80 for t in five + nine)


@pytest.mark.parametrize("index", range(1, 19))
def test_ln_pattern_shows_its_level_in_the_centre_on_20_percent_grey(index: int) -> None:
    ln = tg18_ln(index)
    assert ln.name == f"TG18-LN8-{index:02d}"
    assert np.all(ln.pixels[350:673, 350:673] == LN_LEVELS[index - 1])
    rest = outside_label(ln)
    rest[350:673, 350:673] = False
    assert LN_BACKGROUND == 51
    assert np.all(ln.pixels[rest] == LN_BACKGROUND)


def test_ln_levels_are_18_ddls_every_15() -> None:
    assert LN_LEVELS == (0, 15, 30, 45, 60, 75, 90, 105, 120, 135, 150, 165, 180, 195, 210,
                         225, 240, 255)
    with pytest.raises(PatternError, match=r"1\.\.18"):
        tg18_ln(0)
    with pytest.raises(PatternError):
        tg18_ln(19)


# ---- ambient test -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(25))
def test_ambient_target_is_3_gl_6_px_bars_inside_the_central_80_percent(seed: int) -> None:
    size = (1920, 1200)
    test = ambient_target(size, np.random.default_rng(seed))
    (target,) = test.targets
    assert target.contrast_gl == 3 and target.level == 3
    assert target.x >= 192 and target.x + target.width <= 1728  # 10 % and 90 % of 1920
    assert target.y >= 120 and target.y + target.height <= 1080  # 10 % and 90 % of 1200
    line = area(test, target)[15] if target.kind == "bars-vertical" else area(test, target)[:, 15]
    assert run_widths(line, 3) == [6, 6, 6]
    rest = outside_label(test)
    rest[target.y : target.y + target.height, target.x : target.x + target.width] = False
    assert np.all(test.pixels[rest] == 0)


def test_ambient_target_on_a_white_background_is_3_gl_darker() -> None:
    (target,) = ambient_target(rng=np.random.default_rng(5), background=255).targets
    assert (target.contrast_gl, target.level) == (-3, 252)
    assert central_span(1000, 30) == (100, 870)


def test_a_click_on_the_target_hits_and_one_40_px_away_misses() -> None:
    (target,) = ambient_target(rng=np.random.default_rng(9)).targets
    cx, cy = target.centre
    assert hit(target, cx, cy, tolerance_px=8)
    assert hit(target, target.x - 5, target.y, tolerance_px=8)
    assert not hit(target, cx + 40, cy, tolerance_px=8)
    assert not hit(target, cx, cy - 40, tolerance_px=8)


# ---- every pattern ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1024, 1024), (1920, 1080), (2048, 2560)])
def test_patterns_follow_the_size_asked_for_and_are_8_bit(size: tuple[int, int]) -> None:
    for pattern in every_pattern(size):
        assert pattern.size == size
        assert pattern.pixels.shape == (size[1], size[0])
        assert pattern.pixels.dtype == np.uint8
        assert int(pattern.pixels.min()) >= 0 and int(pattern.pixels.max()) <= 255


def test_every_pattern_says_it_is_synthetic_in_its_label_and_its_pixels() -> None:
    for pattern in every_pattern():
        assert "synthetic" in pattern.label and pattern.name in pattern.label
        box = pattern.label_box
        assert box is not None
        values = np.unique(area(pattern, box))
        assert set(values.tolist()) == {box.level, box.level - box.contrast_gl}
        assert all(not hit(box, *t.centre) for t in pattern.targets)


def test_pixels_cannot_be_changed_after_generation() -> None:
    with pytest.raises(ValueError):
        tg18_qc().pixels[0, 0] = 1


def test_a_screen_too_small_for_the_pattern_is_refused() -> None:
    with pytest.raises(PatternError, match="TG270-sQC needs at least 768×768"):
        tg270_sqc((1024, 600), np.random.default_rng(0))
    with pytest.raises(PatternError, match="TG18-QC"):
        tg18_qc((400, 400))
    with pytest.raises(PatternError, match="UN10, UN80"):
        uniform("UN50")


def test_ten_bit_version_keeps_every_step_exact() -> None:
    qc10 = to_bit_depth(tg18_qc(), 10)
    assert qc10.pixels.dtype == np.uint16 and qc10.bit_depth == 10
    assert int(qc10.pixels.max()) == 1020
    assert np.all(qc10.pixels[280:360, 24:40] == 32)
    assert {p.contrast_gl for p in qc10.of_kind("step-patch")} == {-16, 16}


def test_font_has_a_5_by_7_glyph_for_every_label_character() -> None:
    for char in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -(),.:%/+=#?":
        assert font.glyph(char).shape == (font.GLYPH_HEIGHT, font.GLYPH_WIDTH)
    assert font.render("AB", scale=2).shape == (14, 22)
    assert np.array_equal(font.glyph("—"), font.glyph("-"))
