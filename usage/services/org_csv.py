"""Reading the HRIS export and the identity map: CSV bytes to validated rows, no database.

The header is line 1; a row's number is the physical line it starts on (a quoted value may
span lines), so a person can find it in the file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from usage.importers.base import ParseError
from usage.models import Engineer, Team, VendorIdentity

ORG_COLUMNS = (
    "employee_id",
    "email",
    "name",
    "title",
    "team",
    "parent_team",
    "manager_email",
    "cost_center",
    "github_login",
    "start_date",
    "end_date",
)
IDENTITY_COLUMNS = ("vendor", "kind", "external_id", "email")
# Text columns and the model field that bounds their length: too long would fail the whole insert.
ORG_LENGTHS = {
    "employee_id": Engineer._meta.get_field("employee_id"),
    "email": Engineer._meta.get_field("email"),
    "name": Engineer._meta.get_field("name"),
    "title": Engineer._meta.get_field("title"),
    "team": Team._meta.get_field("name"),
    "parent_team": Team._meta.get_field("name"),
    "cost_center": Engineer._meta.get_field("cost_center"),
    "github_login": Engineer._meta.get_field("github_login"),
}
IDENTITY_LENGTHS = {name: VendorIdentity._meta.get_field(name) for name in ("vendor", "kind", "external_id")}
ORG_TEXT = ("employee_id", "name", "title", "team", "parent_team", "cost_center", "github_login")


@dataclass(frozen=True)
class CsvRecords:
    records: list[tuple[int, dict[str, str]]]  # (line number, stripped value by column)
    errors: list[str]  # rows that cannot be split into the header's columns
    warnings: list[str]


@dataclass(frozen=True)
class OrgRow:
    line: int
    email: str  # lower-cased
    employee_id: str
    name: str
    title: str
    team: str
    parent_team: str
    manager_email: str  # lower-cased, "" for none
    cost_center: str
    github_login: str
    start_date: date | None
    end_date: date | None  # the last day worked (inclusive)


@dataclass(frozen=True)
class IdentityRow:
    line: int
    vendor: str
    kind: str
    external_id: str
    email: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.vendor, self.kind, self.external_id)


def csv_records(raw: bytes, *, columns: tuple[str, ...]) -> CsvRecords:
    """The non-blank rows of a CSV whose header has `columns` (any order, any case; other
    columns are ignored with a warning). Raises ParseError for a file that is not UTF-8 or
    lacks one of `columns`: such a file is refused whole."""
    try:
        text = raw.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}): save it as CSV UTF-8 and import again"
        ) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        missing = [name for name in columns if name not in header]
        if missing:
            raise ParseError(f"line 1: the header has no column {', '.join(missing)} (expected {','.join(columns)})")
        parsed = CsvRecords(records=[], errors=[], warnings=[])
        parsed.warnings.extend(f"line 1: column {name} is not used" for name in header if name not in columns)
        line = reader.line_num + 1
        for values in reader:
            start, line = line, reader.line_num + 1
            if not any(value.strip() for value in values):
                continue
            if len(values) != len(header):  # most often an unquoted comma inside a value
                parsed.errors.append(f"line {start}: {len(values)} values where the header has {len(header)} columns")
                continue
            parsed.records.append((start, dict(zip(header, (value.strip() for value in values), strict=True))))
    except csv.Error as exc:
        raise ParseError(f"line {reader.line_num}: not readable as CSV ({exc})") from exc
    return parsed


def org_row_parse(line: int, record: dict[str, str]) -> tuple[OrgRow | None, list[str]]:
    """One HRIS row, emails lower-cased, or None and every reason it is refused ("line N: ...")."""
    errors = _length_errors(line, record, ORG_LENGTHS)
    email, manager_email = record["email"].lower(), record["manager_email"].lower()
    errors += _email_errors(line, "email", email)
    if manager_email:
        errors += _email_errors(line, "manager_email", manager_email)
    errors += [f"line {line}: {name} is empty" for name in ("name", "team") if not record[name]]
    if record["team"] and record["team"] == record["parent_team"]:
        errors.append(f"line {line}: parent_team is the team itself ({record['team']})")
    start = _date(line, "start_date", record["start_date"], errors)
    end = _date(line, "end_date", record["end_date"], errors)
    if start and end and end < start:
        errors.append(f"line {line}: end_date {end} is before start_date {start}")
    if errors:
        return None, errors
    texts = {name: record[name] for name in ORG_TEXT}
    return OrgRow(line=line, email=email, manager_email=manager_email, start_date=start, end_date=end, **texts), []


def identity_row_parse(line: int, record: dict[str, str]) -> tuple[IdentityRow | None, list[str]]:
    """One identity mapping, vendor, kind and email lower-cased, or None and the reasons."""
    errors = _length_errors(line, record, IDENTITY_LENGTHS)
    errors += [f"line {line}: {name} is empty" for name in ("vendor", "kind", "external_id") if not record[name]]
    email = record["email"].lower()
    errors += _email_errors(line, "email", email)
    if errors:
        return None, errors
    kind = record["kind"].lower()
    # Importers store email identities lower-cased; the map must spell them the same way.
    external_id = record["external_id"].lower() if kind == "email" else record["external_id"]
    return IdentityRow(line=line, vendor=record["vendor"].lower(), kind=kind, external_id=external_id, email=email), []


def _length_errors(line: int, record: dict[str, str], lengths: dict) -> list[str]:
    return [
        f"line {line}: {name} is longer than {model_field.max_length} characters"
        for name, model_field in lengths.items()
        if len(record[name]) > model_field.max_length
    ]


def _email_errors(line: int, name: str, value: str) -> list[str]:
    if not value:
        return [f"line {line}: {name} is empty"]
    try:
        validate_email(value)
    except ValidationError:
        return [f"line {line}: {name} {value!r} is not a valid email address"]
    return []


def _date(line: int, name: str, value: str, errors: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"line {line}: {name} {value!r} is not a date (expected YYYY-MM-DD)")
        return None
