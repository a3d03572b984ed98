"""The witness an auditor or partner runs: checks the log only grows, then cosigns.

It keeps, in its own state file, the last checkpoint it cosigned and the log's verifier key it
trusts (pinned on first use or given). Each run fetches the latest checkpoint, verifies the
log's signature, and checks it against the kept one: the same size must have the same root
(else two different checkpoints of one size — a split view), a smaller size is a rollback, and
a larger one must come with a consistency proof from the kept size. Only then is the new
checkpoint persisted (atomically: write, fsync, rename) and cosigned (C2SP cosignature/v1).
The state is written before the cosignature leaves, so a crash never lets a witness forget
what it vouched for.
"""
from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.files import write_atomically
from custody.ledger import checkpoint as c2sp
from custody.ledger import merkle
from custody.ledger.cosignature import (
    COSIGNATURE_TYPE,
    NOTE_KEY_TYPE,
    cosignature_line,
    parse_verifier_key,
    verifier_key,
)

STATE_FORMAT = "fieldproof-witness-state/1"


class WitnessRefusal(Exception):
    """The log showed something inconsistent with what this witness saw: it will not cosign."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class WitnessError(Exception):
    """The run could not complete (network, API, files); nothing was cosigned."""


def load_witness_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise WitnessError(f"witness key {path} is not a readable unencrypted PEM (PKCS#8) private key: {exc}") \
            from None
    if not isinstance(key, Ed25519PrivateKey):
        raise WitnessError(f"witness key {path} is not an Ed25519 key")
    return key


def witness_vkey(key: Ed25519PrivateKey, name: str) -> str:
    """The witness's C2SP verifier key (type 0x04), what an admin registers and verifiers pin."""
    return verifier_key(name, key.public_key().public_bytes_raw(), COSIGNATURE_TYPE)


@dataclass
class WitnessState:
    """What the witness has vouched for: the log it follows and the newest checkpoint it cosigned."""

    name: str
    log_vkey: str
    origin: str
    tree_size: int
    root_hash: str  # base64, as in the checkpoint
    checkpoint: str  # the body it cosigned
    format: str = STATE_FORMAT

    @classmethod
    def load(cls, path: Path) -> WitnessState | None:
        try:
            data = json.loads(Path(path).read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise WitnessError(f"witness state {path} cannot be read: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise WitnessError(f"witness state {path} is not a {STATE_FORMAT} file")
        try:
            return cls(**data)
        except TypeError as exc:
            raise WitnessError(f"witness state {path} is incomplete: {exc}") from None

    def save(self, path: Path) -> None:
        """Atomic: a temporary file in the same directory, fsynced, then renamed over the old one."""
        write_atomically(path, (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode("utf-8"),
                         mode=0o600)


def check_and_advance(state: WitnessState | None, name: str, log_vkey: str, note: bytes,
                      consistency_proof) -> tuple[WitnessState, c2sp.Checkpoint]:
    """Verify `note` against the kept state; the new state to persist, or WitnessRefusal.

    `consistency_proof(first, second)` returns the proof hashes (bytes) from the log.
    """
    log_key = parse_verifier_key(log_vkey, key_type=NOTE_KEY_TYPE)
    if state is not None and state.log_vkey != log_vkey:
        raise WitnessRefusal("log_key_changed", f"the log now signs with {log_vkey}, but this witness follows "
                             f"{state.log_vkey}; confirm the new key out of band and pass it with --log-vkey")
    try:
        signed = c2sp.parse_signed_note(note, log_key.public_key, log_key.name)
    except merkle.VerificationError as exc:
        raise WitnessRefusal("log_signature_invalid", f"the checkpoint is not signed by the log's key: {exc}") from exc
    checkpoint = signed.checkpoint
    if checkpoint.origin != log_key.name:
        raise WitnessRefusal("origin_mismatch", f"checkpoint origin {checkpoint.origin!r} is not {log_key.name!r}")
    root_b64 = base64.b64encode(checkpoint.root_hash).decode("ascii")
    if checkpoint.tree_size == 0 and checkpoint.root_hash != merkle.EMPTY_ROOT:
        raise WitnessRefusal("empty_tree_root", "the log signed an empty tree with a root that is not the empty root")
    if state is not None:
        if checkpoint.tree_size < state.tree_size:
            raise WitnessRefusal("rollback", f"ROLLBACK: the log shows size {checkpoint.tree_size}, but this witness "
                                 f"already cosigned size {state.tree_size}")
        if checkpoint.tree_size == state.tree_size and root_b64 != state.root_hash:
            raise WitnessRefusal("split_view", f"SPLIT VIEW: two different checkpoints of size {checkpoint.tree_size}: "
                                 f"root {root_b64} now, {state.root_hash} cosigned before")
        if checkpoint.tree_size > state.tree_size:
            old_root = base64.b64decode(state.root_hash)
            try:
                proof = consistency_proof(state.tree_size, checkpoint.tree_size)
                merkle.verify_consistency(state.tree_size, checkpoint.tree_size, proof, old_root,
                                          checkpoint.root_hash)
            except merkle.VerificationError as exc:
                raise WitnessRefusal("inconsistent", f"SPLIT VIEW: size {checkpoint.tree_size} does not extend the "
                                     f"size {state.tree_size} this witness cosigned: {exc}") from exc
    return WitnessState(name=name, log_vkey=log_vkey, origin=checkpoint.origin, tree_size=checkpoint.tree_size,
                        root_hash=root_b64, checkpoint=checkpoint.body().decode("utf-8")), checkpoint


class LedgerClient:
    """The few ledger calls a witness makes, over HTTP(S) with a bearer token."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0):
        self.base = base_url.rstrip("/")
        if not self.base.endswith("/api/v1"):
            self.base += "/api/v1"
        self.token, self.timeout = token, timeout

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Accept": "application/json",
            **({"Content-Type": "application/json"} if data is not None else {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 - the ledger's URL
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:2000].decode("utf-8", "replace")
            raise WitnessError(f"{method} {path} answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise WitnessError(f"{method} {path} failed: {exc}") from None

    def log_vkey(self) -> str:
        return self._call("GET", "/ledger/public-key")["vkey"]

    def head(self) -> dict:
        return self._call("GET", "/ledger/head")

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        answer = self._call("GET", "/ledger/proofs/consistency?" + urllib.parse.urlencode(
            {"first": first, "second": second}))
        if (answer.get("first"), answer.get("second")) != (first, second):
            raise merkle.ProofError("the log answered a proof between other sizes")
        return [merkle.hash_from_hex(node, name="proof") for node in answer.get("proof", [])]

    def post_cosignature(self, note: str) -> dict:
        return self._call("POST", "/ledger/cosignatures", {"note": note})


@dataclass(frozen=True)
class WitnessRun:
    tree_size: int
    root_hash: str
    cosignature: str
    accepted: dict


def run_witness(client: LedgerClient, key: Ed25519PrivateKey, state_path: Path, name: str | None,
                log_vkey: str | None, now: int) -> WitnessRun:
    """One round: fetch, verify, persist, cosign, post."""
    state = WitnessState.load(state_path)
    name = name or (state.name if state else None)
    if not name:
        raise WitnessError("a first run needs --name (the witness's key name, e.g. audit.example.com/witness)")
    if state is not None and state.name != name:
        raise WitnessError(f"the state file belongs to witness {state.name!r}, not {name!r}")
    served_vkey = client.log_vkey()
    trusted = log_vkey or (state.log_vkey if state else served_vkey)
    if served_vkey != trusted:
        raise WitnessRefusal("log_key_changed", f"the log serves key {served_vkey}, but this witness trusts "
                             f"{trusted}; confirm the new key out of band and pass it with --log-vkey")
    if state is not None and log_vkey and log_vkey != state.log_vkey:
        state = WitnessState(**{**asdict(state), "log_vkey": log_vkey})
    head = client.head()
    note = str(head["note"]).encode("utf-8")
    new_state, checkpoint = check_and_advance(state, name, trusted, note, client.consistency_proof)
    new_state.save(state_path)
    line = cosignature_line(key, name, checkpoint.body(), now)
    accepted = client.post_cosignature(note.decode("utf-8") + line)
    return WitnessRun(checkpoint.tree_size, new_state.root_hash, line, accepted)
