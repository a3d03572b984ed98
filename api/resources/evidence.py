"""Evidence: capture (streamed or direct), reads that leave custody events, derivatives, holds.

Write-once: there is no route that updates or deletes an item or a custody event.
"""

import marshmallow as ma
from flask import request, url_for
from flask.views import MethodView
from flask_smorest import Page

from api import idempotency
from api.admission import sealing
from api.streaming import send_stored
from api.auth import current_actor, requires
from api.context import db_session, reads_and_records, reads_only, runtime, settings
from api.docs import download
from api.requests import MalformedBody, accepts, streams_body, strict_json_loads
from api.resources.base import Blueprint, paginated
from api.schemas.evidence import (
    CaptureSchema,
    CustodyEventSchema,
    DirectUploadRequestSchema,
    DirectUploadSchema,
    EvidenceQueryArgsSchema,
    EvidenceSchema,
    LegalHoldSchema,
    NoteSchema,
    RedactionRequestSchema,
)
from api.schemas.ledger import CustodyReceiptSchema
from api.uploads import read_multipart
from core.errors import ValidationFailed
from evidence import services as evidence

PREFIX = ""
blp = Blueprint("evidence", __name__, description="Evidence: capture, content, custody, derivatives, legal hold")

MULTIPART_BODY = {
    "required": True,
    "description": "Part `metadata` (a JSON `Capture`) and part `file` (the bytes). Streamed: the "
                   "server hashes while it spools and refuses bytes that do not hash to `metadata.sha256`.",
    "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["metadata", "file"], "additionalProperties": False, "properties": {
            "metadata": CaptureSchema,  # a JSON part (encoding below)
            "file": {"type": "string", "format": "binary"},
        }},
        "encoding": {"metadata": {"contentType": "application/json"}},
    }},
}
BINARY_BODY = {"required": True, "content": {"application/octet-stream": {
    "schema": {"type": "string", "format": "binary"}}}}
CONTENT_TYPES = ("image/jpeg", "image/png", "application/pdf", "audio/wav", "audio/mp4", "video/mp4", "text/plain")
BINARY_RESPONSE = download("The exact stored bytes", *CONTENT_TYPES)

def _load(text_or_bytes, schema: ma.Schema) -> dict:
    """The metadata part: strict JSON (as for JSON bodies), then the schema."""
    raw = strict_json_loads(text_or_bytes.encode("utf-8") if isinstance(text_or_bytes, str) else text_or_bytes)
    if not isinstance(raw, dict):
        raise MalformedBody("metadata must be a JSON object")
    try:
        data = schema.load(raw)
    except ma.ValidationError as error:
        raise ValidationFailed("the metadata did not pass validation",
                               {f"metadata.{k}": v if isinstance(v, list) else [str(v)]
                                for k, v in _flat(error.messages).items()}) from None
    return data


def _flat(messages, prefix=""):
    out = {}
    for key, value in (messages.items() if isinstance(messages, dict) else []):
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(_flat(value, name))
        else:
            out[name] = value
    return out


@blp.route("/evidence")
class Evidence(MethodView):
    @requires(*evidence.CAPTURERS)
    @accepts("multipart/form-data", max_bytes="evidence_max_bytes")
    @streams_body
    @blp.doc(requestBody=MULTIPART_BODY)
    @blp.response(201, EvidenceSchema)
    def post(self):
        """Capture evidence on one of your visits: streamed, hashed, checked, stored and sealed.

        422 when the bytes do not hash to `sha256` (nothing is kept), 415 for a type that is not
        JPEG, PNG, PDF, WAV, M4A or MP4, 413 past the size limit. A replay with the same
        `Idempotency-Key` returns the first item."""
        with read_multipart(request.stream, request.content_type or "", file_part="file",
                            spool=lambda chunks: evidence.spool_upload(runtime(), chunks),
                            max_field_bytes=settings().max_json_bytes) as upload:
            replay = idempotency.check_streamed(idempotency.multipart_fingerprint(upload.fields, upload.file_names))
            if replay is not None:
                return replay
            capture = _load(upload.field("metadata"), CaptureSchema())
            return evidence.ingest_evidence(db_session(), current_actor(), runtime(), capture, upload.spooled)


@blp.route("/evidence/uploads")
class EvidenceDirectUploads(MethodView):
    @requires(*evidence.CAPTURERS)
    @blp.arguments(DirectUploadRequestSchema)
    @blp.response(201, DirectUploadSchema)
    def post(self, data):
        """Announce a direct upload: a pending item and where to PUT its bytes (then `complete`).

        On object storage the PUT is presigned and bound to the size, Content-MD5 and SHA-256;
        on the filesystem store it is this API's `PUT /evidence/{id}/content`."""
        started = evidence.start_direct_upload(db_session(), current_actor(), runtime(), data)
        item = started.item
        if started.presigned is not None:
            target = {"method": started.presigned.method, "url": started.presigned.url,
                      "headers": dict(started.presigned.headers), "expires_at": started.presigned.expires_at}
        elif started.already_stored:
            target = None
        else:
            db_session().flush()
            target = {"method": "PUT", "url": url_for("evidence.EvidenceContent", evidence_id=item.id, _external=True),
                      "headers": {"Content-Type": "application/octet-stream", "Content-Length": str(item.size)},
                      "expires_at": None}
        item.upload = target
        return item


# Ids are UUIDs in the path, so `/evidence/uploads` can never be read as an item id.
@blp.route("/evidence/<uuid:evidence_id>")
class EvidenceById(MethodView):
    @reads_only
    @requires(*evidence.READERS)
    @blp.response(200, EvidenceSchema)
    def get(self, evidence_id):
        """One item's record (its bytes are at `/content`)."""
        return evidence.get_evidence(db_session(), current_actor(), str(evidence_id))


@blp.route("/evidence/<uuid:evidence_id>/content")
class EvidenceContent(MethodView):
    @reads_and_records
    @requires(*evidence.READERS)
    @blp.response(200)
    @blp.alt_response(409, response="CONFLICT")
    @blp.doc(responses={200: BINARY_RESPONSE})
    def get(self, evidence_id):
        """The exact bytes, streamed; recorded as a `downloaded` custody event before they are sent.
        409 until the item is sealed."""
        return send_stored(evidence.record_view(db_session(), current_actor(), runtime(), str(evidence_id)))

    @requires(*evidence.CAPTURERS)
    @accepts("application/octet-stream", max_bytes="evidence_max_bytes")
    @blp.doc(requestBody=BINARY_BODY)
    @blp.response(204)
    def put(self, evidence_id):
        """The bytes of a pending direct upload (filesystem store); 422 unless they hash as announced."""
        evidence.receive_content(db_session(), current_actor(), runtime(), str(evidence_id), request.stream)


@blp.route("/evidence/<uuid:evidence_id>/complete")
class EvidenceComplete(MethodView):
    @requires(*evidence.CAPTURERS)
    @blp.response(200, EvidenceSchema)
    @sealing
    def post(self, evidence_id):
        """Seal a direct upload: the server re-reads and re-hashes what the store holds (422 otherwise)."""
        return evidence.complete_upload(db_session(), current_actor(), runtime(), str(evidence_id))


@blp.route("/evidence/<uuid:evidence_id>/thumbnail")
class EvidenceThumbnail(MethodView):
    @reads_and_records
    @requires(*evidence.READERS)
    @blp.response(200)
    @blp.alt_response(409, response="CONFLICT")
    @blp.doc(responses={200: download("JPEG, at most 512 px, upright, without metadata", "image/jpeg")})
    def get(self, evidence_id):
        """A photo's thumbnail, made while sealing; recorded as a `viewed` custody event. 409 until sealed."""
        return send_stored(evidence.record_view(db_session(), current_actor(), runtime(), str(evidence_id),
                                          rendition="thumbnail"))


@blp.route("/evidence/<uuid:evidence_id>/custody")
class EvidenceCustody(MethodView):
    @reads_only
    @requires(*evidence.READERS)
    @blp.response(200, CustodyEventSchema(many=True))
    @blp.paginate(Page, page_size=100, max_page_size=100)
    def get(self, evidence_id):
        """Every custody event about the item, in ledger order, each with its leaf and leaf hash."""
        return evidence.custody_of(db_session(), current_actor(), str(evidence_id))


@blp.route("/custody-events/<uuid:event_id>")
class CustodyReceipt(MethodView):
    @requires("admin", "supervisor", "collector", "legal", "auditor")
    @blp.response(200, CustodyReceiptSchema)
    def get(self, event_id):
        """A custody event's receipt: `pending` (no index yet) until a sequencer batch integrates
        it, within the merge delay; then its index, leaf, a signed checkpoint covering it and the
        inclusion proof. Poll it after a request that recorded events. 404 when the event is
        about a case or item you cannot see."""
        return evidence.custody_receipt(db_session(), current_actor(), runtime(), str(event_id))


@blp.route("/evidence/<uuid:evidence_id>/redactions")
class EvidenceRedactions(MethodView):
    @requires(*evidence.DERIVERS)
    @blp.arguments(RedactionRequestSchema)
    @blp.response(201, EvidenceSchema)
    def post(self, data, evidence_id):
        """A redacted copy (blur or black boxes) as a new sealed item pointing at its original."""
        return evidence.redact_evidence(db_session(), current_actor(), runtime(), str(evidence_id), data["regions"],
                                        data["reason"], data["mode"])


@blp.route("/evidence/<uuid:evidence_id>/legal-hold")
class EvidenceLegalHold(MethodView):
    @requires(*evidence.HOLDERS)
    @blp.arguments(LegalHoldSchema)
    @blp.response(200, EvidenceSchema)
    def post(self, data, evidence_id):
        """Put the item under legal hold: it cannot be deleted, whatever its retention."""
        return evidence.set_legal_hold(db_session(), current_actor(), runtime(), str(evidence_id), True, data["reason"])

    @requires(*evidence.HOLDERS)
    @blp.response(200, EvidenceSchema)
    def delete(self, evidence_id):
        """Release the legal hold (retention still applies)."""
        return evidence.set_legal_hold(db_session(), current_actor(), runtime(), str(evidence_id), False)


@blp.route("/cases/<case_id>/evidence")
class CaseEvidence(MethodView):
    @reads_only
    @requires(*evidence.READERS)
    @blp.arguments(EvidenceQueryArgsSchema, location="query")
    @blp.response(200, EvidenceSchema(many=True))
    @blp.paginate()
    def get(self, args, case_id, pagination_parameters):
        """A case's evidence in the order it arrived (404 when the case is not yours to see)."""
        return paginated(evidence.list_case_evidence(db_session(), current_actor(), case_id, **args),
                         pagination_parameters)


@blp.route("/visits/<visit_id>/notes")
class VisitNotes(MethodView):
    @requires(*evidence.CAPTURERS)
    @blp.arguments(NoteSchema)
    @blp.response(201, EvidenceSchema)
    def post(self, data, visit_id):
        """A note on one of your visits, kept as evidence: a UTF-8 object, hashed and sealed."""
        return evidence.add_note(db_session(), current_actor(), runtime(), visit_id, data)
