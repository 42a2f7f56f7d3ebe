"""Display pixel pipeline: stored values → Modality LUT → VOI → presentation values.

Follows PS3.3 C.7.6.3 (Image Pixel Module) for decoding and C.11 (Modality LUT, VOI LUT)
for the grayscale transforms. Pure numpy and pydicom: no Qt, so it runs in tests and in
worker threads. Colour images skip the grayscale transforms (C.7.6.3.1.2).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder
from pydicom.pixels.processing import apply_color_lut
from pydicom.pixels.utils import as_pixel_options, get_expected_length, get_nr_frames
from pydicom.uid import UID

if TYPE_CHECKING:
    from pydicom.pixels.decoders.base import Decoder

LOG = logging.getLogger(__name__)

VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
ROUNDING = 0.5 + 2**-12  # half up: 0.00024 outweighs float32 error at ties (to 10 bits)
UNSPECIFIED_UNIT = "US"  # Rescale Type / Modality LUT Type "unspecified" (C.11.1.1.2)
# The largest decoded frame the viewer builds: six times a 16-bit 4096 × 5120 mammogram, so
# a declared 65535 × 65535 frame is refused instead of exhausting the workstation's memory.
MAX_FRAME_BYTES = 256 * 1024 * 1024


class PixelDataError(Exception):
    """The image cannot be shown: its pixel data or Image Pixel Module is unusable."""


@dataclass(frozen=True)
class Window:
    """Window centre/width and VOI LUT Function (PS3.3 C.11.2.1.2); refuses undefined widths."""

    center: float
    width: float
    function: str = "LINEAR"
    explanation: str = ""

    def __post_init__(self) -> None:
        function = self.function.strip().upper()
        if function not in VOI_FUNCTIONS:
            raise ValueError(f"VOI LUT Function {self.function!r} is not one of {VOI_FUNCTIONS}")
        if not _valid_width(self.width, function):
            limit = "at least 1" if function == "LINEAR" else "above 0"
            raise ValueError(f"Window width {self.width} is invalid for {function}: "
                             f"it must be {limit} (PS3.3 C.11.2.1.2)")
        object.__setattr__(self, "function", function)

    def label(self) -> str:
        """Width then level, as radiologists say it: "W 400 / L 40"."""
        return f"W {_number(self.width)} / L {_number(self.center)}"


def _valid_width(width: float, function: str) -> bool:
    return bool(np.isfinite(width)) and (width >= 1 if function == "LINEAR" else width > 0)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def is_monochrome(dataset: Dataset) -> bool:
    """MONOCHROME1/2 (C.7.6.3.1.2); a single-sample image without the attribute counts too."""
    photometric = _photometric(dataset)
    if not photometric:
        return int(dataset.get("SamplesPerPixel") or 1) == 1
    return photometric.startswith("MONOCHROME")


def decoded_frame_bytes(dataset: Dataset) -> int:
    """Bytes of one decoded frame: Rows × Columns × Samples per Pixel × whole bytes per
    sample (PS3.3 C.7.6.3); PALETTE COLOR expands to three samples of up to 16 bits
    (C.7.6.3.1.5). Raises AttributeError, TypeError or ValueError for an unusable module."""
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    samples = int(dataset.get("SamplesPerPixel") or 1)
    sample_bytes = (int(dataset.BitsAllocated) + 7) // 8
    if min(rows, columns, samples, sample_bytes) < 1:
        raise ValueError(f"Rows {rows}, Columns {columns}, Samples per Pixel {samples} and "
                         f"Bits Allocated {dataset.BitsAllocated} must all be positive")
    if _photometric(dataset) == "PALETTE COLOR":
        samples, sample_bytes = 3, max(sample_bytes, 2)
    return rows * columns * samples * sample_bytes


def decode_frames(dataset: Dataset) -> np.ndarray:
    """All frames as stored values: (frames, rows, cols) or (frames, rows, cols, 3) RGB.

    YBR_FULL/YBR_FULL_422/YBR_ICT/YBR_RCT come back as RGB, PALETTE COLOR is expanded
    through its LUTs (C.7.6.3.1.5) and Planar Configuration 1 is interleaved (C.7.6.3.1.3).
    Colour keeps the stored sample depth (uint8, uint16; uint32 for 32-bit RGB).
    """
    array = _decode(dataset, None)
    return array[np.newaxis] if get_nr_frames(dataset, warn=False) <= 1 else array


def decode_frame(dataset: Dataset, index: int) -> np.ndarray:
    """One frame, decoding only that frame: (rows, cols) or (rows, cols, 3); IndexError if none."""
    frames = max(1, get_nr_frames(dataset, warn=False))
    if not 0 <= index < frames:
        raise IndexError(f"Frame {index} requested, the image has {frames} frame(s)")
    return _decode(dataset, index)


def _decode(dataset: Dataset, index: int | None) -> np.ndarray:
    transfer_syntax, decoder = _decoder(dataset)
    _check_frame_size(dataset)
    if decoder.is_native:
        _check_native_length(dataset)
    try:
        array, meta = decoder.as_array(dataset, index=index, validate=True, raw=False,
                                       **as_pixel_options(dataset))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # also a Rust plugin's panic (PanicException is no Exception)
        raise PixelDataError(
            f"Pixel data cannot be decoded ({transfer_syntax.name}): {exc}") from exc
    photometric = str(meta.get("photometric_interpretation", "")).strip().upper()
    if photometric == "PALETTE COLOR":
        return _expand_palette(dataset, array)
    if photometric.startswith("YBR"):
        raise PixelDataError(f"Pixel data cannot be shown: {photometric} with "
                             f"{dataset.get('BitsAllocated')} bits allocated has no RGB conversion")
    return array


def _decoder(dataset: Dataset) -> tuple[UID, Decoder]:
    """The transfer syntax and its pydicom decoder, or why the pixels cannot be decoded."""
    if not any(keyword in dataset for keyword in PIXEL_KEYWORDS):
        raise PixelDataError("The dataset has no Pixel Data (7FE0,0010): there is no image to show")
    uid = getattr(dataset, "file_meta", {}).get("TransferSyntaxUID")
    if not uid:
        raise PixelDataError("Pixel data cannot be decoded: the Transfer Syntax UID (0002,0010) "
                             "is missing from the file meta information")
    transfer_syntax = UID(uid)
    try:
        decoder = get_decoder(transfer_syntax)
    except NotImplementedError as exc:
        name = f"{transfer_syntax.name} ({transfer_syntax})"
        raise PixelDataError(f"Pixel data cannot be decoded: transfer syntax {name} "
                             "is not supported") from exc
    if not decoder.is_available:
        needs = "; ".join(decoder.missing_dependencies) or "a decoding plugin"
        raise PixelDataError(f"Pixel data cannot be decoded: {transfer_syntax.name} decoder "
                             f"missing (install one of: {needs})")
    return transfer_syntax, decoder


def _check_frame_size(dataset: Dataset) -> None:
    """Refuse a frame whose decoded size is unusable or above MAX_FRAME_BYTES, before any
    memory is spent on it: the declared Rows and Columns, not the data, decide the size."""
    try:
        size = decoded_frame_bytes(dataset)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise PixelDataError(f"Image Pixel Module unusable: {exc}") from exc
    if size > MAX_FRAME_BYTES:
        raise PixelDataError(
            f"One frame of {dataset.Rows} × {dataset.Columns} pixels would need "
            f"{size / 2**20:.0f} MiB decoded, more than the {MAX_FRAME_BYTES // 2**20} MiB "
            "the viewer allows: the image is not shown")


def _check_native_length(dataset: Dataset) -> None:
    """Uncompressed Pixel Data must hold every frame (PS3.5 §8.1.1)."""
    try:
        needed = get_expected_length(dataset, "bytes")
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise PixelDataError(f"Image Pixel Module incomplete: {exc}") from exc
    keyword = next(keyword for keyword in PIXEL_KEYWORDS if keyword in dataset)
    held = len(dataset[keyword].value or b"")
    if held < needed:
        raise PixelDataError(f"Pixel Data holds {held} bytes, image needs {needed}: the file is "
                             "truncated or its Rows/Columns/Bits/Number of Frames are wrong")


def _photometric(dataset: Dataset) -> str:
    return str(dataset.get("PhotometricInterpretation") or "").strip().upper()


def _lut_table(dataset: Dataset, item: Dataset) -> tuple[np.ndarray, int, int]:
    """An item's LUT Data as int64 entries, with the first value mapped and the bits per entry."""
    try:
        entries, first, depth = _descriptor(item.LUTDescriptor)
        return _lut_entries(dataset, item["LUTData"].value, entries), first, depth
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise PixelDataError(f"Lookup table unusable (LUT Descriptor and LUT Data, PS3.3 "
                             f"C.11.1.1.1): {exc}") from exc


def _descriptor(descriptor: Any) -> tuple[int, int, int]:
    """Entries (0 stands for 65536), first stored value mapped, bits per entry (1 to 16,
    PS3.3 C.11.1.1.1); ValueError for any other descriptor."""
    entries, first, depth = (int(value) for value in descriptor)
    if not (0 <= entries <= 0xFFFF and 1 <= depth <= 16):
        raise ValueError(f"LUT Descriptor {entries}\\{first}\\{depth} is outside "
                         "0-65535 entries of 1-16 bits")
    return entries or 65536, first, depth


def _lut_entries(dataset: Dataset, value: Any, entries: int) -> np.ndarray:
    """LUT Data given as US values or as OW bytes of 16-bit (or packed 8-bit) words."""
    if isinstance(value, bytes | bytearray):
        wide = len(value) >= 2 * entries
        order = "<" if _little_endian(dataset) else ">"
        usable = len(value) // 2 * 2 if wide else len(value)  # whole 16-bit words only
        table = np.frombuffer(value[:usable], dtype=f"{order}u2" if wide else np.uint8)
    else:
        table = np.atleast_1d(np.asarray(value, dtype=np.int64))
    if table.size < entries:
        raise PixelDataError(f"Lookup table holds {table.size} entries, its LUT Descriptor "
                             f"declares {entries}: the image cannot be shown faithfully")
    return table[:entries].astype(np.int64)


def _little_endian(dataset: Dataset) -> bool:
    uid = getattr(dataset, "file_meta", {}).get("TransferSyntaxUID")
    return bool(UID(uid).is_little_endian) if uid else dataset.original_encoding[1] is not False


def _lookup(values: np.ndarray, table: np.ndarray, first: int) -> np.ndarray:
    """table[value - first]; values below the first entry take it, above the last take the last."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        values = np.floor(values)
    index = values.astype(np.int64) - first
    return np.take(table, index, axis=0, mode="clip")


def _expand_palette(dataset: Dataset, indices: np.ndarray) -> np.ndarray:
    """PALETTE COLOR indices → RGB through the palette LUTs (C.7.6.3.1.5, C.7.9).

    An index outside the palette is clamped to the nearest entry and logged, so a damaged
    pixel shows as the palette's end colour instead of hiding the whole image.
    """
    try:
        table, first = _palette_table(dataset)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise PixelDataError(f"PALETTE COLOR image without usable Palette Color Lookup Tables "
                             f"(0028,1101-1203): {exc}") from exc
    index = indices.astype(np.int64) - first
    outside = np.count_nonzero((index < 0) | (index >= len(table)))
    if outside:
        LOG.warning("PALETTE COLOR image: %d pixel(s) index outside the %d-entry palette "
                    "(first mapped %d); shown with the nearest palette entry",
                    outside, len(table), first)
    return np.take(table, index, axis=0, mode="clip")


def _palette_table(dataset: Dataset) -> tuple[np.ndarray, int]:
    """An (entries, 3) RGB table (uint8 for 8-bit entries, else uint16) and its first index."""
    entries, first, depth = _descriptor(dataset.RedPaletteColorLookupTableDescriptor)
    if "RedPaletteColorLookupTableData" in dataset:
        channels = [dataset[f"{colour}PaletteColorLookupTableData"].value
                    for colour in ("Red", "Green", "Blue")]
        table = np.stack([_lut_entries(dataset, value, entries) for value in channels], axis=-1)
    else:  # Segmented Palette Color LUTs (C.7.9.2): pydicom expands the segments
        table = apply_color_lut(np.arange(first, first + entries), dataset)[..., :3]
    dtype = np.uint8 if depth <= 8 else np.uint16
    return np.clip(table, 0, 2**depth - 1).astype(dtype), first


def _first_item(dataset: Dataset, keyword: str) -> Dataset | None:
    sequence = dataset.get(keyword)
    return sequence[0] if sequence else None


def _functional(dataset: Dataset, keyword: str, frame: int) -> Dataset | None:
    """Enhanced multi-frame: `keyword`'s item for `frame`, per-frame groups before shared."""
    for groups, position in (("PerFrameFunctionalGroupsSequence", frame),
                             ("SharedFunctionalGroupsSequence", 0)):
        sequence = dataset.get(groups)
        if sequence and 0 <= position < len(sequence):
            item = _first_item(sequence[position], keyword)
            if item is not None:
                return item
    return None


def modality_values(dataset: Dataset, stored: np.ndarray, *, frame: int = 0) -> np.ndarray:
    """Stored values → modality values (e.g. HU), always a new float32 array (PS3.3 C.11.1).

    Modality LUT Sequence when present (values outside the table take its first or last
    entry), else Rescale Slope/Intercept. Enhanced multi-frame images take the Pixel Value
    Transformation of `frame` (per-frame, then shared functional groups).
    """
    item = _first_item(dataset, "ModalityLUTSequence")
    if item is not None:
        table, first, _depth = _lut_table(dataset, item)
        return _lookup(stored, table, first).astype(np.float32)
    slope, intercept = rescale(dataset, frame=frame)
    values = np.asarray(stored).astype(np.float32)
    if slope != 1:
        values *= np.float32(slope)
    if intercept != 0:
        values += np.float32(intercept)
    return values


def rescale(dataset: Dataset, *, frame: int = 0) -> tuple[float, float]:
    """Rescale Slope and Intercept of ``frame`` (PS3.3 C.11.1.1.2; 1 and 0 when absent);
    PixelDataError when they are not finite numbers: the modality values (e.g. HU) of
    the image would be unknown, so it is not shown."""
    source = _rescale_source(dataset, frame)
    try:
        slope = float(source.get("RescaleSlope") or 1)
        intercept = float(source.get("RescaleIntercept") or 0)
    except (TypeError, ValueError) as exc:
        raise PixelDataError(f"Rescale Slope/Intercept unusable ({exc}): the image's "
                             "values (e.g. HU) cannot be known") from exc
    if not (np.isfinite(slope) and np.isfinite(intercept)):
        raise PixelDataError(f"Rescale Slope {slope} / Intercept {intercept} are not finite: "
                             "the image's values (e.g. HU) cannot be known")
    return slope, intercept


def modality_unit(dataset: Dataset) -> str:
    """Modality LUT Type or Rescale Type ("US", unspecified, gives ""); "HU" for rescaled CT."""
    item = _first_item(dataset, "ModalityLUTSequence")
    source = item if item is not None else _rescale_source(dataset, 0)
    keyword = "ModalityLUTType" if item is not None else "RescaleType"
    unit = str(source.get(keyword) or "").strip()
    if unit and unit != UNSPECIFIED_UNIT:
        return unit
    if dataset.get("Modality") == "CT" and "RescaleIntercept" in source:
        return "HU"  # CT Image: rescaled values are Hounsfield Units (C.8.2.1.1.1)
    return ""


def _rescale_source(dataset: Dataset, frame: int) -> Dataset:
    if "RescaleIntercept" in dataset or "RescaleSlope" in dataset:
        return dataset
    return _functional(dataset, "PixelValueTransformationSequence", frame) or dataset


def stored_windows(dataset: Dataset, *, frame: int = 0) -> list[Window]:
    """Every stored Window Center/Width pair and explanation (C.11.2.1.2); bad widths skipped."""
    source = _voi_source(dataset, frame)
    function = str(source.get("VOILUTFunction") or "LINEAR").strip().upper()
    if function not in VOI_FUNCTIONS:
        LOG.warning("VOI LUT Function %r is not defined by PS3.3 C.11.2.1.3; "
                    "stored windows applied as LINEAR", function)
        function = "LINEAR"
    centers = _floats(source.get("WindowCenter"))
    widths = _floats(source.get("WindowWidth"))
    explanations = _items(source.get("WindowCenterWidthExplanation"))
    windows = []
    for position, (center, width) in enumerate(zip(centers, widths, strict=False)):
        if np.isfinite(center) and _valid_width(width, function):
            explanation = explanations[position] if position < len(explanations) else ""
            windows.append(Window(center, width, function, str(explanation).strip()))
    return windows


def default_window(dataset: Dataset, values: np.ndarray, *, frame: int = 0) -> Window:
    """The first stored window, else one spanning the values' minimum to maximum."""
    windows = stored_windows(dataset, frame=frame)
    if windows:
        return windows[0]
    lowest, highest = float(np.nanmin(values)), float(np.nanmax(values))
    if not (np.isfinite(lowest) and np.isfinite(highest)):
        lowest, highest = 0.0, 1.0
    width = highest - lowest if highest > lowest else 1.0
    # LINEAR_EXACT maps the minimum to black and the maximum to white, also for float data.
    return Window((lowest + highest) / 2, width, "LINEAR_EXACT", "auto (min–max)")


def _voi_source(dataset: Dataset, frame: int) -> Dataset:
    if "WindowCenter" in dataset or "VOILUTSequence" in dataset:
        return dataset
    return _functional(dataset, "FrameVOILUTSequence", frame) or dataset


def _items(value: Any) -> list[Any]:
    """An attribute's values (VM 1-n) as a list; absent or empty gives []."""
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]


def _floats(value: Any) -> list[float]:
    """DS values as floats; unreadable ones become NaN so positions stay aligned."""
    floats = []
    for item in _items(value):
        try:
            floats.append(float(item))
        except (TypeError, ValueError):
            floats.append(float("nan"))
    return floats


def window_to_display(values: np.ndarray, window: Window, *, bits: int = 8) -> np.ndarray:
    """Modality values → display values 0..2^bits-1 (uint8 up to 8 bits, else uint16).

    Exact PS3.3 formulas: LINEAR C.11.2.1.2.1 (c - 0.5, w - 1), LINEAR_EXACT C.11.2.1.3.2,
    SIGMOID C.11.2.1.3.1. The real result is rounded half up (see ROUNDING); the centre is
    subtracted first to keep float32 exact enough. One float32 buffer, reused in place, so
    presentation_lut gives the very same values.
    """
    top = _top(bits)
    center, width = float(window.center), float(window.width)
    if window.function == "LINEAR":
        center, width = center - 0.5, width - 1
    buffer = np.asarray(values).astype(np.float32, order="C")
    if window.function != "SIGMOID" and width == 0:  # LINEAR width 1: x <= c - 0.5 is black
        return np.where(buffer > np.float32(center), top, 0).astype(_dtype(bits))
    buffer -= np.float32(center)
    if window.function == "SIGMOID":
        _sigmoid(buffer, width, top)
    else:  # ((x - c) / w + 0.5) × top, clipped below to 0 and above to top
        buffer *= np.float32(top / width)
        buffer += np.float32(top / 2 + ROUNDING)
    np.clip(buffer, 0, top, out=buffer)
    return buffer.astype(_dtype(bits))


def _sigmoid(buffer: np.ndarray, width: float, top: int) -> None:
    """x - c → top / (1 + exp(-4 (x - c) / w)) + ROUNDING, in place."""
    buffer *= np.float32(-4 / width)
    with np.errstate(over="ignore"):  # exp overflow → inf → 0, the curve's own limit
        np.exp(buffer, out=buffer)
    buffer += np.float32(1)
    np.divide(np.float32(top), buffer, out=buffer)
    buffer += np.float32(ROUNDING)


def presentation_lut(window: Window, lowest: int, highest: int, *, bits: int = 8) -> np.ndarray:
    """Display value of each integer lowest..highest (index value - lowest), for integer images.

    Equals window_to_display on every integer of the range: it is computed by it.
    """
    if highest < lowest:
        raise ValueError(f"Empty value range {lowest}..{highest}")
    return window_to_display(np.arange(lowest, highest + 1, dtype=np.float32), window, bits=bits)


def apply_voi_lut_sequence(dataset: Dataset, values: np.ndarray, index: int = 0, *,
                           bits: int = 8) -> np.ndarray | None:
    """Modality values → display values through VOI LUT Sequence item `index` (C.11.2.1.1).

    The table's range 0..2^n-1 (n from its LUT Descriptor) is scaled to 0..2^bits-1; values
    outside the table take its first or last entry. None when the image has no VOI LUT.
    """
    sequence = _voi_source(dataset, 0).get("VOILUTSequence")
    if not sequence:
        return None
    table, first, depth = _lut_table(dataset, sequence[index])
    top = _top(bits)
    scaled = np.clip(np.rint(table * (top / (2**depth - 1))), 0, top).astype(_dtype(bits))
    return _lookup(values, scaled, first)


def _top(bits: int) -> int:
    if not 1 <= bits <= 16:
        raise ValueError(f"Display depth {bits} bits is outside 1..16")
    return int(2**bits - 1)


def _dtype(bits: int) -> type[np.unsignedinteger]:
    return np.uint8 if bits <= 8 else np.uint16


def present(dataset: Dataset, values: np.ndarray, window: Window | None, *,
            invert: bool = False, bits: int = 8, frame: int = 0) -> np.ndarray:
    """One frame ready to draw: C-contiguous uint8 (uint16 when bits > 8), row-major.

    Monochrome `values` are modality values: windowed by `window`, or with None by the
    VOI LUT Sequence if any, else the default window; MONOCHROME1 is inverted (C.7.6.3.1.2)
    and `invert` flips that again. Colour `values` are the decoded RGB frame: reduced to
    uint8 and inverted on request; `bits` does not apply.
    """
    if not is_monochrome(dataset):
        return _present_colour(dataset, values, invert)
    shown = apply_voi_lut_sequence(dataset, values, bits=bits) if window is None else None
    if shown is None:
        chosen = window or default_window(dataset, values, frame=frame)
        shown = window_to_display(values, chosen, bits=bits)
    if (_photometric(dataset) == "MONOCHROME1") != invert:
        np.subtract(_top(bits), shown, out=shown)
    return np.ascontiguousarray(shown)


def _present_colour(dataset: Dataset, values: np.ndarray, invert: bool) -> np.ndarray:
    """RGB reduced to its 8 most significant bits: palette entry size, else Bits Stored."""
    rgb = np.asarray(values)
    if rgb.dtype != np.uint8:
        depth = 8 * rgb.dtype.itemsize
        if _photometric(dataset) != "PALETTE COLOR":
            depth = int(dataset.get("BitsStored") or depth)
        rgb = (rgb >> max(depth - 8, 0)).astype(np.uint8)
    if invert:
        rgb = np.subtract(255, rgb, dtype=np.uint8)
    return np.ascontiguousarray(rgb)
