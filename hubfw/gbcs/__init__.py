"""GBCS (Great Britain Companion Specification) messages as the DCC's reference data has them.

- `framing`: message lengths, the General-Signing message field by field, header parsing (GBCS section 4);
- `signing`: ECDSA P-256 / SHA-256 signatures over a General-Signing message's signed span;
- `alert_content`: the DER contents of the CCS08 Firmware Transfer Alert and the PPMID's 0x8F8B alert;
- `ds_key`: the Communications Hub's Digital Signing key in the state directory.

Bytes in, bytes out: no radio, no asyncio (layer 1).
"""
