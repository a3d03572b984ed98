import marshmallow as ma
from marshmallow import fields, validate

from api.schemas.common import Timestamp
from placements.models import MODES, RESULTS, STATUSES


class PlacementCountsSchema(ma.Schema):
    accepted = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    recalled = fields.Integer(required=True)
    rejected = fields.Integer(required=True)


class PlacementSchema(ma.Schema):
    id = fields.String(required=True)
    portfolio_id = fields.String(required=True)
    mode = fields.String(required=True, validate=validate.OneOf(MODES))
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    progress = fields.Float(required=True, metadata={"description": "0..1"})
    counts = fields.Nested(PlacementCountsSchema, required=True)
    file_name = fields.String(required=True)
    error = fields.String(required=True, allow_none=True)
    created_at = Timestamp(required=True)
    finished_at = Timestamp(required=True, allow_none=True)


assert set(RESULTS) == set(PlacementCountsSchema().fields)
