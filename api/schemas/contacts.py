"""Contacts (calls, SMS, e-mail, letters), the contact check, the case plan and the worklist, on the wire."""
from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

import marshmallow as ma
from marshmallow import fields, validate

from api.schemas.common import Id, Timestamp, given
from api.schemas.visits import Day, Moment, _cell
from contacts.models import (CHANNELS, DIRECTIONS, LETTER_METHODS, OUTCOMES, PARTIES, PLAN_KINDS, PLAN_STATUSES,
                             RECORDING_CONSENT, RELATIONS)
from contacts.plan import MAX_ACTIONS, NOTE_MAX_CHARS
from contacts.services import CHANNEL_FIELDS, OPTIONAL_FIELDS, TEXT_MAX_CHARS
from jurisdictions.profiles import RULE_IDS

ALL_OUTCOMES = tuple(dict.fromkeys(o for channel in CHANNELS for o in OUTCOMES[channel]))
_OUTCOMES_TEXT = "; ".join(f"{channel}: {', '.join(OUTCOMES[channel])}" for channel in CHANNELS)


class ContactCreateSchema(ma.Schema):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    direction = fields.String(load_default="outbound", validate=validate.OneOf(DIRECTIONS))
    at = Moment(required=True, metadata={"description": "When the contact was made; may lie in the past (a "
                                                        "contact logged afterwards is judged at `at`)"})
    outcome = fields.String(required=True, validate=validate.OneOf(ALL_OUTCOMES),
                            metadata={"description": f"Per channel — {_OUTCOMES_TEXT}"})
    duration_s = fields.Integer(validate=validate.Range(0, 86_400), metadata={"description": "Calls only"})
    number = fields.String(validate=validate.Regexp(r"^\+?[0-9 ()-]{3,32}$"),
                           metadata={"description": "The number dialled or texted (calls, SMS); stored and "
                                                    "returned masked. Default: the debtor's phone on the case"})
    recording_consent = fields.String(validate=validate.OneOf(RECORDING_CONSENT),
                                      metadata={"description": "Calls only: the call recording's consent state"})
    template = fields.String(validate=validate.Length(1, 64), metadata={"description": "SMS, e-mail, letters"})
    text = fields.String(validate=validate.Length(1, TEXT_MAX_CHARS),
                         metadata={"description": "The text as sent (required for an outbound SMS or e-mail; a "
                                                  "call's summary); sealed: stored content-addressed and its "
                                                  "SHA-256 entered in the custody ledger"})
    opt_out = fields.Boolean(metadata={"description": "SMS, e-mail, inbound only: the debtor opted out of this "
                                                      "channel (the channel is then closed)"})
    letter_method = fields.String(validate=validate.OneOf(LETTER_METHODS),
                                  metadata={"description": "Letters: sent by post or by hand (required outbound)"})
    tracking = fields.String(validate=validate.Length(1, 64), metadata={"description": "Letters: postal tracking"})
    notice_id = Id(metadata={"description": "Letters: the written notice this letter carried (a notice issued on "
                                            "this case); a letter `returned` marks the notice returned in the "
                                            "reports"})
    party = fields.String(load_default="debtor", validate=validate.OneOf(PARTIES),
                          metadata={"description": "Who was contacted: the debtor, or a third party (judged by "
                                                   "`contact.third_party`)"})
    relation = fields.String(validate=validate.OneOf(RELATIONS),
                             metadata={"description": "Third party only (required): who they are to the debtor"})
    third_party_id = fields.String(validate=validate.Length(3, 254), metadata={
        "description": "Third party only: their phone number or e-mail address, kept only as a keyed hash to count "
                       "contacts per person (US: once unless they ask); for a call, the `number` if not given"})
    third_party_requested = fields.Boolean(metadata={
        "description": "Third party only: on this contact the person asked to be contacted again"})

    # What each channel takes, said with `not` alone (see common.both_or_neither): an outcome of another
    # channel, a field of another channel, an outbound SMS or e-mail without its text, an opt-out that is
    # not the debtor's own inbound message, an outbound letter without how it was sent.
    OPENAPI_RULES = {"not": {"anyOf": [
        *({**given("channel", {"enum": [channel]}), "not": given("outcome", {"enum": list(OUTCOMES[channel])})}
          for channel in CHANNELS),
        *({**given("channel", {"enum": [channel]}),
           "anyOf": [{"required": [name]} for name in sorted(OPTIONAL_FIELDS - CHANNEL_FIELDS[channel])]}
          for channel in CHANNELS),
        {"required": ["channel"], "properties": {"channel": {"enum": ["sms", "email"]},
                                                 "direction": {"enum": ["outbound"]}},
         "not": {"required": ["text"]}},
        {"required": ["opt_out"], "properties": {"opt_out": {"enum": [True]}, "direction": {"enum": ["outbound"]}}},
        {"required": ["channel"], "properties": {"channel": {"enum": ["letter"]}, "direction": {"enum": ["outbound"]}},
         "not": {"required": ["letter_method"]}},
        # a third party is named by their relation, did not reach the debtor, and cannot opt the debtor out
        {**given("party", {"enum": ["third_party"]}), "not": given("relation", {"type": "string"})},
        {**given("party", {"enum": ["third_party"]}), "anyOf": [given("outcome", {"enum": ["spoke_debtor"]}),
                                                                 given("opt_out", {"enum": [True]})]},
        # the fields of a third party are not given for the debtor
        {"not": given("party", {"enum": ["third_party"]}),
         "anyOf": [given("relation", {"type": "string"}), given("third_party_id", {"type": "string"}),
                   given("third_party_requested", {"enum": [True]})]},
    ]}}


class ContactSchema(ma.Schema):
    id = fields.String()
    case_id = fields.String()
    collector_id = fields.String()
    channel = fields.String()
    direction = fields.String()
    at = Timestamp()
    at_local = fields.Method("_at_local", metadata={"description": "`at` in the debtor's local time (null when "
                                                                   "the zone is unknown)"})
    time_zone = fields.String(allow_none=True, metadata={"description": "The debtor's IANA zone it was judged in"})
    outcome = fields.String()
    duration_s = fields.Integer(allow_none=True)
    number = fields.String(attribute="number_masked", allow_none=True, metadata={"description": "Masked"})
    recording_consent = fields.String(allow_none=True)
    template = fields.String(allow_none=True)
    letter_method = fields.String(allow_none=True)
    tracking = fields.String(allow_none=True)
    opt_out = fields.Boolean()
    party = fields.String(metadata={"enum": list(PARTIES)})
    relation = fields.String(allow_none=True, metadata={"enum": [*RELATIONS, None]})
    third_party_requested = fields.Boolean()
    notice_id = fields.String(allow_none=True, metadata={"description": "The written notice this letter carried"})
    text_sha256 = fields.String(allow_none=True, metadata={"description": "SHA-256 of the sealed text"})
    text_size = fields.Integer(allow_none=True)
    custody_event_id = fields.String(allow_none=True, metadata={
        "description": "The custody event recording it; its receipt (index and inclusion proof once integrated) is "
                       "GET /api/v1/custody-events/{id}"})
    created_at = Timestamp()
    updated_at = Timestamp()

    def _at_local(self, contact) -> str | None:
        if not contact.time_zone:
            return None
        return contact.at.astimezone(ZoneInfo(contact.time_zone)).isoformat()


class ContactCheckRequestSchema(ma.Schema):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    at = Moment(metadata={"description": "Default: now"})
    party = fields.String(load_default="debtor", validate=validate.OneOf(PARTIES))
    third_party_id = fields.String(validate=validate.Length(3, 254), metadata={
        "description": "Third party only: their number or e-mail address (see the contact's field)"})

    OPENAPI_RULES = {"not": {**given("third_party_id", {"type": "string"}),
                             "not": given("party", {"enum": ["third_party"]})}}


class ContactViolationSchema(ma.Schema):
    rule = fields.String(metadata={"description": f"Rule id: one of {', '.join(RULE_IDS)}"})
    detail = fields.String()


class ContactCheckSchema(ma.Schema):
    allowed = fields.Boolean()
    channel = fields.String()
    party = fields.String()
    at = Timestamp()
    violations = fields.List(fields.Nested(ContactViolationSchema))


class PlanActionSchema(ma.Schema):
    position = fields.Integer()
    kind = fields.String(metadata={"enum": list(PLAN_KINDS)})
    due_on = fields.Date()
    not_before = fields.Date(allow_none=True, metadata={"description": "The earliest lawful day"})
    status = fields.String(metadata={"enum": list(PLAN_STATUSES)})
    done_at = Timestamp(allow_none=True)
    note = fields.String(allow_none=True)
    blocked = fields.String(allow_none=True, metadata={"description": "Why it cannot be taken yet"})
    overdue = fields.Boolean()


class PlanSchema(ma.Schema):
    case_id = fields.String()
    edited = fields.Boolean(metadata={"description": "A supervisor's plan (otherwise the generated one)"})
    actions = fields.List(fields.Nested(PlanActionSchema))


class PlanActionEditSchema(ma.Schema):
    kind = fields.String(required=True, validate=validate.OneOf(PLAN_KINDS))
    due_on = Day(required=True)
    status = fields.String(load_default="open", validate=validate.OneOf(PLAN_STATUSES))
    note = fields.String(allow_none=True, validate=validate.Length(max=NOTE_MAX_CHARS))


class PlanEditSchema(ma.Schema):
    actions = fields.List(fields.Nested(PlanActionEditSchema), required=True,
                          validate=validate.Length(1, MAX_ACTIONS))


class WorklistArgsSchema(ma.Schema):
    include_blocked = fields.Boolean(load_default=False,
                                     metadata={"description": "Also list due steps that are not lawful now"})
    collector_id = Id()


class WorkItemSchema(ma.Schema):
    case_id = fields.String()
    reference = fields.String()
    assigned_collector_id = fields.String(allow_none=True)
    kind = fields.String(metadata={"enum": list(PLAN_KINDS)})
    due_on = fields.Date()
    overdue = fields.Boolean()
    lawful_now = fields.Boolean()
    violations = fields.List(fields.Nested(ContactViolationSchema))


class ContactReportArgsSchema(ma.Schema):
    start = Day(required=True, data_key="from", metadata={"description": "First UTC day, inclusive"})
    end = Day(required=True, data_key="to", metadata={"description": "Last UTC day, inclusive"})
    collector_id = Id()


class ContactReportRowSchema(ma.Schema):
    collector_id = fields.String()
    username = fields.String(allow_none=True)
    channel = fields.String(metadata={"enum": list(CHANNELS)})
    contacts = fields.Integer()
    third_party_contacts = fields.Integer(metadata={"description": "Of `contacts`, those with a third party"})
    outcomes = fields.Dict(keys=fields.String(), values=fields.Integer())
    refused_attempts = fields.Integer(metadata={"description": "Attempts refused by the rules"})
    refused_by_rule = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                  metadata={"description": "Refused attempts naming each rule id"})


class NoticeReportRowSchema(ma.Schema):
    template = fields.String()
    language = fields.String()
    issued = fields.Integer()
    returned = fields.Integer()


class ContactReportSchema(ma.Schema):
    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")
    rows = fields.List(fields.Nested(ContactReportRowSchema), metadata={"description": "Per collector and channel"})
    refused_by_rule = fields.Dict(keys=fields.String(), values=fields.Integer())
    notices = fields.List(fields.Nested(NoticeReportRowSchema), metadata={
        "description": "Per template and language: notices issued in the period, and notices whose letter came "
                       "back (`returned`) in the period"})
    letters_returned = fields.Integer(metadata={"description": "Letters returned in the period (notices or not)"})


def contact_report_csv(report: dict) -> str:
    """One row per collector and channel; every outcome and rule has its own column, so the header is the
    same whatever the period holds."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["from", "to", "collector_id", "username", "channel", "contacts", "refused_attempts",
                     *(f"outcome.{o}" for o in ALL_OUTCOMES), *(f"refused.{rule}" for rule in RULE_IDS),
                     "third_party_contacts", "template", "language", "notices_issued", "notices_returned"])
    span = [report["start"].isoformat(), report["end"].isoformat()]
    for row in report["rows"]:
        writer.writerow([*span, row["collector_id"],
                         _cell(row["username"] or ""), row["channel"], row["contacts"], row["refused_attempts"],
                         *(row["outcomes"].get(o, 0) for o in ALL_OUTCOMES),
                         *(row["refused_by_rule"].get(rule, 0) for rule in RULE_IDS),
                         row["third_party_contacts"], "", "", "", ""])
    # the written notices: one row per template and language, channel `notice`, no collector
    blank = [""] * (2 + len(ALL_OUTCOMES) + len(RULE_IDS))   # contacts .. refused.*
    for row in report["notices"]:
        writer.writerow([*span, "", "", "notice", *blank, "", row["template"], row["language"], row["issued"],
                         row["returned"]])
    return out.getvalue()
