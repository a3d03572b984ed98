"""Written notice schemas: the request to issue one and the notice as issued."""
import marshmallow as ma
from marshmallow import fields, validate

from api.schemas.common import Id, Money, Timestamp
from api.schemas.ledger import HEX64


class ItemizationSchema(ma.Schema):
    """Reg F's itemization (12 CFR 1006.34(c)(2)(vi)-(viii)); the parts must add up to the case's
    `amount_overdue` (amount + interest + fees − payments)."""

    date = fields.Date(required=True, metadata={"description": "The itemization date (1006.34(b)(3)), on or "
                                                               "before the mailing date"})
    amount = Money(required=True, metadata={"description": "What was owed on the itemization date"})
    interest = Money(load_default="0.00", metadata={"description": "Interest charged since"})
    fees = Money(load_default="0.00", metadata={"description": "Fees charged since"})
    payments = Money(load_default="0.00", metadata={"description": "Payments and credits since"})


class NoticeRequestSchema(ma.Schema):
    template = fields.String(required=True, validate=validate.OneOf(("validation", "overdue")), metadata={
        "description": "`validation`: the US validation notice (Reg F model form B-1; US cases only); "
                       "`overdue`: the CN 催收通知函, the IN notice of overdue amount, the US overdue reminder"})
    language = fields.String(required=True, validate=validate.OneOf(("zh-CN", "en")))
    mailed_at = Timestamp(metadata={"description": "When the notice is mailed (default now); its date in its own "
                                                  "offset is the mailing date the notice prints and its periods "
                                                  "count from"})
    itemization = fields.Nested(ItemizationSchema, metadata={
        "description": "Default: the case's creation date and its `amount_overdue`, nothing added or paid since"})


class NoticeItemizationSchema(ma.Schema):
    date = fields.String(metadata={"format": "date"})
    amount = fields.String(metadata={"format": "decimal"})
    interest = fields.String(metadata={"format": "decimal"})
    fees = fields.String(metadata={"format": "decimal"})
    payments = fields.String(metadata={"format": "decimal"})
    total = fields.String(metadata={"format": "decimal"})


class NoticeSchema(ma.Schema):
    id = fields.String()
    case_id = fields.String()
    template = fields.String(metadata={"enum": ["validation", "overdue"]})
    language = fields.String(metadata={"enum": ["zh-CN", "en"]})
    jurisdiction = fields.String()
    mailed_at = Timestamp()
    mailing_date = fields.Date()
    assumed_receipt = fields.Date(allow_none=True, metadata={
        "description": "US validation notice: five days after mailing, not counting Saturdays, Sundays and "
                       "federal legal public holidays (12 CFR 1006.34(b)(5))"})
    validation_end = fields.Date(allow_none=True, metadata={
        "description": "US validation notice: the last day of the validation period, 30 days after the "
                       "assumed receipt"})
    respond_by = fields.Date(allow_none=True, metadata={"description": "Overdue notice: the reply date it prints"})
    currency = fields.String()
    itemization = fields.Nested(NoticeItemizationSchema)
    evidence_id = Id(metadata={"description": "The sealed PDF, an evidence item of kind `document`"})
    sha256 = fields.String(metadata=HEX64)
    size = fields.Integer()
    issued_by = fields.String()
    issued_at = Timestamp()
