"""Tests for the synthetic demo study generator (app.synthetic)."""

from __future__ import annotations

import datetime as dt
import inspect
import re
from collections import defaultdict
from itertools import islice
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from app.synthetic import (
    StudyPlan,
    demo_plans,
    iter_instances,
    plan_instance_count,
    write_study,
)

TODAY = dt.date(2026, 11, 26)
SMALL_CT = 24  # slices in the "large" CT for fast tests
UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
KINDS = {"CT_HEAD", "CT_CHEST", "MR_BRAIN", "CR_CHEST"}


def mod11_valid(number: str) -> bool:
    """NHS number modulus 11 check, written independently of the generator."""
    if not re.fullmatch(r"[0-9]{10}", number):
        return False
    remainder = sum(int(d) * (10 - i) for i, d in enumerate(number[:9])) % 11
    check = (11 - remainder) % 11
    return check != 10 and check == int(number[9])


def hu(ds: Dataset) -> np.ndarray:
    return ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def roundtrip(ds: Dataset, path: Path) -> Dataset:
    ds.save_as(path, enforce_file_format=True)
    return pydicom.dcmread(path)


def nth(plan: StudyPlan, index: int) -> Dataset:
    return next(islice(iter_instances(plan), index, None))


def find(plans: list[StudyPlan], kind: str, prior: bool = False) -> StudyPlan:
    return next(p for p in plans if p.kind == kind and p.is_prior == prior)


@pytest.fixture(scope="module")
def plans() -> list[StudyPlan]:
    return demo_plans(TODAY, large_ct_slices=SMALL_CT)


@pytest.fixture(scope="module")
def headers(plans: list[StudyPlan]) -> dict[str, list[Dataset]]:
    """Every instance of the small plans, keyed by accession, with pixel data dropped."""
    out: dict[str, list[Dataset]] = {}
    for plan in plans:
        out[plan.accession] = []
        for ds in iter_instances(plan):
            assert len(ds.PixelData) == ds.Rows * ds.Columns * 2
            del ds.PixelData
            out[plan.accession].append(ds)
    return out


def test_mod11_helper_against_published_example() -> None:
    assert mod11_valid("9434765919")
    assert not mod11_valid("9434765918")


def test_patients_are_fictitious_with_valid_nhs_numbers(plans: list[StudyPlan]) -> None:
    patients = {p.patient for p in plans}
    assert len(patients) == 3
    for patient in patients:
        assert patient.name.startswith("TESTPATIENT^")
        assert patient.nhs_number.startswith("999")
        assert mod11_valid(patient.nhs_number), patient.nhs_number
        assert patient.sex in {"F", "M"}
        dt.datetime.strptime(patient.birth_date, "%Y%m%d")
    assert len({p.nhs_number for p in patients}) == 3


def test_each_patient_has_current_and_prior_of_same_kind(plans: list[StudyPlan]) -> None:
    by_patient: dict[str, list[StudyPlan]] = defaultdict(list)
    for plan in plans:
        by_patient[plan.patient.patient_id].append(plan)
    for studies in by_patient.values():
        newest = max(p.study_date for p in studies)
        current = [p for p in studies if p.study_date == newest]
        assert current
        for plan in current:
            priors = [p for p in studies if p.kind == plan.kind and p.study_date < newest]
            assert priors, plan.describe()
            gap = dt.date.fromisoformat(newest) - dt.date.fromisoformat(priors[0].study_date)
            assert gap.days >= 60
    assert {p.kind for p in plans} == KINDS
    assert {p.kind for p in plans if p.is_prior} == KINDS


def test_default_plans_include_a_large_ct() -> None:
    default = demo_plans(TODAY)
    large = find(default, "CT_CHEST")
    assert large.slices >= 300
    assert large.describe() == f"CT chest {large.slices} images, TESTPATIENT^Alice, 2026-11-26"
    assert plan_instance_count(default) == sum(p.slices for p in default)
    assert all(p.slices == 1 for p in default if p.kind == "CR_CHEST")


def test_plans_are_deterministic() -> None:
    assert demo_plans(TODAY, large_ct_slices=SMALL_CT) == demo_plans(TODAY,
                                                                     large_ct_slices=SMALL_CT)
    assert len({p.accession for p in demo_plans(TODAY)}) == len(demo_plans(TODAY))


def test_uids_valid_and_unique(headers: dict[str, list[Dataset]]) -> None:
    instances, series, studies = set(), set(), set()
    for datasets in headers.values():
        for ds in datasets:
            for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID,
                        ds.file_meta.ImplementationClassUID, ds.get("FrameOfReferenceUID", "1")):
                assert UID.fullmatch(uid) and len(uid) <= 64, uid
            assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
            instances.add(ds.SOPInstanceUID)
        assert len({ds.SeriesInstanceUID for ds in datasets}) == 1
        assert len({ds.get("FrameOfReferenceUID") for ds in datasets}) == 1
        series.add(datasets[0].SeriesInstanceUID)
        studies.add(datasets[0].StudyInstanceUID)
    total = sum(len(d) for d in headers.values())
    assert len(instances) == total
    assert len(series) == len(studies) == len(headers)
    assert not (instances & series) and not (series & studies)


def test_common_attributes(plans: list[StudyPlan], headers: dict[str, list[Dataset]]) -> None:
    required = [
        "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
        "PatientAge", "StudyDate", "StudyTime", "SeriesDate", "SeriesTime", "ContentDate",
        "ContentTime", "AcquisitionDate", "AcquisitionTime", "AccessionNumber",
        "ReferringPhysicianName", "StudyDescription", "SeriesDescription",
        "RequestedProcedureDescription", "StationName", "Modality", "SeriesNumber", "StudyID",
        "InstanceNumber", "SOPClassUID", "BodyPartExamined", "PhotometricInterpretation",
        "SamplesPerPixel", "Rows", "Columns"]
    for plan in plans:
        datasets = headers[plan.accession]
        ds = datasets[0]
        assert ds.SpecificCharacterSet == "ISO_IR 100"
        assert all(keyword in ds for keyword in required)
        assert ds.PatientName == plan.patient.name and ds.AccessionNumber == plan.accession
        assert (ds.InstitutionName, ds.Manufacturer) == ("Synthetic Demo Hospital",
                                                         "telerad synthetic")
        other = ds.OtherPatientIDsSequence[0]
        assert (other.PatientID, other.IssuerOfPatientID, other.TypeOfPatientID) == (
            plan.patient.nhs_number, "NHS", "TEXT")
        request = ds.RequestAttributesSequence[0]
        assert request.RequestedProcedureID and request.ScheduledProcedureStepID
        assert request.ReasonForTheRequestedProcedure
        assert ds.ProcedureCodeSequence[0].CodeMeaning
        assert re.fullmatch(r"[0-9]{3}Y", ds.PatientAge)
        assert [d.InstanceNumber for d in datasets] == list(range(1, plan.slices + 1))
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


def test_geometry(plans: list[StudyPlan], headers: dict[str, list[Dataset]]) -> None:
    for plan in plans:
        if plan.kind == "CR_CHEST":
            continue
        datasets = headers[plan.accession]
        z = np.array([float(ds.ImagePositionPatient[2]) for ds in datasets])
        steps = np.diff(z)
        assert np.all(steps > 0) or np.all(steps < 0), plan.describe()
        spacing = float(datasets[0].SpacingBetweenSlices)
        np.testing.assert_allclose(np.abs(steps), spacing, atol=1e-3)
        for ds in datasets:
            assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
            assert float(ds.SliceLocation) == pytest.approx(float(ds.ImagePositionPatient[2]))
            assert ds.ImagePositionPatient[:2] == datasets[0].ImagePositionPatient[:2]
        assert float(datasets[0].SliceThickness) <= spacing


def test_ct_chest_round_trip_and_hu(plans: list[StudyPlan], tmp_path: Path) -> None:
    plan = find(plans, "CT_CHEST")
    ds = roundtrip(nth(plan, plan.slices // 2), tmp_path / "ct.dcm")
    assert ds.SOPClassUID == pydicom.uid.CTImageStorage
    assert (ds.Rows, ds.Columns, ds.BitsAllocated, ds.PixelRepresentation) == (512, 512, 16, 1)
    assert (float(ds.RescaleIntercept), float(ds.RescaleSlope)) == (-1024, 1)
    assert len(ds.WindowCenter) == len(ds.WindowWidth) == len(ds.WindowCenterWidthExplanation)
    assert ds.pixel_array.shape == (512, 512) and ds.pixel_array.dtype == np.int16
    values = hu(ds)
    assert -1050 < values[:20, :20].mean() < -950  # air outside the patient
    soft = values[(values > -20) & (values < 100)]
    assert soft.size > 0.1 * values.size and 25 < np.median(soft) < 60
    lung = values[(values > -950) & (values < -700)]
    assert lung.size > 0.05 * values.size and -900 < np.median(lung) < -800
    assert values.max() > 600  # bone


def test_ct_head_hu_and_lesion_only_in_current(plans: list[StudyPlan], tmp_path: Path) -> None:
    current, prior = find(plans, "CT_HEAD"), find(plans, "CT_HEAD", prior=True)
    ds = roundtrip(nth(current, 16), tmp_path / "head.dcm")
    assert float(ds.PixelSpacing[0]) == pytest.approx(0.45)
    values = hu(ds)
    x0, y0 = (float(v) for v in ds.ImagePositionPatient[:2])
    col, row = round((30 - x0) / 0.45), round((20 - y0) / 0.45)  # left hemisphere
    assert 20 < values[row - 5:row + 5, col - 5:col + 5].mean() < 45
    assert -1010 < values[:20, :20].mean() < -990
    assert values.max() > 1000  # skull
    lesion = ((values > 60) & (values < 80)).sum()
    old = hu(nth(prior, 16))
    assert lesion > ((old > 60) & (old < 80)).sum() + 500


def test_mr_brain(plans: list[StudyPlan], tmp_path: Path) -> None:
    ds = roundtrip(nth(find(plans, "MR_BRAIN"), 12), tmp_path / "mr.dcm")
    assert ds.SOPClassUID == pydicom.uid.MRImageStorage
    assert (ds.Rows, ds.Columns, ds.PixelRepresentation, ds.PhotometricInterpretation) == (
        256, 256, 0, "MONOCHROME2")
    assert "RescaleIntercept" not in ds
    for keyword in ("EchoTime", "RepetitionTime", "MagneticFieldStrength", "ScanningSequence",
                    "SequenceVariant", "SequenceName", "WindowCenter", "WindowWidth"):
        assert keyword in ds
    assert ds.pixel_array.dtype == np.uint16 and ds.pixel_array.max() < 2**ds.BitsStored
    assert find(plans, "MR_BRAIN").slices == 24


def test_cr_current_monochrome2_prior_monochrome1(plans: list[StudyPlan], tmp_path: Path) -> None:
    current = roundtrip(nth(find(plans, "CR_CHEST"), 0), tmp_path / "cr.dcm")
    prior = roundtrip(nth(find(plans, "CR_CHEST", prior=True), 0), tmp_path / "cr1.dcm")
    assert current.PhotometricInterpretation == "MONOCHROME2"
    assert prior.PhotometricInterpretation == "MONOCHROME1"
    for ds in (current, prior):
        assert ds.SOPClassUID == pydicom.uid.ComputedRadiographyImageStorage
        assert max(ds.Rows, ds.Columns) <= 2048 and ds.Rows > ds.Columns >= 1500
        assert (ds.BitsStored, ds.PixelRepresentation, ds.ViewPosition) == (12, 0, "PA")
        assert ds.BodyPartExamined == "CHEST" and len(ds.ImagerPixelSpacing) == 2
        assert ds.pixel_array.dtype == np.uint16 and ds.pixel_array.max() <= 4095
    # Displayed (inverted) the prior looks like the current: bright bone, dark lungs.
    a, b = current.pixel_array.ravel()[::97], 4095 - prior.pixel_array.ravel()[::97]
    assert np.corrcoef(a, b)[0, 1] > 0.9


def test_deterministic_pixels_and_uids(plans: list[StudyPlan]) -> None:
    plan = find(plans, "CT_CHEST")
    again = find(demo_plans(TODAY, large_ct_slices=SMALL_CT), "CT_CHEST")
    assert [d.SOPInstanceUID for d in iter_instances(plan)] == [
        d.SOPInstanceUID for d in iter_instances(again)]
    assert nth(plan, 7).PixelData == nth(again, 7).PixelData
    assert nth(plan, 7).PixelData != nth(plan, 8).PixelData


def test_iter_instances_is_lazy() -> None:
    large = find(demo_plans(TODAY), "CT_CHEST")
    instances = iter_instances(large)
    assert inspect.isgenerator(instances)
    first = next(instances)
    assert first.InstanceNumber == 1 and len(first.PixelData) == 512 * 512 * 2


def test_write_study(plans: list[StudyPlan], tmp_path: Path) -> None:
    plan = find(plans, "MR_BRAIN", prior=True)
    paths = write_study(plan, tmp_path / "mr")
    assert len(paths) == plan.slices and len(set(paths)) == plan.slices
    for path in paths[:3]:
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.StudyInstanceUID == plan.study_uid
        assert ds.pixel_array.shape == (256, 256)
