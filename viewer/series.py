"""A series ready for display: frames in geometric order, the shown one decoded first.

The index gives every instance's position and orientation, so the order is known before
any file is opened (viewer.geometry.sort_series). The frame on screen is decoded at once;
a worker thread decodes the rest outward from it (STANDARDS §1: a 500-slice JPEG 2000
series is seconds of one core). Frames are kept as stored values — no wider copy — and
turned into display pixels through a lookup table built for the current window, which is
exact (viewer.pipeline) and fast for integer data.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from pydicom.dataset import Dataset

from viewer.geometry import PixelSpacing, SlicePlane, pixel_spacing, slice_plane, sort_series
from viewer.pipeline import (
    PixelDataError,
    Window,
    decode_frame,
    default_window,
    is_monochrome,
    modality_unit,
    modality_values,
    present,
    rescale,
    stored_windows,
)


class InstanceSource(Protocol):
    """Opens a stored instance (the app hands in its store, filtered for the reporter)."""

    def open_instance(self, sop_instance_uid: str) -> Dataset: ...


class StudyReader(InstanceSource, Protocol):
    """What the viewer reads of a study: its series (from the index) and its instances."""

    def series_of(self, study_uid: str) -> list[SeriesChoice]: ...


@dataclass(frozen=True)
class InstanceRef:
    """What the index knows of an instance before it is opened."""

    sop_instance_uid: str
    instance_number: int | None
    image_position: tuple[float, ...] | None
    image_orientation: tuple[float, ...] | None
    frames: int = 1


@dataclass(frozen=True)
class SeriesChoice:
    """A series as the series browser lists it."""

    series_uid: str
    number: int | None
    modality: str
    description: str
    instances: tuple[InstanceRef, ...]

    def label(self) -> str:
        count = sum(max(ref.frames, 1) for ref in self.instances)
        return f"Se {self.number or '?'} {self.modality} {self.description} ({count})".strip()


def main_series(choices: Sequence[SeriesChoice], modality: str = "") -> SeriesChoice:
    """The series to open first: the largest of the wanted modality (the main stack)."""
    wanted = [c for c in choices if c.modality == modality] or list(choices)
    return max(wanted, key=lambda c: sum(max(ref.frames, 1) for ref in c.instances))


@dataclass(frozen=True)
class FrameRef:
    sop_instance_uid: str
    frame: int


@dataclass(frozen=True)
class FrameInfo:
    """Presentation facts of one frame, read from its instance when it is decoded."""

    monochrome: bool
    slope: float
    intercept: float
    unit: str
    windows: tuple[Window, ...]
    spacing: PixelSpacing | None
    plane: SlicePlane | None
    header: Dataset  # the instance without its pixel data, for overlays
    modality_key: tuple  # equal keys: same modality transform (shared display tables)


def _header_only(dataset: Dataset) -> Dataset:
    """The dataset without pixel data; elements are carried over still unparsed, since
    converting every one of them cost more than decoding the frame."""
    tags = dataset.keys()  # iterating the Dataset itself would convert every element
    header = Dataset({tag: dataset.get_item(tag) for tag in tags if tag >> 16 != 0x7FE0})
    header.file_meta = getattr(dataset, "file_meta", Dataset())
    return header


def _frame_info(dataset: Dataset) -> FrameInfo:
    slope, intercept = rescale(dataset)
    has_lut = "ModalityLUTSequence" in dataset or "PerFrameFunctionalGroupsSequence" in dataset
    return FrameInfo(
        monochrome=is_monochrome(dataset), slope=slope, intercept=intercept,
        unit=modality_unit(dataset), windows=tuple(stored_windows(dataset)),
        spacing=pixel_spacing(dataset), plane=slice_plane(dataset),
        header=_header_only(dataset),
        modality_key=(str(dataset.get("SOPInstanceUID")),) if has_lut else (slope, intercept,
                      str(dataset.get("PhotometricInterpretation"))),
    )


def _as_header(ref: InstanceRef) -> dict[str, object]:
    """The geometry the index holds, keyed like a dataset, for sorting (a plain mapping:
    building 500 pydicom Datasets cost more than the rest of opening a series)."""
    return {"InstanceNumber": ref.instance_number,
            "ImagePositionPatient": list(ref.image_position or []) or None,
            "ImageOrientationPatient": list(ref.image_orientation or []) or None}


class SeriesVolume:
    """Frames of one series in display order, decoded on demand and in the background."""

    def __init__(self, source: InstanceSource, instances: Sequence[InstanceRef]) -> None:
        if not instances:
            raise ValueError("a series needs at least one instance")
        self._source = source
        ordering = sort_series([_as_header(ref) for ref in instances])
        self.order_method = ordering.method
        self.warnings = list(ordering.warnings)
        ordered = [instances[i] for i in ordering.order]
        self.frames = [FrameRef(ref.sop_instance_uid, f) for ref in ordered
                       for f in range(max(ref.frames, 1))]
        self.locations: list[float | None] = [
            ordering.locations[n] if ref.frames <= 1 else None
            for n, ref in enumerate(ordered) for _ in range(max(ref.frames, 1))
        ]
        self._pixels: dict[int, np.ndarray] = {}
        self._errors: dict[int, str] = {}
        self._info: dict[str, FrameInfo] = {}
        self._lock = threading.Lock()
        self._lut_cache: dict[tuple, np.ndarray] = {}
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()

    def __len__(self) -> int:
        return len(self.frames)

    # ---- decoding ----------------------------------------------------------------------

    def load(self, index: int) -> np.ndarray | None:
        """Stored values of frame ``index`` (decoding it now if needed); None if it failed."""
        if index in self._pixels:
            return self._pixels[index]
        if index in self._errors:
            return None
        ref = self.frames[index]
        try:
            dataset = self._source.open_instance(ref.sop_instance_uid)
            with self._lock:
                info = self._info.get(ref.sop_instance_uid) or _frame_info(dataset)
                self._info[ref.sop_instance_uid] = info
            pixels = np.ascontiguousarray(decode_frame(dataset, ref.frame))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a damaged image shows as an error, never a crash
            self._errors[index] = _describe(exc)
            return None
        self._pixels[index] = pixels
        return pixels

    def error(self, index: int) -> str | None:
        return self._errors.get(index)

    def info(self, index: int) -> FrameInfo | None:
        return self._info.get(self.frames[index].sop_instance_uid)

    def loaded_count(self) -> int:
        return len(self._pixels) + len(self._errors)

    def load_rest(self, start: int,
                  on_progress: Callable[[int, int], None] = lambda _done, _total: None) -> None:
        """Decode every other frame in a worker thread, nearest to ``start`` first."""
        order = sorted(range(len(self.frames)), key=lambda i: (abs(i - start), i))

        def run() -> None:
            for index in order:
                if self._stop.is_set():
                    return
                self.load(index)
                on_progress(self.loaded_count(), len(self.frames))

        self._worker = threading.Thread(target=run, name="series-decode", daemon=True)
        self._worker.start()

    def wait(self, timeout: float | None = None) -> None:
        if self._worker is not None:
            self._worker.join(timeout)

    def close(self) -> None:
        self._stop.set()
        self.wait(5)

    # ---- values and display ------------------------------------------------------------

    def _failed(self, index: int, exc: BaseException) -> PixelDataError:
        """Frame ``index`` turned out unshowable after decoding: it now reads as failed."""
        self._errors[index] = _describe(exc)
        self._pixels.pop(index, None)
        return exc if isinstance(exc, PixelDataError) else PixelDataError(self._errors[index])

    def modality(self, index: int) -> np.ndarray | None:
        """Modality values (e.g. HU) of a monochrome frame, PS3.3 C.11.1, for measurements."""
        pixels, info = self.load(index), self.info(index)
        if pixels is None or info is None or not info.monochrome:
            return None
        try:
            return modality_values(info.header, pixels)
        except Exception as exc:  # a damaged image shows as an error, never a crash
            self._failed(index, exc)
            return None

    def default_window(self, index: int) -> Window | None:
        info = self.info(index) if self.load(index) is not None else None
        if info is None or not info.monochrome:
            return None
        if info.windows:
            return info.windows[0]
        values = self.modality(index)
        return None if values is None else default_window(info.header, values)

    def display(self, index: int, window: Window | None, *, invert: bool = False,
                bits: int = 8) -> np.ndarray:
        """Pixels for the screen: windowed, MONOCHROME1 and user inversion applied; uint8,
        or uint16 values 0..1023 with ``bits=10`` for a 10-bit display (colour stays 8-bit).

        ``window`` None means the image's own VOI: its VOI LUT Sequence if it has one, else
        its first stored window (PS3.3 C.11.2)."""
        pixels, info = self.load(index), self.info(index)
        if pixels is None or info is None:
            raise PixelDataError(self._errors.get(index, "frame not available"))
        try:
            return self._display(index, pixels, info, window, invert, bits)
        except Exception as exc:  # a damaged image shows as an error, never a crash
            raise self._failed(index, exc) from exc

    def _display(self, index: int, pixels: np.ndarray, info: FrameInfo, window: Window | None,
                 invert: bool, bits: int) -> np.ndarray:
        if not info.monochrome:
            return present(info.header, pixels, None, invert=invert)
        if window is None and "VOILUTSequence" in info.header:
            return present(info.header, modality_values(info.header, pixels), None,
                           invert=invert, bits=bits)
        window = window or self.default_window(index)
        if window is None:
            raise PixelDataError(self._errors.get(index, "no window for this frame"))
        if pixels.dtype in (np.uint8, np.uint16, np.int8, np.int16):
            return self._lut(pixels.dtype, info, window, invert, bits)[_lut_index(pixels)]
        return present(info.header, modality_values(info.header, pixels), window, invert=invert,
                       bits=bits)

    def _lut(self, dtype: np.dtype, info: FrameInfo, window: Window, invert: bool,
             bits: int) -> np.ndarray:
        """Display value of every possible stored value of ``dtype`` (at most 65536 entries),
        through the image's own modality transform and ``present`` — exact by construction."""
        key = (window, invert, dtype, info.modality_key, bits)
        if key not in self._lut_cache:
            limits = np.iinfo(dtype)
            stored = np.arange(int(limits.min), int(limits.max) + 1).astype(dtype)
            table = present(info.header, modality_values(info.header, stored), window,
                            invert=invert, bits=bits)
            self._lut_cache = {key: np.ascontiguousarray(table)}
        return self._lut_cache[key]


def _lut_index(pixels: np.ndarray) -> np.ndarray:
    """Stored values as indices from the type's minimum: signed types flip their sign bit,
    which maps -32768..32767 onto 0..65535 in order without a wider copy."""
    if pixels.dtype == np.int16:
        return pixels.view(np.uint16) ^ np.uint16(0x8000)
    if pixels.dtype == np.int8:
        return pixels.view(np.uint8) ^ np.uint8(0x80)
    return pixels


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, PixelDataError) else f"image cannot be shown: {text}"
