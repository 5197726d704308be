"""Moved to `hubfw.gbcs.framing`; this name stays for the tunnel code that still imports it from here."""

from hubfw.gbcs.framing import (
    GENERAL_CIPHERING,
    GENERAL_SIGNING,
    CraFlag,
    GbcsFramingError,
    GbcsMessage,
    MessageCode,
    general_signing,
    message_length,
    parse_message,
)

__all__ = ["GENERAL_CIPHERING", "GENERAL_SIGNING", "CraFlag", "GbcsFramingError", "GbcsMessage", "MessageCode",
           "general_signing", "message_length", "parse_message"]
