from flask.views import MethodView

from api.auth import current_actor, requires
from api.context import db_session, reads_only, runtime
from api.resources.base import Blueprint, paginated
from api.schemas.cases import CaseEventSchema, CasePatchSchema, CaseQueryArgsSchema, CaseSchema, CaseViewSchema
from api.schemas.common import SyncArgsSchema
from cases import services as cases

PREFIX = "/cases"
blp = Blueprint("cases", __name__, description="Debtor cases, their addresses and timelines")

READERS = cases.READERS
WRITERS = cases.WRITERS


@blp.route("")
class Cases(MethodView):
    @reads_only
    @requires(*READERS)
    @blp.arguments(CaseQueryArgsSchema, location="query")
    @blp.response(200, CaseViewSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """Cases you may see: of the creditors you are granted (a collector: the ones assigned to
        them); `creditor_id` and `portfolio_id` narrow the list."""
        return paginated(cases.list_cases(db_session(), current_actor(), **args), pagination_parameters)

    @requires(*WRITERS)
    @blp.arguments(CaseSchema)
    @blp.response(201, CaseViewSchema)
    def post(self, data):
        """Open a case. National id and phone are stored encrypted and only returned masked.

        422 when `assigned_collector_id` names no active collector, or when `portfolio_id` is
        missing while several creditors exist; 404 when it names a portfolio of a creditor you
        are not granted."""
        return cases.create_case(db_session(), current_actor(), runtime().cipher, data)


@blp.route("/<case_id>")
class CaseById(MethodView):
    @reads_only
    @requires(*READERS)
    @blp.etag
    @blp.response(200, CaseViewSchema)
    def get(self, case_id):
        """One case (404 when it is not yours to see), with its `ETag`; 304 for a matching
        `If-None-Match`."""
        return cases.get_case(db_session(), current_actor(), case_id)

    @requires(*WRITERS)
    @blp.etag
    @blp.arguments(CasePatchSchema)
    @blp.response(200, CaseViewSchema)
    def patch(self, changes, case_id):
        """Change flags, assignment, status or amounts; add addresses.

        Send the `ETag` of your last read as `If-Match`: 412 when the case changed since (nothing
        is written). Without `If-Match` the write goes ahead, unless the server requires it
        (`FIELDPROOF_REQUIRE_IF_MATCH`): then 428. The response carries the new `ETag`.
        422 when `assigned_collector_id` names no active collector."""
        return cases.update_case(db_session(), current_actor(), runtime().cipher, case_id, changes,
                                 precondition=lambda case: blp.check_etag(case, CaseViewSchema))


@blp.route("/<case_id>/timeline")
class CaseTimeline(MethodView):
    @reads_only
    @requires(*READERS)
    @blp.arguments(SyncArgsSchema, location="query")
    @blp.response(200, CaseEventSchema(many=True))
    @blp.paginate(page_size=50)
    def get(self, args, case_id, pagination_parameters):
        """What happened on the case, oldest first."""
        query = cases.case_timeline(db_session(), current_actor(), case_id, **args)
        return paginated(query, pagination_parameters)
