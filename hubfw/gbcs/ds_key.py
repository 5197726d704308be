"""The Communications Hub's Digital Signing (DS) key: the ECDSA P-256 key it signs its GBCS alerts with.

A real CH holds a DS private key whose certificate the DCC issues. hubfw takes one from `hubfw serve --ds-key
KEY.pem` (a PEM P-256 private key) or, without it, makes a test key in the state directory on first start
(`STATE/gbcs/ch-ds-key.pem`, mode 0600) and keeps it across restarts. Either way the hub writes the public half
of the key it uses to `STATE/gbcs/ch-ds-pub.pem`, which `hubfw gbcs ch-key` prints with no hub running.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.ota.keys import KeyFileError, keep_private_key, load_public_key, public_pem

DS_KEY_FILE = Path("gbcs") / "ch-ds-key.pem"
DS_PUBLIC_KEY_FILE = Path("gbcs") / "ch-ds-pub.pem"


def ch_ds_key(state_dir: Path, key: ec.EllipticCurvePrivateKey | None = None) -> ec.EllipticCurvePrivateKey:
    """The CH's DS key: `key` (from --ds-key) or the state directory's own, made on first use; its public half
    is written to STATE/gbcs/ch-ds-pub.pem. KeyFileError when the files cannot be read or written."""
    private_path = state_dir / DS_KEY_FILE
    try:
        private_path.parent.mkdir(parents=True, exist_ok=True)
        return keep_private_key(private_path, state_dir / DS_PUBLIC_KEY_FILE, key)
    except OSError as exc:
        raise KeyFileError(f"cannot keep the CH Digital Signing key in {private_path.parent}: "
                           f"{exc.strerror or exc}") from None


def read_ch_ds_public_key(state_dir: Path) -> bytes:
    """The PEM public key of the DS key the hub serving `state_dir` last started with."""
    path = state_dir / DS_PUBLIC_KEY_FILE
    if not path.exists():
        raise KeyFileError(f"no CH Digital Signing key in {state_dir} (the hub makes one when it first starts: "
                           "hubfw serve --state DIR)")
    return public_pem(load_public_key(path))
