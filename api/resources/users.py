from flask.views import MethodView

from accounts import services as accounts
from api.auth import requires
from api.context import db_session
from api.resources.base import Blueprint, paginated
from api.schemas.accounts import UserCreateSchema, UserPatchSchema, UserQueryArgsSchema, UserSchema

PREFIX = "/users"
blp = Blueprint("users", __name__, description="User accounts (admin)")


@blp.route("")
class Users(MethodView):
    @requires("admin")
    @blp.arguments(UserQueryArgsSchema, location="query")
    @blp.response(200, UserSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """List users."""
        return paginated(accounts.list_users(db_session(), **args), pagination_parameters)

    @requires("admin")
    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserSchema)
    def post(self, data):
        """Create a user with one role; `creditor_ids` grants creditors (422 for an unknown one;
        left out while only one creditor exists, the user is granted it)."""
        return accounts.create_user(db_session(), **data)


@blp.route("/<user_id>")
class UserById(MethodView):
    @requires("admin")
    @blp.etag
    @blp.response(200, UserSchema)
    def get(self, user_id):
        """One user, with its `ETag`; 304 for a matching `If-None-Match`."""
        return accounts.get_user(db_session(), user_id)

    @requires("admin")
    @blp.etag
    @blp.arguments(UserPatchSchema)
    @blp.response(200, UserSchema)
    def patch(self, changes, user_id):
        """Change role, name, locale, password or granted creditors (`creditor_ids` replaces the
        grants; 422 for an unknown creditor); deactivating revokes every token.

        `If-Match` as for cases: 412 when stale, 428 when missing and the server requires it;
        the response carries the new `ETag`."""
        return accounts.update_user(db_session(), user_id, **changes,
                                    precondition=lambda user: blp.check_etag(user, UserSchema))
