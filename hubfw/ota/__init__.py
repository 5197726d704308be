"""Zigbee OTA upgrade images as a GB Communications Hub and the DCC see them.

- `image`: the file format (strict parser, byte-exact builder, Manufacturer Image and its hash);
- `keys`, `signing`: manufacturer ECDSA P-256 signatures, embedded or detached;
- `aes_mmo`, `integrity`: the ZCL image integrity code;
- `cpl`: the Central Products List check; `admission`: every check, size first;
- `summary`, `cli`: `hubfw image …` and `hubfw keys …`. Conventions: FORMAT.md.
"""
