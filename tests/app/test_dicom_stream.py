"""A received stream is stored only when it holds whole elements and whole pixel data."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from app.dicom_stream import check_complete, check_pixel_data
from app.errors import MalformedDataset

BUNDLED = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm",
           "SC_rgb_small_odd_jpeg.dcm", "emri_small_jpeg_2k_lossless.dcm", "rtplan.dcm",
           "waveform_ecg.dcm", "image_dfl.dcm"]
AVAILABLE = [name for name in BUNDLED if get_testdata_file(name, download=False)]


def _dataset_bytes(name: str) -> tuple[bytes, str]:
    """The dataset part of a bundled file (after the file meta) and its transfer syntax."""
    path = get_testdata_file(name, download=False)
    raw = Path(path).read_bytes()
    meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
    offset = 128 + 4 + 12 + int(meta.FileMetaInformationGroupLength)
    return raw[offset:], str(meta.TransferSyntaxUID)


def test_bundled_files_are_enough_to_mean_something() -> None:
    assert len(AVAILABLE) >= 6, AVAILABLE


@pytest.mark.parametrize("name", AVAILABLE)
def test_whole_dataset_is_accepted(name: str) -> None:
    data, syntax = _dataset_bytes(name)
    check_complete(data, syntax)


@pytest.mark.parametrize("name", AVAILABLE)
def test_stream_cut_inside_its_last_element_is_refused(name: str) -> None:
    data, syntax = _dataset_bytes(name)
    if syntax == "1.2.840.10008.1.2.1.99":
        data = zlib.compress(zlib.decompress(data, -zlib.MAX_WBITS)[:-3])[2:-4]
    else:
        data = data[:-3]
    with pytest.raises(MalformedDataset, match=r"truncated|malformed|inflated"):
        check_complete(data, syntax)


def test_element_header_cut_off_is_refused() -> None:
    data, syntax = _dataset_bytes("CT_small.dcm")
    with pytest.raises(MalformedDataset, match=r"header cut off|declares"):
        check_complete(data[:5], syntax)


def test_garbage_is_refused() -> None:
    with pytest.raises(MalformedDataset):
        check_complete(b"\x08\x00\x05\x00CS\xff\xff" + b"garbage" * 20, "1.2.840.10008.1.2.1")
    with pytest.raises(MalformedDataset, match="empty"):
        check_complete(b"", "1.2.840.10008.1.2.1")


def test_encapsulated_pixel_data_without_sequence_delimiter_is_refused() -> None:
    data, syntax = _dataset_bytes("JPEG2000.dcm")
    assert data.endswith(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    with pytest.raises(MalformedDataset):
        check_complete(data[:-8], syntax)


def test_short_native_pixel_data_is_refused_and_full_is_accepted() -> None:
    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    check_pixel_data(dataset, "1.2.840.10008.1.2.1")
    dataset.PixelData = dataset.PixelData[:-512]
    expected = "Pixel Data holds 32256 bytes, the image needs 32768"
    with pytest.raises(MalformedDataset, match=expected):
        check_pixel_data(dataset, "1.2.840.10008.1.2.1")


def test_short_pixel_data_after_a_round_trip_through_pydicom_is_refused() -> None:
    """What a sender that read a truncated file with pydicom and re-encoded it sends."""
    raw = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    dataset = pydicom.dcmread(io.BytesIO(raw[:-700]))
    with pytest.raises(MalformedDataset):
        check_pixel_data(dataset, str(dataset.file_meta.TransferSyntaxUID))
