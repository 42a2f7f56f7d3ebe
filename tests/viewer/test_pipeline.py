"""Display pixel pipeline: PS3.3 C.11 formulas by hand, and agreement with pydicom.

pydicom's bundled test files are used where they exist locally; generated datasets cover
what pydicom does not bundle (MONOCHROME1, Modality/VOI LUT Sequences, bad palette indices).
pydicom's windowing writes float64 into the stored value range while ours writes 0..255
integers, so both are compared on the fraction of the output range, either neighbour being
accepted within 0.001 of a rounding tie (_expected_display); exact rounding is checked
against rational arithmetic instead.
"""

from __future__ import annotations

import copy
import logging
import math
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
from pydicom.data import get_palette_files, get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi_lut,
    apply_windowing,
    convert_color_space,
    get_decoder,
    pixel_array,
)
from pydicom.sequence import Sequence
from pydicom.uid import JPEG2000Lossless, RLELossless

from viewer import pipeline
from viewer.pipeline import (
    PixelDataError,
    Window,
    apply_voi_lut_sequence,
    decode_frame,
    decode_frames,
    default_window,
    modality_unit,
    modality_values,
    present,
    presentation_lut,
    stored_windows,
    window_to_display,
)


def bundled(name: str) -> Dataset:
    """A pydicom test file bundled in its wheel; never downloaded, and its absence fails."""
    path = get_testdata_file(name, download=False)
    assert path is not None, f"pydicom test file {name} is missing from the installed pydicom"
    return pydicom.dcmread(path)


def generated_ct(frames: int = 1, size: int = 64) -> tuple[Dataset, np.ndarray]:
    """A CT with stored values -1024..2975 (int16), rescale intercept 0."""
    stored = (np.arange(frames * size * size) * 7 % 4000 - 1024).astype(np.int16)
    stored = stored.reshape((frames, size, size) if frames > 1 else (size, size))
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.set_pixel_data(stored, "MONOCHROME2", 16)
    ds.Modality = "CT"
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    return ds, stored


def palette_image(indices: np.ndarray, entries: int, first: int, depth: int = 8) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.set_pixel_data(indices.astype(np.uint8), "PALETTE COLOR", 8)
    ramp = np.linspace(0, 2**depth - 1, entries).astype("<u2")
    for colour, table in (("Red", ramp), ("Green", ramp[::-1]), ("Blue", ramp // 2)):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [entries, first, depth])
        setattr(ds, f"{colour}PaletteColorLookupTableData", table.tobytes())
    return ds


def lut_item(descriptor: list[int], data: list[int]) -> Dataset:
    item = Dataset()
    item.LUTDescriptor = descriptor
    item.LUTData = data
    return item


# --- Window centre/width: hand-computed values ----------------------------------------------


def test_linear_window_follows_the_standard_formula_to_the_pixel() -> None:
    # c' = 39.5, w' = 399: x <= -160 → 0, x > 239 → 255, else ((x - c')/w' + 0.5) × 255
    values = np.array([-160.5, -160, -159, 40, 139, 239, 239.5, 240], dtype=np.float32)
    shown = window_to_display(values, Window(40, 400))
    assert shown.tolist() == [0, 0, 1, 128, 191, 255, 255, 255]  # 0.64 → 1, 127.82 → 128
    assert shown.dtype == np.uint8


def test_ten_bit_output_uses_the_whole_0_to_1023_range() -> None:
    values = np.array([-160, 40, 240], dtype=np.float32)
    shown = window_to_display(values, Window(40, 400), bits=10)
    assert shown.tolist() == [0, 513, 1023]  # 511.5 + 1.28 = 512.78 → 513
    assert shown.dtype == np.uint16


def test_linear_exact_window_has_no_half_pixel_shift() -> None:
    values = np.array([-160.5, -160, -100, 100, 240, 240.5], dtype=np.float32)
    shown = window_to_display(values, Window(40, 400, "LINEAR_EXACT"))
    assert shown.tolist() == [0, 0, 38, 166, 255, 255]  # 0.15 × 255 = 38.25, 0.65 × 255 = 165.75


def test_linear_exact_ties_round_half_up() -> None:
    values = np.array([20, 60, 80], dtype=np.float32)  # exactly 76.5, 178.5, 229.5
    assert window_to_display(values, Window(40, 100, "LINEAR_EXACT")).tolist() == [77, 179, 230]


@pytest.mark.parametrize("window", [Window(40, 400), Window(-600, 1500), Window(40.5, 81),
                                    Window(40, 100, "LINEAR_EXACT"),
                                    Window(3000, 10, "LINEAR_EXACT")])
@pytest.mark.parametrize("bits", [8, 10])
def test_linear_windows_equal_exact_rational_arithmetic_on_every_ct_value(
        window: Window, bits: int) -> None:
    top, center, width = 2**bits - 1, Fraction(window.center), Fraction(window.width)
    if window.function == "LINEAR":
        center, width = center - Fraction(1, 2), width - 1
    values = range(-1024, 3072)
    expected = [0 if x <= center - width / 2 else top if x > center + width / 2
                else math.floor(((x - center) / width + Fraction(1, 2)) * top + Fraction(1, 2))
                for x in values]
    shown = window_to_display(np.array(values, dtype=np.float32), window, bits=bits)
    assert shown.tolist() == expected


def test_sigmoid_window_follows_the_logistic_curve() -> None:
    values = np.array([-10_000, -160, 40, 240, 640], dtype=np.float32)
    shown = window_to_display(values, Window(40, 400, "SIGMOID"))
    # 255 / (1 + e^2) = 30.40, 255 / 2 = 127.5 → 128, 255 / (1 + e^-2) = 224.60, e^-6 → 254.37
    assert shown.tolist() == [0, 30, 128, 225, 254]


def test_linear_window_of_width_one_is_a_threshold_at_center_minus_half() -> None:
    values = np.array([39, 39.5, 39.6, 40], dtype=np.float32)
    assert window_to_display(values, Window(40, 1)).tolist() == [0, 0, 255, 255]


def test_windows_the_standard_does_not_define_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Window(40, 0.5)
    with pytest.raises(ValueError, match="above 0"):
        Window(40, 0, "SIGMOID")
    with pytest.raises(ValueError, match="VOI LUT Function"):
        Window(40, 400, "GAMMA")
    assert Window(40, 0.5, "linear_exact").function == "LINEAR_EXACT"


def test_window_label_reads_width_then_level() -> None:
    assert Window(40, 400).label() == "W 400 / L 40"
    assert Window(-600, 1500).label() == "W 1500 / L -600"
    assert Window(40.5, 80.25).label() == "W 80.25 / L 40.5"


@pytest.mark.parametrize("window", [Window(40, 400), Window(40, 1), Window(-600, 1500),
                                    Window(40.3, 80.7, "LINEAR_EXACT"), Window(50, 350, "SIGMOID")])
@pytest.mark.parametrize("bits", [8, 10])
def test_presentation_lut_equals_windowing_on_every_ct_value(window: Window, bits: int) -> None:
    lowest, highest = -1024, 3071
    lut = presentation_lut(window, lowest, highest, bits=bits)
    every_value = np.arange(lowest, highest + 1, dtype=np.int16)
    assert lut.dtype == (np.uint8 if bits == 8 else np.uint16)
    np.testing.assert_array_equal(lut[every_value - lowest], window_to_display(every_value, window,
                                                                              bits=bits))


# --- Agreement with pydicom on its bundled files --------------------------------------------


def _expected_display(reference: np.ndarray, ds: Dataset, index: int) -> tuple[np.ndarray, ...]:
    """pydicom's windowed output as 0..255 rounded half up, and where rounding is a coin toss.

    pydicom maps into [y_min, y_max] of the stored range; the ends are found by windowing
    two values far outside any window.
    """
    with np.errstate(over="ignore"):
        y_min, y_max = apply_windowing(np.array([-1e9, 1e9]), ds, index)
    fraction = (reference - y_min) / (y_max - y_min) * 255
    near_half = np.abs(fraction % 1 - 0.5) < 1e-3
    return np.floor(fraction + 0.5), near_half


@pytest.mark.parametrize("name", ["MR_small.dcm", "CT_small.dcm", "examples_overlay.dcm",
                                  "J2K_pixelrep_mismatch.dcm", "693_J2KI.dcm"])
@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
def test_windowing_agrees_with_pydicom(name: str, function: str) -> None:
    ds = bundled(name)
    stored = decode_frame(ds, 0)
    values = modality_values(ds, stored)
    np.testing.assert_allclose(values, apply_modality_lut(stored, ds), rtol=1e-6)
    if "WindowCenter" not in ds:  # CT_small: give it the abdomen preset
        ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.VOILUTFunction = function
    windows = stored_windows(ds)
    assert windows and all(window.function == function for window in windows)
    for index, window in enumerate(windows):
        expected, near_half = _expected_display(apply_windowing(values.astype(float), ds, index),
                                                ds, index)
        shown = window_to_display(values, window)
        assert np.all((shown == expected) | near_half), f"{name} window {index}"
        assert np.abs(shown.astype(int) - expected).max() <= 1


def test_modality_lut_sequence_agrees_with_pydicom_and_clamps() -> None:
    ds, stored = generated_ct()
    del ds.RescaleSlope, ds.RescaleIntercept
    table = [(i * 37) % 4096 for i in range(2000)]
    ds.ModalityLUTSequence = Sequence([lut_item([2000, -500, 16], table)])
    ds.ModalityLUTSequence[0].ModalityLUTType = "OD"
    values = modality_values(ds, stored)
    np.testing.assert_array_equal(values, apply_modality_lut(stored, ds))
    assert values.dtype == np.float32
    ends = modality_values(ds, np.array([-1024, -500, 1499, 2975], dtype=np.int16))
    assert ends.tolist() == [table[0], table[0], table[-1], table[-1]]
    assert modality_unit(ds) == "OD"


def test_voi_lut_sequence_agrees_with_pydicom_scaled_to_the_display() -> None:
    ds, stored = generated_ct()
    table = [min(4095, max(0, (i - 100) * 4)) for i in range(1200)]
    ds.VOILUTSequence = Sequence([lut_item([1200, -200, 12], table)])
    values = modality_values(ds, stored)
    reference = apply_voi_lut(stored, ds)  # slope 1, intercept 0: stored = modality values
    expected = np.rint(reference.astype(float) * 255 / 4095)
    np.testing.assert_array_equal(apply_voi_lut_sequence(ds, values), expected)
    np.testing.assert_array_equal(present(ds, values, None), expected)
    assert apply_voi_lut_sequence(generated_ct()[0], values) is None


def test_palette_colour_agrees_with_pydicom() -> None:
    ds = bundled("examples_palette.dcm")
    rgb = decode_frame(ds, 0)
    np.testing.assert_array_equal(rgb, apply_color_lut(pixel_array(ds), ds))
    shown = present(ds, rgb, None)
    assert shown.dtype == np.uint8 and shown.flags.c_contiguous
    np.testing.assert_array_equal(shown, rgb >> 8)  # 16-bit palette entries


# --- Decoding every transfer syntax ---------------------------------------------------------


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm",
                                  "MR_small_jp2klossless.dcm", "MR_small_implicit.dcm",
                                  "MR_small_bigendian.dcm", "MR_small_expb.dcm"])
def test_lossless_encodings_decode_to_the_uncompressed_reference(name: str) -> None:
    reference = decode_frames(bundled("MR_small.dcm"))
    np.testing.assert_array_equal(decode_frames(bundled(name)), reference)


@pytest.mark.parametrize("name", ["SC_rgb_jpeg_gdcm.dcm", "SC_rgb_gdcm_KY.dcm"])
def test_lossless_colour_encodings_decode_to_the_rle_reference(name: str) -> None:
    reference = decode_frames(bundled("SC_rgb_rle.dcm"))
    np.testing.assert_array_equal(decode_frames(bundled(name)), reference)


@pytest.mark.parametrize(("name", "largest_error"), [("SC_rgb_jpeg_dcmtk.dcm", 8),
                                                     ("SC_rgb_dcmtk_+eb+cr.dcm", 2),
                                                     ("SC_rgb_jls_lossy_line.dcm", 2)])
def test_lossy_colour_encodings_stay_close_to_the_lossless_reference(
        name: str, largest_error: int) -> None:
    error = np.abs(decode_frames(bundled(name)).astype(int)
                   - decode_frames(bundled("SC_rgb_rle.dcm")))
    assert error.max() <= largest_error and error.mean() < 1


@pytest.mark.filterwarnings("ignore:Expected explicit VR")
def test_jpeg_baseline_matches_the_reference_decompression() -> None:
    decoded = decode_frames(bundled("SC_rgb_jpeg.dcm"))
    reference = decode_frames(bundled("SC_rgb_jpeg_dcmd.dcm"))  # decompressed by dcmtk
    assert np.abs(decoded.astype(int) - reference).max() <= 1


def test_deflated_dataset_decodes() -> None:
    ds = bundled("image_dfl.dcm")
    frames = decode_frames(ds)
    raw = np.frombuffer(ds.PixelData, np.uint8)[: ds.Rows * ds.Columns]
    np.testing.assert_array_equal(frames, raw.reshape(1, ds.Rows, ds.Columns))


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
def test_generated_multiframe_ct_survives_compression(syntax: str) -> None:
    ds, stored = generated_ct(frames=3)
    ds.compress(syntax)
    frames = decode_frames(ds)
    assert frames.shape == (3, 64, 64)
    np.testing.assert_array_equal(frames, stored)
    np.testing.assert_array_equal(decode_frame(ds, 2), stored[2])


def test_every_transfer_syntax_the_node_accepts_has_a_decoder() -> None:
    from app.node import ACCEPTED_TRANSFER_SYNTAXES

    for uid in ACCEPTED_TRANSFER_SYNTAXES:
        assert get_decoder(uid).is_available, uid


def test_ybr_full_422_becomes_the_same_rgb_as_pydicoms_conversion() -> None:
    ds = bundled("SC_ybr_full_422_uncompressed.dcm")
    reference = convert_color_space(pixel_array(ds, raw=True), "YBR_FULL", "RGB")
    np.testing.assert_array_equal(decode_frame(ds, 0), reference)


def test_ybr_full_jpeg_becomes_the_same_rgb_as_pydicoms_conversion() -> None:
    ds = bundled("SC_rgb_jpeg_dcmtk.dcm")
    reference = convert_color_space(pixel_array(ds, raw=True), "YBR_FULL", "RGB")
    np.testing.assert_array_equal(decode_frame(ds, 0), reference)


def test_planar_configuration_one_is_interleaved() -> None:
    ds = bundled("SC_rgb_small_odd.dcm")
    interleaved = decode_frame(ds, 0)
    planar = copy.deepcopy(ds)
    planar.PlanarConfiguration = 1
    planar.PixelData = np.ascontiguousarray(interleaved.transpose(2, 0, 1)).tobytes() + b"\0"
    np.testing.assert_array_equal(decode_frame(planar, 0), interleaved)
    big_endian = bundled("ExplVR_BigEnd.dcm")  # RGB, planar configuration 1
    rows, columns = big_endian.Rows, big_endian.Columns
    bands = np.frombuffer(big_endian.PixelData, np.uint8)[: 3 * rows * columns]
    expected = bands.reshape(3, rows, columns).transpose(1, 2, 0)
    np.testing.assert_array_equal(decode_frame(big_endian, 0), expected)


def test_sixteen_bit_rgb_is_shown_as_eight_bit() -> None:
    ds = bundled("SC_rgb_rle_16bit.dcm")
    shown = present(ds, decode_frame(ds, 0), None)
    np.testing.assert_array_equal(shown, decode_frame(bundled("SC_rgb_rle.dcm"), 0))
    assert shown.dtype == np.uint8


@pytest.mark.parametrize(("name", "shape"), [("examples_ybr_color.dcm", (30, 240, 320, 3)),
                                             ("rtdose.dcm", (15, 10, 10)),
                                             ("SC_rgb_rle_2frame.dcm", (2, 100, 100, 3))])
def test_multiframe_frames_decode_one_at_a_time_as_in_the_whole(name: str, shape: tuple) -> None:
    ds = bundled(name)
    frames = decode_frames(ds)
    assert frames.shape == shape
    for index in (0, shape[0] // 2, shape[0] - 1):
        np.testing.assert_array_equal(decode_frame(ds, index), frames[index])
    with pytest.raises(IndexError, match=f"has {shape[0]} frame"):
        decode_frame(ds, shape[0])


def test_single_frame_has_a_frame_axis() -> None:
    assert decode_frames(bundled("CT_small.dcm")).shape == (1, 128, 128)
    assert decode_frames(bundled("SC_rgb_rle.dcm")).shape == (1, 100, 100, 3)


# --- Palette, photometric interpretation, presentation --------------------------------------


@pytest.mark.parametrize("palette", ["hotiron.dcm", "spring.dcm"])  # plain and segmented
def test_well_known_palettes_agree_with_pydicom(palette: str) -> None:
    indices = np.arange(256, dtype=np.uint8).reshape(16, 16)
    ds = palette_image(indices, entries=256, first=0)
    source = pydicom.dcmread(get_palette_files(palette)[0])
    for colour in ("Red", "Green", "Blue"):
        for keyword in (f"{colour}PaletteColorLookupTableData",
                        f"{colour}PaletteColorLookupTableDescriptor",
                        f"Segmented{colour}PaletteColorLookupTableData"):
            if keyword in ds:
                del ds[keyword]
            if keyword in source:
                ds[keyword] = source[keyword]
    np.testing.assert_array_equal(decode_frame(ds, 0), apply_color_lut(indices, source))


def test_palette_index_outside_the_table_is_clamped_and_reported(
        caplog: pytest.LogCaptureFixture) -> None:
    indices = np.arange(10).reshape(2, 5)
    ds = palette_image(indices, entries=4, first=2)
    with caplog.at_level(logging.WARNING, logger=pipeline.__name__):
        rgb = decode_frame(ds, 0)
    assert "6 pixel(s) index outside the 4-entry palette" in caplog.text
    red = [0, 85, 170, 255]  # the ramp over 4 entries
    expected = [red[0]] * 3 + [red[1], red[2]] + [red[3]] * 5
    assert rgb[..., 0].ravel().tolist() == expected
    assert rgb.dtype == np.uint8


def test_monochrome1_shows_the_lowest_value_white() -> None:
    ds, stored = generated_ct()
    ds.PhotometricInterpretation = "MONOCHROME1"
    values = modality_values(ds, stored)
    full_range = default_window(ds, values)
    shown = present(ds, values, full_range)
    assert shown.flat[np.argmin(stored)] == 255 and shown.flat[np.argmax(stored)] == 0
    toggled = present(ds, values, full_range, invert=True)
    assert toggled.flat[np.argmin(stored)] == 0 and toggled.flat[np.argmax(stored)] == 255


def test_monochrome2_shows_the_lowest_value_black_unless_inverted() -> None:
    ds, stored = generated_ct()
    values = modality_values(ds, stored)
    shown = present(ds, values, Window(40, 400))
    assert shown.flat[np.argmin(stored)] == 0 and shown.flat[np.argmax(stored)] == 255
    inverted = present(ds, values, Window(40, 400), invert=True, bits=10)
    assert inverted.flat[np.argmin(stored)] == 1023 and inverted.dtype == np.uint16


def test_presented_frames_are_c_contiguous_uint8() -> None:
    ds, stored = generated_ct()
    transposed = modality_values(ds, stored).T
    assert not transposed.flags.c_contiguous
    colour = bundled("SC_rgb_rle.dcm")
    for shown in (present(ds, transposed, Window(40, 400)), present(ds, transposed, None),
                  present(colour, decode_frame(colour, 0)[:, ::-1], None, invert=True)):
        assert shown.dtype == np.uint8 and shown.flags.c_contiguous


def test_default_window_without_stored_windows_spans_min_to_max() -> None:
    ds, stored = generated_ct()
    values = modality_values(ds, stored)
    window = default_window(ds, values)
    assert window.explanation == "auto (min–max)"
    shown = window_to_display(values, window)
    assert shown.min() == 0 and shown.max() == 255
    assert shown.flat[np.argmin(values)] == 0 and shown.flat[np.argmax(values)] == 255


def test_stored_windows_keep_explanations_and_skip_invalid_widths() -> None:
    ds, _ = generated_ct()
    ds.WindowCenter, ds.WindowWidth = [40, 300, -600], [400, 0.5, 1500]
    ds.WindowCenterWidthExplanation = ["ABDOMEN", "BROKEN", "LUNG"]
    assert stored_windows(ds) == [Window(40, 400, "LINEAR", "ABDOMEN"),
                                  Window(-600, 1500, "LINEAR", "LUNG")]
    ds.VOILUTFunction = "SIGMOID"  # 0.5 is a valid SIGMOID width
    assert [window.explanation for window in stored_windows(ds)] == ["ABDOMEN", "BROKEN", "LUNG"]
    assert default_window(ds, np.zeros(1)).explanation == "ABDOMEN"


def test_modality_unit_names_hounsfield_units_for_ct() -> None:
    assert modality_unit(bundled("CT_small.dcm")) == "HU"
    assert modality_unit(bundled("MR_small.dcm")) == ""
    ds, _ = generated_ct()
    ds.Modality, ds.RescaleType = "PT", "US"
    assert modality_unit(ds) == ""
    ds.RescaleType = "OD"
    assert modality_unit(ds) == "OD"


def test_enhanced_multiframe_takes_rescale_and_window_from_functional_groups() -> None:
    ds, stored = generated_ct(frames=2)
    del ds.RescaleSlope, ds.RescaleIntercept
    transformation = Dataset()
    transformation.RescaleSlope, transformation.RescaleIntercept = 2, -1024
    transformation.RescaleType = "HU"
    shared = Dataset()
    shared.PixelValueTransformationSequence = Sequence([transformation])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for center, width in ((40, 400), (-600, 1500)):
        voi, group = Dataset(), Dataset()
        voi.WindowCenter, voi.WindowWidth = center, width
        group.FrameVOILUTSequence = Sequence([voi])
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    np.testing.assert_array_equal(modality_values(ds, stored[1], frame=1),
                                  stored[1].astype(np.float32) * 2 - 1024)
    assert modality_unit(ds) == "HU"
    assert stored_windows(ds, frame=1) == [Window(-600, 1500)]
    assert default_window(ds, stored[0]) == Window(40, 400)


# --- Errors a radiologist or IT can act on --------------------------------------------------


def test_truncated_pixel_data_is_reported_with_both_sizes() -> None:
    with pytest.raises(PixelDataError, match="Pixel Data holds 8130 bytes, image needs 8192"):
        decode_frames(bundled("MR_truncated.dcm"))
    ds, _ = generated_ct(frames=3)
    ds.PixelData = ds.PixelData[:-100]
    with pytest.raises(PixelDataError, match="holds 24476 bytes, image needs 24576"):
        decode_frame(ds, 0)


def test_undecodable_jpeg_is_a_pixel_data_error() -> None:
    with pytest.raises(PixelDataError, match=r"cannot be decoded \(JPEG Extended"):
        decode_frames(bundled("JPEG-lossy.dcm"))


def test_missing_decoder_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = SimpleNamespace(is_available=False, is_native=False, missing_dependencies=[
        "pylibjpeg - requires pylibjpeg>=2.0 and pylibjpeg-openjpeg>=2.0"])
    monkeypatch.setattr(pipeline, "get_decoder", lambda uid: missing)
    with pytest.raises(PixelDataError, match=r"JPEG 2000 Image Compression decoder missing .*"
                                             r"pylibjpeg-openjpeg"):
        decode_frames(bundled("JPEG2000.dcm"))


def test_unsupported_transfer_syntax_and_missing_pixels_are_refused() -> None:
    ds, _ = generated_ct()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2
    with pytest.raises(PixelDataError, match=r"MPEG2 .* is not supported"):
        decode_frames(ds)
    del ds.PixelData
    with pytest.raises(PixelDataError, match="no Pixel Data"):
        decode_frames(ds)

