"""telerad: the teleradiology reporting workstation (composition root and infrastructure)."""

__version__ = "0.1.0"
