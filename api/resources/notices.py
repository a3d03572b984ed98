"""Written notices: issued from templates as PDF/A, sealed as evidence, the same notice once.

Supervisors and legal users issue; everyone who may see the case reads. Issuing the same notice
again (same case data, template, language and mailing date) answers 200 with the notice first
issued and makes nothing new. Each PDF download is a `downloaded` custody event of its evidence item.
"""
from flask.views import MethodView

from api.auth import current_actor, requires
from api.context import db_session, reads_and_records, reads_only, runtime
from api.docs import download
from api.resources.base import Blueprint, paginated
from api.schemas.common import SyncArgsSchema
from api.schemas.notices import NoticeRequestSchema, NoticeSchema
from api.streaming import send_stored
from legal_docs import notices

PREFIX = ""
blp = Blueprint("notices", __name__, description="Written notices: validation and overdue notices as sealed PDF/A")


@blp.route("/cases/<case_id>/notices")
class CaseNotices(MethodView):
    @requires(*notices.ISSUERS)
    @blp.arguments(NoticeRequestSchema)
    @blp.response(201, NoticeSchema)
    @blp.alt_response(200, schema=NoticeSchema, description="The same notice was issued before: that notice")
    def post(self, data, case_id):
        """Render the notice, seal its PDF as evidence (kind `document`) and record `notice_issued` on the
        case timeline. 422 when the case's jurisdiction has no such notice or the itemization does not
        add up to the case's `amount_overdue`."""
        notice, created = notices.issue_notice(db_session(), current_actor(), runtime(), case_id, **data)
        return notice if created else (notice, 200)

    @reads_only
    @requires(*notices.READERS)
    @blp.arguments(SyncArgsSchema, location="query")
    @blp.response(200, NoticeSchema(many=True))
    @blp.paginate()
    def get(self, args, case_id, pagination_parameters):
        """The case's notices, oldest first (404 when the case is not yours to see)."""
        return paginated(notices.list_case_notices(db_session(), current_actor(), case_id, **args),
                         pagination_parameters)


@blp.route("/notices/<notice_id>")
class NoticeById(MethodView):
    @reads_only
    @requires(*notices.READERS)
    @blp.response(200, NoticeSchema)
    def get(self, notice_id):
        """One notice: its dates, itemization and the evidence item holding its PDF."""
        return notices.get_notice(db_session(), current_actor(), notice_id)


@blp.route("/notices/<notice_id>/pdf")
class NoticePdf(MethodView):
    @reads_and_records
    @requires(*notices.READERS)
    @blp.response(200)
    @blp.doc(responses={200: download("The notice as PDF/A-3b", "application/pdf")})
    def get(self, notice_id):
        """The sealed PDF, streamed; recorded as a `downloaded` custody event before it is sent."""
        return send_stored(notices.open_notice_pdf(db_session(), current_actor(), runtime(), notice_id))
