"""GBCS (Great Britain Companion Specification) messages: `framing` (layer 1: bytes in, bytes out)."""
