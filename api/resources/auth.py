from flask import request
from flask.views import MethodView

from accounts import services as accounts
from api.auth import bearer_token, current_actor, requires
from api.context import db_session, reads_only, settings
from api.resources.base import Blueprint
from api.schemas.accounts import LoginSchema, TokenSchema, UserSchema

PREFIX = ""
blp = Blueprint("auth", __name__, description="Tokens and the current user")


@blp.route("/auth/tokens")
class Tokens(MethodView):
    @blp.arguments(LoginSchema)
    @blp.response(201, TokenSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    def post(self, login):
        """Log in: exchange a username and password for a bearer token.

        Repeated failures for one username (or from one address) are refused with 429.
        Not replayable with Idempotency-Key: a stored response would keep a live token.
        """
        config = settings()
        issued = accounts.issue_token(
            db_session(), username=login["username"], password=login["password"],
            remote_addr=request.remote_addr or "unknown", ttl_seconds=config.token_ttl_seconds,
            max_failures=config.login_max_failures, window_seconds=config.login_window_seconds)
        return {"access_token": issued.token, "token_type": "Bearer", "expires_at": issued.expires_at,
                "user": issued.user}


@blp.route("/auth/tokens/current")
class CurrentToken(MethodView):
    @requires()
    @blp.response(204)
    def delete(self):
        """Log out: revoke the token this request carries."""
        current_actor()
        accounts.revoke_token(db_session(), bearer_token())


@blp.route("/me")
class Me(MethodView):
    @reads_only
    @requires()
    @blp.response(200, UserSchema)
    def get(self):
        """The authenticated user."""
        return accounts.get_user(db_session(), current_actor().id)
