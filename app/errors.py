"""Named errors of the workstation: each message says what happened and what to do."""


class TeleradError(Exception):
    """Base of every error the workstation reports to a user; the CLI prints it on one line."""


class ConfigError(TeleradError):
    """The settings file is unreadable or holds a value that cannot work."""


class KeyStoreUnavailable(TeleradError):
    """No usable key store: the OS keyring is missing and passphrase mode was not chosen."""


class StoreError(TeleradError):
    """The encrypted study store cannot do what was asked."""


class InvalidDicomValue(StoreError):
    """A received value breaks the standard (e.g. a UID that is not digits and dots)."""


class MalformedDataset(StoreError):
    """The received byte stream is not a whole DICOM dataset (truncated or garbage)."""


class IntegrityError(StoreError):
    """Stored ciphertext failed authentication: the file was altered or swapped."""


class OutOfResources(StoreError):
    """The disk is full or a quota is reached; the instance was not stored."""


class NodeError(TeleradError):
    """The DICOM node cannot start (address in use, no permission for the port)."""
