from flask.views import MethodView

from api.auth import current_actor, requires
from api.context import db_session, reads_only, runtime, settings
from api.resources.base import Blueprint, paginated
from api.schemas.contacts import (ContactCheckRequestSchema, ContactCheckSchema, ContactCreateSchema, ContactSchema,
                                  PlanEditSchema, PlanSchema, WorkItemSchema, WorklistArgsSchema)
from contacts import plan
from contacts import services as contacts

PREFIX = ""
blp = Blueprint("contacts", __name__,
                description="Calls, SMS, e-mail and letters under the jurisdiction's rules; the case plan; the worklist")


@blp.route("/cases/<case_id>/contacts")
class CaseContacts(MethodView):
    @reads_only
    @requires(*contacts.READERS)
    @blp.response(200, ContactSchema(many=True))
    @blp.paginate()
    def get(self, case_id, pagination_parameters):
        """The case's contacts in date order (404 when the case is not yours to see)."""
        return paginated(contacts.list_contacts(db_session(), current_actor(), case_id), pagination_parameters)

    @requires(*contacts.WRITERS)
    @blp.arguments(ContactCreateSchema)
    @blp.response(201, ContactSchema)
    def post(self, data, case_id):
        """Log a call, SMS, e-mail or letter. Every rule of the case's jurisdiction is checked at `at`
        in the debtor's local time; a refusal (422) lists every violation with its rule id and records
        nothing but the refusal. The text as sent is sealed (custody ledger). A contact with a third party
        (`party`, `relation`) is judged by `contact.third_party` (US: once per person unless they ask); a
        letter may name the notice it carried (`notice_id`, 422 unless issued on this case)."""
        return contacts.record_contact(db_session(), current_actor(), runtime(), case_id, data)


@blp.route("/cases/<case_id>/contacts/check")
class CaseContactCheck(MethodView):
    @requires(*contacts.WRITERS)
    @blp.arguments(ContactCheckRequestSchema)
    @blp.response(200, ContactCheckSchema)
    def post(self, data, case_id):
        """May a contact on this channel be made now (or at `at`)? `allowed` and every violation. For a
        third party (`party`), name them by `third_party_id` so the per-person limit can be counted."""
        return contacts.check_contact(db_session(), current_actor(), runtime(), case_id, data)


@blp.route("/cases/<case_id>/plan")
class CasePlan(MethodView):
    @reads_only
    @requires(*contacts.READERS)
    @blp.etag
    @blp.response(200, PlanSchema)
    def get(self, case_id):
        """The case's next actions with due dates: the supervisor's plan, or the one generated from the
        case and its jurisdiction (the notice first where the law asks; no visit in the notice period).
        With its `ETag`; 304 for a matching `If-None-Match`."""
        return plan.get_plan(db_session(), current_actor(), settings(), case_id)

    @requires(*plan.EDITORS)
    @blp.etag
    @blp.arguments(PlanEditSchema)
    @blp.response(200, PlanSchema)
    def patch(self, data, case_id):
        """Replace the case's plan (supervisors, admins): steps in order with due dates, skipped or done,
        with notes. Done steps are still read from the timeline. Send the `ETag` of your last read as
        `If-Match`: 412 when the plan changed since (nothing is written)."""
        return plan.edit_plan(db_session(), current_actor(), settings(), case_id, data,
                              precondition=lambda current: blp.check_etag(current, PlanSchema))


@blp.route("/worklist")
class Worklist(MethodView):
    @reads_only
    @requires(*contacts.WRITERS)
    @blp.arguments(WorklistArgsSchema, location="query")
    @blp.response(200, WorkItemSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """Your due and overdue actions (a collector: on the cases assigned to you), lawful to take now,
        by due date."""
        items = plan.worklist(db_session(), current_actor(), settings(), **args)
        pagination_parameters.item_count = len(items)
        return items[pagination_parameters.first_item:pagination_parameters.last_item + 1]
