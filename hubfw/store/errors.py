"""The store's one-line errors (the CLI prints them as `hubfw: error: ...`)."""

from hubfw.errors import HubfwError


class StoreError(HubfwError):
    """The store cannot do what was asked: worn-out flash, a full journal, an image that is gone."""


class StoreRejected(StoreError):
    """A distribution request the block rules refuse; the message says which rule and until when."""


class ActivationRejected(StoreError):
    """A CS06 activation for a device that has not completed a transfer of that Manufacturer Image."""


class StoreFormatError(StoreError):
    """The flash holds something that is not a hubfw store (or one this version cannot read)."""
