"""The C-STORE response's command set, encoded directly (PS3.7 §9.3.1.2, Table 9.3-2).

pynetdicom builds every response as a pydicom dataset, encodes it once to measure the
Command Group Length and again to send it: 0.66 ms of the node's CPU per instance, on the
path between the instance being stored and the sender's next one. A command set is
always Implicit VR Little Endian (PS3.7 §6.3.1) and a C-STORE-RSP has at most eight
elements, so the node writes it here; the bytes are pynetdicom's own
(tests/app/test_store_response.py). Anything else, or a response with an Offending
Element or a comment that is not one plain ASCII value, goes through pynetdicom.
"""

from __future__ import annotations

import struct

from pynetdicom.dimse_primitives import C_STORE

from app.received_instance import padded_even

C_STORE_RSP = 0x8001  # Command Field (PS3.7 §E.1)
NO_DATA_SET = 0x0101  # Command Data Set Type: none follows


def _element(element: int, value: bytes) -> bytes:
    """One group-0000 element, Implicit VR Little Endian (PS3.5 §7.1.3)."""
    return struct.pack("<HHL", 0x0000, element, len(value)) + value


def _us(value: int) -> bytes:
    return struct.pack("<H", value)


def encode_store_response(response: object) -> bytes | None:
    """The command set of a C-STORE response primitive, or None for pynetdicom to encode."""
    if not isinstance(response, C_STORE) or response.MessageIDBeingRespondedTo is None:
        return None
    if response.Status is None or response.OffendingElement is not None:
        return None
    if not isinstance(response.ErrorComment, str | None):
        return None  # a comment with a backslash, read back as several values
    try:
        elements = [
            _element(0x0002, padded_even(response.AffectedSOPClassUID, b"\0"))
            if response.AffectedSOPClassUID is not None else b"",
            _element(0x0100, _us(C_STORE_RSP)),
            _element(0x0120, _us(response.MessageIDBeingRespondedTo)),
            _element(0x0800, _us(NO_DATA_SET)),
            _element(0x0900, _us(response.Status)),
            _element(0x0902, padded_even(response.ErrorComment, b" "))
            if response.ErrorComment is not None else b"",
            _element(0x1000, padded_even(response.AffectedSOPInstanceUID, b"\0"))
            if response.AffectedSOPInstanceUID is not None else b"",
        ]
    except UnicodeEncodeError:
        return None
    body = b"".join(elements)
    return _element(0x0000, struct.pack("<L", len(body))) + body
