"""Named errors of the workstation: each message says what happened and what to do."""


class TeleradError(Exception):
    """Base of every error the workstation reports to a user; the CLI prints it on one line."""


class ConfigError(TeleradError):
    """The settings file is unreadable or holds a value that cannot work."""


class KeyStoreUnavailable(TeleradError):
    """No usable key store: the OS keyring is missing and passphrase mode was not chosen."""


class StoreError(TeleradError):
    """The encrypted study store cannot do what was asked."""


class StoreLocked(StoreError):
    """Patient data is sealed to the reading key and nobody has signed in to open it."""


class InvalidDicomValue(StoreError):
    """A received value breaks the standard (e.g. a UID that is not digits and dots)."""


class MalformedDataset(StoreError):
    """The received byte stream is not a whole DICOM dataset (truncated or garbage)."""


class DatasetMismatch(StoreError):
    """The data set is not the one its C-STORE request names (SOP Class or Instance UID)."""


class IntegrityError(StoreError):
    """Stored ciphertext failed authentication: the file was altered or swapped."""


class OutOfResources(StoreError):
    """The disk is full or a quota is reached; the instance was not stored."""


class InstanceTooLarge(OutOfResources):
    """The instance would need more memory than the workstation allows for one object (an
    inflated dataset, one decoded frame): refused before that memory is spent."""


class NodeError(TeleradError):
    """The DICOM node cannot start (address in use, no permission for the port)."""


class AuthError(TeleradError):
    """A local account or a login cannot do what was asked."""


class UnknownUser(AuthError):
    """An administrator named an account that does not exist (never raised by a login)."""


class WeakPassword(AuthError):
    """A new password breaks the policy (length over complexity, NCSC password guidance)."""


class LoginRefused(AuthError):
    """Password or one-time code wrong; the message never says whether the user exists."""


class LoginThrottled(LoginRefused):
    """Too soon after the last failures: the exponential back-off has not elapsed yet."""

    def __init__(self, message: str, wait_seconds: float) -> None:
        super().__init__(message)
        self.wait_seconds = wait_seconds


class AccountLocked(LoginRefused):
    """Too many failures in a row: locked for a while or until an administrator unlocks it."""


class AccountDisabled(LoginRefused):
    """An administrator disabled the account; only they can help."""
