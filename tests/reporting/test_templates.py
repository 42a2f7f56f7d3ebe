"""Report templates and macros: the reporter starts from the study's facts, not a blank page."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from app.synthetic import iter_instances
from reporting.model import SECTIONS, ReportError
from reporting.study import request_reason
from reporting.templates import (
    MACRO_FILE,
    NO_PRIOR,
    TEMPLATE_DIRECTORY,
    choose_template,
    default_macros,
    expand_macros,
    load_templates,
    prefilled_sections,
    validate_abbreviation,
)
from tests.helpers import small_plan

PRIOR_LINE = "CT Chest without contrast of 2025-11-02 (accession ACC0001)."


def first_image(kind: str) -> Dataset:
    return next(iter(iter_instances(small_plan(kind, 1))))


def template_for(modality: str, *body_parts: str) -> str:
    return choose_template(load_templates(), modality, body_parts).name


def test_every_shipped_template_loads() -> None:
    shipped = sorted(p.name for p in TEMPLATE_DIRECTORY.glob("*.toml") if p.name != MACRO_FILE)
    templates = load_templates()

    assert len(templates) == len(shipped)
    assert len({t.name for t in templates}) == len(templates)
    for template in templates:
        assert set(template.sections) <= set(SECTIONS)
        assert all(m == m.upper() for m in template.modalities)
        assert all(b == b.upper() for b in template.body_parts)
    assert default_macros()[".nad"] == "No acute abnormality."


@pytest.mark.parametrize(("kind", "expected"), [
    ("CT_CHEST", "CT chest"),
    ("CT_HEAD", "CT head"),
    ("MR_BRAIN", "MR head"),
    ("CR_CHEST", "Chest radiograph"),
])
def test_study_gets_the_template_of_its_modality_and_body_part(kind: str, expected: str) -> None:
    image = first_image(kind)

    assert template_for(image.Modality, image.BodyPartExamined) == expected


def test_ct_of_an_unknown_body_part_gets_the_ct_template() -> None:
    assert template_for("CT", "ABDOMEN") == "CT"
    assert template_for("CT") == "CT"
    assert template_for("ct", "chest") == "CT chest"


def test_unknown_modality_gets_the_general_template() -> None:
    assert template_for("US", "ABDOMEN") == "General imaging report"
    assert template_for("", "CHEST") == "General imaging report"


def test_no_fitting_template_gives_a_blank_one() -> None:
    ct_only = [t for t in load_templates() if t.modalities == ("CT",)]

    assert choose_template(ct_only, "MR", ["HEAD"]).name == "Blank"
    assert choose_template([], "CT", ["CHEST"]).sections == {}


def test_prefill_puts_the_request_and_the_comparison() -> None:
    image = first_image("CT_CHEST")
    template = choose_template(load_templates(), image.Modality, [image.BodyPartExamined])

    sections = prefilled_sections(template, clinical_information=request_reason(image),
                                  comparison=PRIOR_LINE)

    assert list(sections) == list(SECTIONS)
    assert sections["clinical_information"] == "Follow-up of right upper lobe nodule"
    assert sections["comparison"] == PRIOR_LINE
    assert sections["technique"].startswith("CT chest, axial acquisition")
    assert sections["findings"].startswith("Lungs and airways:")
    assert sections["impression"] == ""


def test_prefill_says_there_is_no_prior_when_none_is_shown() -> None:
    template = choose_template(load_templates(), "CT", ["CHEST"])

    sections = prefilled_sections(template, clinical_information="  ", comparison="")

    assert sections["comparison"] == NO_PRIOR
    assert sections["clinical_information"] == ""


@pytest.mark.parametrize(("text", "named"), [
    ('name = "Broken\nmodalities = ["CT"]\n', "not valid"),  # not TOML
    ('name = "No modalities"\nbody_parts = []\n', "modalities"),
    ('name = "Odd"\nmodalities = ["CT"]\nbody_parts = []\n[sections]\nhistory = "x"\n',
     "unknown section(s) history"),
    ('name = "Odd"\nmodalities = "CT"\nbody_parts = []\n', "modalities"),
    ('name = "Odd"\nmodalities = ["CT"]\nbody_parts = []\nsections = "x"\n', "sections"),
])
def test_broken_template_file_is_named(tmp_path: Path, text: str, named: str) -> None:
    (tmp_path / "ct.toml").write_text('name = "CT"\nmodalities = ["CT"]\nbody_parts = []\n')
    (tmp_path / "ct_spine.toml").write_text(text, encoding="utf-8")

    with pytest.raises(ReportError, match=r"report template ct_spine\.toml is not valid") as e:
        load_templates(tmp_path)
    assert named in str(e.value)


def test_broken_macro_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / MACRO_FILE).write_text('[macros]\n".nad" = "No acute', encoding="utf-8")

    with pytest.raises(ReportError, match=f"{MACRO_FILE} is not valid TOML"):
        default_macros(tmp_path)
    assert default_macros(tmp_path / "none") == {}


# ---- macros -----------------------------------------------------------------------------

MACROS = {".nad": "No acute abnormality.", ".fu": "Follow-up imaging is recommended."}


def test_macro_expands_when_followed_by_white_space() -> None:
    assert expand_macros(".nad ", MACROS) == "No acute abnormality. "
    assert expand_macros("Chest: .nad\n.fu ", MACROS) == (
        "Chest: No acute abnormality.\nFollow-up imaging is recommended. ")


@pytest.mark.parametrize("text", ["x.nad ", "see.nad\n", ".nad", "Chest: .nad", ".nadir "])
def test_macro_inside_a_word_or_at_the_very_end_stays_as_typed(text: str) -> None:
    assert expand_macros(text, MACROS) == text


def test_unknown_abbreviation_stays_as_typed() -> None:
    assert expand_macros("Measured 0.5 mm; .xyz done", MACROS) == "Measured 0.5 mm; .xyz done"


def test_valid_abbreviation_is_accepted() -> None:
    assert validate_abbreviation(".my-nad_2") == ".my-nad_2"


@pytest.mark.parametrize("abbreviation", [
    "nad", ".", ".n a", ".nad!", "..nad", "." + "n" * 21, ".nad\n", "",
])
def test_invalid_abbreviations_are_refused(abbreviation: str) -> None:
    with pytest.raises(ReportError, match="must be a dot and 1-20 letters"):
        validate_abbreviation(abbreviation)
