"""A C-STORE's data set becomes the file the store keeps (app/received_instance.py)."""

from __future__ import annotations

import io

import pytest
from pydicom import dcmread
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.dsutils import create_file_meta
from pynetdicom.dsutils import encode_file_meta as pynetdicom_file_meta

from app.errors import DatasetMismatch, InvalidDicomValue, MalformedDataset
from app.received_instance import PREAMBLE, encode_file_meta, received_instance
from tests.helpers import encoded, make_instance


def _stream(syntax: str = ExplicitVRLittleEndian, **fields: object) -> tuple[bytes, object]:
    dataset = make_instance(**fields)  # type: ignore[arg-type]
    return encoded(dataset, implicit=syntax == ImplicitVRLittleEndian), dataset


@pytest.mark.parametrize("sop_uid", ["1.2.3.4", "1.2.3.45", "1." + "2" * 62])
@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, "1.2.840.10008.1.2.4.80"])
def test_file_meta_bytes_are_pynetdicoms(sop_uid: str, syntax: str) -> None:
    """Odd and even UID lengths, the longest UID; the same bytes pydicom writes for
    pynetdicom's Event.file_meta (PS3.10 §7.1)."""
    expected = pynetdicom_file_meta(create_file_meta(
        sop_class_uid=CTImageStorage, sop_instance_uid=sop_uid, transfer_syntax=syntax))
    assert encode_file_meta(CTImageStorage, sop_uid, syntax) == expected


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_the_file_reads_back_with_the_data_set_as_sent(syntax: str) -> None:
    stream, sent = _stream(syntax, patient_name="TESTPATIENT^File")
    stored, dataset = received_instance(stream, syntax, sent.SOPClassUID, sent.SOPInstanceUID)

    assert stored.startswith(PREAMBLE) and stored.endswith(stream)
    opened = dcmread(io.BytesIO(stored))
    assert opened.file_meta.TransferSyntaxUID == syntax
    assert opened.file_meta.MediaStorageSOPInstanceUID == sent.SOPInstanceUID
    assert opened.file_meta.MediaStorageSOPClassUID == CTImageStorage
    assert str(opened.PatientName) == str(dataset.PatientName) == "TESTPATIENT^File"
    assert dataset.file_meta.TransferSyntaxUID == syntax


@pytest.mark.parametrize("which", ["class", "instance"])
def test_uids_other_than_the_requests_are_a_mismatch(which: str) -> None:
    stream, sent = _stream()
    requested = {"class": sent.SOPClassUID, "instance": sent.SOPInstanceUID}
    requested[which] = "1.2.3.999"
    name = {"class": "SOP Class UID", "instance": "SOP Instance UID"}[which]

    with pytest.raises(DatasetMismatch, match=f"{name} differs from request"):
        received_instance(stream, ExplicitVRLittleEndian, requested["class"],
                          requested["instance"])


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_a_request_uid_that_is_no_uid_is_refused_even_when_the_data_set_agrees() -> None:
    stream, sent = _stream(sop_uid="1.2.x")
    with pytest.raises(InvalidDicomValue, match="SOP Instance UID is not a valid UID"):
        received_instance(stream, ExplicitVRLittleEndian, sent.SOPClassUID, "1.2.x")


def test_a_truncated_stream_is_malformed() -> None:
    stream, sent = _stream()
    with pytest.raises(MalformedDataset):
        received_instance(stream[:-7], ExplicitVRLittleEndian, sent.SOPClassUID,
                          sent.SOPInstanceUID)
