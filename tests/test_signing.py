"""Signing: keygen, render --sign-key, sign, verify --public-key.

A signed pack verifies with the right public key and fails with another key, a changed
manifest or a missing signature; keys are PEM (PKCS#8 / SubjectPublicKeyInfo), never
overwritten, the private one mode 0600; the signature is deterministic and checkable with
OpenSSL alone.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from reportgen.pack import signing
from reportgen.errors import UsageError
from reportgen.pack.verify import verify_pack
from tests.test_evidence import flip_byte, make_sample, render_pack, run_cli

SIG = "manifest.json.sig"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    root = tmp_path_factory.mktemp("keys")
    good = signing.generate_keypair(root / "good.pem", root / "good.pub.pem")
    other = signing.generate_keypair(root / "other.pem", root / "other.pub.pem")
    return good, other


@pytest.fixture(scope="module")
def signed(tmp_path_factory, keys):
    root = tmp_path_factory.mktemp("signed")
    snapshot, _ = make_sample(root)
    return render_pack(snapshot, root / "pack", sign_key=keys[0].private_path)


@pytest.fixture
def pack(signed, tmp_path):
    return shutil.copytree(signed, tmp_path / "pack")


def test_signed_pack_verifies_with_the_right_key(signed, keys, capsys):
    good, _ = keys
    assert (signed / SIG).stat().st_size == 64
    assert verify_pack(signed, public_key=signing.load_public_key(good.public_path)) == []
    code, out, err = run_cli(capsys, "verify", signed, "--public-key", good.public_path)
    assert code == 0 and err == ""
    assert f"signed by public key {good.fingerprint}" in out


def test_verify_without_a_key_passes_and_says_the_signature_was_not_checked(signed, capsys):
    code, out, _ = run_cli(capsys, "verify", signed)
    assert code == 0 and "pass --public-key" in out


def test_another_key_fails(signed, keys, capsys):
    _, other = keys
    code, out, err = run_cli(capsys, "verify", signed, "--public-key", other.public_path)
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{SIG}: signature does not match manifest.json")
    assert other.fingerprint in lines[0]


def test_a_changed_manifest_fails_the_signature(pack, keys):
    good, _ = keys
    public = signing.load_public_key(good.public_path)
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["run_id"] = "forged"  # every file still matches; only the signature can tell
    (pack / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    problems = verify_pack(pack, public_key=public)
    assert len(problems) == 1 and problems[0].startswith(f"{SIG}: signature does not match manifest.json")


def test_re_signed_forgery_fails_with_the_real_key(pack, keys):
    # An attacker changes a file, rewrites the manifest and signs it with their own key.
    good, other = keys
    from reportgen.pack.manifest import write_manifest
    (pack / "summary.json").write_text("{}\n")
    m = json.loads((pack / "manifest.json").read_text())
    write_manifest(pack, run_id=m["run_id"], snapshot_fingerprint=m["snapshot_sha256"], as_of=m["as_of"])
    signing.sign_manifest(pack, signing.load_private_key(other.private_path))
    assert verify_pack(pack) == []  # self-consistent ...
    problems = verify_pack(pack, public_key=signing.load_public_key(good.public_path))
    assert len(problems) == 1 and problems[0].startswith(f"{SIG}: signature does not match")  # ... but not ours


@pytest.mark.parametrize("damage", ["flip", "truncate", "remove"])
def test_a_damaged_or_missing_signature_fails(pack, keys, damage):
    good, _ = keys
    sig = pack / SIG
    if damage == "flip":
        flip_byte(sig)
    elif damage == "truncate":
        sig.write_bytes(sig.read_bytes()[:10])
    else:
        sig.unlink()
    problems = verify_pack(pack, public_key=signing.load_public_key(good.public_path))
    assert len(problems) == 1 and problems[0].startswith(f"{SIG}: "), problems
    assert verify_pack(pack) == []  # without a key the signature is not part of the check


def test_sign_command_matches_the_render_signature(pack, keys, capsys):
    good, _ = keys
    original = (pack / SIG).read_bytes()
    (pack / SIG).unlink()
    code, out, _ = run_cli(capsys, "sign", pack, "--key", good.private_path)
    assert code == 0 and out.startswith("Signed:")
    assert (pack / SIG).read_bytes() == original  # Ed25519 is deterministic


def test_sign_refuses_a_pack_that_does_not_verify(pack, keys, capsys):
    good, _ = keys
    (pack / SIG).unlink()
    flip_byte(pack / "evidence-pack.xlsx")
    code, out, err = run_cli(capsys, "sign", pack, "--key", good.private_path)
    assert code == 1 and not (pack / SIG).exists()
    assert "evidence-pack.xlsx: changed" in err and "refusing to sign" in err


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
def test_openssl_alone_checks_the_signature(pack, keys):
    good, other = keys
    command = ["openssl", "pkeyutl", "-verify", "-pubin", "-rawin", "-in", "manifest.json", "-sigfile", SIG, "-inkey"]
    proc = subprocess.run(command + [str(good.public_path)], cwd=pack, capture_output=True, text=True)
    if "rawin" in proc.stderr and proc.returncode != 0:
        pytest.skip("this OpenSSL has no -rawin (needs 3.0)")
    assert proc.returncode == 0 and "Signature Verified Successfully" in proc.stdout, proc.stderr
    proc = subprocess.run(command + [str(other.public_path)], cwd=pack, capture_output=True, text=True)
    assert proc.returncode != 0


# --- keys -----------------------------------------------------------------------------------

def test_keygen_writes_pem_keys_private_0600_and_never_overwrites(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(signing.PASSPHRASE_ENV, raising=False)
    private, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    code, out, _ = run_cli(capsys, "keygen", "--out-private", private, "--out-public", public)
    assert code == 0 and "sha256:" in out
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert isinstance(serialization.load_pem_public_key(public.read_bytes()), ed25519.Ed25519PublicKey)
    before = (private.read_bytes(), public.read_bytes())
    for args in (("--out-private", private, "--out-public", tmp_path / "new.pub"),
                 ("--out-private", tmp_path / "new.pem", "--out-public", public)):
        code, _, err = run_cli(capsys, "keygen", *args)
        assert code == 2 and "already exists; refusing to overwrite" in err and len(err.strip().splitlines()) == 1
    assert (private.read_bytes(), public.read_bytes()) == before
    assert not (tmp_path / "new.pem").exists() and not (tmp_path / "new.pub").exists()


def test_passphrase_protected_key(tmp_path, monkeypatch):
    monkeypatch.setenv(signing.PASSPHRASE_ENV, "correct horse")
    pair = signing.generate_keypair(tmp_path / "k.pem", tmp_path / "k.pub")
    assert "ENCRYPTED" in pair.private_path.read_text()
    assert isinstance(signing.load_private_key(pair.private_path), ed25519.Ed25519PrivateKey)
    monkeypatch.setenv(signing.PASSPHRASE_ENV, "wrong")
    with pytest.raises(UsageError, match="wrong passphrase"):
        signing.load_private_key(pair.private_path)
    monkeypatch.delenv(signing.PASSPHRASE_ENV)
    with pytest.raises(UsageError, match="encrypted"):
        signing.load_private_key(pair.private_path)


def test_unusable_keys_are_usage_errors(tmp_path, signed, keys, capsys, monkeypatch):
    monkeypatch.delenv(signing.PASSPHRASE_ENV, raising=False)
    good, _ = keys
    ec_key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "ec.pub").write_bytes(ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (tmp_path / "ec.pem").write_bytes(ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (tmp_path / "junk.pem").write_text("not a key\n")
    cases = [
        (("verify", signed, "--public-key", tmp_path / "missing.pub"), "file not found"),
        (("verify", signed, "--public-key", tmp_path / "junk.pem"), "not a readable PEM public key"),
        (("verify", signed, "--public-key", good.private_path), "not a readable PEM public key"),
        (("verify", signed, "--public-key", tmp_path / "ec.pub"), "expected Ed25519"),
        (("sign", signed, "--key", tmp_path / "ec.pem"), "expected Ed25519"),
        (("sign", signed, "--key", good.public_path), "not a readable PEM private key"),
        (("sign", tmp_path / "no-pack", "--key", good.private_path), "not a folder"),
    ]
    for args, message in cases:
        code, _, err = run_cli(capsys, *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
        assert "Traceback" not in err


def test_render_with_a_bad_key_fails_before_writing_anything(tmp_path, capsys):
    snapshot, _ = make_sample(tmp_path, scale=3)
    code, _, err = run_cli(capsys, "render", snapshot, "--out", tmp_path / "pack", "--sign-key", tmp_path / "nokey.pem")
    assert code == 2 and "nokey.pem: file not found" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snapshot"]
