"""Placement files: a creditor's accounts for one portfolio, imported as a job with a per-row report."""
import json

from flask import current_app, request
from flask.views import MethodView

from api import idempotency
from api.auth import current_actor, requires
from api.context import db_session, runtime, settings
from api.docs import download
from api.requests import accepts, streams_body
from api.resources.base import Blueprint
from api.schemas.placements import PlacementSchema
from api.streaming import send_stored
from api.uploads import read_multipart
from core.errors import ValidationFailed
from evidence.services import spool_upload
from placements import services as placements
from placements import status
from placements.reading import COLUMNS

PREFIX = ""
blp = Blueprint("placements", __name__, description="Placement files: bulk intake of a creditor's accounts")

MULTIPART_BODY = {
    "required": True,
    "description": "Part `file` (CSV in UTF-8, or XLSX: the first sheet), optional parts `mode` and `columns`.",
    "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "additionalProperties": False, "properties": {
        "file": {"type": "string", "format": "binary"},
        "mode": {"type": "string", "enum": ["validate", "all_or_nothing", "valid_rows"], "default": "all_or_nothing"},
        "columns": {"type": "string", "description": "JSON object: your header name → one of " + ", ".join(COLUMNS)},
    }}}},
}


def _column_map(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise ValidationFailed("columns is not JSON", {"columns": ["a JSON object of header → column"]}) from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()) \
            or len(value) > 100:
        raise ValidationFailed("columns must map header names to column names", {"columns": ["an object of strings"]})
    return value


@blp.route("/portfolios/<portfolio_id>/placements")
class Placements(MethodView):
    @requires(*placements.PLACERS)
    @accepts("multipart/form-data", max_bytes="evidence_max_bytes")
    @streams_body
    @blp.doc(requestBody=MULTIPART_BODY)
    @blp.response(202, PlacementSchema)
    def post(self, portfolio_id):
        """Place a file of accounts into the portfolio; poll the placement for progress and counts.

        Columns (header names, any order): reference, debtor_name, national_id, phone, card_last4,
        currency, amount_overdue, days_past_due, jurisdiction, home_/work_ line, city, country,
        lat, lon, and optional action (`place` or `recall`). Each row is validated as
        `POST /cases` validates a case; a row whose reference exists in the portfolio updates the
        case (balance, days past due, new addresses), a recall row closes it, the same file twice
        changes nothing. `validate` only reports; `all_or_nothing` imports only when no row is
        rejected; `valid_rows` imports the rest. 404 for a portfolio of a creditor you are not granted."""
        with read_multipart(request.stream, request.content_type or "", file_part="file",
                            spool=lambda chunks: spool_upload(runtime(), chunks),
                            max_field_bytes=settings().max_json_bytes) as upload:
            if upload.spooled is None:
                raise ValidationFailed("send the file as part 'file'", {"file": ["required"]})
            # a retry with the same Idempotency-Key gets the first placement, not a second run
            replay = idempotency.check_streamed(idempotency.multipart_fingerprint(
                {**upload.fields, "sha256": [upload.spooled.sha256_hex]}, upload.file_names))
            if replay is not None:
                return replay
            mode = (upload.fields.get("mode") or ["all_or_nothing"])[0]
            columns = _column_map((upload.fields.get("columns") or [None])[0])
            return placements.request_placement(db_session(), current_actor(), runtime(), portfolio_id,
                                                spooled=upload.spooled, file_name=upload.file_name or "placement",
                                                mode=mode, column_map=columns), 202


@blp.route("/placements/<placement_id>")
class PlacementById(MethodView):
    @requires(*placements.PLACERS)
    @blp.response(200, PlacementSchema)
    def get(self, placement_id):
        """Status (`queued`, `running`, `done`, `failed`), progress 0..1 and the counts so far."""
        return placements.get_placement(db_session(), current_actor(), placement_id)


@blp.route("/placements/<placement_id>/report")
class PlacementReport(MethodView):
    @requires(*placements.PLACERS)
    @blp.response(200)
    @blp.alt_response(409, response="CONFLICT")
    @blp.doc(responses={200: download("row, reference, result, reasons", "text/csv")})
    def get(self, placement_id):
        """The per-row report as CSV (cells that would run as formulas are prefixed with ')."""
        return send_stored(placements.open_report(db_session(), current_actor(), runtime(), placement_id))


@blp.route("/portfolios/<portfolio_id>/status-export")
class PortfolioStatusExport(MethodView):
    @requires(*status.EXPORTERS)
    @blp.response(200)
    @blp.doc(responses={200: download(", ".join(status.COLUMNS), "text/csv")})
    def get(self, portfolio_id):
        """Per case of the portfolio, for the creditor's own records: visits scheduled and
        completed, contacts with the debtor, the last outcome, promises (open, kept, broken; the
        amount still promised), payments recorded and legal referral, as CSV."""
        # built within the request's transaction (about 150 bytes a case), so no lock outlives it
        body = "".join(status.status_export(db_session(), current_actor(), portfolio_id))
        return current_app.response_class(body, mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="portfolio-{portfolio_id}-status.csv"',
            "Cache-Control": "private, no-store"})
