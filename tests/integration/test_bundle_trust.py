"""Bundles carry the checkpoint's RFC 3161 timestamp and witness cosignatures; verify-bundle checks both.

The timestamps come from a real TSA on loopback (tests/tsa.py). Each forgery below is written
the way an insider holding the manifest key would: the manifest is edited and signed again, so
only the timestamp or the witnesses can catch it.
"""
from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.commands.packets import verify_bundle_command
from custody.ledger.checkpoint import Checkpoint, SignedCheckpoint, sign_checkpoint, signed_note
from custody.ledger.cosignature import COSIGNATURE_TYPE, cosignature_line, verifier_key
from custody.timestamps import TsaTrust, request_token
from legal_docs.bundle import write_bundle
from legal_docs.content import CheckpointStamp
from legal_docs.render import render_packet
from tests.integration.test_verify_bundle import _resigned
from tests.legal_factories import make_packet_content, public_key_pem
from tests.tsa import LocalTSA, LocalCA


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("trust")
    ca, other_ca = LocalCA.create(), LocalCA.create("Rogue")
    tsa, rogue = LocalTSA(ca).start(), LocalTSA(other_ca).start()
    content, key = make_packet_content(base / "in", photos=1, pdf=False, audio=False)
    ledger = content.ledger
    note = signed_note(SignedCheckpoint(ledger.parsed, ledger.signature), key.public_key())
    trust = TsaTrust.from_file(ca.write_root(base / "root.pem"))
    token, time, chain = request_token(tsa.url, note, trust, 10)
    witness = Ed25519PrivateKey.generate()
    line = cosignature_line(witness, "audit.example/w", ledger.checkpoint, 1_780_000_000)
    stamped = replace(content, ledger=replace(ledger, timestamp=CheckpointStamp(token, tsa.url, time, chain, note),
                                              cosignatures=(line,)))
    rendered = render_packet(stamped, base / "out")
    write_bundle(base / "stamped.zip", stamped, rendered, key)
    (base / "key.pem").write_bytes(public_key_pem(key))
    other_ca.write_root(base / "rogue-root.pem")
    # another checkpoint of the same log, and its genuine stamp
    other = sign_checkpoint(key, Checkpoint(ledger.parsed.origin, ledger.parsed.tree_size + 1, b"\x05" * 32))
    other_note = signed_note(other, key.public_key())
    other_token, _, _ = request_token(tsa.url, other_note, trust, 10)
    # a stamp from the rogue TSA, and one from the real TSA with its clock before the packet's leaves
    rogue_token, _, rogue_chain = request_token(rogue.url, note, TsaTrust.from_file(base / "rogue-root.pem"), 10)
    tsa.fixed_time = datetime(2026, 3, 1, 0, 0, tzinfo=timezone.utc)
    early_token, early_time, _ = request_token(tsa.url, note, trust, 10)
    tsa.fixed_time = None
    yield {"base": base, "path": base / "stamped.zip", "key": key, "witness": witness, "time": time,
           "content": stamped, "rendered": rendered,
           "witness_vkey": verifier_key("audit.example/w", witness.public_key().public_bytes_raw(), COSIGNATURE_TYPE),
           "other_note": other_note, "other_token": other_token, "rogue_token": rogue_token,
           "rogue_chain": rogue_chain, "early_token": early_token, "early_time": early_time}
    tsa.stop()
    rogue.stop()


def run(world, path=None, *args):
    result = CliRunner().invoke(verify_bundle_command, [str(path or world["path"]), "--public-key",
                                                        str(world["base"] / "key.pem"), *map(str, args)])
    return result.exit_code, result.output


def forged(world, tmp_path, **changes):
    def edit(manifest):
        manifest["checkpoint"]["timestamp"].update(changes)
    return _resigned(world["path"], tmp_path / "forged.zip", edit, world["key"])


def test_a_stamped_cosigned_bundle_verifies_and_the_report_states_the_trusted_time_and_witnesses(world):
    code, output = run(world, None, "--tsa-root", world["base"] / "root.pem", "--witness-key", world["witness_vkey"])
    assert code == 0, output
    assert f"trusted time: {world['time'].isoformat()}" in output
    assert "witnesses: audit.example/w cosigned" in output and "1 required" in output


def test_without_a_pinned_root_the_stamp_is_reported_unchecked(world):
    code, output = run(world)
    assert code == 0, output
    assert "trusted time: NOT CHECKED" in output and "audit.example/w" in output


def test_an_altered_token_fails(world, tmp_path):
    token = bytearray(base64.b64decode(json.loads(_manifest(world["path"]))["checkpoint"]["timestamp"]["token"]))
    token[-10] ^= 0x01
    code, output = run(world, forged(world, tmp_path, token=base64.b64encode(bytes(token)).decode()),
                       "--tsa-root", world["base"] / "root.pem")
    assert code == 1 and "[timestamp_signature_invalid]" in output


def test_a_token_for_another_checkpoint_fails(world, tmp_path):
    code, output = run(world, forged(world, tmp_path, token=base64.b64encode(world["other_token"]).decode()),
                       "--tsa-root", world["base"] / "root.pem")
    assert code == 1 and "[timestamp_imprint_mismatch]" in output
    code, output = run(world, forged(world, tmp_path, token=base64.b64encode(world["other_token"]).decode(),
                                     note=world["other_note"].decode()), "--tsa-root", world["base"] / "root.pem")
    assert code == 1 and "[timestamp_checkpoint_mismatch]" in output


def test_a_token_from_an_untrusted_root_fails(world, tmp_path):
    code, output = run(world, None, "--tsa-root", world["base"] / "rogue-root.pem")
    assert code == 1 and "[timestamp_chain_untrusted]" in output
    # the rogue TSA's own root shipped inside the bundle's chain does not make it trusted
    path = forged(world, tmp_path, token=base64.b64encode(world["rogue_token"]).decode(),
                  chain_pem=world["rogue_chain"])
    code, output = run(world, path, "--tsa-root", world["base"] / "root.pem")
    assert code == 1 and "[timestamp_chain_untrusted]" in output


def test_a_stamp_older_than_the_newest_leaf_fails(world, tmp_path):
    path = forged(world, tmp_path, token=base64.b64encode(world["early_token"]).decode(),
                  time=world["early_time"].isoformat())
    code, output = run(world, path, "--tsa-root", world["base"] / "root.pem")
    assert code == 1 and "[timestamp_before_leaf]" in output


def test_missing_cosignatures_fail_the_quorum(world, tmp_path):
    absent = verifier_key("other.example/w", Ed25519PrivateKey.generate().public_key().public_bytes_raw(),
                          COSIGNATURE_TYPE)
    code, output = run(world, None, "--witness-key", world["witness_vkey"], "--witness-key", absent)
    assert code == 1 and "[witness_quorum_not_met]" in output and "1 of the required 2" in output
    code, output = run(world, None, "--witness-key", world["witness_vkey"], "--witness-key", absent,
                       "--witnesses", "1")
    assert code == 0, output

    def strip(manifest):
        del manifest["checkpoint"]["cosignatures"]
    bare = _resigned(world["path"], tmp_path / "bare.zip", strip, world["key"])
    key_file = tmp_path / "witness.vkey"
    key_file.write_text(world["witness_vkey"] + "\n")
    code, output = run(world, bare, "--witness-key", key_file)
    assert code == 1 and "[witness_quorum_not_met]" in output and "0 of the required 1" in output


def test_a_forged_cosignature_fails(world, tmp_path):
    def edit(manifest):
        body = manifest["checkpoint"]["body"]
        forged_line = cosignature_line(world["witness"], "audit.example/w", body.encode() + b"x\n", 1_780_000_000)
        manifest["checkpoint"]["cosignatures"] = [forged_line]
    path = _resigned(world["path"], tmp_path / "forged-cosig.zip", edit, world["key"])
    code, output = run(world, path, "--witness-key", world["witness_vkey"])
    assert code == 1 and "[cosignature_invalid]" in output


def _manifest(path):
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return archive.read("manifest.json")


def test_verify_md_states_the_stamp_and_its_openssl_commands_work(world, tmp_path):
    import shutil
    import subprocess
    import zipfile

    from legal_docs.bundle import VERIFY_COMMANDS

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    with zipfile.ZipFile(world["path"]) as archive:
        archive.extractall(tmp_path)
    instructions = (tmp_path / "VERIFY.md").read_text()
    assert "time-stamped under RFC 3161" in instructions and "audit.example/w" in instructions
    shutil.copy(world["base"] / "root.pem", tmp_path / "TSA-ROOT.pem")
    for name in ("timestamp_extract", "timestamp_verify"):
        done = subprocess.run(VERIFY_COMMANDS[name], shell=True, cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, (name, done.stdout, done.stderr)
    shutil.copy(world["base"] / "rogue-root.pem", tmp_path / "TSA-ROOT.pem")
    done = subprocess.run(VERIFY_COMMANDS["timestamp_verify"], shell=True, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode != 0


def later_cosigned(world, grow=2, key=None):
    """The packet's log grown by `grow` leaves, signed, cosigned by the witness: (note, line, proof hex)."""
    from custody.ledger import merkle
    from tests.legal_factories import LEAVES

    ledger = world["content"].ledger
    leaves = LEAVES[ledger.checkpoint] + [f"later-{n}".encode() for n in range(grow)]
    store = merkle.MemoryNodeStore()
    for leaf in leaves:
        store.append(merkle.leaf_hash(leaf))
    signer = key or world["key"]
    later = sign_checkpoint(signer, Checkpoint(ledger.parsed.origin, len(leaves), store.root()))
    note = signed_note(later, signer.public_key())
    line = cosignature_line(world["witness"], "audit.example/w", later.body(), 1_780_000_100)
    proof = merkle.consistency_proof(store.get_node, ledger.parsed.tree_size, len(leaves))
    return note, line, tuple(node.hex() for node in proof)


def witnessed_bundle(world, tmp_path, note, line, proof):
    from legal_docs.content import WitnessedExtension

    content = world["content"]
    content = replace(content, ledger=replace(content.ledger, cosignatures=(),
                                              witnessed=WitnessedExtension(note, (line,), proof)))
    path = tmp_path / "witnessed.zip"
    write_bundle(path, content, world["rendered"], world["key"])
    return path


def test_cosignatures_on_a_later_checkpoint_that_extends_the_packets_count(world, tmp_path):
    path = witnessed_bundle(world, tmp_path, *later_cosigned(world))
    code, output = run(world, path, "--witness-key", world["witness_vkey"])
    assert code == 0, output
    size = world["content"].ledger.parsed.tree_size + 2
    assert f"audit.example/w cosigned (verified with pinned keys, on a later checkpoint of size {size}" in output


def test_a_later_checkpoint_that_does_not_extend_the_packets_fails(world, tmp_path):
    note, line, proof = later_cosigned(world)
    bad_proof = (("00" * 32),) + proof[1:] if proof else ("00" * 32,)
    code, output = run(world, witnessed_bundle(world, tmp_path, note, line, bad_proof),
                       "--witness-key", world["witness_vkey"])
    assert code == 1 and "[witnessed_checkpoint_inconsistent]" in output and "[witness_quorum_not_met]" in output
    stranger = Ed25519PrivateKey.generate()
    code, output = run(world, witnessed_bundle(world, tmp_path, *later_cosigned(world, key=stranger)),
                       "--witness-key", world["witness_vkey"])
    assert code == 1 and "[witnessed_checkpoint_invalid]" in output
