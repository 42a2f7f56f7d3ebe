"""C-STORE responses encoded by the node are byte for byte pynetdicom's (PS3.7 §9.3.1.2)."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage
from pynetdicom.dimse_messages import C_STORE_RSP
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import encode

from app.store_response import encode_store_response


def _response(status: int = 0x0000, comment: str | None = None,
              instance: str = "1.2.826.0.1.3680043.2.1125.1") -> C_STORE:
    response = C_STORE()
    response.MessageIDBeingRespondedTo = 7
    response.AffectedSOPClassUID = CTImageStorage
    response.AffectedSOPInstanceUID = instance
    response.Status = status
    response.ErrorComment = comment
    return response


def _pynetdicoms(response: C_STORE) -> bytes:
    message = C_STORE_RSP()
    message.primitive_to_message(response)
    return encode(message.command_set, True, True)  # Implicit VR LE (PS3.7 §6.3.1)


@pytest.mark.parametrize("response", [
    _response(),
    _response(instance="1.2.826.0.1.3680043.2.1125.12"),
    _response(0xA700, "out of space"),
    _response(0xC000, "dataset cannot be parsed: 7"),
    _response(0xB000),
    _response(0xA900, ""),
], ids=["success", "even-length UID", "failure, even comment", "failure, odd comment",
        "warning", "empty comment"])
def test_the_command_set_is_pynetdicoms(response: C_STORE) -> None:
    assert encode_store_response(response) == _pynetdicoms(response)


def _offending() -> C_STORE:
    response = _response(0xC000)
    response.OffendingElement = [0x00080018]
    return response


def _comment_with_a_backslash() -> C_STORE:
    """As the node's status dataset hands it on: pydicom splits an LO at a backslash."""
    status = Dataset()
    status.ErrorComment = "unknown VR b'\\xe4M'"
    return _response(0xC000, status.ErrorComment)


def _request() -> C_STORE:
    request = C_STORE()
    request.MessageID = 7
    return request


@pytest.mark.parametrize("primitive", [
    _request(), _offending(), _response(0xC000, "café"), _comment_with_a_backslash(),
], ids=["a request", "an offending element", "a non-ASCII comment", "a backslash"])
def test_anything_else_is_left_to_pynetdicom(primitive: C_STORE) -> None:
    assert encode_store_response(primitive) is None
