"""The custody ledger: signed tree heads, proofs and public keys for auditors and their tools.

Any signed-in user may read it: proofs carry hashes and sizes, never personal data.
"""
from flask import current_app
from flask.views import MethodView

from api.auth import current_actor, requires
from api.context import db_session, reads_only, runtime, settings
from api.resources.base import Blueprint, paginated
from api.schemas.ledger import (
    ConsistencyArgsSchema,
    ConsistencyProofSchema,
    CosignatureAcceptedSchema,
    CosignatureRequestSchema,
    InclusionArgsSchema,
    InclusionProofSchema,
    KeptCheckpointCheckSchema,
    KeptCheckpointRequestSchema,
    PublicKeyArgsSchema,
    PublicKeySchema,
    SigningKeySchema,
    TreeHeadSchema,
    WitnessRequestSchema,
    WitnessSchema,
)
from core.errors import NotFound
from core.jobs import submit_after_commit
from custody import checkpoints as ledger
from custody import proofs, tiles, verification, witnesses
from custody.ledger.tiles import TilePathError, parse_tile_path

PREFIX = "/ledger"
blp = Blueprint("ledger", __name__, description="The custody ledger: signed tree heads, proofs, public keys")

READERS = ("admin", "supervisor", "collector", "legal", "auditor")
ISSUERS = ("admin", "auditor")


@blp.route("/head")
class Head(MethodView):
    @requires(*READERS)
    @blp.response(200, TreeHeadSchema)
    def get(self):
        """The latest signed tree head; a fresh one is signed first when the tree has grown.

        It comes with its witnesses' cosignatures and its RFC 3161 timestamp (null while the TSA
        has not stamped it; `stamp_pending_since` then says since when stamps wait)."""
        return ledger.current_tree_head(db_session(), runtime().signer, settings().ledger_origin,
                                        settings=settings(), on_issued=_have_it_stamped)


@blp.route("/checkpoints")
class Checkpoints(MethodView):
    @requires(*READERS)
    @blp.response(200, TreeHeadSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """Every checkpoint ever issued, newest first: keep some, and check later ones extend them."""
        rows = paginated(ledger.list_checkpoints(db_session()), pagination_parameters)
        return [ledger.tree_head(db_session(), row) for row in rows]

    @requires(*ISSUERS)
    @blp.response(201, TreeHeadSchema)
    def post(self):
        """Sign and keep a checkpoint of the current tree now."""
        row = ledger.issue_checkpoint(db_session(), runtime().signer, settings().ledger_origin)
        return ledger.tree_head(db_session(), row)


@blp.route("/checkpoints/verify")
class KeptCheckpoint(MethodView):
    @requires(*ISSUERS)
    @blp.arguments(KeptCheckpointRequestSchema)
    @blp.response(200, KeptCheckpointCheckSchema)
    def post(self, data):
        """Check a checkpoint you kept: signed by a key the ledger holds, and extended by today's tree.

        The answer is `passed` or `failed` with named problems; a log rolled back below the kept
        size is `tree_size_regressed` even when the later checkpoints were deleted with it. The
        head it was proven against and the consistency proof come back, to check yourself.
        """
        return verification.check_kept_checkpoint(db_session(), current_actor(), runtime(), data["note"])


@blp.route("/proofs/inclusion")
class InclusionProof(MethodView):
    @reads_only
    @requires(*READERS)
    @blp.arguments(InclusionArgsSchema, location="query")
    @blp.response(200, InclusionProofSchema)
    def get(self, args):
        """RFC 9162 audit path for leaf `index` in the tree of `tree_size` leaves.

        422 when `index` is not below `tree_size`, or `tree_size` exceeds the ledger's size now
        (both depend on the ledger, so the schema cannot say them)."""
        return proofs.inclusion_proof(db_session(), args["index"], args.get("tree_size"))


@blp.route("/proofs/consistency")
class ConsistencyProof(MethodView):
    @reads_only
    @requires(*READERS)
    @blp.arguments(ConsistencyArgsSchema, location="query")
    @blp.response(200, ConsistencyProofSchema)
    def get(self, args):
        """RFC 9162 proof that the tree of `second` leaves extends the tree of `first`.

        422 when `first` exceeds `second`, or `second` exceeds the ledger's size now."""
        return proofs.consistency_proof(db_session(), args["first"], args.get("second"))


@blp.route("/public-key")
class PublicKey(MethodView):
    @requires(*READERS)
    @blp.arguments(PublicKeyArgsSchema, location="query")
    @blp.response(200, PublicKeySchema)
    def get(self, args):
        """The key that signs new checkpoints, or with `key_id` a retired one; `vkey` is its C2SP verifier key."""
        return ledger.public_key(db_session(), runtime().signer, args.get("key_id"), settings().ledger_origin)


@blp.route("/keys")
class SigningKeys(MethodView):
    @requires(*READERS)
    @blp.response(200, SigningKeySchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """Every key that has signed a checkpoint, newest first, with when it was retired."""
        return paginated(ledger.signing_keys(db_session()), pagination_parameters)


# --- the log as C2SP tlog-tiles: static-shaped reads an auditor can mirror to any host or CDN ---

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT_LIVED = "public, max-age=60"  # a partial tile: its bytes hold, but the full tile replaces it
TILE_DOC = {"description": "The tile's hashes (32 bytes each) or the entry bundle's uint16-length-prefixed leaves",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "headers": {"Cache-Control": {"schema": {"type": "string"}}}}


@blp.route("/checkpoint")
class TileCheckpoint(MethodView):
    @requires(*READERS)
    @blp.response(200)
    @blp.doc(responses={200: {"description": "The latest signed tree head as a C2SP signed note",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}})
    def get(self):
        """The tiles' checkpoint: the signed note `GET /ledger/head` signs, as text (never cached long)."""
        head = ledger.current_tree_head(db_session(), runtime().signer, settings().ledger_origin)
        return current_app.response_class(head.note, mimetype="text/plain",
                                          headers={"Cache-Control": "no-cache"})


@blp.route("/tile/<path:tile_path>")
class LedgerTile(MethodView):
    @reads_only
    @requires(*READERS)
    @blp.response(200)
    @blp.doc(responses={200: TILE_DOC})
    def get(self, tile_path):
        """A tile `tile/<L>/<N>[.p/<W>]` or entry bundle `tile/entries/<N>[.p/<W>]` per C2SP tlog-tiles.

        Full ones never change (cached for a year, `immutable`); partial ones briefly. 404 for a
        path that is not a tile's, or a tile not (yet) in the tree of integrated leaves."""
        try:
            tile = parse_tile_path(tile_path)
        except TilePathError as error:
            raise NotFound(f"not a tile path: {error}") from None
        data = tiles.read_tile(db_session(), tile)
        return current_app.response_class(data, mimetype="application/octet-stream",
                                          headers={"Cache-Control": SHORT_LIVED if tile.partial else IMMUTABLE})


# --- trust beyond our own key: witnesses and their cosignatures --------------------------------


def _have_it_stamped(_row) -> None:
    """A newly signed head is stamped by a job after this request commits, never inside it."""
    if settings().tsa_url:
        submit_after_commit(db_session(), runtime().jobs, "ledger.stamp_checkpoints", {})


@blp.route("/witnesses")
class Witnesses(MethodView):
    @requires(*READERS)
    @blp.response(200, WitnessSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """The witnesses whose cosignatures the ledger accepts, by their C2SP verifier keys."""
        return paginated(witnesses.list_witnesses(db_session()), pagination_parameters)

    @requires("admin")
    @blp.arguments(WitnessRequestSchema)
    @blp.response(201, WitnessSchema)
    def post(self, data):
        """Register a witness by its verifier key (type 0x04, cosignature/v1); 409 if the name has another key."""
        return witnesses.register_witness(db_session(), current_actor().id, data["name"], data["vkey"])


@blp.route("/cosignatures")
class Cosignatures(MethodView):
    @requires(*ISSUERS)
    @blp.arguments(CosignatureRequestSchema)
    @blp.response(201, CosignatureAcceptedSchema)
    def post(self, data):
        """Keep a registered witness's cosignatures on a checkpoint this ledger issued.

        The note is the checkpoint note as served, with the witness's cosignature lines appended.
        422 when it is not our checkpoint with our signature, when a registered witness's line
        does not verify, or when no line is from a registered witness (unknown keys are refused)."""
        return witnesses.accept_cosignatures(db_session(), data["note"], settings().clock_skew_seconds)
