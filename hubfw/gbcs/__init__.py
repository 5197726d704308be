"""GBCS (Great Britain Companion Specification) messages as the DCC's reference data has them.

- `framing`: message lengths, the General-Signing message field by field, header parsing (GBCS section 4);
- `signing`: ECDSA P-256 / SHA-256 signatures over a General-Signing message's signed span;
- `alert_content`: the DER contents of the CCS08 Firmware Transfer Alert and the PPMID's 0x8F8B alert;
- `alert_message`: the GBCS messages that carry the hub's alerts (CCS08, signed by the CH; a PPMID's 0x012B);
- `device_alert`: the finder for a PPMID's own 0x8F8B in a message it PUT through its tunnel;
- `ds_key`: the Communications Hub's Digital Signing key in the state directory;
- `device_keys`: devices' Digital Signing and Key Agreement keys on a bench (RTDS keystore naming) and the public keys
  the hub checks;
- `ciphering`: General-Ciphering with a MAC (the ACB's MAC on commands, a device's on its responses);
- `firmware_content`: the DER contents of CS06 and CS08 and their responses;
- `bench_keys`: a bench's GBCS key set (supplier, ACB, devices) in the RTDS keystore layout (`hubfw gbcs keys new`);
- `device_commands`: a device's checks of a CS06 / CS08 (MAC, signature, originator counter) and its responses.

Bytes in, bytes out: no radio, no asyncio (layer 1).
"""
