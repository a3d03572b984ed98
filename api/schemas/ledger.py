"""Ledger and verification schemas: hashes travel as lowercase hex, signatures as base64."""
import marshmallow as ma
from marshmallow import fields, validate

from api.schemas.common import Id, Timestamp, given

MAX_SIZE = 2**62
HEX64 = {"pattern": "^[0-9a-f]{64}$"}


def Size(**kwargs) -> fields.Integer:  # noqa: N802 - reads as a field type
    return fields.Integer(validate=validate.Range(min=0, max=MAX_SIZE), **kwargs)


class TimestampTokenSchema(ma.Schema):
    token = fields.String(metadata={"description": "Base64 of the DER RFC 3161 TimeStampToken over the exact bytes of "
                                                   "`note` (`openssl ts -verify -token_in` reads it)"})
    tsa = fields.String(metadata={"description": "The time-stamping authority that issued it (its URL)"})
    time = Timestamp(metadata={"description": "The TSA's time (genTime): the note existed by then"})
    chain_pem = fields.String(metadata={"description": "PEM certificates to build the TSA's chain offline; "
                                                       "trust comes only from a root you pin yourself"})


class CosignatureSchema(ma.Schema):
    witness = fields.String(metadata={"description": "The witness's key name"})
    timestamp = fields.Integer(metadata={"description": "The cosigner's POSIX time in the cosignature"})
    time = Timestamp()
    line = fields.String(metadata={"description": "The C2SP cosignature/v1 note signature line, newline included"})


class TreeHeadSchema(ma.Schema):
    id = fields.Integer(metadata={"description": "The checkpoint's number among those issued"})
    checkpoint = fields.String(metadata={"description": "The C2SP tlog-checkpoint body, exactly the signed bytes"})
    tree_size = fields.Integer()
    root_hash = fields.String(metadata={"description": "Lowercase hex", **HEX64})
    signature = fields.String(metadata={"description": "Base64 of the raw 64-byte Ed25519 signature over the body"})
    key_id = fields.String(metadata={"description": "Hex SHA-256 of the raw 32-byte public key", **HEX64})
    issued_at = Timestamp()
    note = fields.String(metadata={"description": "The same checkpoint as a C2SP signed note"})
    cosignatures = fields.List(fields.Nested(CosignatureSchema), metadata={
        "description": "Registered witnesses' cosignatures on this checkpoint's body; append their `line`s to "
                       "`note` for a cosigned note"})
    timestamp = fields.Nested(TimestampTokenSchema, allow_none=True, metadata={
        "description": "RFC 3161 timestamp over `note`, or null while pending or when no TSA is configured"})
    stamp_pending_since = Timestamp(allow_none=True, metadata={
        "description": "With a TSA configured (head only): when the oldest checkpoint still waiting for its stamp "
                       "was issued; null when none waits"})


class InclusionArgsSchema(ma.Schema):
    index = Size(required=True, metadata={"description": "The leaf's ledger index"})
    tree_size = Size(metadata={"description": "Size of the tree to prove against (default: the current size)"})


class InclusionProofSchema(ma.Schema):
    index = fields.Integer()
    tree_size = fields.Integer()
    leaf_hash = fields.String(metadata=HEX64)
    audit_path = fields.List(fields.String(metadata=HEX64), metadata={"description": "RFC 9162 order, leaf end first"})


class CustodyReceiptSchema(ma.Schema):
    id = fields.String()
    ledger_status = fields.String(metadata={"enum": ["pending", "integrated"]})
    ledger_index = fields.Integer(allow_none=True, metadata={"description": "null while pending"})
    type = fields.String()
    evidence_id = fields.String(allow_none=True)
    subject_id = fields.String(allow_none=True, metadata={"description": "A packet, key or run the event is about"})
    case_id = fields.String(allow_none=True)
    actor_id = fields.String()
    at = Timestamp()
    sha256 = fields.String(allow_none=True)
    details = fields.Dict(allow_none=True)
    leaf = fields.String(allow_none=True, metadata={"description": "The RFC 8785 canonical JSON that was hashed"})
    leaf_hash = fields.String(allow_none=True, metadata=HEX64)
    prev_leaf_hash = fields.String(allow_none=True, metadata=HEX64)
    queued_at = Timestamp(allow_none=True, metadata={
        "description": "When a queued event was recorded (null when the recording transaction integrated it)"})
    integrated_at = Timestamp(allow_none=True, metadata={"description": "When a sequencer batch integrated it"})
    merge_delay_ms = fields.Integer(metadata={"description": "The promised maximum wait from recording to integration"})
    checkpoint = fields.Nested(TreeHeadSchema, allow_none=True, metadata={
        "description": "A signed head whose tree includes the event (null while pending)"})
    inclusion = fields.Nested(InclusionProofSchema, allow_none=True, metadata={
        "description": "The event's leaf in `checkpoint`'s tree (null while pending)"})


class ConsistencyArgsSchema(ma.Schema):
    first = Size(required=True)
    second = Size(metadata={"description": "Default: the current size"})


class ConsistencyProofSchema(ma.Schema):
    first = fields.Integer()
    second = fields.Integer()
    proof = fields.List(fields.String(metadata=HEX64))


class PublicKeyArgsSchema(ma.Schema):
    key_id = fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$", error="64 lowercase hex digits"),
                           metadata={"description": "A retired key, to verify old checkpoints (default: the current key)"})


class PublicKeySchema(ma.Schema):
    key_id = fields.String(metadata=HEX64)
    algorithm = fields.String(metadata={"enum": ["ed25519"]})
    public_key_pem = fields.String()
    public_key = fields.String(metadata={"description": "Base64 of the raw 32-byte public key"})
    created_at = Timestamp(allow_none=True)
    retired_at = Timestamp(allow_none=True)
    current = fields.Boolean()
    vkey = fields.String(metadata={"description": "C2SP verifier key <origin>+<8 hex key hash>+<base64(0x01 || key)>, "
                                                  "for note tools"})


class SigningKeySchema(ma.Schema):
    key_id = fields.String(metadata=HEX64)
    algorithm = fields.String()
    public_key_pem = fields.String()
    created_at = Timestamp()
    retired_at = Timestamp(allow_none=True)


MAX_NOTE_LENGTH = 4096
KEY_NAME = r"[!-*,-~]+"
NOTE_PATTERN = (r"^" + KEY_NAME + r"\n(0|[1-9][0-9]{0,18})\n[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=\n([ -~]+\n)*"
                r"\n(\u2014 " + KEY_NAME + r" ([A-Za-z0-9+/]{4}){2,}([A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)?\n)+$")
"""C2SP signed note of a checkpoint: origin, size, root, extension lines, a blank line, signatures."""
Note = fields.String(validate=validate.Length(min=1, max=MAX_NOTE_LENGTH), metadata={
    "description": "A checkpoint as the C2SP signed note served in `note` (body, blank line, signature lines)",
    "pattern": NOTE_PATTERN})


class VerificationRequestSchema(ma.Schema):
    scope = fields.String(required=True, validate=validate.OneOf(("evidence", "case", "all")))
    id = Id(allow_none=True, metadata={"description": "The evidence item or case (not with scope all)"})
    # an id with scope all, or none with another scope, is refused (said with `not`: see both_or_neither)
    OPENAPI_RULES = {"not": {"anyOf": [
        {"required": ["scope", "id"], "properties": {"scope": {"enum": ["all"]}, "id": {"type": "string"}}},
        {**given("scope", {"enum": ["evidence", "case"]}), "not": given("id", {"type": "string"})}]}}
    checkpoints = fields.List(Note, validate=validate.Length(max=100), metadata={
        "description": "Signed notes of checkpoints the auditor fetched earlier and kept. Each must verify with a "
                       "key the server holds and the current tree must extend it; a log rolled back (even with "
                       "its later checkpoints deleted) fails with `tree_size_regressed`, a rewritten one with "
                       "`consistency_failed`."})


class KeptCheckpointRequestSchema(ma.Schema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NOTE_LENGTH), metadata={
        "description": "A checkpoint kept from earlier, as the C2SP signed note served in `note`",
        "pattern": NOTE_PATTERN})


class KeptCheckpointFailureSchema(ma.Schema):
    problem = fields.String(metadata={"description": "signing_key_unknown, signature_invalid, origin_mismatch, "
                                                     "tree_size_regressed (rolled back) or consistency_failed"})
    subject = fields.String()
    detail = fields.String()


class KeptCheckpointCheckSchema(ma.Schema):
    status = fields.String(metadata={"enum": ["passed", "failed"]})
    origin = fields.String(allow_none=True, metadata={"description": "The kept checkpoint's, once its signature verified"})
    tree_size = fields.Integer(allow_none=True)
    root_hash = fields.String(allow_none=True, metadata=HEX64)
    key_id = fields.String(allow_none=True, metadata={"description": "The key that signed the kept checkpoint", **HEX64})
    current = fields.Nested(TreeHeadSchema, metadata={
        "description": "A signed head of the stored tree now (kept like every checkpoint): what it was proven against"})
    proof = fields.List(fields.String(metadata=HEX64), metadata={
        "description": "RFC 9162 consistency proof from the kept tree size to `current.tree_size`, to check yourself"})
    failures = fields.List(fields.Nested(KeptCheckpointFailureSchema))


class FailureSchema(ma.Schema):
    evidence_id = fields.String(allow_none=True)
    problem = fields.String(metadata={"description": "Stable problem code, e.g. blob_hash_mismatch"})
    subject = fields.String(metadata={"description": "What failed: an item, a ledger index, a checkpoint, a tile "
                                                     "of the stored tree by its path (tile/0/000), the mirror..."})
    detail = fields.String()
    ledger_index = fields.Integer()


class MirrorCheckSchema(ma.Schema):
    location = fields.String(metadata={"description": "Where the tiles are published (FIELDPROOF_LEDGER_MIRROR), "
                                                      "a URL shown without credentials or query"})
    status = fields.String(metadata={"enum": ["passed", "failed"],
                                     "description": "failed: see the failures of subject `mirror`"})
    tree_size = fields.Integer(allow_none=True, metadata={"description": "The size the mirror's checkpoint signs"})
    root_hash = fields.String(allow_none=True, metadata=HEX64)
    key_id = fields.String(allow_none=True, metadata={"description": "The ledger key that signed its checkpoint",
                                                      **HEX64})
    files_checked = fields.Integer(metadata={"description": "Checkpoint, tiles and entry bundles read and checked"})
    leaves_checked = fields.Integer(metadata={"description": "Entries checked against their tile and chained"})


class VerificationSchema(ma.Schema):
    id = fields.String()
    status = fields.String(metadata={"enum": ["queued", "running", "passed", "failed", "error"]})
    scope = fields.String()
    subject_id = fields.String(allow_none=True)
    progress = fields.Float(metadata={"description": "0 to 1"})
    checked = fields.Integer()
    failed = fields.Integer()
    failures = fields.List(fields.Nested(FailureSchema))
    tree_size = fields.Integer(allow_none=True, metadata={"description": "The signed tree the run proved against"})
    root_hash = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    attempts = fields.Integer(metadata={"description": "Runs started; above 1 when a run lost with its process was resumed"})
    kept_checkpoints = fields.Integer(attribute="kept_checkpoint_count", metadata={
        "description": "How many auditor-kept checkpoints the run checks"})
    mirror = fields.Nested(MirrorCheckSchema, allow_none=True, metadata={
        "description": "The published tiles mirror as a run of scope all found it; null when none is configured"})
    requested_by = fields.String()
    created_at = Timestamp()
    started_at = Timestamp(allow_none=True)
    finished_at = Timestamp(allow_none=True)


class VerificationAcceptedSchema(ma.Schema):
    id = fields.String()
    status = fields.String()


VKEY_PATTERN = r"^[!-*,-~]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]{43}=$"


class WitnessRequestSchema(ma.Schema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=255),
                                                  validate.Regexp(r"^[!-*,-~]+$", error="a key name: no spaces or '+'")],
                         metadata={"description": "The witness's key name (as in its vkey)"})
    vkey = fields.String(required=True, validate=[validate.Length(min=1, max=400)], metadata={
        "description": "The witness's C2SP verifier key: <name>+<key hash>+<base64(0x04 || Ed25519 key)>",
        "pattern": VKEY_PATTERN})


class WitnessSchema(ma.Schema):
    name = fields.String()
    vkey = fields.String()
    registered_by = fields.String()
    created_at = Timestamp()


class CosignatureRequestSchema(ma.Schema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NOTE_LENGTH * 4), metadata={
        "description": "A checkpoint note as served in `note`, with the witness's cosignature/v1 lines appended"})


class CosignatureAcceptedSchema(ma.Schema):
    checkpoint_id = fields.Integer()
    tree_size = fields.Integer()
    witnesses = fields.List(fields.String(), metadata={"description": "Whose cosignatures were kept"})
