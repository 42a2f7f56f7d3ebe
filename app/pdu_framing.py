"""Follows the PDU structure of a received byte stream and refuses what breaks its limits.

pynetdicom 3.0 reads a PDU by trusting its declared length (it allocates and waits for
4 GiB if told so) and validates PDV items only after the whole PDU arrived. This framer
sees every byte as it is read (app/dicom_transport.py) and checks the structure of
PS3.8 §9.3 before any value is kept: PDU type (§9.3.1), PDU length against what we
announced (Maximum Length, PS3.8 Annex D.1), each PDV item's length against its PDU
(§9.3.5.1), and a DIMSE message's accumulated size against the largest instance we
take. It keeps only counters, never the data.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum


class PduType(IntEnum):
    """PDU types of PS3.8 Table 9-11."""

    A_ASSOCIATE_RQ = 0x01
    A_ASSOCIATE_AC = 0x02
    A_ASSOCIATE_RJ = 0x03
    P_DATA_TF = 0x04
    A_RELEASE_RQ = 0x05
    A_RELEASE_RP = 0x06
    A_ABORT = 0x07


class AbortReason(IntEnum):
    """A-ABORT reason/diag when the service provider aborts (PS3.8 Table 9-26)."""

    NOT_SPECIFIED = 0x00
    UNRECOGNIZED_PDU = 0x01
    UNEXPECTED_PDU = 0x02
    UNRECOGNIZED_PDU_PARAMETER = 0x04
    UNEXPECTED_PDU_PARAMETER = 0x05
    INVALID_PDU_PARAMETER_VALUE = 0x06


PDU_HEADER = 6  # type, reserved, 4-byte big-endian length (PS3.8 §9.3.1)
PDV_HEADER = 6  # 4-byte item length, presentation context ID, message control header
ASSOCIATION_PDU_LIMIT = 256 * 1024  # an A-ASSOCIATE-RQ with 128 contexts is well under this
CONTROL_PDU_LIMIT = 4  # A-RELEASE-RQ/RP and A-ABORT have a fixed length of 4 (§9.3.6-9.3.8)
COMMAND_MESSAGE_LIMIT = 64 * 1024  # a DIMSE command set is a few hundred bytes (PS3.7 §9.3)
LAST_FRAGMENT, IS_COMMAND = 0x02, 0x01  # message control header bits (PS3.8 Annex E.2)


def abort_pdu(reason: AbortReason) -> bytes:
    """An A-ABORT PDU from the service provider (source 2, PS3.8 §9.3.8)."""
    return struct.pack(">BBLBBBB", PduType.A_ABORT, 0, 4, 0, 0, 2, reason)


class PduRefused(Exception):
    """The stream broke a structural rule or a limit; the connection must be aborted."""

    def __init__(self, message: str, reason: AbortReason) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class FramingLimits:
    max_pdu_bytes: int  # the P-DATA-TF length we announce in Maximum Length (Annex D.1)
    max_message_bytes: int  # the largest dataset we take in one C-STORE


class PduFraming:
    """Fed the received bytes in order; raises PduRefused at the first violation."""

    def __init__(self, limits: FramingLimits) -> None:
        self._limits = limits
        self._header = bytearray()  # the PDU or PDV header being collected
        self._pdu_left = 0  # bytes of the current PDU body still to come
        self._pdu_type: PduType | None = None
        self._pdv_left = 0  # bytes of the current PDV item's value still to come
        self._message_bytes = {True: 0, False: 0}  # command, dataset fragments so far
        self._pdv_is_command = False
        self.association_requested = False  # a complete A-ASSOCIATE-RQ has arrived
        self.declared_length: int | None = None  # of the PDU being read, once known

    @property
    def at_boundary(self) -> bool:
        """True between PDUs: no PDU has been started."""
        return self._pdu_type is None and not self._header

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            if self._pdu_type is None:
                view = self._take_pdu_header(view)
            elif self._pdu_type is PduType.P_DATA_TF:
                view = self._take_pdv_bytes(view)
            else:
                used = min(len(view), self._pdu_left)
                self._pdu_left -= used
                view = view[used:]
            if self._pdu_type is not None and self._pdu_left == 0:
                self._end_pdu()

    # ---- PDU level (PS3.8 §9.3.1) --------------------------------------------------------

    def _take_pdu_header(self, view: memoryview) -> memoryview:
        used = min(len(view), PDU_HEADER - len(self._header))
        self._header += view[:used]
        if len(self._header) == PDU_HEADER:
            pdu_type, _, length = struct.unpack(">BBL", self._header)
            self._header.clear()
            self._start_pdu(pdu_type, length)
        return view[used:]

    def _start_pdu(self, pdu_type: int, length: int) -> None:
        try:
            kind = PduType(pdu_type)
        except ValueError:
            raise PduRefused(f"unknown PDU type 0x{pdu_type:02X}",
                             AbortReason.UNRECOGNIZED_PDU) from None
        limit = self._length_limit(kind)
        if length > limit:
            raise PduRefused(f"{kind.name} PDU declares {length} bytes, more than the "
                             f"{limit} we accept", AbortReason.INVALID_PDU_PARAMETER_VALUE)
        self._pdu_type, self._pdu_left, self.declared_length = kind, length, length

    def _length_limit(self, kind: PduType) -> int:
        if kind is PduType.P_DATA_TF:
            return self._limits.max_pdu_bytes
        if kind in (PduType.A_RELEASE_RQ, PduType.A_RELEASE_RP, PduType.A_ABORT):
            return CONTROL_PDU_LIMIT
        return ASSOCIATION_PDU_LIMIT

    def _end_pdu(self) -> None:
        if self._pdu_type is PduType.P_DATA_TF and (self._header or self._pdv_left):
            raise PduRefused("P-DATA-TF ends inside a PDV item",
                             AbortReason.INVALID_PDU_PARAMETER_VALUE)
        if self._pdu_type is PduType.A_ASSOCIATE_RQ:
            self.association_requested = True
        self._pdu_type, self.declared_length = None, None

    # ---- PDV items (PS3.8 §9.3.5.1, Annex E.2) -------------------------------------------

    def _take_pdv_bytes(self, view: memoryview) -> memoryview:
        if self._pdv_left == 0:
            used = min(len(view), PDV_HEADER - len(self._header), self._pdu_left)
            self._header += view[:used]
            self._pdu_left -= used
            if len(self._header) == PDV_HEADER:
                self._start_pdv()
            elif self._pdu_left == 0:
                raise PduRefused("P-DATA-TF ends inside a PDV item header",
                                 AbortReason.INVALID_PDU_PARAMETER_VALUE)
            return view[used:]
        used = min(len(view), self._pdv_left)
        self._pdv_left -= used
        self._pdu_left -= used
        return view[used:]

    def _start_pdv(self) -> None:
        item_length, _context_id, control = struct.unpack(">LBB", self._header)
        self._header.clear()
        value_length = item_length - 2  # the item length counts context ID and control
        if item_length < 2 or value_length > self._pdu_left:
            raise PduRefused(f"PDV item declares {item_length} bytes but its P-DATA-TF has "
                             f"{self._pdu_left + 2} left",
                             AbortReason.INVALID_PDU_PARAMETER_VALUE)
        is_command = bool(control & IS_COMMAND)
        self._message_bytes[is_command] += value_length
        limit = COMMAND_MESSAGE_LIMIT if is_command else self._limits.max_message_bytes
        if self._message_bytes[is_command] > limit:
            what = "command set" if is_command else "dataset"
            raise PduRefused(f"DIMSE {what} exceeds {limit} bytes",
                             AbortReason.INVALID_PDU_PARAMETER_VALUE)
        if control & LAST_FRAGMENT:
            self._message_bytes[is_command] = 0
        self._pdv_left = value_length
