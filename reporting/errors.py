"""How a delivery failed, as the outbox must act on it (STANDARDS §4: AE stops, AR retries)."""

from __future__ import annotations


class DeliveryError(Exception):
    """A message did not reach its destination; the text says why, for the reporter and IT."""


class RetryableDeliveryError(DeliveryError):
    """Worth sending again unchanged later: network down, timeout, HL7 AR, PACS out of space."""


class RejectedDelivery(DeliveryError):
    """The destination refused the message (HL7 AE, a DICOM failure status): do not resend it
    unchanged; show the reason."""
