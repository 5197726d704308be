"""The crash-safe image-block store: ESME and GSME blocks, retention, priorities, alert journal.

See DESIGN.md for the on-flash layout, the order of every write and the block-rule decisions.
"""

from hubfw.store.errors import ActivationRejected, StoreError, StoreRejected
from hubfw.store.state import Block, CompletedTransfer, StoredImage
from hubfw.store.status import StoreStatus
from hubfw.store.store import ImageGone, ImageStore

__all__ = [
    "ActivationRejected", "Block", "CompletedTransfer", "ImageGone", "ImageStore", "StoreError", "StoreRejected",
    "StoreStatus", "StoredImage",
]
