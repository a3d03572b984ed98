"""Checkpoints, signed notes, and the auditor's end-to-end checks in verify.py."""

import base64
import dataclasses
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from custody.ledger.checkpoint import (
    Checkpoint,
    CheckpointFormatError,
    SignatureError,
    SignedCheckpoint,
    key_id,
    note_key_hash,
    open_note,
    parse_signed_note,
    sign_checkpoint,
    signed_note,
    verify_checkpoint_signature,
)
from custody.ledger.leaf import canonical_leaf, leaf_hash_hex
from custody.ledger.merkle import EMPTY_ROOT, MemoryNodeStore, consistency_proof, inclusion_proof, leaf_hash
from custody.ledger.verify import (
    CheckpointMismatchError,
    EventMismatchError,
    ProofInputError,
    RootMismatchError,
    VerificationError,
    VerificationResult,
    verify_checkpoint_consistency,
    verify_event,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "vectors" / "checkpoint.json").read_text(encoding="utf-8")
)
PRIVATE_KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["test_key"]["private_seed"]))
PUBLIC_KEY = PRIVATE_KEY.public_key()
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
ORIGIN = VECTORS["valid"][0]["origin"]


# --- checkpoint bodies --------------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: f"size-{c['tree_size']}-ext-{len(c['extensions'])}")
def test_valid_bodies_parse_and_round_trip(case):
    body = case["body"].encode("utf-8")
    checkpoint = Checkpoint.parse(body)
    assert checkpoint.origin == case["origin"]
    assert checkpoint.tree_size == case["tree_size"]
    assert checkpoint.root_hash_hex == case["root_hash"]
    assert list(checkpoint.extensions) == case["extensions"]
    assert checkpoint.body() == body


@pytest.mark.parametrize(
    "case", VECTORS["invalid_bodies"] + VECTORS["invalid_body_bytes"], ids=lambda c: c["desc"]
)
def test_invalid_bodies_are_refused(case):
    with pytest.raises(CheckpointFormatError) as caught:
        Checkpoint.parse(base64.b64decode(case["body_b64"]))
    assert caught.value.code == "checkpoint_malformed"


def test_checkpoint_is_immutable_and_validated():
    checkpoint = Checkpoint(ORIGIN, 3, EMPTY_ROOT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        checkpoint.tree_size = 4
    bad_fields = [
        ("", 3, EMPTY_ROOT), (ORIGIN, -1, EMPTY_ROOT), (ORIGIN, 3, EMPTY_ROOT[:31]), (ORIGIN, True, EMPTY_ROOT)
    ]
    for bad in bad_fields:
        with pytest.raises(CheckpointFormatError):
            Checkpoint(*bad)
    with pytest.raises(CheckpointFormatError):
        Checkpoint(ORIGIN, 3, EMPTY_ROOT, ("",))


# --- keys and signatures ------------------------------------------------------------------


def test_key_id_and_note_key_hash_known_answers():
    raw = PUBLIC_KEY.public_bytes_raw()
    assert raw.hex() == VECTORS["test_key"]["public_key"]
    assert key_id(raw) == VECTORS["test_key"]["key_id"]
    assert note_key_hash(ORIGIN, raw).hex() == VECTORS["test_key"]["note_key_hash"]
    with pytest.raises(ValueError):
        key_id(raw[:31])


def test_signing_is_deterministic_and_matches_the_vector():
    signed = sign_checkpoint(PRIVATE_KEY, Checkpoint.parse(VECTORS["signed"]["body"].encode()))
    assert signed.signature_b64 == VECTORS["signed"]["signature"]
    assert signed_note(signed, PUBLIC_KEY).decode("utf-8") == VECTORS["signed"]["note"]


def test_signature_verifies_over_exact_body():
    body = VECTORS["signed"]["body"].encode()
    checkpoint = verify_checkpoint_signature(PUBLIC_KEY, body, base64.b64decode(VECTORS["signed"]["signature"]))
    assert checkpoint.body() == body


@pytest.mark.parametrize("case", VECTORS["bad_signatures"], ids=lambda c: c["desc"])
def test_bad_signatures_fail_before_parsing(case):
    with pytest.raises(SignatureError) as caught:
        verify_checkpoint_signature(PUBLIC_KEY, case["body"].encode(), base64.b64decode(case["signature"]))
    assert caught.value.code == case["expect"]


def test_unsigned_garbage_never_reaches_the_parser():
    with pytest.raises(SignatureError):
        verify_checkpoint_signature(PUBLIC_KEY, b"not a checkpoint", b"\x00" * 64)


# --- signed notes -------------------------------------------------------------------------


def test_go_reference_note_is_reproduced_byte_for_byte():
    go = VECTORS["go_reference_note"]
    seed = base64.b64decode(go["signer_key"].split("+", 4)[4])[1:]
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key()
    assert note_key_hash(go["key_name"], public.public_bytes_raw()).hex() == go["verifier_key"].split("+")[1]
    text, signature = open_note(go["note"].encode("utf-8"), public, go["key_name"])
    assert text == go["text"].encode("utf-8")
    assert signature == key.sign(text)


def test_go_reference_note_fails_when_text_changes():
    go = VECTORS["go_reference_note"]
    seed = base64.b64decode(go["signer_key"].split("+", 4)[4])[1:]
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    with pytest.raises(SignatureError):
        open_note(go["note"].replace("cryptography", "cryptographY").encode("utf-8"), public, go["key_name"])


def test_signed_note_parses_back():
    signed = parse_signed_note(VECTORS["signed"]["note"].encode("utf-8"), PUBLIC_KEY)
    assert signed.body() == VECTORS["signed"]["body"].encode()
    assert signed.signature_b64 == VECTORS["signed"]["signature"]
    assert parse_signed_note(VECTORS["signed"]["note"].encode("utf-8"), PUBLIC_KEY, ORIGIN) == signed


def test_signatures_by_unknown_keys_are_ignored():
    signed = parse_signed_note(VECTORS["extra_signature_note"]["note"].encode("utf-8"), PUBLIC_KEY)
    assert signed.checkpoint.origin == ORIGIN


@pytest.mark.parametrize("case", VECTORS["bad_notes"], ids=lambda c: c["desc"])
def test_bad_notes_fail(case):
    with pytest.raises((SignatureError, CheckpointFormatError)) as caught:
        parse_signed_note(case["note"].encode("utf-8"), PUBLIC_KEY, ORIGIN)
    assert caught.value.code == case["expect"]


def test_signed_checkpoint_refuses_a_short_signature():
    with pytest.raises(SignatureError):
        SignedCheckpoint(Checkpoint(ORIGIN, 0, EMPTY_ROOT), b"\x00" * 63)


# --- verify.py: events and checkpoints end to end -----------------------------------------


def build_ledger(count):
    """A small honest ledger: canonical leaves chained by prev_leaf_hash, in a node store."""
    store, leaves, previous = MemoryNodeStore(), [], "0" * 64
    for index in range(count):
        leaf = canonical_leaf({
            "index": index, "type": "viewed", "evidence_id": f"ev_{index % 3}", "actor_id": "usr_1",
            "at": f"2026-03-14T10:{index:02d}:00Z", "sha256": f"{index % 3:02x}" * 32, "prev_leaf_hash": previous,
        })
        store.append(leaf_hash(leaf))
        leaves.append(leaf)
        previous = leaf_hash_hex(leaf)
    return store, leaves


def signed_head(store, size, key=PRIVATE_KEY):
    return sign_checkpoint(key, Checkpoint(ORIGIN, size, store.root(size)))


STORE, LEAVES = build_ledger(11)


def event_args(index=4, size=11, **overrides):
    args = {
        "leaf": LEAVES[index],
        "leaf_hash": leaf_hash(LEAVES[index]),
        "ledger_index": index,
        "audit_path": inclusion_proof(STORE.get_node, index, size),
        "signed_checkpoint": signed_head(STORE, size),
        "public_key": PUBLIC_KEY,
    }
    args.update(overrides)
    return args


@pytest.mark.parametrize("size", [5, 8, 11])
def test_verify_event_reports_what_it_proved(size):
    report = verify_event(**event_args(4, size), origin=ORIGIN, evidence_sha256="01" * 32)
    assert (report.ledger_index, report.tree_size, report.origin) == (4, size, ORIGIN)
    assert report.root_hash == STORE.root(size)
    assert report.key_id == key_id(PUBLIC_KEY.public_bytes_raw())


def flip(data):
    return bytes([data[0] ^ 1]) + data[1:]


EVENT_FAILURES = [
    ("leaf edited", {"leaf": LEAVES[4].replace(b"viewed", b"sealed")}, EventMismatchError, "leaf_hash_mismatch"),
    ("leaf and hash swapped for another event", {"leaf": LEAVES[5], "leaf_hash": leaf_hash(LEAVES[5])},
     EventMismatchError, "ledger_index_mismatch"),
    ("flipped bit in proof", {"audit_path": [flip(inclusion_proof(STORE.get_node, 4, 11)[0]),
                                             *inclusion_proof(STORE.get_node, 4, 11)[1:]]},
     RootMismatchError, "root_mismatch"),
    ("proof one node short", {"audit_path": inclusion_proof(STORE.get_node, 4, 11)[:-1]},
     ProofInputError, "proof_malformed"),
    ("proof for another tree size", {"audit_path": inclusion_proof(STORE.get_node, 4, 8)},
     ProofInputError, "proof_malformed"),
    ("checkpoint signed by another key", {"signed_checkpoint": signed_head(STORE, 11, OTHER_KEY)},
     SignatureError, "signature_invalid"),
    ("checkpoint with a swapped root", {"signed_checkpoint": SignedCheckpoint(
        Checkpoint(ORIGIN, 11, STORE.root(10)), signed_head(STORE, 11).signature)},
     SignatureError, "signature_invalid"),
    ("leaf hash of wrong length", {"leaf_hash": b"\x00" * 31}, ProofInputError, "proof_malformed"),
]


@pytest.mark.parametrize(("desc", "overrides", "error", "code"), EVENT_FAILURES, ids=[f[0] for f in EVENT_FAILURES])
def test_verify_event_failures(desc, overrides, error, code):
    with pytest.raises(error) as caught:
        verify_event(**event_args(**overrides))
    assert caught.value.code == code


def test_verify_event_checks_origin_and_evidence_hash_when_given():
    with pytest.raises(CheckpointMismatchError) as caught:
        verify_event(**event_args(), origin="someone.else/log")
    assert caught.value.code == "origin_mismatch"
    with pytest.raises(EventMismatchError) as caught:
        verify_event(**event_args(), evidence_sha256="ff" * 32)
    assert caught.value.code == "evidence_hash_mismatch"


def test_checkpoint_consistency_holds_for_an_honest_log():
    for first, second in [(0, 11), (1, 11), (6, 11), (8, 11), (11, 11)]:
        report = verify_checkpoint_consistency(
            older=signed_head(STORE, first), newer=signed_head(STORE, second),
            proof=consistency_proof(STORE.get_node, first, second), public_key=PUBLIC_KEY,
        )
        assert (report.first_size, report.second_size) == (first, second)


def test_checkpoint_consistency_catches_a_rewritten_history():
    forked, _ = build_ledger(6)
    forked.append(leaf_hash(b"a different seventh event"))
    with pytest.raises(RootMismatchError):
        verify_checkpoint_consistency(
            older=signed_head(forked, 7), newer=signed_head(STORE, 11),
            proof=consistency_proof(STORE.get_node, 7, 11), public_key=PUBLIC_KEY,
        )


def test_checkpoint_consistency_refuses_shrinking_and_foreign_heads():
    with pytest.raises(CheckpointMismatchError) as caught:
        verify_checkpoint_consistency(
            older=signed_head(STORE, 9), newer=signed_head(STORE, 5), proof=[], public_key=PUBLIC_KEY
        )
    assert caught.value.code == "tree_size_regressed"
    foreign = sign_checkpoint(PRIVATE_KEY, Checkpoint("other.example/log", 11, STORE.root(11)))
    with pytest.raises(CheckpointMismatchError):
        verify_checkpoint_consistency(
            older=signed_head(STORE, 6), newer=foreign,
            proof=consistency_proof(STORE.get_node, 6, 11), public_key=PUBLIC_KEY,
        )
    with pytest.raises(SignatureError):
        verify_checkpoint_consistency(
            older=signed_head(STORE, 6, OTHER_KEY), newer=signed_head(STORE, 11),
            proof=consistency_proof(STORE.get_node, 6, 11), public_key=PUBLIC_KEY,
        )


def test_result_collects_failures_without_stopping():
    result = VerificationResult()
    good = result.check("ev_good", verify_event, **event_args())
    bad = result.check("ev_bad", verify_event, **event_args(leaf=b"{}"))
    assert good is not None and bad is None
    assert result.checked == 2 and result.failed == 1 and not result.passed
    assert result.failures[0].as_dict() == {
        "subject": "ev_bad", "problem": "leaf_hash_mismatch", "message": result.failures[0].message,
    }


def test_result_lets_faults_that_are_not_findings_through():
    def broken():
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        VerificationResult().check("ev_x", broken)
    assert issubclass(EventMismatchError, VerificationError)


# --- checkpoints an auditor kept --------------------------------------------------------------


def test_a_kept_checkpoint_is_opened_with_whichever_trusted_key_signed_it_across_a_rotation():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from custody.ledger import checkpoint as c2sp
    from custody.ledger import merkle
    from custody.ledger.verify import open_kept_checkpoint, verify_kept_checkpoint

    old, new, stranger = (Ed25519PrivateKey.generate() for _ in range(3))
    keys = {c2sp.key_id(k.public_key().public_bytes_raw()): k.public_key() for k in (old, new)}
    store = merkle.MemoryNodeStore()
    for n in range(7):
        store.append(merkle.leaf_hash(b"leaf %d" % n))
    kept = c2sp.sign_checkpoint(old, c2sp.Checkpoint("example.org/log", 3, store.root(3)))
    current = c2sp.sign_checkpoint(new, c2sp.Checkpoint("example.org/log", 7, store.root(7)))
    opened, kept_id = open_kept_checkpoint(c2sp.signed_note(kept, old.public_key()), keys, "example.org/log")
    assert kept_id == c2sp.key_id(old.public_key().public_bytes_raw()) and opened.checkpoint.tree_size == 3
    proof = merkle.consistency_proof(store.get_node, 3, 7)
    report = verify_kept_checkpoint(kept=opened, kept_key=old.public_key(), current=current,
                                    current_key=new.public_key(), proof=proof)
    assert (report.kept_size, report.current_size) == (3, 7)
    with pytest.raises(merkle.VerificationError) as caught:
        verify_kept_checkpoint(kept=current, kept_key=new.public_key(), current=opened, current_key=old.public_key(),
                               proof=[])
    assert caught.value.code == "tree_size_regressed"
    with pytest.raises(merkle.VerificationError) as caught:
        verify_kept_checkpoint(kept=opened, kept_key=old.public_key(), current=current,
                               current_key=new.public_key(), proof=proof[:-1])
    assert caught.value.code in ("proof_malformed", "root_mismatch")
    stranger_note = c2sp.signed_note(c2sp.sign_checkpoint(stranger, kept.checkpoint), stranger.public_key())
    with pytest.raises(merkle.VerificationError) as caught:
        open_kept_checkpoint(stranger_note, keys, "example.org/log")
    assert caught.value.code == "signing_key_unknown"
    other_log = c2sp.sign_checkpoint(old, c2sp.Checkpoint("other.example/log", 3, store.root(3)))
    with pytest.raises(merkle.VerificationError) as caught:
        open_kept_checkpoint(c2sp.signed_note(other_log, old.public_key()), keys, "example.org/log")
    assert caught.value.code == "origin_mismatch"
