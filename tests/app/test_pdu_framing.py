"""PduFraming follows PS3.8 §9.3 byte by byte and refuses what breaks a limit."""

from __future__ import annotations

import pytest

from app.pdu_framing import (
    AbortReason,
    FramingLimits,
    PduFraming,
    PduRefused,
    PduType,
    abort_pdu,
)
from tests.robustness.raw_peer import association_request, pdu, pdv_item

LIMITS = FramingLimits(max_pdu_bytes=16384, max_message_bytes=100_000)
COMMAND, DATASET, LAST = 0x01, 0x00, 0x02


def fed(*chunks: bytes, one_byte_at_a_time: bool = False) -> PduFraming:
    framing = PduFraming(LIMITS)
    for chunk in chunks:
        if one_byte_at_a_time:
            for index in range(len(chunk)):
                framing.feed(chunk[index:index + 1])
        else:
            framing.feed(chunk)
    return framing


def refusal(*chunks: bytes) -> PduRefused:
    with pytest.raises(PduRefused) as raised:
        fed(*chunks)
    return raised.value


@pytest.mark.parametrize("one_byte_at_a_time", [False, True])
def test_a_real_association_and_its_messages_pass(one_byte_at_a_time: bool) -> None:
    messages = pdu(PduType.P_DATA_TF, pdv_item(1, COMMAND | LAST, b"c" * 80)
                   + pdv_item(1, DATASET, b"d" * 3000)) + pdu(
        PduType.P_DATA_TF, pdv_item(1, DATASET | LAST, b"d" * 5000))
    framing = fed(association_request("TESTSCU", "TELERAD"), messages,
                  pdu(PduType.A_RELEASE_RQ, b"\0" * 4), one_byte_at_a_time=one_byte_at_a_time)
    assert framing.association_requested
    assert framing.at_boundary


def test_association_is_requested_only_once_the_whole_request_arrived() -> None:
    request = association_request("TESTSCU", "TELERAD")
    framing = fed(request[:-1])
    assert not framing.association_requested and not framing.at_boundary
    framing.feed(request[-1:])
    assert framing.association_requested


def test_declared_length_over_the_maximum_is_refused_from_the_header_alone() -> None:
    refused = refusal(pdu(PduType.P_DATA_TF, b"", declared=LIMITS.max_pdu_bytes + 1))
    assert "declares 16385 bytes" in str(refused)
    assert refused.reason is AbortReason.INVALID_PDU_PARAMETER_VALUE


def test_p_data_of_exactly_the_maximum_passes() -> None:
    body = pdv_item(1, DATASET | LAST, b"\0" * (LIMITS.max_pdu_bytes - 6))
    assert fed(pdu(PduType.P_DATA_TF, body)).at_boundary


def test_unknown_pdu_type_is_refused() -> None:
    refused = refusal(pdu(0x09, b""))
    assert "unknown PDU type 0x09" in str(refused)
    assert refused.reason is AbortReason.UNRECOGNIZED_PDU


def test_release_request_longer_than_its_fixed_length_is_refused() -> None:
    refusal(pdu(PduType.A_RELEASE_RQ, b"\0" * 5))


@pytest.mark.parametrize("item", [
    pdv_item(1, DATASET, b"\0" * 10, declared=5000),  # longer than its PDU
    pdv_item(1, DATASET, b"", declared=1),  # shorter than context ID + control
])
def test_pdv_item_length_that_does_not_fit_its_pdu_is_refused(item: bytes) -> None:
    assert "PDV item declares" in str(refusal(pdu(PduType.P_DATA_TF, item)))


def test_p_data_ending_inside_a_pdv_header_is_refused() -> None:
    assert "inside a PDV item header" in str(
        refusal(pdu(PduType.P_DATA_TF, pdv_item(1, DATASET, b"ab") + b"\0\0\0")))


def test_dataset_larger_than_the_limit_is_refused_across_fragments() -> None:
    fragment = pdu(PduType.P_DATA_TF, pdv_item(1, DATASET, b"\0" * 16000))
    assert "dataset exceeds 100000 bytes" in str(refusal(*[fragment] * 7))


def test_message_size_starts_again_after_the_last_fragment() -> None:
    whole = pdu(PduType.P_DATA_TF, pdv_item(1, DATASET | LAST, b"\0" * 16000))
    assert fed(*[whole] * 20).at_boundary


def test_abort_pdu_is_from_the_service_provider() -> None:
    assert abort_pdu(AbortReason.UNRECOGNIZED_PDU) == bytes(
        [0x07, 0, 0, 0, 0, 4, 0, 0, 2, 1])
