"""Verifications: an auditor's request to re-check stored bytes and the whole ledger."""
from flask.views import MethodView

from api.auth import current_actor, requires
from api.context import db_session, runtime
from api.resources.base import Blueprint, paginated
from api.schemas.ledger import VerificationAcceptedSchema, VerificationRequestSchema, VerificationSchema
from cases import services as cases
from evidence import services as evidence
from custody import verification as verifications

PREFIX = "/verifications"
blp = Blueprint("verifications", __name__, description="Integrity verification runs for auditors")


@blp.route("")
class Verifications(MethodView):
    @requires(*verifications.VERIFIERS)
    @blp.arguments(VerificationRequestSchema)
    @blp.response(202, VerificationAcceptedSchema)
    def post(self, data):
        """Queue a verification of one item, a case or everything; poll its id for the report.

        `checkpoints` takes signed notes of checkpoints kept from earlier: the run proves the
        current tree extends each, which catches a rollback that deleted later checkpoints too.
        """
        if data["scope"] == "case" and data.get("id"):
            cases.get_case(db_session(), current_actor(), data["id"])  # 404 for an unknown case
        return verifications.request_verification(db_session(), current_actor(), runtime().jobs,
                                                  scope=data["scope"], subject_id=data.get("id"),
                                                  kept_checkpoints=data.get("checkpoints"),
                                                  visible_case_ids=cases.visible_case_ids(current_actor()))

    @requires(*verifications.VERIFIERS)
    @blp.response(200, VerificationSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """Verification runs, newest first."""
        actor = current_actor()
        return paginated(verifications.list_verifications(actor, evidence.verification_subjects(actor)), pagination_parameters)


@blp.route("/<verification_id>")
class VerificationById(MethodView):
    @requires(*verifications.VERIFIERS)
    @blp.response(200, VerificationSchema)
    def get(self, verification_id):
        """Status, progress, counts and every failure with the item and the problem."""
        actor = current_actor()
        return verifications.get_verification(db_session(), actor, verification_id, evidence.verification_subjects(actor))

