"""Placement files: a creditor's accounts for one portfolio, validated row by row with the API's
own case schema, then written in batches. Re-placing a file changes nothing; a row for a case
that exists updates it (on its timeline); a recall row closes its case. Nothing is deleted."""
from __future__ import annotations

import csv
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.orm import Session

from cases.models import Address, Case, CaseEvent, Portfolio
from cases.services import WRITERS, get_portfolio, visible_portfolios
from cases.timeline import record_event
from core.actor import Actor
from core.clock import new_id, utcnow
from core.crypto import mask_tail
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.jobs import submit_after_commit
from placements import csvsafe, geocoding
from placements.models import MODES, RESULTS, Placement
from placements.reading import COLUMNS, UnreadableFile, read_rows

PLACERS = WRITERS  # admins, and supervisors granted the creditor
BATCH = 1000
MAX_ROWS = 1_000_000
_schema: list = []


def register_row_schema(schema) -> None:
    """The marshmallow schema `POST /cases` loads with: rows are validated by it and nothing else."""
    _schema[:] = [schema]


def _row_schema():
    if not _schema:
        raise RuntimeError("placements need the case schema: register_row_schema was not called")
    return _schema[0]


# --- requesting and reading -----------------------------------------------------------------


def request_placement(session: Session, actor: Actor, runtime, portfolio_id: str, *, spooled, file_name: str,
                      mode: str, column_map: dict[str, str]) -> Placement:
    """Keep the uploaded file (content-addressed in the blob store) and queue its import."""
    if not actor.has_role(*PLACERS):
        raise Forbidden("only supervisors and admins place files")
    portfolio = get_portfolio(session, actor, portfolio_id)
    if mode not in MODES:
        raise ValidationFailed("unknown mode", {"mode": [f"one of {', '.join(MODES)}"]})
    bad = [v for v in column_map.values() if v not in COLUMNS]
    if bad:
        raise ValidationFailed("the column map names unknown columns", {"columns": [f"unknown column {bad[0]!r}"]})
    try:
        from placements.reading import sniff_kind

        kind = sniff_kind(spooled.path, file_name)
    except UnreadableFile as error:
        raise ValidationFailed(str(error), {"file": [str(error)]}) from None
    with open(spooled.path, "rb") as source:
        runtime.blobs.put_file(source, spooled.sha256_hex, spooled.size, spooled.md5_b64)
    placement = Placement(portfolio_id=portfolio.id, mode=mode, status="queued", progress=0.0, counts=_zero(),
                          file_name=file_name[:200], file_kind=kind, file_sha256=spooled.sha256_hex,
                          file_size=spooled.size, column_map=column_map, requested_by=actor.id)
    session.add(placement)
    session.flush()
    submit_after_commit(session, runtime.jobs, "placement.run", {"placement_id": placement.id})
    return placement


def visible_placements(actor: Actor) -> Select:
    """Placements into portfolios of the creditors the actor is granted."""
    return select(Placement).where(Placement.portfolio_id.in_(
        visible_portfolios(actor).order_by(None).with_only_columns(Portfolio.id)))


def get_placement(session: Session, actor: Actor, placement_id: str) -> Placement:
    if not actor.has_role(*PLACERS):
        raise Forbidden("only supervisors and admins read placements")
    placement = session.scalar(visible_placements(actor).where(Placement.id == placement_id))
    if placement is None:
        raise NotFound("no such placement")
    return placement


@dataclass(frozen=True)
class ReportFile:
    stream: Any
    sha256: str
    size: int
    media_type: str
    filename: str


def open_report(session: Session, actor: Actor, runtime, placement_id: str) -> ReportFile:
    """The per-row report (CSV); 409 until the run has written it."""
    placement = get_placement(session, actor, placement_id)
    if placement.report_sha256 is None:
        raise Conflict(f"the placement is {placement.status}; its report exists once it has run")
    info = runtime.blobs.head(placement.report_sha256)
    return ReportFile(runtime.blobs.open(placement.report_sha256), placement.report_sha256, info.size,
                      "text/csv", f"placement-{placement.id}-report.csv")


def recent_placements(session: Session, actor: Actor, *, limit: int = 20) -> list[Placement]:
    """The latest placements the actor may read, newest first (the console's list)."""
    if not actor.has_role(*PLACERS):
        raise Forbidden("only supervisors and admins read placements")
    query = visible_placements(actor).order_by(Placement.created_at.desc(), Placement.id).limit(limit)
    return list(session.scalars(query))


def report_page(session: Session, actor: Actor, runtime, placement_id: str, *, offset: int, limit: int,
                result: str | None = None) -> tuple[list[dict[str, str]], bool]:
    """Rows `offset`.. of the report (of one result when given), at most `limit`, and whether more
    follow; read from the stored CSV as a stream, so a report of a million rows is paged in bounded memory."""
    import io

    report = open_report(session, actor, runtime, placement_id)
    rows: list[dict[str, str]] = []
    with report.stream as raw:
        matching = (r for r in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
                    if result is None or r.get("result") == result)
        for index, row in enumerate(matching):
            if index < offset:
                continue
            if len(rows) == limit:
                return rows, True
            rows.append(row)
    return rows, False


def _zero() -> dict[str, int]:
    return {name: 0 for name in RESULTS}


# --- one row --------------------------------------------------------------------------------

_INTEGER = re.compile(r"^-?[0-9]{1,9}$")


def row_payload(row: dict[str, str]) -> dict[str, Any]:
    """A file row as the body `POST /cases` takes (empty cells left out, so the schema names them)."""
    payload: dict[str, Any] = {}
    if row.get("reference"):
        payload["reference"] = row["reference"]
    debtor: dict[str, Any] = {}
    if row.get("debtor_name"):
        debtor["name"] = row["debtor_name"]
    for name in ("national_id", "phone"):
        if row.get(name):
            debtor[name] = row[name]
    payload["debtor"] = debtor
    payload["flags"] = {}  # loaded with their defaults (cheaper than the schema building a default per row)
    for name in ("card_last4", "currency", "amount_overdue", "jurisdiction"):
        if row.get(name):
            payload[name] = row[name]
    days = row.get("days_past_due", "")
    if days:
        payload["days_past_due"] = int(days) if _INTEGER.match(days) else days
    addresses = []
    for prefix, kind in (("home", "home"), ("work", "workplace")):
        parts = {k: row.get(f"{prefix}_{k}", "") for k in ("line", "city", "country", "lat", "lon")}
        if any(parts.values()):
            address: dict[str, Any] = {"kind": kind}
            address.update({k: parts[k] for k in ("line", "city", "country") if parts[k]})
            address["lat"] = parts["lat"] or None
            address["lon"] = parts["lon"] or None
            addresses.append(address)
    payload["addresses"] = addresses
    return payload


def _reasons(messages, prefix: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            out.extend(_reasons(value, f"{prefix}{key}." if not isinstance(key, int) else prefix))
    elif isinstance(messages, list):
        for value in messages:
            out.extend(_reasons(value, prefix) if isinstance(value, (dict, list)) else [f"{prefix.rstrip('.')}: {value}"])
    else:
        out.append(f"{prefix.rstrip('.')}: {messages}")
    return out


def validate_row(row: dict[str, str]) -> tuple[dict[str, Any] | None, list[str]]:
    """(the case data, []) or (None, the reasons); the API's case schema decides."""
    import marshmallow as ma

    if row.get("action", "place").lower() not in ("", "place", "recall"):
        return None, ["action: must be place or recall"]
    if row.get("action", "").lower() == "recall":
        reference = row.get("reference", "")
        return ({"reference": reference, "action": "recall"}, []) if reference else (None, ["reference: required"])
    try:
        data = _row_schema().load(row_payload(row))
    except ma.ValidationError as error:
        return None, _reasons(error.messages)
    data["action"] = "place"
    return data, []


_KIND_NAMES = {"home": "home address", "workplace": "work address"}


def place_on_map(data: dict, locator) -> list[str]:
    """Fill in the coordinates of the row's addresses that lack them (`locator`: a file's
    geocoding); the reasons when one cannot be placed, since its time zone decides lawful hours."""
    reasons = []
    for address in data.get("addresses", []):
        if address.get("lat") is not None and address.get("lon") is not None:
            continue
        try:
            place = locator.locate(address)
        except geocoding.Unplaceable as why:
            reasons.append(f"{_KIND_NAMES.get(address.get('kind'), 'address')}: {why}")
            continue
        address["lat"], address["lon"] = place.lat, place.lon
    return reasons


# --- the run --------------------------------------------------------------------------------


@dataclass
class Outcome:
    row: int
    reference: str
    result: str
    reasons: list[str] = field(default_factory=list)


def _new_case_rows(placement: Placement, actor_id: str, cipher, data: dict) -> tuple[dict, list[dict], dict]:
    """A new case as plain rows (case, addresses, timeline entry): a batch goes in as three
    executemany INSERTs, not as ORM objects (whose unit of work cost more than the rest of a row)."""
    debtor, now, case_id = data["debtor"], utcnow(), new_id()
    case = {"id": case_id, "reference": data["reference"], "portfolio_id": placement.portfolio_id, "status": "open",
            "debtor_name": debtor["name"], "card_last4": data["card_last4"], "currency": data["currency"],
            "amount_overdue": data["amount_overdue"], "days_past_due": data["days_past_due"],
            "jurisdiction": data["jurisdiction"], "cease_contact": False, "attorney_represented": False,
            "workplace_contact_prohibited": False, "assigned_collector_id": None, "created_by": actor_id,
            "created_at": now, "updated_at": now}
    for name in ("national_id", "phone"):
        value = debtor.get(name)
        case[f"debtor_{name}_encrypted"] = cipher.encrypt(value, f"cases.{name}") if value else None
        case[f"debtor_{name}_masked"] = mask_tail(value) if value else None
    addresses = [{"id": new_id(), "case_id": case_id, "region": None, "created_at": now, "updated_at": now, **a}
                 for a in data.get("addresses", [])]
    event = {"case_id": case_id, "at": now, "type": "case_opened", "actor_id": actor_id, "subject_id": None,
             "details": {"reference": data["reference"], "jurisdiction": data["jurisdiction"],
                         "placement_id": placement.id}}
    return case, addresses, event


def _address_key(a) -> tuple:
    get = (lambda n: a.get(n)) if isinstance(a, dict) else (lambda n: getattr(a, n))
    lat, lon = get("lat"), get("lon")
    return (get("kind"), get("line"), get("city"), get("country"),
            None if lat is None else round(float(lat), 7), None if lon is None else round(float(lon), 7))


def _apply(session: Session, placement: Placement, actor_id: str, cipher, number: int, data: dict,
           existing: Case | None, write: bool, opened: list) -> Outcome:
    reference = data["reference"]
    if data["action"] == "recall":
        if existing is None:
            return Outcome(number, reference, "rejected", ["reference: no case with this reference in the portfolio"])
        if existing.status == "closed":
            return Outcome(number, reference, "unchanged")
        if write:
            existing.status, existing.updated_at = "closed", utcnow()
            record_event(session, existing.id, "case_recalled", actor_id, {"placement_id": placement.id})
        return Outcome(number, reference, "recalled")
    if existing is None:
        if write:
            opened.append(_new_case_rows(placement, actor_id, cipher, data))
        return Outcome(number, reference, "accepted")
    changed = []
    if Decimal(existing.amount_overdue) != Decimal(data["amount_overdue"]):
        changed.append("amount_overdue")
    if existing.days_past_due != data["days_past_due"]:
        changed.append("days_past_due")
    have = {_address_key(a) for a in existing.addresses}
    new_addresses = [a for a in data.get("addresses", []) if _address_key(a) not in have]
    if new_addresses:
        changed.append("addresses")
    if not changed:
        return Outcome(number, reference, "unchanged")
    if write:
        existing.amount_overdue, existing.days_past_due = data["amount_overdue"], data["days_past_due"]
        existing.addresses.extend(Address(**a) for a in new_addresses)  # old addresses are kept
        existing.updated_at = utcnow()
        record_event(session, existing.id, "case_updated", actor_id,
                     {"changed": changed, "placement_id": placement.id})
    return Outcome(number, reference, "updated")


def _batches(rows: Iterator, size: int) -> Iterator[list]:
    batch = []
    for item in rows:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def process(session: Session, placement: Placement, cipher, path: Path, *, write: bool, report,
            on_batch=None, locator=None) -> dict[str, int]:
    """Validate (and with `write`, apply) every row; each row's outcome goes to `report` (a csv
    writer). Duplicate references within the file are rejected after their first row; addresses
    without coordinates are geocoded by `locator` (none: such rows are rejected)."""
    counts, seen, total = _zero(), {}, 0
    locator = locator if locator is not None else geocoding.NoGeocoder()
    for batch in _batches(read_rows(path, placement.file_kind, placement.column_map), BATCH):
        checked: list[tuple[int, dict | None, list[str], str]] = []
        for number, row, _fraction in batch:
            total += 1
            if total > MAX_ROWS:
                raise UnreadableFile(f"the file has more than {MAX_ROWS} rows; split it")
            data, reasons = validate_row(row)
            reference = row.get("reference", "")
            if data is not None:
                first = seen.get(reference)
                if first is not None:
                    data, reasons = None, [f"reference: duplicate of row {first} in this file"]
                else:
                    seen[reference] = number
                    reasons = place_on_map(data, locator)
                    if reasons:
                        data = None
            checked.append((number, data, reasons, reference))
        references = [d["reference"] for _n, d, _r, _ref in checked if d is not None]
        existing = {c.reference: c for c in session.scalars(select(Case).where(Case.reference.in_(references)))} \
            if references else {}
        opened: list = []  # new cases, as rows for the batch's INSERTs
        for number, data, reasons, reference in checked:
            if data is None:
                outcome = Outcome(number, reference, "rejected", reasons)
            else:
                case = existing.get(data["reference"])
                if case is not None and case.portfolio_id != placement.portfolio_id:
                    outcome = Outcome(number, reference, "rejected",
                                      ["reference: already placed in another portfolio"])
                else:
                    outcome = _apply(session, placement, placement.requested_by, cipher, number, data, case, write,
                                      opened)
            counts[outcome.result] += 1
            report.writerow(csvsafe.row([outcome.row, outcome.reference, outcome.result, "; ".join(outcome.reasons)]))
        if write:
            session.flush()  # updates and recalls
            if opened:
                session.execute(insert(Case), [case for case, _a, _e in opened])
                addresses = [a for _c, rows, _e in opened for a in rows]
                if addresses:
                    session.execute(insert(Address), addresses)
                session.execute(insert(CaseEvent), [event for _c, _a, event in opened])
        if on_batch is not None:
            on_batch(batch[-1][2], counts)
    return counts


def run_placement(runtime, placement_id: str) -> None:
    """The job: validate, and unless it is a dry run, import. All-or-nothing validates the whole
    file first and writes only when no row is rejected, in one transaction."""
    db = runtime.db
    with db.transaction() as session:
        placement = session.get(Placement, placement_id, with_for_update=True)
        if placement is None or placement.status not in ("queued", "running"):
            return
        placement.status, placement.progress, placement.counts = "running", 0.0, _zero()
    work = Path(tempfile.mkdtemp(prefix="placement-"))
    try:
        source = work / ("file." + ("xlsx" if _kind(db, placement_id) == "xlsx" else "csv"))
        with runtime.blobs.open(_sha(db, placement_id)) as blob, open(source, "wb") as out:
            shutil.copyfileobj(blob, out, 1 << 20)
        report_path = work / "report.csv"
        mode = _mode(db, placement_id)
        try:
            counts = _run(runtime, placement_id, source, report_path, mode)
        except UnreadableFile as error:
            _finish(db, placement_id, "failed", None, str(error), None)
            return
        except Exception:
            _finish(db, placement_id, "failed", None, "the import stopped on an internal error", None)
            raise
        sha, size = _hash(report_path)
        with open(report_path, "rb") as report:
            runtime.blobs.put_file(report, sha, size)
        failed = mode == "all_or_nothing" and counts["rejected"] > 0
        _finish(db, placement_id, "failed" if failed else "done", counts,
                f"{counts['rejected']} row(s) rejected: nothing was imported" if failed else None, sha)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(runtime, placement_id: str, source: Path, report_path: Path, mode: str) -> dict[str, int]:
    """One pass per transaction; a pass that may keep its batches commits after each (with the
    progress), so the rows imported so far and the progress bar are seen while it runs."""
    db = runtime.db
    locator = geocoding.for_settings(runtime.settings)  # one per file: both passes share its cache

    def one_pass(write: bool, commit_batches: bool, scale: float) -> dict[str, int]:
        with db.transaction() as session, open(report_path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["row", "reference", "result", "reasons"])
            placement = session.get(Placement, placement_id)

            def on_batch(fraction: float, counts: dict) -> None:
                if commit_batches:
                    placement.progress, placement.counts = round(fraction * scale, 4), dict(counts)
                    session.commit()

            counts = process(session, placement, runtime.cipher, source, write=write, report=writer,
                             on_batch=on_batch, locator=locator)
            if not write:
                session.commit()
            return counts

    if mode == "valid_rows":
        return one_pass(True, True, 1.0)
    counts = one_pass(False, True, 0.5 if mode == "all_or_nothing" else 1.0)
    if mode == "all_or_nothing" and counts["rejected"] == 0:
        counts = one_pass(True, False, 1.0)  # one transaction: every row or none
    return counts


def _hash(path: Path) -> tuple[str, int]:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest(), os.path.getsize(path)


def _column(db, placement_id: str, name: str):
    with db.transaction() as session:
        return getattr(session.get(Placement, placement_id), name)


def _kind(db, placement_id):
    return _column(db, placement_id, "file_kind")


def _sha(db, placement_id):
    return _column(db, placement_id, "file_sha256")


def _mode(db, placement_id):
    return _column(db, placement_id, "mode")


def _finish(db, placement_id: str, status: str, counts, error: str | None, report_sha: str | None) -> None:
    with db.transaction() as session:
        placement = session.get(Placement, placement_id)
        placement.status, placement.error, placement.finished_at = status, error, utcnow()
        placement.progress = 1.0
        if counts is not None:
            placement.counts = counts
        placement.report_sha256 = report_sha
