import marshmallow as ma
from marshmallow import fields, validate

from api.schemas.common import Currency, Latitude, Longitude, Money, SyncArgsSchema, Timestamp, both_or_neither
from cases.jurisdiction import US_STATES
from cases.models import ADDRESS_KINDS, CASE_STATUSES

JURISDICTION = validate.OneOf(["CN", "IN", *(f"US-{state}" for state in sorted(US_STATES))],
                              error="CN, IN or US-XX (XX a US state or territory's two-letter code)")


class DebtorSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    national_id = fields.String(allow_none=True, validate=validate.Regexp(r"^[0-9A-Za-z-]{4,32}$"),
                                metadata={"description": "Stored encrypted; returned masked (last 4)"})
    phone = fields.String(allow_none=True, validate=validate.Regexp(r"^\+?[0-9 ()-]{6,24}$"),
                          metadata={"description": "Stored encrypted; returned masked (last 4)"})


MASKED = r"^\*+[0-9A-Za-z ()+-]{0,4}$"


class DebtorViewSchema(ma.Schema):
    """What responses carry: identifiers masked to their last four characters (RULES.md), so the
    response document must not promise the request's patterns."""

    name = fields.String(required=True)
    national_id = fields.String(allow_none=True, metadata={"pattern": MASKED, "example": "**************0045",
                                                           "description": "Masked: last 4 characters"})
    phone = fields.String(allow_none=True, metadata={"pattern": MASKED, "example": "*************0045",
                                                     "description": "Masked: last 4 characters"})


class DebtorPatchSchema(DebtorSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))


class FlagsSchema(ma.Schema):
    cease_contact = fields.Boolean(load_default=False)
    attorney_represented = fields.Boolean(load_default=False)
    workplace_contact_prohibited = fields.Boolean(load_default=False)


class FlagsPatchSchema(ma.Schema):
    cease_contact = fields.Boolean()
    attorney_represented = fields.Boolean()
    workplace_contact_prohibited = fields.Boolean()


class AddressSchema(ma.Schema):
    id = fields.String(dump_only=True)
    kind = fields.String(required=True, validate=validate.OneOf(ADDRESS_KINDS))
    line = fields.String(required=True, validate=validate.Length(min=1, max=300))
    city = fields.String(required=True, validate=validate.Length(min=1, max=100))
    region = fields.String(allow_none=True, validate=validate.Length(max=100))
    country = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{2}$", error="ISO 3166 alpha-2"))
    lat = Latitude(allow_none=True, load_default=None)
    lon = Longitude(allow_none=True, load_default=None)
    OPENAPI_RULES = both_or_neither("lat", "lon")

    @ma.validates_schema
    def _both_or_neither(self, data, **kwargs):
        if (data.get("lat") is None) != (data.get("lon") is None):
            raise ma.ValidationError("give both lat and lon, or neither", "lat")


class CaseSchema(ma.Schema):
    id = fields.String(dump_only=True)
    reference = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_./-]{1,64}$"))
    portfolio_id = fields.String(validate=validate.Length(max=36), metadata={
        "description": "The creditor's portfolio the case belongs to; optional while only one creditor exists"})
    status = fields.String(dump_only=True)
    debtor = fields.Nested(DebtorSchema, required=True)
    card_last4 = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{4}$"))
    currency = Currency(required=True)
    amount_overdue = Money(required=True)
    days_past_due = fields.Integer(required=True, strict=True, validate=validate.Range(0, 36500))
    jurisdiction = fields.String(required=True, validate=JURISDICTION)
    flags = fields.Nested(FlagsSchema, load_default=lambda: FlagsSchema().load({}))
    assigned_collector_id = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    addresses = fields.List(fields.Nested(AddressSchema), load_default=list, validate=validate.Length(max=20))
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class CaseViewSchema(CaseSchema):
    debtor = fields.Nested(DebtorViewSchema, required=True)
    # every address the case has: at most 20 come with one request, and each PATCH may add more
    addresses = fields.List(fields.Nested(AddressSchema))


class CasePatchSchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(CASE_STATUSES))
    debtor = fields.Nested(DebtorPatchSchema)
    currency = Currency()
    amount_overdue = Money()
    days_past_due = fields.Integer(strict=True, validate=validate.Range(0, 36500))
    jurisdiction = fields.String(validate=JURISDICTION)
    flags = fields.Nested(FlagsPatchSchema)
    assigned_collector_id = fields.String(allow_none=True, validate=validate.Length(max=64))
    addresses = fields.List(fields.Nested(AddressSchema), validate=validate.Length(max=20),
                            metadata={"description": "Addresses to add (existing ones are kept)"})


class CaseQueryArgsSchema(SyncArgsSchema):
    broken_promises = fields.Boolean(metadata={"description": "Only cases with a broken promise to pay"})
    q = fields.String(validate=validate.Length(min=1, max=100),
                      metadata={"description": "Search in the reference and the debtor name"})
    status = fields.String(validate=validate.OneOf(CASE_STATUSES))
    collector_id = fields.String(validate=validate.Length(max=64))
    jurisdiction = fields.String(validate=JURISDICTION)
    creditor_id = fields.String(validate=validate.Length(max=36))
    portfolio_id = fields.String(validate=validate.Length(max=36))


class PortfolioCreateSchema(ma.Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,32}$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class PortfolioSchema(ma.Schema):
    id = fields.String(required=True)
    creditor_id = fields.String(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    created_at = Timestamp(required=True)


class CaseEventSchema(ma.Schema):
    id = fields.Integer()
    at = Timestamp()
    type = fields.String()
    actor_id = fields.String(allow_none=True)
    subject_id = fields.String(allow_none=True)
    details = fields.Dict()
