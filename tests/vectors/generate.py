"""Write the ledger test vectors in this folder; run it again and nothing changes.

    .venv/bin/python tests/vectors/generate.py

The Merkle answers come from a naive, recursive transcription of RFC 9162
section 2.1 written here on purpose, not from custody.ledger, and are checked
against the published answers of transparency-dev/merkle
(proof/verify_test.go) before anything is written. Leaf vectors pin canonical
JSON spelled out by hand; checkpoint vectors pin the golang.org/x/mod/sumdb/note
reference signature. The Ed25519 key below is a test key derived from a fixed
phrase, so signatures (deterministic per RFC 8032) come out the same each run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = Path(__file__).resolve().parent

# --- RFC 9162 section 2.1, transcribed recursively ---------------------------------------

LEAVES_HEX = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
LEAVES = [bytes.fromhex(h) for h in LEAVES_HEX]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def split_point(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + leaves[0])
    k = split_point(n)
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = split_point(n)
    if m <= k:
        return subproof(m, leaves[:k], complete) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def consistency(m: int, n: int, leaves: list[bytes]) -> list[bytes]:
    if m == 0 or m == n:
        return []
    return subproof(m, leaves[:n], True)


# --- transparency-dev/merkle proof/verify_test.go published answers ----------------------

PUBLISHED_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
PUBLISHED_EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
# (0-based leaf index, tree size, audit path); the Go table counts leaves from 1.
PUBLISHED_INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (0, 1, []),
]
PUBLISHED_CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
PUBLISHED_SOURCE = "transparency-dev/merkle proof/verify_test.go"

SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
EMPTY_ROOT = sha256(b"")


def hx(items: list[bytes]) -> list[str]:
    return [item.hex() for item in items]


def flip_bit(data: bytes, byte: int = 0, mask: int = 0x08) -> bytes:
    return data[:byte] + bytes([data[byte] ^ mask]) + data[byte + 1 :]


# --- expected outcome of a probe, judged by the oracle -----------------------------------

ROOTS = {n: mth(LEAVES[:n]) for n in range(0, len(LEAVES) + 1)}


def inclusion_outcome(index: int, size: int, leaf_hash: bytes, proof: list[bytes], root: bytes) -> str:
    if not 0 <= index < size or len(leaf_hash) != 32 or len(root) != 32 or any(len(p) != 32 for p in proof):
        return "proof_malformed"
    if len(proof) != len(path(index, [b""] * size)):
        return "proof_malformed"
    valid = (
        size in ROOTS
        and leaf_hash == sha256(b"\x00" + LEAVES[index])
        and proof == path(index, LEAVES[:size])
        and root == ROOTS[size]
    )
    return "ok" if valid else "root_mismatch"


def consistency_outcome(first: int, second: int, proof: list[bytes], root1: bytes, root2: bytes) -> str:
    if first < 0 or second < first or len(root1) != 32 or len(root2) != 32 or any(len(p) != 32 for p in proof):
        return "proof_malformed"
    if len(proof) != len(consistency(first, second, [b""] * second)):
        return "proof_malformed"
    valid = (
        second in ROOTS
        and proof == consistency(first, second, LEAVES)
        and root1 == ROOTS[first]
        and root2 == ROOTS[second]
    )
    return "ok" if valid else "root_mismatch"


def inclusion_mutations(index: int, size: int) -> list[dict]:
    leaf_hash = sha256(b"\x00" + LEAVES[index])
    proof = path(index, LEAVES[:size])
    root = ROOTS[size]
    wrong_leaf = sha256(b"\x00" + b"WrongLeaf")
    # No "size + 1" probe: a proof for leaf 1 of 5 also chains to the size-5
    # root as if it were leaf 1 of 6, because a root alone does not bind the
    # size; the signed checkpoint binds the two, and verify.py relies on that.
    probes = [
        ("wrong leaf", index, size, wrong_leaf, proof, root),
        ("leaf index - 1", index - 1, size, leaf_hash, proof, root),
        ("leaf index + 1", index + 1, size, leaf_hash, proof, root),
        ("leaf index ^ 2", index ^ 2, size, leaf_hash, proof, root),
        ("wrong tree size: * 2", index, size * 2, leaf_hash, proof, root),
        ("wrong tree size: / 2", index, size // 2, leaf_hash, proof, root),
        ("empty root", index, size, leaf_hash, proof, EMPTY_ROOT),
        ("random root", index, size, leaf_hash, proof, SOME_HASH),
        ("trailing garbage: empty node", index, size, leaf_hash, proof + [b""], root),
        ("trailing garbage: extra node", index, size, leaf_hash, proof + [root], root),
        ("preceding garbage: extra node", index, size, leaf_hash, [root] + proof, root),
        ("leaf hash of 31 bytes", index, size, leaf_hash[:31], proof, root),
    ]
    for position in range(len(proof)):
        flipped = list(proof)
        flipped[position] = flip_bit(flipped[position])
        probes.append((f"flipped bit 3 of proof[{position}]", index, size, leaf_hash, flipped, root))
    if proof:
        probes.append(("one node short", index, size, leaf_hash, proof[:-1], root))
    if len(proof) > 1:
        probes.append(("inserted node", index, size, leaf_hash, [proof[0], SOME_HASH] + proof[1:], root))
    vectors = []
    for desc, i, n, lh, pr, rt in probes:
        outcome = inclusion_outcome(i, n, lh, pr, rt)
        assert outcome != "ok", f"inclusion mutation {desc!r} of ({index}, {size}) still verifies"
        vectors.append({
            "desc": desc, "index": i, "tree_size": n, "leaf_hash": lh.hex(),
            "proof": hx(pr), "root": rt.hex(), "expect": outcome,
        })
    return vectors


def consistency_mutations(first: int, second: int) -> list[dict]:
    proof = consistency(first, second, LEAVES)
    root1, root2 = ROOTS[first], ROOTS[second]
    probes = [
        ("first size - 1", first - 1, second, proof, root1, root2),
        ("first size + 1", first + 1, second, proof, root1, root2),
        ("first size ^ 2", first ^ 2, second, proof, root1, root2),
        ("wrong tree size: second * 2", first, second * 2, proof, root1, root2),
        ("wrong tree size: second / 2", first, second // 2, proof, root1, root2),
        ("wrong first root", first, second, proof, SOME_HASH, root2),
        ("wrong second root", first, second, proof, root1, SOME_HASH),
        ("swapped roots", first, second, proof, root2, root1),
        ("empty proof", first, second, [], root1, root2),
        ("trailing garbage: empty node", first, second, proof + [b""], root1, root2),
        ("trailing garbage: extra node", first, second, proof + [root1], root1, root2),
        ("preceding garbage: extra node", first, second, [root2] + proof, root1, root2),
        ("preceding proof[0]", first, second, [proof[0]] + proof, root1, root2),
        ("one node short", first, second, proof[:-1], root1, root2),
    ]
    for position in range(len(proof)):
        flipped = list(proof)
        flipped[position] = flip_bit(flipped[position], mask=0x10)
        probes.append((f"flipped bit 4 of proof[{position}]", first, second, flipped, root1, root2))
    vectors = []
    for desc, m, n, pr, r1, r2 in probes:
        outcome = consistency_outcome(m, n, pr, r1, r2)
        assert outcome != "ok", f"consistency mutation {desc!r} of ({first}, {second}) still verifies"
        vectors.append({
            "desc": desc, "first": m, "second": n, "proof": hx(pr),
            "first_root": r1.hex(), "second_root": r2.hex(), "expect": outcome,
        })
    return vectors


def merkle_vectors() -> tuple[dict, dict, dict]:
    assert EMPTY_ROOT.hex() == PUBLISHED_EMPTY_ROOT
    for size, published in enumerate(PUBLISHED_ROOTS, start=1):
        assert ROOTS[size].hex() == published, f"root of size {size}"
    for index, size, published in PUBLISHED_INCLUSION:
        assert hx(path(index, LEAVES[:size])) == published, f"inclusion ({index}, {size})"
    for first, second, published in PUBLISHED_CONSISTENCY:
        assert hx(consistency(first, second, LEAVES)) == published, f"consistency ({first}, {second})"

    tree = {
        "source": "RFC 6962 reference tree as in " + PUBLISHED_SOURCE,
        "empty_root": EMPTY_ROOT.hex(),
        "leaves": LEAVES_HEX,
        "leaf_hashes": [sha256(b"\x00" + leaf).hex() for leaf in LEAVES],
        "roots": {str(n): ROOTS[n].hex() for n in range(1, len(LEAVES) + 1)},
    }
    published_inclusion = {(i, n) for i, n, _ in PUBLISHED_INCLUSION}
    inclusion = {
        "valid": [
            {
                "index": index, "tree_size": size,
                "leaf_hash": sha256(b"\x00" + LEAVES[index]).hex(),
                "proof": hx(path(index, LEAVES[:size])), "root": ROOTS[size].hex(),
                "published": (index, size) in published_inclusion,
            }
            for size in range(1, len(LEAVES) + 1)
            for index in range(size)
        ],
        "mutations": [
            dict(vector, of=[index, size])
            for index, size, _ in PUBLISHED_INCLUSION
            if size > 1
            for vector in inclusion_mutations(index, size)
        ],
    }
    published_consistency = {(m, n) for m, n, _ in PUBLISHED_CONSISTENCY}
    consistency_file = {
        "valid": [
            {
                "first": first, "second": second,
                "proof": hx(consistency(first, second, LEAVES)),
                "first_root": ROOTS[first].hex(), "second_root": ROOTS[second].hex(),
                "published": (first, second) in published_consistency,
            }
            for second in range(0, len(LEAVES) + 1)
            for first in range(0, second + 1)
        ],
        "mutations": [
            dict(vector, of=[first, second])
            for first, second, _ in PUBLISHED_CONSISTENCY
            if first != second
            for vector in consistency_mutations(first, second)
        ],
    }
    return tree, inclusion, consistency_file


# --- leaves ----------------------------------------------------------------------------

ZERO = "0" * 64
FILE_SHA = hashlib.sha256(b"photo of the meter, 2026-03-14").hexdigest()


def leaf_vectors() -> dict:
    first = {
        "index": 0, "type": "created", "evidence_id": "ev_0001", "actor_id": "usr_0007",
        "at": "2026-03-14T09:26:53Z", "sha256": FILE_SHA, "prev_leaf_hash": ZERO,
        "note": "Zoë – 取证 \u2028",
    }
    first_text = (
        '{"actor_id":"usr_0007","at":"2026-03-14T09:26:53Z","evidence_id":"ev_0001","index":0,'
        '"note":"Zoë – 取证 \u2028","prev_leaf_hash":"' + ZERO + '","sha256":"' + FILE_SHA
        + '","type":"created"}'
    )
    assert rfc8785.dumps(first) == first_text.encode("utf-8"), "rfc8785 disagrees with JCS by hand"
    chain_events = [first]
    leaves = [first_text.encode("utf-8")]
    for index, event_type in ((1, "sealed"), (2, "viewed")):
        event = {
            "index": index, "type": event_type, "evidence_id": "ev_0001", "actor_id": "usr_0007",
            "at": f"2026-03-14T09:3{index}:00Z", "sha256": FILE_SHA,
            "prev_leaf_hash": sha256(b"\x00" + leaves[-1]).hex(),
        }
        text = (
            '{"actor_id":"usr_0007","at":"' + event["at"] + '","evidence_id":"ev_0001","index":'
            + str(index) + ',"prev_leaf_hash":"' + event["prev_leaf_hash"] + '","sha256":"'
            + FILE_SHA + '","type":"' + event_type + '"}'
        )
        assert rfc8785.dumps(event) == text.encode("utf-8")
        chain_events.append(event)
        leaves.append(text.encode("utf-8"))
    spaced = leaves[1].decode().replace(",", ", ")
    reordered = json.dumps(dict(reversed(list(chain_events[1].items()))), separators=(",", ":"), ensure_ascii=False)
    return {
        "canonical": [
            {"event": event, "leaf": leaf.decode("utf-8"), "leaf_hash": sha256(b"\x00" + leaf).hex()}
            for event, leaf in zip(chain_events, leaves)
        ],
        "chain": {"first_prev": ZERO, "leaves": [leaf.decode("utf-8") for leaf in leaves],
                  "last_leaf_hash": sha256(b"\x00" + leaves[-1]).hex()},
        "broken_chains": [
            {"desc": "middle leaf left out", "leaves": [leaves[0].decode(), leaves[2].decode()],
             "expect": "leaf_chain_broken"},
            {"desc": "leaves out of order", "leaves": [leaves[0].decode(), leaves[2].decode(), leaves[1].decode()],
             "expect": "leaf_chain_broken"},
            {"desc": "wrong first previous hash", "first_prev": SOME_HASH.hex(),
             "leaves": [leaves[0].decode()], "expect": "leaf_chain_broken"},
            {"desc": "not canonical: spaces", "leaves": [leaves[0].decode(), spaced], "expect": "leaf_malformed"},
            {"desc": "not canonical: key order", "leaves": [leaves[0].decode(), reordered],
             "expect": "leaf_malformed"},
            {"desc": "duplicate key", "leaves": [leaves[0].decode()[:-1] + ',"type":"created"}'],
             "expect": "leaf_malformed"},
        ],
        "invalid_events": [
            {"desc": "missing sha256", "event": {k: v for k, v in first.items() if k != "sha256"}},
            {"desc": "missing prev_leaf_hash", "event": {k: v for k, v in first.items() if k != "prev_leaf_hash"}},
            {"desc": "leaf 0 with a previous hash", "event": dict(first, prev_leaf_hash=SOME_HASH.hex())},
            {"desc": "uppercase hex", "event": dict(first, sha256=FILE_SHA.upper())},
            {"desc": "negative index", "event": dict(first, index=-1)},
            {"desc": "index beyond the JSON safe integers", "event": dict(first, index=2**53 + 1)},
        ],
    }


# --- checkpoints and signed notes -------------------------------------------------------

ORIGIN = "fieldproof.example/ledger"
TEST_KEY_SEED = sha256(b"FieldProof ledger test vector key; never use outside tests")
GO_NOTE_SOURCE = "golang.org/x/mod/sumdb/note note_test.go"
GO_SIGNER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIGNATURE_LINE = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def note_line(name: str, public_raw: bytes, signature: bytes) -> str:
    key_hash = sha256(name.encode() + b"\n\x01" + public_raw)[:4]
    return f"\u2014 {name} {b64(key_hash + signature)}\n"


def checkpoint_vectors() -> dict:
    go_seed = base64.b64decode(GO_SIGNER_KEY.split("+", 4)[4])
    assert go_seed[0] == 1
    go_key = Ed25519PrivateKey.from_private_bytes(go_seed[1:])
    go_public = go_key.public_key().public_bytes_raw()
    assert GO_VERIFIER_KEY.split("+", 2)[2] == b64(b"\x01" + go_public)
    assert note_line("PeterNeumann", go_public, go_key.sign(GO_TEXT.encode())) == GO_SIGNATURE_LINE

    key = Ed25519PrivateKey.from_private_bytes(TEST_KEY_SEED)
    public = key.public_key().public_bytes_raw()
    other = Ed25519PrivateKey.from_private_bytes(sha256(b"some other key"))
    root8 = b64(ROOTS[8])
    body = f"{ORIGIN}\n8\n{root8}\n"
    signature = key.sign(body.encode())
    body_ext = f"{ORIGIN}\n8\n{root8}\nTimestamp: 1773480413\n"
    body_empty = f"{ORIGIN}\n0\n{b64(EMPTY_ROOT)}\n"
    note = body + "\n" + note_line(ORIGIN, public, signature)
    other_signature = other.sign(body.encode())

    url_safe_root = base64.urlsafe_b64encode(bytes([0xFB]) * 32).decode()
    # The 43rd character carries 2 padding bits that must be zero; +1 sets one.
    sloppy_root = f"{root8[:42]}{chr(ord(root8[42]) + 1)}="

    def invalid(desc: str, text: str) -> dict:
        return {"desc": desc, "body_b64": b64(text.encode("utf-8"))}

    return {
        "test_key": {
            "warning": "test vectors only",
            "private_seed": TEST_KEY_SEED.hex(),
            "public_key": public.hex(),
            "key_id": hashlib.sha256(public).hexdigest(),
            "note_key_hash": sha256(ORIGIN.encode() + b"\n\x01" + public)[:4].hex(),
        },
        "valid": [
            {"body": body, "origin": ORIGIN, "tree_size": 8, "root_hash": ROOTS[8].hex(), "extensions": []},
            {"body": body_ext, "origin": ORIGIN, "tree_size": 8, "root_hash": ROOTS[8].hex(),
             "extensions": ["Timestamp: 1773480413"]},
            {"body": body_empty, "origin": ORIGIN, "tree_size": 0, "root_hash": EMPTY_ROOT.hex(), "extensions": []},
        ],
        "invalid_bodies": [
            invalid("missing trailing newline", body[:-1]),
            invalid("extra blank line at the end", body + "\n"),
            invalid("blank extension line in the middle", f"{ORIGIN}\n8\n{root8}\n\nx\n"),
            invalid("CRLF line endings", body.replace("\n", "\r\n")),
            invalid("only two lines", f"{ORIGIN}\n8\n"),
            invalid("empty origin", f"\n8\n{root8}\n"),
            invalid("origin with a space", f"fieldproof ledger\n8\n{root8}\n"),
            invalid("origin with a plus", f"fieldproof+ledger\n8\n{root8}\n"),
            invalid("tree size with a leading zero", f"{ORIGIN}\n08\n{root8}\n"),
            invalid("tree size with a plus sign", f"{ORIGIN}\n+8\n{root8}\n"),
            invalid("negative tree size", f"{ORIGIN}\n-8\n{root8}\n"),
            invalid("tree size with a space", f"{ORIGIN}\n 8\n{root8}\n"),
            invalid("tree size in fullwidth digits", f"{ORIGIN}\n\uff18\n{root8}\n"),
            invalid("tree size in hex", f"{ORIGIN}\n0x8\n{root8}\n"),
            invalid("tree size beyond 64 bits", f"{ORIGIN}\n{2**64}\n{root8}\n"),
            invalid("empty tree size", f"{ORIGIN}\n\n{root8}\n"),
            invalid("root hash of 31 bytes", f"{ORIGIN}\n8\n{b64(ROOTS[8][:31])}\n"),
            invalid("root hash of 33 bytes", f"{ORIGIN}\n8\n{b64(ROOTS[8] + b'x')}\n"),
            invalid("root hash in hex", f"{ORIGIN}\n8\n{ROOTS[8].hex()}\n"),
            invalid("root hash without padding", f"{ORIGIN}\n8\n{root8.rstrip('=')}\n"),
            invalid("root hash in base64url", f"{ORIGIN}\n8\n{url_safe_root}\n"),
            invalid("root hash with non-canonical trailing bits", f"{ORIGIN}\n8\n{sloppy_root}\n"),
        ],
        "invalid_body_bytes": [
            {"desc": "not UTF-8", "body_b64": b64(b"\xff\xfe\n8\n" + root8.encode() + b"\n")},
        ],
        "signed": {"body": body, "signature": b64(signature), "note": note},
        "bad_signatures": [
            {"desc": "flipped bit in signature", "body": body, "signature": b64(flip_bit(signature, 5, 0x01)),
             "expect": "signature_invalid"},
            {"desc": "signature by another key", "body": body, "signature": b64(other_signature),
             "expect": "signature_invalid"},
            {"desc": "body with a different tree size", "body": f"{ORIGIN}\n7\n{root8}\n",
             "signature": b64(signature), "expect": "signature_invalid"},
            {"desc": "body with a different root", "body": f"{ORIGIN}\n8\n{b64(ROOTS[7])}\n",
             "signature": b64(signature), "expect": "signature_invalid"},
            {"desc": "signature of 63 bytes", "body": body, "signature": b64(signature[:63]),
             "expect": "signature_malformed"},
        ],
        "bad_notes": [
            {"desc": "no blank line", "note": body + note_line(ORIGIN, public, signature), "expect": "note_malformed"},
            {"desc": "no signature lines", "note": body + "\n", "expect": "note_malformed"},
            {"desc": "hyphen instead of em dash", "note": note.replace("\u2014", "-"), "expect": "note_malformed"},
            {"desc": "signature under another key name",
             "note": body + "\n" + note_line("someone.else", public, signature), "expect": "signature_missing"},
            {"desc": "signed by another key only",
             "note": body + "\n" + note_line(ORIGIN, other.public_key().public_bytes_raw(), other_signature),
             "expect": "signature_missing"},
            {"desc": "flipped bit in signature",
             "note": body + "\n" + note_line(ORIGIN, public, flip_bit(signature, 9, 0x40)),
             "expect": "signature_invalid"},
            {"desc": "our key twice", "note": note + note_line(ORIGIN, public, signature), "expect": "note_malformed"},
            {"desc": "body changed after signing", "note": note.replace("\n8\n", "\n9\n", 1),
             "expect": "signature_invalid"},
        ],
        "extra_signature_note": {
            "desc": "a cosignature by an unknown key is ignored",
            "note": note + note_line("witness.example", other.public_key().public_bytes_raw(), other_signature),
        },
        "go_reference_note": {
            "source": GO_NOTE_SOURCE,
            "signer_key": GO_SIGNER_KEY,
            "verifier_key": GO_VERIFIER_KEY,
            "key_name": "PeterNeumann",
            "text": GO_TEXT,
            "note": GO_TEXT + "\n" + GO_SIGNATURE_LINE,
        },
    }


def write(name: str, content: dict) -> None:
    text = json.dumps(content, indent=1, ensure_ascii=False) + "\n"
    (HERE / name).write_text(text, encoding="utf-8")


def main() -> int:
    tree, inclusion, consistency_file = merkle_vectors()
    write("rfc6962_tree.json", tree)
    write("inclusion.json", inclusion)
    write("consistency.json", consistency_file)
    write("leaf.json", leaf_vectors())
    write("checkpoint.json", checkpoint_vectors())
    return 0


if __name__ == "__main__":
    sys.exit(main())
