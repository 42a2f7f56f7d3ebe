"""Delivering a signed report to the RIS over MLLP, and what each answer means (STANDARDS §4)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reporting.errors import RejectedDelivery, RetryableDeliveryError
from reporting.hl7 import Ack, Hl7Endpoints, build_oru
from reporting.mllp import deliver_oru, exchange
from tests.reporting.samples import facts, signed_report
from tests.ris import REFUSAL_TEXT, RecordingRis
from tests.tls_material import make_tls_files

TIMEOUT = 0.5
ENDPOINTS = Hl7Endpoints("TELERAD", "TELERAD LTD", "CRIS", "RXH")


@pytest.fixture
def ris() -> Iterator[RecordingRis]:
    with RecordingRis("AA") as running:
        yield running


@pytest.fixture(scope="module")
def report_message() -> str:
    return build_oru(facts(), signed_report(), 1, ENDPOINTS,
                     message_time=datetime(2026, 11, 20, 14, 31, tzinfo=UTC))


def deliver(ris: RecordingRis, message: str, *, ssl_context: ssl.SSLContext | None = None,
            server_hostname: str | None = None) -> Ack:
    return deliver_oru(ris.host, ris.port, message, timeout=TIMEOUT, ssl_context=ssl_context,
                       server_hostname=server_hostname)


def test_ris_acknowledges_the_report_with_AA(ris: RecordingRis, report_message: str) -> None:
    ack = deliver(ris, report_message)
    assert ack == Ack("AA", "TR000001", "")
    assert ris.received == [report_message]
    assert ris.control_ids() == ["TR000001"]


def test_non_ascii_names_travel_as_utf8(ris: RecordingRis) -> None:
    study = replace(facts(), patient_name="NÍ BHRIAIN^Zoë")
    message = build_oru(study, signed_report(), 1, ENDPOINTS,
                        message_time=datetime(2026, 11, 20, 14, 31, tzinfo=UTC))
    assert deliver(ris, message).code == "AA"
    assert ris.received == [message]
    assert "|NÍ BHRIAIN^Zoë|" in ris.received[0]


def test_exchange_frames_the_message_and_returns_the_unframed_answer(
        ris: RecordingRis, report_message: str) -> None:
    answer = exchange(ris.host, ris.port, report_message, timeout=TIMEOUT)
    assert answer.startswith("MSH|^~\\&|CRIS|RXH|TELERAD|")
    assert "\rMSA|AA|TR000001\r" in answer
    assert not answer.startswith("\x0b") and not answer.endswith("\x1c\r")


def test_ack_AR_is_retryable(ris: RecordingRis, report_message: str) -> None:
    ris.behaviour = "AR"
    with pytest.raises(RetryableDeliveryError, match=r"\(AR\): RIS database busy"):
        deliver(ris, report_message)


def test_ack_AE_is_rejected_with_the_ris_text(ris: RecordingRis, report_message: str) -> None:
    ris.behaviour = "AE"
    with pytest.raises(RejectedDelivery) as refused:
        deliver(ris, report_message)
    assert str(refused.value) == (
        f"RIS 127.0.0.1:{ris.port} refused the message (AE): {REFUSAL_TEXT['AE']}")


def test_silent_ris_times_out_as_retryable(ris: RecordingRis, report_message: str) -> None:
    ris.behaviour = "silent"
    with pytest.raises(RetryableDeliveryError, match=f"RIS 127.0.0.1:{ris.port}: no answer"):
        deliver(ris, report_message)
    assert ris.received == [report_message]


def test_control_id_mismatch_is_retryable(ris: RecordingRis, report_message: str) -> None:
    ris.behaviour = "mismatch"
    with pytest.raises(RetryableDeliveryError, match="ACK is for message 'TR000001X'"):
        deliver(ris, report_message)


def test_unreachable_ris_is_retryable(report_message: str) -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        free_port = placeholder.getsockname()[1]
    with pytest.raises(RetryableDeliveryError, match=f"RIS 127.0.0.1:{free_port}: "):
        deliver_oru("127.0.0.1", free_port, report_message, timeout=TIMEOUT)


def test_resend_after_AR_keeps_the_same_control_id(ris: RecordingRis,
                                                   report_message: str) -> None:
    ris.behaviour = ["AR", "AA"]
    with pytest.raises(RetryableDeliveryError):
        deliver(ris, report_message)
    assert deliver(ris, report_message).code == "AA"
    assert ris.control_ids() == ["TR000001", "TR000001"]
    assert ris.unique_control_ids() == ["TR000001"]


def test_behaviour_list_is_used_one_per_message_then_its_last_repeats(
        ris: RecordingRis, report_message: str) -> None:
    ris.behaviour = ["AE", "AA"]
    with pytest.raises(RejectedDelivery):
        deliver(ris, report_message)
    assert [deliver(ris, report_message).code for _ in range(2)] == ["AA", "AA"]
    assert len(ris.received) == 3


def test_tls_delivery(tmp_path: Path, report_message: str) -> None:
    files = make_tls_files(tmp_path / "tls")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(files.ca))
    server.load_cert_chain(files.server_certificate, files.server_key)
    server.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: the RIS checks who is sending
    client = ssl.create_default_context(cafile=str(files.ca))
    client.load_cert_chain(files.client_certificate, files.client_key)
    with RecordingRis("AA", ssl_context=server) as ris:
        ack = deliver(ris, report_message, ssl_context=client, server_hostname="localhost")
        assert ack.code == "AA"
        assert ris.received == [report_message]


def test_ris_certificate_from_an_unknown_authority_is_retryable(
        tmp_path: Path, report_message: str) -> None:
    files = make_tls_files(tmp_path / "tls")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(files.server_certificate, files.server_key)
    untrusting = ssl.create_default_context(cafile=str(make_tls_files(tmp_path / "other").ca))
    with RecordingRis("AA", ssl_context=server) as ris:
        with pytest.raises(RetryableDeliveryError, match="TLS failed: CERTIFICATE_VERIFY_FAILED"):
            deliver(ris, report_message, ssl_context=untrusting)
        assert ris.received == []
