"""Packet schemas: requests for a build, and the build's state and results."""
import marshmallow as ma
from marshmallow import fields, validate

from api.schemas.common import Id, Timestamp
from api.schemas.ledger import HEX64

BATES = {"description": "Bates number: prefix and zero-padded page number", "example": "CASE_00042_000001"}


class ConsentOverrideSchema(ma.Schema):
    evidence_id = Id(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=3, max=1000),
                           metadata={"description": "Why the item goes into the packet despite the refusal"})


class PacketRequestSchema(ma.Schema):
    language = fields.String(required=True, validate=validate.OneOf(("zh-CN", "en")))
    bates_prefix = fields.String(validate=validate.Regexp(
        r"^[A-Z][A-Z0-9_]{0,15}$", error="1-16 capitals, digits or '_', starting with a letter"),
        metadata={"description": "Default: the case reference in capitals"})
    evidence_ids = fields.List(Id(), validate=validate.Length(min=1, max=2000), metadata={
        "description": "Items of the case to include (default: every sealed original); capture order decides "
                       "the exhibit numbers"})
    consent_overrides = fields.List(fields.Nested(ConsentOverrideSchema), validate=validate.Length(max=2000), metadata={
        "description": "Items whose subject refused consent that a legal user includes anyway, each with a "
                       "reason (recorded in the item's custody)"})


class PacketAcceptedSchema(ma.Schema):
    id = fields.String()
    status = fields.String(metadata={"enum": ["queued", "building", "ready", "failed"]})
    version = fields.Integer()


class PacketExhibitSchema(ma.Schema):
    number = fields.Integer()
    evidence_id = fields.String()
    sha256 = fields.String(metadata=HEX64)
    kind = fields.String()
    derived_from = fields.String(allow_none=True, metadata={"description": "The original a redacted copy stands for"})
    bates_first = fields.String(metadata=BATES)
    bates_last = fields.String(metadata=BATES)


class PacketVolumeSchema(ma.Schema):
    number = fields.Integer()
    sha256 = fields.String(metadata=HEX64)
    size = fields.Integer()
    pages = fields.Integer()
    bates_first = fields.String(metadata=BATES)
    bates_last = fields.String(metadata=BATES)


class WithheldSchema(ma.Schema):
    evidence_id = fields.String()
    kind = fields.String()
    sha256 = fields.String(metadata=HEX64)
    reason = fields.String()
    replaced_by_exhibit = fields.Integer(allow_none=True)


class ConsentOverrideOutSchema(ma.Schema):
    evidence_id = fields.String()
    reason = fields.String()


class PacketSchema(ma.Schema):
    id = fields.String()
    case_id = fields.String()
    version = fields.Integer(metadata={"description": "1, 2, ... per case; every version is kept"})
    language = fields.String()
    bates_prefix = fields.String()
    status = fields.String(metadata={"enum": ["queued", "building", "ready", "failed"]})
    progress = fields.Float(metadata={"description": "0 to 1"})
    exhibits_total = fields.Integer()
    exhibits_done = fields.Integer(metadata={"description": "Exhibits copied and re-hashed so far"})
    exhibits = fields.List(fields.Nested(PacketExhibitSchema))
    withheld = fields.List(fields.Nested(WithheldSchema), metadata={"description": "Items left out for privacy"})
    pages = fields.Integer(allow_none=True)
    volumes = fields.List(fields.Nested(PacketVolumeSchema))
    bundle_sha256 = fields.String(allow_none=True, metadata=HEX64)
    bundle_size = fields.Integer(allow_none=True)
    manifest_sha256 = fields.String(allow_none=True, metadata=HEX64)
    checkpoint_tree_size = fields.Integer(allow_none=True,
                                          metadata={"description": "The signed tree the custody proofs check against"})
    warnings = fields.List(fields.String(), metadata={"description": "Every exclusion, and anything not shown"})
    error = fields.String(allow_none=True, metadata={"description": "Why a failed build failed"})
    requested_by = fields.String()
    evidence_ids = fields.List(fields.String(), allow_none=True)
    consent_overrides = fields.List(fields.Nested(ConsentOverrideOutSchema), attribute="override_list")
    created_at = Timestamp()
    started_at = Timestamp(allow_none=True)
    finished_at = Timestamp(allow_none=True)


class PdfArgsSchema(ma.Schema):
    volume = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000),
                            metadata={"description": "Volume number (default 1)"})
