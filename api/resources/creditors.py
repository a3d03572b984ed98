"""Creditors (the banks that place accounts with the agency) and their portfolios."""
from flask.views import MethodView

from accounts import services as accounts
from api.auth import current_actor, requires
from api.context import db_session
from api.resources.base import Blueprint, paginated
from api.schemas.accounts import CreditorCreateSchema, CreditorSchema
from api.schemas.cases import PortfolioCreateSchema, PortfolioSchema
from cases import services as cases

PREFIX = "/creditors"
blp = Blueprint("creditors", __name__, description="Creditors and their portfolios; admins manage them")


@blp.route("")
class Creditors(MethodView):
    @requires(*cases.READERS)
    @blp.response(200, CreditorSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """The creditors you are granted (an admin: all), by code."""
        return paginated(accounts.visible_creditors(current_actor()), pagination_parameters)

    @requires("admin")
    @blp.arguments(CreditorCreateSchema)
    @blp.response(201, CreditorSchema)
    def post(self, data):
        """Register a creditor. 409 when the code is taken. Grant users the creditor with
        `PATCH /users/{id}` `creditor_ids`."""
        return accounts.create_creditor(db_session(), current_actor(), **data)


@blp.route("/<creditor_id>/portfolios")
class Portfolios(MethodView):
    @requires(*cases.READERS)
    @blp.response(200, PortfolioSchema(many=True))
    @blp.paginate()
    def get(self, creditor_id, pagination_parameters):
        """The creditor's portfolios (404 for a creditor you are not granted)."""
        return paginated(cases.list_portfolios(db_session(), current_actor(), creditor_id), pagination_parameters)

    @requires("admin")
    @blp.arguments(PortfolioCreateSchema)
    @blp.response(201, PortfolioSchema)
    def post(self, data, creditor_id):
        """Open a portfolio for the creditor. 409 when the creditor has one with that code."""
        return cases.create_portfolio(db_session(), current_actor(), creditor_id, **data)
