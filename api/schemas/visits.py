"""Visits, check-ins, check-outs, routes and the visit reports, on the wire."""
from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import marshmallow as ma
from marshmallow import fields, validate

from api.schemas.common import (DATE_TIME, MONTH_DAY, Boolean, Currency, Float, Id, Latitude, Longitude, Money,
                                Nested, String, SyncArgsSchema, Timestamp)
from visits.models import OUTCOMES, VISIT_STATUSES
from jurisdictions.profiles import RULE_IDS
from visits.services import REASON_MAX_CHARS

# Moments and days outside this range are typing mistakes, and near the ends of the
# calendar an offset cannot even be converted to UTC.
EARLIEST, LATEST = 2000, 2100


def _plausible_moment(value: datetime) -> None:
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not EARLIEST <= year < LATEST:
        raise ma.ValidationError(f"must lie between the years {EARLIEST} and {LATEST}")


def _plausible_day(value: date) -> None:
    if not EARLIEST <= value.year < LATEST:
        raise ma.ValidationError(f"must lie between the years {EARLIEST} and {LATEST}")


def _positive(value) -> None:
    if not value > 0:
        raise ma.ValidationError("must be more than zero")


# For the document: local years whose moments lie in range in UTC whatever the offset, and days.
MOMENT_PATTERN = r"^20(0[1-9]|[1-8][0-9]|9[0-8])" + DATE_TIME
DAY_PATTERN = r"^20[0-9]{2}" + MONTH_DAY + "$"


def Moment(**kwargs) -> Timestamp:  # noqa: N802 - reads as a field type
    metadata = {"pattern": MOMENT_PATTERN, **kwargs.pop("metadata", {})}
    return Timestamp(validate=_plausible_moment, metadata=metadata, **kwargs)


def Day(**kwargs) -> fields.Date:  # noqa: N802 - reads as a field type
    metadata = {"pattern": DAY_PATTERN, **kwargs.pop("metadata", {})}
    return fields.Date(validate=_plausible_day, metadata=metadata, **kwargs)


class VisitCreateSchema(ma.Schema):
    case_id = Id(required=True)
    address_id = Id(required=True)
    collector_id = Id(required=True)
    second_collector_id = Id(allow_none=True, load_default=None,
                             metadata={"description": "Required where the profile asks for two collectors"})
    window_start = Moment(required=True)
    window_end = Moment(required=True, metadata={"description": "Exclusive: the window is [start, end)"})

    @ma.validates_schema
    def _ordered(self, data, **kwargs):
        if "window_start" in data and "window_end" in data and data["window_end"] <= data["window_start"]:
            raise ma.ValidationError("must be after window_start", "window_end")


class VisitPartSchema(ma.Schema):
    """A part of a visit (check-in, check-out, cancellation): a dict (`visits.models.VisitParts`),
    so its fields are read as keys, straight from the dict: marshmallow's general accessor would first
    ask whether the key holds a dotted path, then whether the object can be indexed."""

    get_attribute = staticmethod(dict.get)


class CheckInSchema(VisitPartSchema):
    at = Timestamp(metadata={"description": "The reported moment of arrival (device clock)"})
    device_at = String(allow_none=True, metadata={"description": "`at` exactly as the device sent it"})
    received_at = Timestamp(allow_none=True)
    by = String(allow_none=True)
    lat = Float()
    lon = Float()
    accuracy_m = Float(allow_none=True)
    distance_m = Float(allow_none=True, metadata={"description": "Geodesic distance to the address"})
    within_geofence = Boolean(allow_none=True)
    outside_window = Boolean(allow_none=True)
    clock_skew_s = Float(allow_none=True, metadata={"description": "Device clock minus server clock"})
    impossible_travel = Boolean(allow_none=True)


class CheckOutSchema(VisitPartSchema):
    at = Timestamp()
    lat = Float()
    lon = Float()
    outcome = String()
    summary = String(allow_none=True)


class CancellationSchema(VisitPartSchema):
    at = Timestamp()
    by = String(metadata={"description": "The user who cancelled the visit"})
    reason = String()


class VisitSchema(ma.Schema):
    id = String()
    case_id = String()
    address_id = String()
    collector_id = String()
    second_collector_id = String(allow_none=True)
    window_start = Timestamp()
    window_end = Timestamp()
    time_zone = String(metadata={"description": "IANA zone of the address"})
    local_date = fields.Date(metadata={"description": "Local day of window_start at the address"})
    status = String(metadata={"enum": list(VISIT_STATUSES)})
    scheduled_by = String()
    check_in = Nested(CheckInSchema, allow_none=True)
    check_out = Nested(CheckOutSchema, allow_none=True)
    cancellation = Nested(CancellationSchema, allow_none=True,
                          metadata={"description": "When, by whom and why; null unless `status` is cancelled"})
    flags = fields.Dict(metadata={"description": "What a reviewer should look at (clock skew, travel, overrun)"})
    created_at = Timestamp()
    updated_at = Timestamp()

    # A visit (a mapped `Visit`, or a page's `VisitRow`, a tuple) holds its fields as attributes:
    # marshmallow's general accessor would try `obj[attr]` first, which a tuple answers with an exception.
    get_attribute = staticmethod(getattr)


class VisitQueryArgsSchema(SyncArgsSchema):
    collector_id = Id()
    case_id = Id()
    date = Day(metadata={"description": "Local date at the visit's address"})
    status = fields.String(validate=validate.OneOf(VISIT_STATUSES))


class CheckInRequestSchema(ma.Schema):
    at = Moment(required=True, metadata={"description": "When the collector arrived, by the device's clock"})
    lat = Latitude(required=True)
    lon = Longitude(required=True)
    accuracy_m = fields.Float(allow_none=True, load_default=None, allow_nan=False,
                              validate=validate.Range(0, 100_000), metadata={"description": "Reported GPS accuracy"})
    sent_at = Moment(metadata={"description": "The device's clock when it sent this request, to measure skew"})


def Reason(**kwargs) -> fields.String:  # noqa: N802 - reads as a field type
    return fields.String(required=True, validate=[validate.Length(min=1, max=REASON_MAX_CHARS),
                                                  validate.Regexp(r"^\s*\S", error="must not be blank")], **kwargs)


class VisitCancelRequestSchema(ma.Schema):
    reason = Reason(metadata={"description": "Why the visit is called off (on the case timeline)"})


class VisitRescheduleRequestSchema(VisitCancelRequestSchema):
    window_start = Moment(required=True)
    window_end = Moment(required=True, metadata={"description": "Exclusive: the window is [start, end)"})
    reason = Reason(metadata={"description": "Why the visit moves (on the case timeline)"})

    @ma.validates_schema
    def _ordered(self, data, **kwargs):
        if "window_start" in data and "window_end" in data and data["window_end"] <= data["window_start"]:
            raise ma.ValidationError("must be after window_start", "window_end")


class PromiseRequestSchema(ma.Schema):
    amount = Money(required=True, validate=_positive, metadata={"description": "More than zero"})
    currency = Currency(metadata={"description": "Defaults to the case's currency"})
    due_date = Day(required=True, metadata={"description": "Local date at the address"})


class CheckOutRequestSchema(ma.Schema):
    at = Moment(required=True)
    lat = Latitude(required=True)
    lon = Longitude(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    summary = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=4000))
    promise = fields.Nested(PromiseRequestSchema, allow_none=True, load_default=None)


class RouteArgsSchema(ma.Schema):
    date = Day(required=True, metadata={"description": "Local date at the visits' addresses"})


class RouteStartSchema(ma.Schema):
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)
    source = fields.String(metadata={"enum": ["first_check_in", "base", "first_visit", "none"]})


class RouteStopSchema(ma.Schema):
    visit_id = fields.String()
    order = fields.Integer()
    lat = fields.Float()
    lon = fields.Float()
    leg_distance_m = fields.Float()
    arrival_estimate = Timestamp()
    begins_at = Timestamp(metadata={"description": "After waiting for the window to open"})
    late = fields.Boolean(metadata={"description": "Arrives at or after the window's end"})


class RouteSchema(ma.Schema):
    collector_id = fields.String()
    date = fields.Date()
    start = fields.Nested(RouteStartSchema)
    stops = fields.List(fields.Nested(RouteStopSchema))
    total_distance_m = fields.Float()
    missed_windows = fields.Integer()


class PromiseSchema(ma.Schema):
    id = fields.String()
    case_id = fields.String()
    visit_id = fields.String(allow_none=True)
    collector_id = fields.String(allow_none=True)
    amount = Money()
    currency = fields.String()
    due_date = fields.Date()
    status = fields.String(metadata={"enum": ["open", "kept", "broken"]})
    made_at = Timestamp()
    resolved_at = Timestamp(allow_none=True)
    updated_at = Timestamp()


class PromiseQueryArgsSchema(SyncArgsSchema):
    collector_id = Id()
    case_id = Id()


class VisitReportArgsSchema(ma.Schema):
    start = Day(required=True, data_key="from", metadata={"description": "First local day, inclusive"})
    end = Day(required=True, data_key="to", metadata={"description": "Last local day, inclusive"})
    collector_id = Id()


class CollectorVisitReportSchema(ma.Schema):
    collector_id = fields.String()
    username = fields.String(allow_none=True)
    scheduled = fields.Integer()
    checked_in = fields.Integer()
    completed = fields.Integer()
    outside_geofence = fields.Integer()
    outside_window = fields.Integer()
    impossible_travel = fields.Integer()
    refused_attempts = fields.Integer(metadata={"description": "Refused scheduling attempts"})
    refused_by_rule = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                  metadata={"description": "Refused attempts naming each rule id"})
    outcomes = fields.Dict(keys=fields.String(), values=fields.Integer())


class VisitReportSchema(ma.Schema):
    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")
    collectors = fields.List(fields.Nested(CollectorVisitReportSchema))


CSV_COUNTS = ("scheduled", "checked_in", "completed", "outside_geofence", "outside_window", "impossible_travel",
              "refused_attempts")


def visit_report_csv(report: dict) -> str:
    """One row per collector; rule and outcome counts get a column each, so the header is
    the same whatever the period holds."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["from", "to", "collector_id", "username", *CSV_COUNTS,
                     *(f"refused.{rule}" for rule in RULE_IDS), *(f"outcome.{o}" for o in OUTCOMES)])
    for row in report["collectors"]:
        writer.writerow([report["start"].isoformat(), report["end"].isoformat(), row["collector_id"],
                         _cell(row["username"] or ""), *(row[name] for name in CSV_COUNTS),
                         *(row["refused_by_rule"].get(rule, 0) for rule in RULE_IDS),
                         *(row["outcomes"].get(o, 0) for o in OUTCOMES)])
    return out.getvalue()


def _cell(text: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas; defuse them."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
