from flask.views import MethodView

from api.auth import current_actor, requires
from api.context import db_session, reads_only, settings
from api.resources.base import Blueprint, paginated
from api.schemas.visits import (CheckInRequestSchema, CheckOutRequestSchema, RouteArgsSchema, RouteSchema,
                                VisitCancelRequestSchema, VisitCreateSchema, VisitQueryArgsSchema,
                                VisitRescheduleRequestSchema, VisitSchema)
from visits import services as visits

PREFIX = ""
blp = Blueprint("visits", __name__, description="Lawful visits: scheduling, geofenced check-in, check-out, routes")


@blp.route("/visits")
class Visits(MethodView):
    @reads_only
    @requires(*visits.READERS)
    @blp.arguments(VisitQueryArgsSchema, location="query")
    @blp.response(200, VisitSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """Visits you may see (a collector: the ones they are named on), by window."""
        return paginated(visits.list_visits(db_session(), current_actor(), **args), pagination_parameters)

    @requires(*visits.SCHEDULERS)
    @blp.arguments(VisitCreateSchema)
    @blp.response(201, VisitSchema)
    def post(self, data):
        """Schedule a visit. Every rule of the case's jurisdiction is checked over the whole
        window; a refusal (422) lists every violation with its rule id. 422 also when
        `window_end` is not after `window_start`."""
        return visits.schedule_visit(db_session(), current_actor(), settings(), data)


@blp.route("/visits/<visit_id>")
class VisitById(MethodView):
    @reads_only
    @requires(*visits.READERS)
    @blp.response(200, VisitSchema)
    def get(self, visit_id):
        """One visit (404 when it is not yours to see)."""
        return visits.get_visit(db_session(), current_actor(), visit_id)


@blp.route("/visits/<visit_id>/cancel")
class VisitCancel(MethodView):
    @requires(*visits.SCHEDULERS)
    @blp.arguments(VisitCancelRequestSchema)
    @blp.response(200, VisitSchema)
    def post(self, data, visit_id):
        """Call off a scheduled visit, with a reason (case timeline and custody ledger). 409 when it
        is already cancelled (`visit-cancelled`) or checked in or completed (`visit-underway`)."""
        return visits.cancel_visit(db_session(), current_actor(), visit_id, data)


@blp.route("/visits/<visit_id>/reschedule")
class VisitReschedule(MethodView):
    @requires(*visits.SCHEDULERS)
    @blp.arguments(VisitRescheduleRequestSchema)
    @blp.response(200, VisitSchema)
    def post(self, data, visit_id):
        """Move a scheduled visit to a new window, with a reason. The window is judged by the same
        rules as scheduling: a refusal (422) lists every violation and changes nothing. 409 as for
        cancelling."""
        return visits.reschedule_visit(db_session(), current_actor(), settings(), visit_id, data)


@blp.route("/visits/<visit_id>/check-in")
class VisitCheckIn(MethodView):
    @requires(*visits.FIELD_ROLES)
    @blp.arguments(CheckInRequestSchema)
    @blp.response(200, VisitSchema)
    def post(self, data, visit_id):
        """Check in at the address: distance and geofence recorded; refused (422) outside lawful
        hours at the address; a second check-in is 409, and so is one on a cancelled visit
        (`visit-cancelled`)."""
        return visits.check_in(db_session(), current_actor(), settings(), visit_id, data)


@blp.route("/visits/<visit_id>/check-out")
class VisitCheckOut(MethodView):
    @requires(*visits.FIELD_ROLES)
    @blp.arguments(CheckOutRequestSchema)
    @blp.response(200, VisitSchema)
    def post(self, data, visit_id):
        """Record the outcome; a promise to pay becomes a repayment promise on the case."""
        return visits.check_out(db_session(), current_actor(), settings(), visit_id, data)


@blp.route("/collectors/<collector_id>/route")
class CollectorRoute(MethodView):
    @requires(*visits.READERS)
    @blp.arguments(RouteArgsSchema, location="query")
    @blp.response(200, RouteSchema)
    def get(self, args, collector_id):
        """The day's visits in route order, with leg distances and arrival estimates."""
        return visits.collector_route(db_session(), current_actor(), settings(), collector_id, args["date"])
