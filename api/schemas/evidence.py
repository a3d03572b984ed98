"""Evidence schemas: capture metadata in, evidence items, uploads and custody events out."""
import marshmallow as ma
from marshmallow import fields, validate

from api.schemas.common import Id, Latitude, Longitude, SyncArgsSchema, Timestamp, both_or_neither
from evidence.models import CONSENT_STATES, KINDS, STATUSES

SHA256 = validate.Regexp(r"^[0-9a-fA-F]{64}$", error="64 hex digits")
MD5_B64 = validate.Regexp(r"^[A-Za-z0-9+/]{22}==$", error="base64 of the 16-byte MD5 digest")
CAPTURE_KINDS = ("photo", "audio", "document")


class ConsentSchema(ma.Schema):
    subject = fields.String(required=True, validate=validate.OneOf(CONSENT_STATES),
                            metadata={"description": "The debtor's consent to being recorded or photographed"})
    third_parties_present = fields.Boolean(required=True)


class CaptureSchema(ma.Schema):
    """What the device says about a capture; the server checks the hash and the signature."""

    visit_id = Id(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(CAPTURE_KINDS))
    sha256 = fields.String(required=True, validate=SHA256,
                           metadata={"description": "SHA-256 of the bytes as the device computed it (hex)"})
    captured_at = Timestamp(required=True, metadata={"description": "Device time, RFC 3339 with offset"})
    lat = Latitude(required=True)
    lon = Longitude(required=True)
    accuracy_m = fields.Float(allow_none=True, load_default=None, allow_nan=False,
                              validate=validate.Range(0, 100_000))
    consent = fields.Nested(ConsentSchema, required=True)
    device_id = Id(allow_none=True, load_default=None)
    device_signature = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(max=100),
        metadata={"description": "base64 Ed25519 signature over the RFC 8785 JSON of "
                                 "{sha256, captured_at, lat, lon, visit_id}, by the registered device"})

    @ma.post_load(pass_original=True)
    def _keep_device_text(self, data, original, **kwargs):
        """The signature covers `captured_at` exactly as sent, so that text is kept beside the parsed time."""
        data["captured_at_text"] = original["captured_at"]
        return data


class DirectUploadRequestSchema(CaptureSchema):
    size = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    content_md5 = fields.String(allow_none=True, load_default=None, validate=MD5_B64,
                                metadata={"description": "base64 MD5 of the bytes; required on object storage, "
                                                         "whose PUT checks it"})


class ThumbnailSchema(ma.Schema):
    sha256 = fields.String()
    size = fields.Integer()
    media_type = fields.String()


class RegionSchema(ma.Schema):
    x = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=1_000_000))
    y = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=1_000_000))
    width = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1_000_000))
    height = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1_000_000))


class RedactionInfoSchema(ma.Schema):
    regions = fields.List(fields.Nested(RegionSchema))
    mode = fields.String()
    reason = fields.String()


class PresenceFlagSchema(ma.Schema):
    code = fields.String()
    detail = fields.String()


class EvidenceSchema(ma.Schema):
    id = fields.String()
    case_id = fields.String()
    visit_id = fields.String(allow_none=True, metadata={"description": "null for a document the organisation issued "
                                                                       "(a written notice)"})
    collector_id = fields.String()
    created_by = fields.String()
    kind = fields.String(metadata={"enum": list(KINDS)})
    status = fields.String(metadata={"enum": list(STATUSES)})
    rejection = fields.String(allow_none=True)
    sha256 = fields.String()
    size = fields.Integer()
    media_type = fields.String(allow_none=True)
    storage_backend = fields.String(allow_none=True)
    captured_at = Timestamp()
    captured_at_device = fields.String(metadata={"description": "The timestamp exactly as the device sent it"})
    received_at = Timestamp()
    sealed_at = Timestamp(allow_none=True)
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)
    accuracy_m = fields.Float(allow_none=True)
    device_id = fields.String(allow_none=True)
    signature_status = fields.String(metadata={"enum": ["signed", "unsigned"]})
    consent = fields.Nested(ConsentSchema, allow_none=True)
    exif = fields.Dict(allow_none=True, metadata={"description": "make, model, datetime_original, orientation, "
                                                                "gps_lat, gps_lon (each when present)"})
    presence_flags = fields.List(fields.Nested(PresenceFlagSchema), allow_none=True,
                                 metadata={"description": "EXIF vs claim vs visit address; flags, not refusals"})
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    thumbnail = fields.Nested(ThumbnailSchema, allow_none=True)
    derived_from = fields.String(allow_none=True)
    redaction = fields.Nested(RedactionInfoSchema, allow_none=True)
    legal_hold = fields.Boolean()
    retain_until = Timestamp(allow_none=True)
    created_at = Timestamp()
    updated_at = Timestamp()


class UploadTargetSchema(ma.Schema):
    method = fields.String()
    url = fields.String()
    headers = fields.Dict(keys=fields.String(), values=fields.String())
    expires_at = Timestamp(allow_none=True)


class DirectUploadSchema(EvidenceSchema):
    upload = fields.Nested(UploadTargetSchema, allow_none=True,
                           metadata={"description": "Where to send the bytes; null when the store already holds "
                                                    "them (then call complete)"})


class NoteSchema(ma.Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=20_000))
    at = Timestamp(required=True)
    lat = Latitude(allow_none=True, load_default=None)
    lon = Longitude(allow_none=True, load_default=None)
    accuracy_m = fields.Float(allow_none=True, load_default=None, allow_nan=False,
                              validate=validate.Range(0, 100_000))
    device_id = Id(allow_none=True, load_default=None)
    device_signature = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(max=100),
        metadata={"description": "base64 Ed25519 signature, by the registered device, over the RFC 8785 JSON of "
                                 "{sha256 of the text's UTF-8 bytes, captured_at: `at` as sent, lat, lon, visit_id}; "
                                 "needs lat and lon"})
    OPENAPI_RULES = both_or_neither("lat", "lon")

    @ma.validates_schema
    def _both_or_neither(self, data, **kwargs):
        if (data.get("lat") is None) != (data.get("lon") is None):
            raise ma.ValidationError("give both lat and lon, or neither", "lat")

    @ma.post_load(pass_original=True)
    def _keep_device_text(self, data, original, **kwargs):
        """The signature covers `at` exactly as sent (as for captures)."""
        data["at_text"] = original["at"]
        return data


class RedactionRequestSchema(ma.Schema):
    regions = fields.List(fields.Nested(RegionSchema), required=True, validate=validate.Length(min=1, max=50),
                          metadata={"description": "Pixels of the image as displayed (EXIF orientation applied)"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    mode = fields.String(load_default="blur", validate=validate.OneOf(["blur", "black"]))


class LegalHoldSchema(ma.Schema):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class CustodyEventSchema(ma.Schema):
    id = fields.String(attribute="event_id", allow_none=True, metadata={
        "description": "The event's id from the moment it was recorded: `GET /custody-events/{id}` is its receipt"})
    ledger_status = fields.String(metadata={"enum": ["pending", "integrated"], "description":
                                            "pending: recorded, waiting (at most the merge delay) for its index"})
    ledger_index = fields.Integer(allow_none=True, metadata={"description": "null while pending"})
    type = fields.String()
    evidence_id = fields.String(allow_none=True)
    case_id = fields.String(allow_none=True)
    actor_id = fields.String()
    at = Timestamp()
    sha256 = fields.String(allow_none=True)
    details = fields.Dict(allow_none=True)
    leaf = fields.String(allow_none=True, metadata={"description": "The RFC 8785 canonical JSON that was hashed "
                                                                   "(null while pending)"})
    leaf_hash = fields.String(allow_none=True, metadata={"description": "SHA-256(0x00 || leaf), lowercase hex"})
    prev_leaf_hash = fields.String(allow_none=True)


class EvidenceQueryArgsSchema(SyncArgsSchema):
    kind = fields.String(validate=validate.OneOf(KINDS))
    status = fields.String(validate=validate.OneOf(STATUSES))
