"""Packets: court-filing PDF volumes and a verifiable bundle, built by a job, every version kept.

Each download is a `downloaded` custody event about the packet, written before a byte is sent.
"""

from flask.views import MethodView

from api.streaming import send_stored
from api.auth import current_actor, requires
from api.context import db_session, reads_and_records, runtime
from api.docs import download
from api.resources.base import Blueprint, paginated
from api.schemas.packets import PacketAcceptedSchema, PacketRequestSchema, PacketSchema, PdfArgsSchema
from legal_docs import assembly as packets
from legal_docs import jobs as _jobs  # noqa: F401 - registers the build job with the runner

PREFIX = ""
blp = Blueprint("packets", __name__, description="Court-filing packets: PDF/A volumes and a verifiable bundle")



@blp.route("/cases/<case_id>/packets")
class CasePackets(MethodView):
    @requires(*packets.REQUESTERS)
    @blp.arguments(PacketRequestSchema)
    @blp.response(202, PacketAcceptedSchema)
    def post(self, data, case_id):
        """Queue a new packet version; poll `GET /packets/{id}` for progress, warnings and results.

        422 when a named item is not a sealed item of the case, or an override names an item whose
        subject did not refuse consent; 403 for an override by anyone but a legal user."""
        return packets.request_packet(db_session(), current_actor(), runtime().jobs, case_id, **data)

    @requires(*packets.READERS)
    @blp.response(200, PacketSchema(many=True))
    @blp.paginate()
    def get(self, case_id, pagination_parameters):
        """Every version of the case's packet, newest first."""
        return paginated(packets.list_case_packets(db_session(), current_actor(), case_id), pagination_parameters)


@blp.route("/packets/<packet_id>")
class PacketById(MethodView):
    @requires(*packets.READERS)
    @blp.response(200, PacketSchema)
    def get(self, packet_id):
        """Status and progress; once ready, exhibits with Bates ranges, volumes, hashes and warnings."""
        return packets.get_packet(db_session(), current_actor(), packet_id)


@blp.route("/packets/<packet_id>/pdf")
class PacketPdf(MethodView):
    @reads_and_records
    @requires(*packets.READERS)
    @blp.arguments(PdfArgsSchema, location="query")
    @blp.response(200)
    @blp.alt_response(409, response="CONFLICT")
    @blp.doc(responses={200: download("One PDF/A-3b volume", "application/pdf")})
    def get(self, args, packet_id):
        """A PDF volume (1 by default), streamed; 409 until the packet is ready, 404 past the last volume."""
        return send_stored(packets.open_packet_file(db_session(), current_actor(), runtime(), packet_id,
                                              volume=args["volume"]))


@blp.route("/packets/<packet_id>/bundle")
class PacketBundle(MethodView):
    @reads_and_records
    @requires(*packets.READERS)
    @blp.response(200)
    @blp.alt_response(409, response="CONFLICT")
    @blp.doc(responses={200: download("The bundle: volumes, originals, signed manifest, VERIFY.md", "application/zip")})
    def get(self, packet_id):
        """The bundle zip, streamed; check it offline with `fieldproof verify-bundle`. 409 until ready."""
        return send_stored(packets.open_packet_file(db_session(), current_actor(), runtime(), packet_id))
