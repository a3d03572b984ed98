"""The auditor's verification sweep: re-hash stored bytes and re-check the whole ledger.

A run trusts neither the database nor the blob store. It signs a fresh tree head over the
stored tree, proves every kept checkpoint consistent with it (each signature checked with a
key the server holds as a file, so a key row added to the database proves nothing), rebuilds
the tree from the leaves themselves and compares every stored node, checks each leaf against
the columns it was built from and against the chain of `prev_leaf_hash`, and re-hashes every
stored object. Findings are collected, not raised: one tampered item never hides another.

The whole-ledger check reads the log as auditors receive it: leaves from the entry bundles and
the stored tree's tile levels through `custody.tiles.read_tile` (what the tile endpoints and
`export-tiles` serve), so a node that disagrees is named by its tile's path. With a published
mirror configured (`FIELDPROOF_LEDGER_MIRROR`), the run also checks that copy end to end and
against our own leaves: not ahead of them, and the same root at its size (no fork).

The judging is done by `custody/ledger/verify.py` and `merkle.py`, the same code the offline
bundle verifier uses; this module only fetches what they judge, in short transactions so that
a long sweep never holds the SQLite write lock.
"""
from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.hashing import digest_stream
from core.keys import LedgerKey
from custody.append import LEAF_COLUMNS, rebuild_leaf
from custody.checkpoints import issue_checkpoint
from custody.ledger import checkpoint as c2sp
from custody.ledger import merkle
from custody.ledger.leaf import ZERO_HASH_HEX, LeafFormatError, leaf_hash_hex, parse_leaf
from custody.ledger.mirror import entries_at_fault, open_mirror_checkpoint, verify_mirror_tiles
from custody.ledger.tiles import (TILE_HEIGHT, TILE_WIDTH, Tile, parse_entry_bundle, split_tile, tile_node_keys,
                                  tiles_for_size)
from custody.ledger.verify import VerificationError, verify_event
from custody.mirrors import CHECKPOINT, TileFileTooLarge, TilesUnreadable, mirror_tiles, shown_location
from custody.models import NODE_LEVELS, CustodyEvent, IssuedCheckpoint, LedgerHead, LedgerNode, SigningKey, Verification
from custody.proofs import LedgerCorrupted, consistency_keys, fetch_nodes, inclusion_keys, with_stored_nodes
from custody.tiles import read_tile
from custody.verification import evidence_item_model, judge_kept_checkpoint, trusted_keys, trusted_public_keys

EVENT_CHUNK = 8 * TILE_WIDTH  # leaves per transaction of the rebuild: whole tiles and entry bundles
READ_SIZE = 1 << 20
MAX_REPORTED_FAILURES = 1000
PROGRESS_EVERY_SECONDS = 1.0


@dataclass
class Report:
    """Findings gathered over a run: each names the item (when there is one) and a problem code."""

    checked: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    failed_subjects: set[str] = field(default_factory=set)
    omitted: int = 0

    def fail(self, subject: str, problem: str, detail: str, *, evidence_id: str | None = None,
             ledger_index: int | None = None) -> None:
        self.failed_subjects.add(subject)
        if len(self.failures) >= MAX_REPORTED_FAILURES:
            self.omitted += 1
            return
        finding = {"evidence_id": evidence_id, "problem": problem, "subject": subject, "detail": detail}
        if ledger_index is not None:
            finding["ledger_index"] = ledger_index
        self.failures.append(finding)

    def fail_with(self, subject: str, error: VerificationError, **where) -> None:
        self.fail(subject, error.code, str(error), **where)

    @property
    def failed(self) -> int:
        return len(self.failed_subjects)


class MirrorCheck:
    """One run's check of the published mirror: its reader, its checkpoint once opened, the
    problems found (each a failure of the subject `mirror`) and the summary the report keeps."""

    def __init__(self, location: str, fetch, report: Report):
        self.fetch = fetch
        self.report = report
        self.shown = shown_location(location)
        self.signed: c2sp.SignedCheckpoint | None = None
        self.key_id: str | None = None
        self.problems = 0
        self.summary: dict[str, Any] = {"location": self.shown, "status": "failed", "tree_size": None,
                                        "root_hash": None, "key_id": None, "files_checked": 0, "leaves_checked": 0}

    def fail(self, problem: str, detail: str) -> None:
        self.problems += 1
        self.report.fail("mirror", problem, f"the mirror at {self.shown}: {detail}")

    def failed(self, problem: str, detail: str) -> MirrorCheck:
        self.fail(problem, detail)
        return self

    def counted(self, advance):
        def fetch(path: str) -> bytes:
            data = self.fetch(path)
            advance(1)
            return data
        return fetch


class Sweep:
    """One verification run over a runtime; every database read is its own short transaction."""

    def __init__(self, runtime, verification: Verification):
        self.runtime = runtime
        self.db = runtime.db
        self.verification_id = verification.id
        self.scope = verification.scope
        self.subject_id = verification.subject_id
        self.kept_checkpoints = list(verification.kept_checkpoints or [])
        self.report = Report()
        self.root_wanted_at: int | None = None  # a size whose root the rebuild keeps (the mirror's)
        self.root_at_wanted: bytes | None = None
        self.head: c2sp.SignedCheckpoint | None = None
        self.head_key: Ed25519PublicKey | None = None
        self.units_total = 1
        self.units_done = 0
        self._last_progress = time.monotonic()

    # progress, written from time to time so a poller sees the run move
    def advance(self, units: int = 1) -> None:
        self.units_done += units
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_EVERY_SECONDS:
            self._last_progress = now
            with self.db.transaction() as session:
                row = session.get(Verification, self.verification_id)
                row.progress = min(0.99, self.units_done / max(1, self.units_total))
                row.checked = self.report.checked
                row.failed = self.report.failed

    def run(self) -> Report:
        self.items = self.items_in_scope()
        with self.db.transaction() as session:
            events = session.scalar(select(func.count()).select_from(CustodyEvent)) if self.scope == "all" \
                else len(self.events_in_scope(session))
            checkpoints = session.scalar(select(func.count()).select_from(IssuedCheckpoint))
        self.units_total = sum(size for _, _, size, _, _ in self.items) // READ_SIZE + len(self.items) \
            + events + checkpoints + len(self.kept_checkpoints) + 1
        self.take_tree_head()
        self.check_checkpoints()
        if self.scope == "all":
            mirror = self.open_mirror()
            self.check_whole_ledger()
            if mirror is not None:
                self.check_mirror(mirror)
        else:
            self.check_scoped_events()
        self.check_blobs()
        return self.report

    # --- scope

    def items_in_scope(self) -> list[tuple[str, str, int, str | None, str]]:
        """(id, sha256, size, case_id, status) of every evidence item the run covers."""
        item = evidence_item_model()
        query = select(item.id, item.sha256, item.size, item.case_id, item.status).order_by(item.id)
        if self.scope == "evidence":
            query = query.where(item.id == self.subject_id)
        elif self.scope == "case":
            query = query.where(item.case_id == self.subject_id)
        with self.db.transaction() as session:
            return [tuple(row) for row in session.execute(query)]

    def events_in_scope(self, session: Session) -> list[CustodyEvent]:
        ids = [item_id for item_id, *_ in self.items]
        query = select(CustodyEvent).order_by(CustodyEvent.ledger_index)
        if self.scope == "evidence":
            query = query.where(CustodyEvent.evidence_id == self.subject_id)
        else:
            conditions = [CustodyEvent.case_id == self.subject_id]
            for start in range(0, len(ids), 500):
                conditions.append(CustodyEvent.evidence_id.in_(ids[start:start + 500]))
            query = query.where(or_(*conditions))
        return list(session.scalars(query))

    # --- tree heads

    def take_tree_head(self) -> None:
        """Sign the stored tree as it is now: the head every other check is proven against.

        A new checkpoint rather than the latest kept one, which may itself be what was forged.
        """
        try:
            with self.db.transaction() as session:
                row = issue_checkpoint(session, self.runtime.signer, self.runtime.settings.ledger_origin)
                body, signature = row.body.encode("utf-8"), base64.b64decode(row.signature)
        except LedgerCorrupted as error:
            self.report.fail("ledger", "ledger_nodes_missing", error.detail)
            return
        self.head_key = self.runtime.signer.key.public_key
        self.head = c2sp.SignedCheckpoint(c2sp.verify_checkpoint_signature(self.head_key, body, signature), signature)
        with self.db.transaction() as session:
            row = session.get(Verification, self.verification_id)
            row.tree_size = self.head.checkpoint.tree_size
            row.root_hash = self.head.checkpoint.root_hash_hex

    def check_checkpoints(self) -> None:
        """Every kept checkpoint: signed by a key we hold, and a prefix of the current tree."""
        keys = trusted_keys(self.runtime)
        last_id = 0
        while True:
            with self.db.transaction() as session:
                rows = list(session.scalars(select(IssuedCheckpoint).where(IssuedCheckpoint.id > last_id)
                                            .order_by(IssuedCheckpoint.id).limit(500)))
                if not rows:
                    break
                for row in rows:
                    self.check_checkpoint(session, row, keys)
                last_id = rows[-1].id
            self.advance(len(rows))
        self.check_kept_checkpoints(keys)
        with self.db.transaction() as session:
            for key_row in session.scalars(select(SigningKey)):
                held = keys.get(key_row.key_id)
                if held is None or held.public_raw != bytes(key_row.public_key):
                    self.report.checked += 1
                    self.report.fail(f"signing key {key_row.key_id}", "signing_key_unknown",
                                     "a key recorded in the database is not one the server holds")

    def check_kept_checkpoints(self, keys: dict[str, LedgerKey]) -> None:
        """The checkpoints the auditor kept: what catches a rollback that deleted later checkpoints."""
        public_keys = {key_id: key.public_key for key_id, key in keys.items()}
        for number, note in enumerate(self.kept_checkpoints, start=1):
            self.report.checked += 1
            subject = f"kept checkpoint {number}"
            if self.head is None:
                self.report.fail(subject, "consistency_failed", "no signed head of the stored tree to prove it against")
                continue
            with self.db.transaction() as session:
                _, _, _, failures = judge_kept_checkpoint(session, note, public_keys, self.head, self.head_key,
                                                          self.runtime.settings.ledger_origin, subject)
            for finding in failures:
                self.report.fail(subject, finding["problem"], finding["detail"])

    def check_checkpoint(self, session: Session, row: IssuedCheckpoint, keys: dict[str, LedgerKey]) -> None:
        subject = f"checkpoint {row.id}"
        self.report.checked += 1
        key = keys.get(row.key_id)
        if key is None:
            self.report.fail(subject, "signing_key_unknown",
                             f"signed by key {row.key_id}, which the server does not hold")
            return
        try:
            signature = base64.b64decode(row.signature, validate=True)
            checkpoint = c2sp.verify_checkpoint_signature(key.public_key, row.body.encode("utf-8"), signature)
        except VerificationError as error:
            self.report.fail_with(subject, error)
            return
        except ValueError:
            self.report.fail(subject, "signature_malformed", "the signature is not base64")
            return
        if checkpoint.origin != self.runtime.settings.ledger_origin:
            self.report.fail(subject, "origin_mismatch", f"checkpoint is for log {checkpoint.origin!r}")
        if checkpoint.tree_size != row.tree_size or checkpoint.root_hash_hex != row.root_hash:
            self.report.fail(subject, "checkpoint_mismatch", "the stored size or root differs from the signed body")
        if self.head is None:
            return
        current = self.head.checkpoint
        if checkpoint.tree_size > current.tree_size:
            self.report.fail(subject, "tree_size_regressed",
                             f"a checkpoint signed {checkpoint.tree_size} leaves; the ledger now has "
                             f"{current.tree_size}: the log was rolled back")
            return
        try:
            proof = with_stored_nodes(session, lambda get: merkle.consistency_proof(
                get, checkpoint.tree_size, current.tree_size),
                keys=consistency_keys(checkpoint.tree_size, current.tree_size))
            if checkpoint.tree_size == 0:
                if checkpoint.root_hash != merkle.EMPTY_ROOT:
                    raise merkle.RootMismatchError("empty tree", expected_root=merkle.EMPTY_ROOT,
                                                   calculated_root=checkpoint.root_hash)
            else:
                merkle.verify_consistency(checkpoint.tree_size, current.tree_size, proof,
                                          checkpoint.root_hash, current.root_hash)
        except VerificationError as error:
            self.report.fail(subject, "consistency_failed",
                             f"the current tree does not extend checkpoint {row.id} "
                             f"(size {checkpoint.tree_size}): {error}")
        except LedgerCorrupted as error:
            self.report.fail(subject, "consistency_failed", error.detail)

    # --- the whole ledger, rebuilt from its leaves

    def check_whole_ledger(self) -> None:
        """Rebuild the tree from the leaves: the published tiles, every other stored node, the
        chain and the head must agree with it.

        The leaves are read as the entry bundles publish them, and the tile levels of the stored
        tree as the tiles publish them (`custody.tiles.read_tile`, what the tile endpoints and
        `export-tiles` serve), so what is verified is the bytes auditors receive; the levels
        between (stored for the API's proofs, in no tile) are read as the proofs read them.
        One transaction per EVENT_CHUNK leaves, and memory bounded by one chunk.
        """
        with self.db.transaction() as session:
            head = session.get(LedgerHead, 1)
            claimed = head.size if head else 0
            last = session.scalar(select(func.max(CustodyEvent.ledger_index)))
        if head is None:
            self.report.fail("ledger head", "head_missing", "the ledger head row is gone")
        total = 0 if last is None else last + 1
        frontier: dict[int, tuple[int, bytes]] = {}

        def get_rebuilt(level: int, index: int) -> bytes:
            return frontier_node(frontier, level, index)

        def append(index: int, digest: bytes, rebuilt: dict[tuple[int, int], bytes]) -> None:
            for level, node_index, node in merkle.completed_subtrees(index, digest, get_rebuilt):
                frontier[level] = (node_index, node)
                rebuilt[(level, node_index)] = node

        previous = ZERO_HASH_HEX
        self.rebuildable = True
        self.tile_hashes: dict[int, tuple[int, list[tuple[bytes, str | None]]]] = {}
        for start in range(0, total, EVENT_CHUNK):
            end = min(total, start + EVENT_CHUNK)
            with self.db.transaction() as session:
                events = {ev.ledger_index: ev for ev in session.execute(
                    select(*LEAF_COLUMNS, CustodyEvent.leaf_hash)
                    .where(CustodyEvent.ledger_index >= start, CustodyEvent.ledger_index < end))}
                leaves = self.published_leaves(session, start, end)
                rebuilt: dict[tuple[int, int], bytes] = {}
                for index in range(start, end):
                    ev = events.get(index)
                    if ev is None:
                        # A deleted event: report it, and carry on with its stored leaf hash so that
                        # the rest of the log is still judged on its own merits.
                        self.report.fail(f"ledger index {index}", "event_missing",
                                         f"ledger index {index} has no custody event", ledger_index=index)
                        digest = fetch_nodes(session, [(0, index)]).get((0, index))
                        if digest is None:
                            self.rebuildable = False
                            digest = bytes(merkle.HASH_SIZE)
                    else:
                        digest = self.check_event_row(ev, leaves[index], index, previous)
                    append(index, digest, rebuilt)
                    previous = digest.hex()
                    if index + 1 == self.root_wanted_at:
                        self.root_at_wanted = merkle.subtree_root(get_rebuilt, 0, index + 1)
                if self.rebuildable:
                    self.compare_nodes(session, rebuilt, {i: ev.evidence_id for i, ev in events.items()}, end)
            self.advance(len(events))
        self.rebuilt_size = total
        if self.rebuildable:
            with self.db.transaction() as session:
                for tile_level, (tile_index, hashes) in sorted(self.tile_hashes.items()):
                    self.compare_tile(session, Tile(tile_level, tile_index, len(hashes)), hashes, total)
        self.check_head(claimed, previous, head is not None)
        self.check_stray_nodes(total)
        if not self.rebuildable:
            self.report.fail("ledger", "ledger_unrebuildable",
                             "events and their stored leaf hashes are both gone: the tree cannot be rebuilt")
        elif self.head is not None:
            root = merkle.EMPTY_ROOT if total == 0 else merkle.subtree_root(get_rebuilt, 0, total)
            if total != self.head.checkpoint.tree_size or root != self.head.checkpoint.root_hash:
                self.report.fail("ledger", "root_mismatch",
                                 f"the leaves ({total}) hash to {root.hex()}, the stored tree "
                                 f"({self.head.checkpoint.tree_size}) to {self.head.checkpoint.root_hash_hex}")

    def published_leaves(self, session: Session, start: int, end: int) -> dict[int, bytes]:
        """Leaves `start` to `end` as their entry bundles publish them. Where a bundle cannot be
        served its leaves are read as stored: an event gone is named by the rebuild (`event_missing`),
        anything else (a leaf too long for a bundle) here."""
        leaves: dict[int, bytes] = {}
        for first in range(start, end, TILE_WIDTH):
            bundle = Tile(None, first // TILE_WIDTH, min(TILE_WIDTH, end - first))
            try:
                leaves.update(enumerate(parse_entry_bundle(read_tile(session, bundle, end), bundle.width),
                                        start=first))
                continue
            except LedgerCorrupted:
                pass
            except (ValueError, VerificationError) as error:
                self.report.fail(bundle.path, "entries_unreadable", f"{bundle.path} cannot be served: {error}")
            rows = session.execute(select(CustodyEvent.ledger_index, CustodyEvent.leaf).where(
                CustodyEvent.ledger_index >= first, CustodyEvent.ledger_index < first + bundle.width))
            leaves.update((index, leaf.encode("utf-8")) for index, leaf in rows)
        return leaves

    def check_event_row(self, ev, leaf: bytes, position: int, previous: str) -> bytes:
        """One stored event (a `CustodyEvent`, or a row of its `LEAF_COLUMNS` and `leaf_hash`): columns
        rebuild its leaf (the bytes published), the leaf is canonical, hashes and chain hold."""
        subject = f"ledger index {ev.ledger_index}"
        where = {"evidence_id": ev.evidence_id, "ledger_index": ev.ledger_index}
        self.report.checked += 1
        digest = merkle.leaf_hash(leaf)
        try:
            fields = parse_leaf(leaf)
        except LeafFormatError as error:
            self.report.fail_with(subject, error, **where)
            fields = {}
        if fields and fields.get("index") != position:
            self.report.fail(subject, "ledger_index_mismatch",
                             f"the leaf says index {fields.get('index')}, but it stands at position {position}",
                             **where)
        try:
            if rebuild_leaf(ev) != leaf:
                self.report.fail(subject, "event_edited", "the event's columns no longer rebuild its leaf", **where)
        except (LeafFormatError, ValueError) as error:
            self.report.fail(subject, "event_edited", f"the event's columns do not form a leaf: {error}", **where)
        if digest.hex() != ev.leaf_hash:
            self.report.fail(subject, "leaf_hash_mismatch", "the stored leaf hash is not the hash of the leaf", **where)
        if fields and fields.get("prev_leaf_hash") != previous:
            self.report.fail(subject, "leaf_chain_broken",
                             "the leaf does not name the hash of the leaf before it", **where)
        return digest

    def compare_nodes(self, session: Session, rebuilt: dict[tuple[int, int], bytes],
                      evidence_at: dict[int, str | None], size: int) -> None:
        """The rebuilt nodes against the stored tree: tile levels through their tiles, once each
        tile is whole (the rightmost, partial ones at the end of the run), the others directly."""
        between: dict[tuple[int, int], bytes] = {}
        whole: list[tuple[Tile, list[tuple[bytes, str | None]]]] = []
        for (level, index), node in rebuilt.items():  # in the order they were completed
            if level % TILE_HEIGHT:
                between[(level, index)] = node
                continue
            tile_level = level // TILE_HEIGHT
            tile_index, hashes = self.tile_hashes.pop(tile_level, (index // TILE_WIDTH, []))
            hashes.append((node, evidence_at.get(((index + 1) << level) - 1)))
            if len(hashes) == TILE_WIDTH:
                whole.append((Tile(tile_level, tile_index), hashes))
            else:
                self.tile_hashes[tile_level] = (tile_index, hashes)
        for tile, hashes in whole:
            self.compare_tile(session, tile, hashes, size)
        stored = fetch_nodes(session, between)
        for (level, index), node in between.items():
            found = stored.get((level, index))
            if found == node:
                continue
            leaf = ((index + 1) << level) - 1
            self.report.fail(f"ledger node {level}/{index}", "node_missing" if found is None else "node_mismatch",
                             f"the stored node over leaves {index << level}..{leaf} "
                             f"{'is missing' if found is None else 'disagrees with the leaves'}",
                             evidence_id=evidence_at.get(leaf))

    def compare_tile(self, session: Session, tile: Tile, rebuilt: list[tuple[bytes, str | None]], size: int) -> None:
        """One tile as served against its hashes rebuilt from the leaves; each hash that differs
        is named with the tile's path. A tile that cannot be served (a node of it gone, or not a
        hash) is read node by node to name which."""
        keys = tile_node_keys(tile)
        try:
            served: list[bytes | None] = split_tile(read_tile(session, tile, size), tile.width)
        except (LedgerCorrupted, ValueError, VerificationError):
            stored = fetch_nodes(session, keys)
            served = [stored.get(key) for key in keys]
        for (level, index), (node, evidence_id), found in zip(keys, rebuilt, served):
            if found == node:
                continue
            self.report.fail(tile.path, "node_missing" if found is None else "node_mismatch",
                             f"hash {index - tile.first} of {tile.path}, the stored node {level}/{index} over leaves "
                             f"{index << level}..{((index + 1) << level) - 1}, "
                             f"{'is missing' if found is None else 'disagrees with the leaves'}",
                             evidence_id=evidence_id)

    def check_head(self, claimed: int, last_leaf_hash: str, present: bool) -> None:
        self.report.checked += 1
        if not present:
            return
        with self.db.transaction() as session:
            head = session.get(LedgerHead, 1)
        if claimed != self.rebuilt_size:
            self.report.fail("ledger head", "head_mismatch",
                             f"the head counts {claimed} leaves, the ledger holds {self.rebuilt_size}: "
                             + ("leaves were inserted" if self.rebuilt_size > claimed else "leaves were removed"))
        elif head.last_leaf_hash != last_leaf_hash:
            self.report.fail("ledger head", "head_mismatch", "the head's last leaf hash is not the last leaf's")

    def check_stray_nodes(self, size: int) -> None:
        """Nodes over leaves the log does not have: left behind by a rollback or forged."""
        with self.db.transaction() as session:
            strays = session.execute(select(LedgerNode.level, func.count())
                                     .where(LedgerNode.position >= size * NODE_LEVELS)
                                     .group_by(LedgerNode.level).order_by(LedgerNode.level)).all()
        for level, stray in strays:
            self.report.fail(f"ledger nodes at level {level}", "node_outside_tree",
                             f"{stray} stored node(s) at level {level} cover leaves beyond the {size} in the log")

    # --- the published mirror

    def open_mirror(self) -> MirrorCheck | None:
        """The mirror's checkpoint, read and opened before the rebuild so that the rebuild keeps
        our root at its size (the mirror is never compared with a tree it could not have seen)."""
        location = self.runtime.settings.ledger_mirror
        if not location:
            return None
        self.report.checked += 1
        mirror = MirrorCheck(location, mirror_tiles(location, self.runtime.settings.ledger_mirror_timeout_seconds),
                             self.report)
        try:
            note = mirror.counted(self.advance)(CHECKPOINT)
        except TileFileTooLarge as error:
            return mirror.failed("mirror_checkpoint_invalid", str(error))
        except TilesUnreadable as error:
            return mirror.failed("mirror_unreachable", f"its checkpoint cannot be read: {error}")
        try:
            mirror.signed, mirror.key_id = open_mirror_checkpoint(note, trusted_public_keys(self.runtime),
                                                                  self.runtime.settings.ledger_origin)
        except VerificationError as error:
            return mirror.failed("mirror_checkpoint_invalid",
                                 f"its checkpoint does not verify with a key the ledger holds: [{error.code}] {error}")
        size = mirror.signed.checkpoint.tree_size
        self.root_wanted_at = size
        self.units_total += 1 + sum(2 if tile.level == 0 else 1 for tile in tiles_for_size(size))
        return mirror

    def check_mirror(self, mirror: MirrorCheck) -> None:
        """The mirror shows our log, and all of it holds: its signed size is not beyond the leaves
        we hold, its signed root is the root of our leaves at that size (else the key signed a
        fork), and every tile and entry of it checks out (`custody.ledger.mirror`)."""
        if mirror.signed is not None:
            checkpoint = mirror.signed.checkpoint
            mirror.summary.update(tree_size=checkpoint.tree_size, root_hash=checkpoint.root_hash_hex,
                                  key_id=mirror.key_id)
            ours = merkle.EMPTY_ROOT if checkpoint.tree_size == 0 else self.root_at_wanted
            if checkpoint.tree_size > self.rebuilt_size:
                mirror.fail("mirror_ahead", f"its checkpoint signs {checkpoint.tree_size} leaves, the ledger holds "
                                            f"{self.rebuilt_size}: the ledger was rolled back, or our key signed a log "
                                            "we do not hold")
            elif self.rebuildable and ours != checkpoint.root_hash:
                mirror.fail("mirror_fork", f"its checkpoint signs root {checkpoint.root_hash_hex} for "
                                           f"{checkpoint.tree_size} leaves, our leaves give {ours.hex()} at that size: "
                                           "a different log signed with our key")
            try:
                walked = verify_mirror_tiles(mirror.counted(self.advance), checkpoint, mirror.key_id)
                mirror.summary.update(files_checked=walked.files_checked, leaves_checked=walked.leaves_checked)
            except TileFileTooLarge as error:
                mirror.fail("mirror_entry_invalid" if error.path.startswith("tile/entries/") else "mirror_tile_invalid",
                            str(error))
            except TilesUnreadable as error:
                mirror.fail("mirror_unreachable", str(error))
            except VerificationError as error:
                mirror.fail("mirror_entry_invalid" if entries_at_fault(error) else "mirror_tile_invalid",
                            f"[{error.code}] {error}")
        mirror.summary["status"] = "failed" if mirror.problems else "passed"
        with self.db.transaction() as session:
            session.get(Verification, self.verification_id).mirror = mirror.summary

    # --- scoped events, each proven against the signed head

    def check_scoped_events(self) -> None:
        with self.db.transaction() as session:
            events = self.events_in_scope(session)
            for ev in events:
                self.check_scoped_event(session, ev)
        self.advance(len(events))

    def check_scoped_event(self, session: Session, ev: CustodyEvent) -> None:
        subject = f"ledger index {ev.ledger_index}"
        where = {"evidence_id": ev.evidence_id, "ledger_index": ev.ledger_index}
        previous = ZERO_HASH_HEX
        if ev.ledger_index > 0:
            before = session.get(CustodyEvent, ev.ledger_index - 1)
            if before is not None:
                previous = leaf_hash_hex(before.leaf.encode("utf-8"))
            else:
                self.report.fail(f"ledger index {ev.ledger_index - 1}", "event_missing",
                                 f"ledger index {ev.ledger_index - 1} has no custody event",
                                 ledger_index=ev.ledger_index - 1)
                stored = fetch_nodes(session, [(0, ev.ledger_index - 1)]).get((0, ev.ledger_index - 1))
                previous = stored.hex() if stored is not None else ZERO_HASH_HEX
        self.check_event_row(ev, ev.leaf.encode("utf-8"), ev.ledger_index, previous)
        if self.head is None:
            return
        try:
            path = with_stored_nodes(session, lambda get: merkle.inclusion_proof(
                get, ev.ledger_index, self.head.checkpoint.tree_size),
                keys=inclusion_keys(ev.ledger_index, self.head.checkpoint.tree_size))
            verify_event(leaf=ev.leaf.encode("utf-8"), leaf_hash=merkle.leaf_hash(ev.leaf.encode("utf-8")),
                         ledger_index=ev.ledger_index, audit_path=path, signed_checkpoint=self.head,
                         public_key=self.head_key, origin=self.runtime.settings.ledger_origin)
        except VerificationError as error:
            self.report.fail(subject, "not_in_tree", f"the leaf is not in the signed tree: {error}", **where)
        except LedgerCorrupted as error:
            self.report.fail(subject, "not_in_tree", error.detail, **where)

    # --- stored bytes

    def check_blobs(self) -> None:
        """Re-hash every stored object, streaming; the recorded hash and every event must agree."""
        recorded = self.recorded_hashes()
        for item_id, sha256, size, _case_id, status in self.items:
            if status != "sealed":  # pending uploads and rejected items have no bytes of record
                continue
            subject = f"evidence {item_id}"
            self.report.checked += 1
            try:
                digest, length = hash_blob(self.runtime.blobs, sha256)
            except NotFound:  # the blob store's BlobNotFound
                self.report.fail(subject, "blob_missing", f"no stored bytes for sha256 {sha256}", evidence_id=item_id)
                self.advance(1)
                continue
            if digest != sha256:
                self.report.fail(subject, "blob_hash_mismatch",
                                 f"the stored bytes hash to {digest}, the item records {sha256}", evidence_id=item_id)
            elif size is not None and length != size:
                self.report.fail(subject, "blob_size_mismatch",
                                 f"{length} bytes stored, the item records {size}", evidence_id=item_id)
            events = recorded.get(item_id, [])
            if not events:
                self.report.fail(subject, "custody_missing", "the item has no custody event in the ledger",
                                 evidence_id=item_id)
            for index, event_sha in events:
                if event_sha is not None and event_sha != sha256:
                    self.report.fail(subject, "evidence_hash_mismatch",
                                     f"ledger index {index} records sha256 {event_sha}, the item {sha256}",
                                     evidence_id=item_id, ledger_index=index)
            self.advance(1 + length // READ_SIZE)

    def recorded_hashes(self) -> dict[str, list[tuple[int, str | None]]]:
        ids = [item_id for item_id, *_ in self.items]
        recorded: dict[str, list[tuple[int, str | None]]] = {}
        with self.db.transaction() as session:
            for start in range(0, len(ids), 500):
                rows = session.execute(select(CustodyEvent.evidence_id, CustodyEvent.ledger_index, CustodyEvent.sha256)
                                       .where(CustodyEvent.evidence_id.in_(ids[start:start + 500])))
                for evidence_id, index, sha256 in rows:
                    recorded.setdefault(evidence_id, []).append((index, sha256))
        return recorded


def frontier_node(frontier: dict[int, tuple[int, bytes]], level: int, index: int) -> bytes:
    stored_index, node = frontier[level]
    if stored_index != index:
        raise KeyError((level, index))
    return node


def hash_blob(blobs, sha256: str) -> tuple[str, int]:
    """SHA-256 and length of a stored object, streamed.

    Never memory maps: a blob truncated by someone else *while* it is mapped ends the whole
    process with SIGBUS instead of producing a finding, and truncation is exactly what an
    auditor must see reported. Reads just come back short.
    """
    with blobs.open(sha256) as stream:
        digest = digest_stream(stream)
    return digest.sha256_hex, digest.size
