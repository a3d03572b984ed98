from flask import current_app, request
from flask.views import MethodView

from api.auth import current_actor, requires
from api.context import db_session
from api.resources.base import Blueprint, paginated
from api.schemas.contacts import ContactReportArgsSchema, ContactReportSchema, contact_report_csv
from api.schemas.visits import (PromiseQueryArgsSchema, PromiseSchema, VisitReportArgsSchema, VisitReportSchema,
                                visit_report_csv)
from contacts import services as contacts
from visits import services as visits

PREFIX = "/reports"
blp = Blueprint("reports", __name__, description="Reports for supervisors: broken promises, visits and contacts per collector")

CSV = "text/csv"


@blp.route("/promises")
class BrokenPromises(MethodView):
    @requires(*visits.REPORT_READERS)
    @blp.arguments(PromiseQueryArgsSchema, location="query")
    @blp.response(200, PromiseSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """Repayment promises past their due date without a recorded payment."""
        return paginated(visits.promises_report(db_session(), current_actor(), **args), pagination_parameters)


@blp.route("/visits")
class VisitReport(MethodView):
    @requires(*visits.REPORT_READERS)
    @blp.arguments(VisitReportArgsSchema, location="query")
    @blp.response(200, VisitReportSchema)
    @blp.doc(responses={200: {"content": {CSV: {"schema": {"type": "string"}}}}})
    def get(self, args):
        """Per collector over local days `from`..`to`: scheduled, completed, refused by rule,
        outside the geofence, outcomes. `Accept: text/csv` gives the same as CSV. 422 when `to` is
        before `from`."""
        report = visits.visits_report(db_session(), current_actor(), args["start"], args["end"],
                                      args.get("collector_id"))
        if request.accept_mimetypes.best_match(["application/json", CSV]) == CSV:
            return current_app.response_class(visit_report_csv(report), mimetype=CSV)
        return report


@blp.route("/contacts")
class ContactReport(MethodView):
    @requires(*contacts.REPORT_READERS)
    @blp.arguments(ContactReportArgsSchema, location="query")
    @blp.response(200, ContactReportSchema)
    @blp.doc(responses={200: {"content": {CSV: {"schema": {"type": "string"}}}}})
    def get(self, args):
        """Per collector and channel over UTC days `from`..`to`: contacts, outcomes, refused attempts by
        rule; and refusals per rule over all. `Accept: text/csv` gives the rows as CSV. 422 when `to` is
        before `from`."""
        report = contacts.contacts_report(db_session(), current_actor(), args["start"], args["end"],
                                          args.get("collector_id"))
        if request.accept_mimetypes.best_match(["application/json", CSV]) == CSV:
            return current_app.response_class(contact_report_csv(report), mimetype=CSV)
        return report
