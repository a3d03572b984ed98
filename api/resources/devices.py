from flask.views import MethodView

from accounts import services as accounts
from api.auth import current_actor, requires
from api.context import db_session
from api.resources.base import Blueprint, paginated
from api.schemas.accounts import DeviceCreateSchema, DeviceSchema
from api.schemas.common import SyncArgsSchema

PREFIX = "/devices"
blp = Blueprint("devices", __name__, description="Collectors' devices and their signing keys")


@blp.route("")
class Devices(MethodView):
    @requires("collector", "admin")
    @blp.arguments(SyncArgsSchema, location="query")
    @blp.response(200, DeviceSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """Your devices (all devices for an admin)."""
        query = accounts.list_devices(db_session(), current_actor(), **args)
        return paginated(query, pagination_parameters)

    @requires("collector")
    @blp.arguments(DeviceCreateSchema)
    @blp.response(201, DeviceSchema)
    def post(self, data):
        """Register a device's Ed25519 public key (base64 of the 32 raw bytes).

        422 when the 32 bytes are not a point of the Ed25519 curve."""
        return accounts.register_device(db_session(), current_actor(), **data)
