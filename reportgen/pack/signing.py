"""Ed25519 signing of a pack's manifest: key pairs, a detached signature, its check.

The signature covers ``manifest.json`` byte for byte; the manifest holds the sha256 of
every other file, so one signature vouches for the whole pack. It is written beside the
manifest as ``manifest.json.sig``: the 64 raw signature bytes, so an auditor can check it
without reportgen (``openssl pkeyutl -verify -pubin -inkey PUB -rawin -in manifest.json
-sigfile manifest.json.sig``). Ed25519 signatures are deterministic: the same manifest and
key always give the same signature bytes.

Keys are PEM: the private key PKCS#8 (unencrypted, or encrypted with the passphrase in
``REPORTGEN_SIGNING_PASSPHRASE``), the public key SubjectPublicKeyInfo. A key that cannot
be read is the user's to fix (``UsageError``, exit 2); a signature that does not match is
a verification problem reported by ``signature_problems``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from reportgen.errors import UsageError
from reportgen.render.interface import MANIFEST, SIGNATURE

SIGNATURE_BYTES = 64
PASSPHRASE_ENV = "REPORTGEN_SIGNING_PASSPHRASE"


@dataclass(frozen=True)
class KeyPair:
    private_path: Path
    public_path: Path
    fingerprint: str


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode("utf-8") if value else None


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """``sha256:<hex>`` of the key's DER SubjectPublicKeyInfo, to name a key in messages."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def generate_keypair(private_path: Path, public_path: Path) -> KeyPair:
    """Write a new Ed25519 key pair; never overwrites a file; the private key is mode 0600."""
    private_path, public_path = Path(private_path), Path(public_path)
    if private_path.resolve() == public_path.resolve():
        raise UsageError("--out-private and --out-public must be different files")
    for path, option in ((private_path, "--out-private"), (public_path, "--out-public")):
        if path.exists() or path.is_symlink():
            raise UsageError(f"{option} {path}: already exists; refusing to overwrite a key",
                             hint="choose a new file name or remove the old key yourself")
        if not path.parent.is_dir():
            raise UsageError(f"{option} {path}: folder {path.parent} does not exist")
    key = Ed25519PrivateKey.generate()
    passphrase = _passphrase()
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    _write_new(private_path, private_pem, 0o600)
    try:
        _write_new(public_path, public_pem, 0o644)
    except BaseException:
        private_path.unlink(missing_ok=True)
        raise
    return KeyPair(private_path, public_path, fingerprint(key.public_key()))


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise UsageError(f"{path}: already exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot create ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(path, mode)  # the umask may have narrowed or the fs widened it
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _read_key_file(path: Path, what: str) -> bytes:
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{what} {path}: file not found") from None
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot read ({exc.strerror})") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in a PEM file (passphrase from REPORTGEN_SIGNING_PASSPHRASE)."""
    data = _read_key_file(path, "signing key")
    passphrase = _passphrase()
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        if passphrase:
            raise UsageError(f"signing key {path}: not encrypted, but {PASSPHRASE_ENV} is set",
                             hint=f"unset {PASSPHRASE_ENV} for this key") from None
        raise UsageError(f"signing key {path}: encrypted", hint=f"set its passphrase in {PASSPHRASE_ENV}") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        detail = "wrong passphrase or " if passphrase else ""
        raise UsageError(f"signing key {path}: not a readable PEM private key ({detail}{_first_line(exc)})",
                         hint="make a key pair with 'reportgen keygen'") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"signing key {path}: a {type(key).__name__.lstrip('_')} key, expected Ed25519",
                         hint="make a key pair with 'reportgen keygen'")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in a PEM (SubjectPublicKeyInfo) file."""
    data = _read_key_file(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise UsageError(f"public key {path}: not a readable PEM public key ({_first_line(exc)})",
                         hint="pass the public key written by 'reportgen keygen --out-public'") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"public key {path}: a {type(key).__name__.lstrip('_')} key, expected Ed25519")
    return key


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def sign_manifest(pack_dir: Path, key: Ed25519PrivateKey) -> Path:
    """Write ``manifest.json.sig`` (detached, raw 64 bytes) over the pack's manifest."""
    pack_dir = Path(pack_dir)
    manifest = pack_dir / MANIFEST
    signature = key.sign(manifest.read_bytes())
    path = pack_dir / SIGNATURE
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(signature)
    tmp.replace(path)
    return path


def signature_problems(signature: bytes, manifest: bytes, public_key: Ed25519PublicKey) -> list[str]:
    """Problems with ``signature`` over the ``manifest`` bytes, one line each; empty when valid."""
    if len(signature) != SIGNATURE_BYTES:
        return [f"{SIGNATURE}: not an Ed25519 signature ({len(signature)} bytes, expected {SIGNATURE_BYTES})"]
    try:
        public_key.verify(signature, manifest)
    except InvalidSignature:
        return [f"{SIGNATURE}: signature does not match {MANIFEST} and public key {fingerprint(public_key)} "
                f"(the manifest was changed or the pack was signed with another key)"]
    return []
