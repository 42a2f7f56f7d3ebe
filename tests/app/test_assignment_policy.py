"""Specialty rules: modality, body part and referrer → specialty code → its reporters."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from app.assignment import AssignmentPolicy, SpecialtyRule, load_policy
from app.errors import ConfigError
from viewer.comparison import normalise_name


def test_first_matching_rule_gives_the_specialty() -> None:
    policy = AssignmentPolicy((
        SpecialtyRule("PAEDS", referrers=(normalise_name("JONES^ANNA"),)),
        SpecialtyRule("NEURO", ("CT", "MR"), ("HEAD",)),
    ), {"NEURO": ("apatel",), "PAEDS": ("bjones",)})
    assert policy.specialty_for("CT", "HEAD", "Jones^Anna") == "PAEDS"
    assert policy.reporter_for("1.2.3", "ct", "head", "OTHER^DOC") == "apatel"
    assert policy.reporter_for("1.2.3", "CR", "CHEST", "") is None


def test_studies_are_shared_evenly_between_holders_of_a_specialty() -> None:
    policy = AssignmentPolicy((SpecialtyRule("CHEST", body_parts=("CHEST",)),),
                              {"CHEST": ("apatel", "bjones", "cwu")})
    shares = Counter(policy.reporter_for(generate_uid(), "CR", "CHEST", "") for _ in range(600))
    assert set(shares) == {"apatel", "bjones", "cwu"}
    assert min(shares.values()) > 150  # each near a third
    uid = generate_uid()
    assert len({policy.reporter_for(uid, "CR", "CHEST", "") for _ in range(5)}) == 1


def test_policy_file_is_read_with_names_normalised(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[[assignment.rules]]\nspecialty = "neuro"\nmodalities = ["mr"]\n'
                    'referrers = ["smith ^ john"]\n[assignment.specialists]\nneuro = ["APatel"]\n',
                    encoding="utf-8")
    policy = load_policy(path)
    assert policy.rules[0] == SpecialtyRule("NEURO", ("MR",), (), (normalise_name("Smith^John"),))
    assert policy.specialists == {"NEURO": ("apatel",)}
    assert load_policy(tmp_path / "absent.toml") == AssignmentPolicy()


@pytest.mark.parametrize(("text", "message"), [
    ("[[assignment.rules]]\nspecialty = 'X'\nmodalities = 'CT'\n", "must be a list"),
    ("[[assignment.rules]]\nspecialty = 'X'\nbodypart = ['HEAD']\n", "unknown key"),
    ("[assignment\n", "not valid TOML"),
])
def test_mistakes_in_the_policy_file_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_policy(path)
