"""The org directory from the HRIS export (teams, people, managers, logins, dated team
memberships: DESIGN rule 6) and the vendor identity map. Both imports are idempotent and run
in one transaction; a file that cannot be read raises usage.importers.base.ParseError."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Max, Min
from django.db.models.functions import Lower
from django.utils import timezone

from usage.models import DailyUsage, Engineer, Team, TeamMembership, VendorIdentity

from .impact import impact_reattribute
from .org_csv import (
    IDENTITY_COLUMNS,
    ORG_COLUMNS,
    CsvRecords,
    IdentityRow,
    OrgRow,
    csv_records,
    identity_row_parse,
    org_row_parse,
)
from .reattribute import usage_reattribute
from .rollup import daily_usage_rebuild

ENGINEER_FIELDS = ("employee_id", "name", "title", "cost_center", "github_login", "start_date", "end_date")
ONE_DAY = timedelta(days=1)
# bulk_update writes one CASE per column and batch: Postgres time grows with rows x branches.
BATCH = 500


@dataclass
class OrgImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    team_changes: int = 0  # people whose team changed: a new membership, or a corrected one
    teams_created: int = 0
    usage_rows_moved: int = 0  # unmapped usage whose email or GitHub login a person now has
    skipped: int = 0  # rows not imported, each explained in errors
    errors: list[str] = field(default_factory=list)  # "line N: ..."
    warnings: list[str] = field(default_factory=list)

    @property
    def people(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass
class IdentityImportResult:
    created: int = 0
    repointed: int = 0  # mappings that named someone else before; each is in warnings
    unchanged: int = 0
    skipped: int = 0
    usage_rows_moved: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# The org chart


def _org_rows(parsed: CsvRecords, result: OrgImportResult) -> list[OrgRow]:
    result.errors += parsed.errors
    result.skipped += len(parsed.errors)
    rows: dict[str, OrgRow] = {}
    for line, record in parsed.records:
        row, errors = org_row_parse(line, record)
        if row is not None and row.email in rows:
            errors = [
                f"line {line}: email {row.email} appears again (first on line {rows[row.email].line}); row skipped"
            ]
        if row is None or errors:
            result.errors += errors
            result.skipped += 1
            continue
        rows[row.email] = row
    return list(rows.values())


def org_import(*, raw: bytes, today: date | None = None) -> OrgImportResult:
    """Import an HRIS export (ORG_COLUMNS) in one transaction: teams, people, logins, managers and
    dated team memberships (valid_to exclusive; a team change takes effect on `today`, UTC by
    default). Idempotent. Bad rows are skipped and listed in errors; raises ParseError, changing
    nothing, for a file that is not UTF-8 or lacks a column."""
    today = today or timezone.localdate()
    parsed = csv_records(raw, columns=ORG_COLUMNS)
    result = OrgImportResult(warnings=parsed.warnings)
    rows = _org_rows(parsed, result)
    with transaction.atomic(), connection.cursor() as cursor:
        # Two imports at once would each open a membership for the same change.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('tokenboard.org_import'))")
        teams = _teams_sync(rows, result)
        engineers, created, changed = _engineers_sync(rows)
        changed |= _users_sync(list(engineers.values()), result)
        changed |= _managers_sync(rows, engineers, result)
        plan = MembershipPlan(today=today, teams_by_id={t.pk: t for t in teams.values()}, result=result)
        changed |= plan.sync(rows, engineers, teams)
        _daily_usage_follow(engineer_ids=plan.engineer_ids, start=plan.earliest)
        # New emails and GitHub logins claim the usage and PRs that arrived before them.
        result.usage_rows_moved = usage_reattribute(identities=_unmapped_person_identities(cursor), unmapped_only=True)
        impact_reattribute()
    result.created = len(created)
    result.updated = len(changed - created)
    result.unchanged = len(rows) - result.created - result.updated
    return result


# Unmapped usage that names a person by email or GitHub login (read from the unmapped-identity
# partial index: proportional to what is unmapped, not to the ledger).
UNMAPPED_PERSON_IDENTITIES_SQL = """
SELECT DISTINCT vendor, identity_kind, identity_value FROM usage_usagerecord
WHERE engineer_id IS NULL AND identity_kind IN ('email', 'github_login')
ORDER BY 1, 2, 3
"""


def _unmapped_person_identities(cursor) -> list[tuple[str, str, str]]:
    cursor.execute(UNMAPPED_PERSON_IDENTITIES_SQL)
    return cursor.fetchall()


def _teams_sync(rows: list[OrgRow], result: OrgImportResult) -> dict[str, Team]:
    """Every team named as a team or a parent exists; a team listed in the file gets the parent
    the file names (none if empty). A parent that would make a cycle is refused."""
    wanted: dict[str, OrgRow] = {}
    for row in rows:
        first = wanted.setdefault(row.team, row)
        if first.parent_team != row.parent_team:
            result.warnings.append(
                f"line {row.line}: team {row.team} has parent_team {row.parent_team or '(none)'}, "
                f"but {first.parent_team or '(none)'} on line {first.line}; kept the first"
            )
    teams = {team.name: team for team in Team.objects.all()}
    names = {*wanted, *(row.parent_team for row in wanted.values() if row.parent_team)}
    new = Team.objects.bulk_create([Team(name=name) for name in sorted(names - set(teams))])
    teams.update((team.name, team) for team in new)
    result.teams_created = len(new)
    by_id = {team.pk: team for team in teams.values()}
    moved = []
    for name, row in sorted(wanted.items()):
        team, before = teams[name], teams[name].parent_id
        team.parent_id = teams[row.parent_team].pk if row.parent_team else None
        if team.parent_id == before:
            continue
        if _in_cycle(team, by_id):
            team.parent_id = before
            result.warnings.append(
                f"line {row.line}: parent_team {row.parent_team} would put {name} under itself; parent left as it was"
            )
            continue
        moved.append(team)
    Team.objects.bulk_update(moved, ["parent"], batch_size=BATCH)
    return teams


def _in_cycle(team: Team, by_id: dict[int, Team]) -> bool:
    seen: set[int] = set()
    parent_id = team.parent_id
    while parent_id is not None and parent_id not in seen:
        if parent_id == team.pk:
            return True
        seen.add(parent_id)
        parent_id = by_id[parent_id].parent_id
    return False


def _engineers_by_email(emails: Iterable[str]) -> dict[str, Engineer]:
    # Lower(email) is what the unique index holds, so the lookup uses it.
    found = Engineer.objects.alias(email_ci=Lower("email")).filter(email_ci__in=list(emails))
    return {engineer.email.lower(): engineer for engineer in found}


def _engineers_sync(rows: list[OrgRow]) -> tuple[dict[str, Engineer], set[str], set[str]]:
    """Create or update everyone in the file, matched by email in any case; returns them by
    email, the emails of the new ones and of the updated ones."""
    engineers = _engineers_by_email(row.email for row in rows)
    new, changed = [], []
    for row in rows:
        values = {name: getattr(row, name) for name in ENGINEER_FIELDS}
        engineer = engineers.get(row.email)
        if engineer is None:
            engineers[row.email] = Engineer(email=row.email, **values)
            new.append(engineers[row.email])
            continue
        values["email"] = row.email  # stored lower-case even if someone wrote it otherwise
        if any(getattr(engineer, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(engineer, name, value)
            changed.append(engineer)
    Engineer.objects.bulk_create(new)
    Engineer.objects.bulk_update(changed, ["email", *ENGINEER_FIELDS], batch_size=BATCH)
    return engineers, {engineer.email for engineer in new}, {engineer.email for engineer in changed}


def _users_sync(engineers: list[Engineer], result: OrgImportResult) -> set[str]:
    """Every engineer has a login: username = email, no usable password (single sign-on or a
    reset sets one); an existing user of that username is linked instead. Returns the emails linked."""
    unlinked = [engineer for engineer in engineers if engineer.user_id is None]
    if not unlinked:
        return set()
    User = get_user_model()
    found = User.objects.alias(username_ci=Lower("username")).filter(username_ci__in=[e.email for e in unlinked])
    users: dict[str, Any] = {user.username.lower(): user for user in found}
    taken = dict(Engineer.objects.filter(user__in=list(users.values())).values_list("user_id", "email"))
    linked: list[tuple[Engineer, Any]] = []
    new = []
    for engineer in unlinked:
        user = users.get(engineer.email)
        if user is not None and user.pk in taken:
            result.warnings.append(
                f"{engineer.email}: the user {user.username} belongs to {taken[user.pk]}; no login linked"
            )
            continue
        if user is None:
            first_name, _, last_name = engineer.name.partition(" ")
            user = User(
                username=engineer.email, email=engineer.email, first_name=first_name[:150], last_name=last_name[:150]
            )
            user.set_unusable_password()
            new.append(user)
        linked.append((engineer, user))
    User.objects.bulk_create(new)
    for engineer, user in linked:
        engineer.user = user
    _engineer_column_set("user_id", [(engineer.pk, user.pk) for engineer, user in linked])
    return {engineer.email for engineer, _ in linked}


def _managers_sync(rows: list[OrgRow], engineers: dict[str, Engineer], result: OrgImportResult) -> set[str]:
    """Second pass, once everyone exists: manager_email names someone in the file or imported
    before, in any case. Returns the emails whose manager changed."""
    known = {**_engineers_by_email({row.manager_email for row in rows} - set(engineers)), **engineers}
    changed: list[tuple[OrgRow, Engineer, int | None]] = []  # with the manager it had
    for row in rows:
        engineer, manager = engineers[row.email], known.get(row.manager_email)
        if row.manager_email == row.email:
            result.warnings.append(f"line {row.line}: manager_email is the person themself; manager left empty")
            manager = None
        elif row.manager_email and manager is None:
            result.warnings.append(
                f"line {row.line}: manager_email {row.manager_email} is nobody in this file or imported before; "
                "manager left as it was"
            )
            continue
        if engineer.manager_id != (manager.pk if manager else None):
            changed.append((row, engineer, engineer.manager_id))
            engineer.manager = manager
    changed = _reporting_cycles_break(changed, result)
    _engineer_column_set("manager_id", [(engineer.pk, engineer.manager_id) for _, engineer, _ in changed])
    return {engineer.email for _, engineer, _ in changed}


def _reporting_cycles_break(
    changed: list[tuple[OrgRow, Engineer, int | None]], result: OrgImportResult
) -> list[tuple[OrgRow, Engineer, int | None]]:
    """Managers as the file leaves them, checked whole (a swap of two people's places is no
    cycle): a row that puts someone under themself, through anyone in the company, is refused,
    the last such line first, and its manager left as it was (or empty, if that still loops).
    Returns the rows whose manager still changes."""
    managers = dict(Engineer.objects.values_list("pk", "manager_id"))
    managers.update((engineer.pk, engineer.manager_id) for _, engineer, _ in changed)
    kept = []
    for row, engineer, before in reversed(changed):
        if _reports_to_self(engineer.pk, managers):
            managers[engineer.pk] = before
            if _reports_to_self(engineer.pk, managers):
                managers[engineer.pk] = None
            engineer.manager_id = managers[engineer.pk]
            left = "as it was" if engineer.manager_id == before else "empty"
            result.warnings.append(
                f"line {row.line}: manager_email {row.manager_email} reports to {row.email}, "
                f"which would make a loop; manager left {left}"
            )
            if engineer.manager_id == before:
                continue
        kept.append((row, engineer, before))
    return kept[::-1]


def _reports_to_self(pk: int, managers: dict[int, int | None]) -> bool:
    seen: set[int] = set()
    manager = managers.get(pk)
    while manager is not None and manager not in seen:
        if manager == pk:
            return True
        seen.add(manager)
        manager = managers.get(manager)
    return False


def _engineer_column_set(column: str, values: list[tuple[int, int | None]]) -> None:
    """Set one foreign key of many engineers in one statement: on a first import every row gets
    one, and bulk_update's CASE per row costs seconds in Python and in Postgres at 20k rows."""
    if not values:
        return
    ids, targets = zip(*values, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE usage_engineer e SET {column} = v.target "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, target) WHERE e.id = v.id",
            [list(ids), list(targets)],
        )


@dataclass
class MembershipPlan:
    """The membership writes that make each person's dated teams agree with their row."""

    today: date
    teams_by_id: dict[int, Team]
    result: OrgImportResult
    creates: list[TeamMembership] = field(default_factory=list)
    updates: dict[int, TeamMembership] = field(default_factory=dict)
    deletes: list[TeamMembership] = field(default_factory=list)
    engineer_ids: set[int] = field(default_factory=set)
    earliest: date | None = None  # the first day whose team may have changed

    def sync(self, rows: list[OrgRow], engineers: dict[str, Engineer], teams: dict[str, Team]) -> set[str]:
        """Plan everyone's memberships, then write them; returns the emails with a change."""
        existing: dict[int, list[TeamMembership]] = defaultdict(list)
        for membership in TeamMembership.objects.filter(engineer__in=list(engineers.values())).order_by("valid_from"):
            existing[membership.engineer_id].append(membership)
        changed = set()
        for row in rows:
            engineer = engineers[row.email]
            before = len(self.engineer_ids)
            self.person(row, engineer, teams[row.team], existing[engineer.pk])
            if len(self.engineer_ids) != before:
                changed.add(row.email)
        # Deletes, then closes, then opens: one open membership per engineer at every step.
        TeamMembership.objects.filter(pk__in=[m.pk for m in self.deletes]).delete()
        TeamMembership.objects.bulk_update(
            list(self.updates.values()), ["team", "valid_from", "valid_to"], batch_size=BATCH
        )
        TeamMembership.objects.bulk_create(self.creates)
        return changed

    def touch(self, membership: TeamMembership, day: date) -> None:
        if membership.pk is not None:
            self.updates[membership.pk] = membership
        self.engineer_ids.add(membership.engineer_id)
        self.earliest = min(day, self.earliest or day)

    def add(self, engineer: Engineer, team: Team, valid_from: date, valid_to: date | None) -> TeamMembership:
        membership = TeamMembership(engineer=engineer, team=team, valid_from=valid_from, valid_to=valid_to)
        self.creates.append(membership)
        self.touch(membership, valid_from)
        return membership

    def person(self, row: OrgRow, engineer: Engineer, team: Team, memberships: list[TeamMembership]) -> None:
        # valid_to is exclusive: usage on the last day still belongs to the team.
        closes = row.end_date + ONE_DAY if row.end_date else None
        if not memberships:
            start = row.start_date or min(self.today, row.end_date or self.today)
            self.add(engineer, team, start, closes)
            return
        first = memberships[0]
        if row.start_date and row.start_date < first.valid_from:  # HR moved the start date earlier
            self.touch(first, row.start_date)
            first.valid_from = row.start_date
        last = self.align_end(row, engineer, team, memberships, closes)
        if last is not None:
            self.align_team(row, engineer, team, last, closes)

    def align_end(
        self, row: OrgRow, engineer: Engineer, team: Team, memberships: list[TeamMembership], closes: date | None
    ) -> TeamMembership | None:
        """The last membership ends when the person leaves (open if they have not); a later
        start_date than that end is a rehire: a new stint. Returns the last membership."""
        last = memberships[-1]
        if last.valid_to is not None and row.start_date and row.start_date >= last.valid_to:
            return self.add(engineer, team, row.start_date, closes)
        keep = [m for m in memberships if closes is None or m.valid_from < closes]
        if not keep:
            self.result.warnings.append(
                f"line {row.line}: end_date {row.end_date} is before {row.email}'s first team membership "
                f"(from {memberships[0].valid_from}); memberships left as they were"
            )
            return None
        for membership in memberships[len(keep) :]:  # began after the person left: never happened
            self.deletes.append(membership)
            self.touch(membership, membership.valid_from)
        last = keep[-1]
        if last.valid_to != closes:
            self.touch(last, min(d for d in (last.valid_to, closes) if d is not None))
            last.valid_to = closes
        return last

    def align_team(
        self, row: OrgRow, engineer: Engineer, team: Team, current: TeamMembership, closes: date | None
    ) -> None:
        """A new team starts today; the old membership ends today (exclusive). A membership that
        starts today or later has no history to keep: its team is corrected instead."""
        if current.team_id == team.pk:
            return
        if closes is not None and closes <= self.today:
            old = self.teams_by_id[current.team_id]
            self.result.warnings.append(
                f"line {row.line}: {row.email} left on {row.end_date}, in {old}; team {team} was not applied"
            )
            return
        self.result.team_changes += 1
        if current.valid_from >= self.today:
            self.touch(current, current.valid_from)
            current.team = team
            return
        self.add(engineer, team, self.today, current.valid_to)
        self.touch(current, self.today)
        current.valid_to = self.today


def _daily_usage_follow(*, engineer_ids: set[int], start: date | None) -> None:
    """Rule 6: rebuild the rollup over the days of these engineers' usage from `start`, so
    each day's team follows the memberships. Nothing to do for people without usage."""
    if start is None:
        return
    span = DailyUsage.objects.filter(engineer_id__in=engineer_ids, day__gte=start).aggregate(
        first=Min("day"), last=Max("day")
    )
    if span["first"] is not None:
        daily_usage_rebuild(start=span["first"], end=span["last"] + ONE_DAY)


# ---------------------------------------------------------------------------------------------
# Vendor identities


def _identity_rows(parsed: CsvRecords, result: IdentityImportResult) -> list[IdentityRow]:
    result.errors += parsed.errors
    result.skipped += len(parsed.errors)
    rows: dict[tuple[str, str, str], IdentityRow] = {}
    for line, record in parsed.records:
        row, errors = identity_row_parse(line, record)
        if row is not None and (first := rows.get(row.key)) is not None:
            if first.email == row.email:
                continue  # the same mapping twice
            errors = [
                f"line {line}: {':'.join(row.key)} appears again (first on line {first.line}) for {row.email}; row skipped"
            ]
        if row is None or errors:
            result.errors += errors
            result.skipped += 1
            continue
        rows[row.key] = row
    return list(rows.values())


# The identity kinds each vendor's mappings and unattributed usage use: a mapping of another
# kind for that vendor is most likely a typo ("api_key" for "api_key_id") and would match nothing.
IDENTITY_KINDS_SQL = """
SELECT vendor, kind FROM usage_vendoridentity
UNION
SELECT DISTINCT vendor, identity_kind FROM usage_usagerecord WHERE engineer_id IS NULL AND identity_kind <> ''
"""


def _unseen_kinds_warn(rows: list[IdentityRow], result: IdentityImportResult) -> None:
    """Warn (the mapping is kept: usage of that kind may come later) for a kind its vendor's
    mappings and unattributed usage never use, when they use others. One query."""
    with connection.cursor() as cursor:
        cursor.execute(IDENTITY_KINDS_SQL)
        kinds: dict[str, set[str]] = defaultdict(set)
        for vendor, kind in cursor.fetchall():
            kinds[vendor].add(kind)
    for row in rows:
        seen = kinds.get(row.vendor, set())
        if seen and row.kind not in seen:
            result.warnings.append(
                f"line {row.line}: no {row.vendor} identity so far is of kind {row.kind!r} (seen: "
                f"{', '.join(sorted(seen))}); mapped anyway, but check the spelling: it matches no usage yet"
            )


def identities_import(*, raw: bytes) -> IdentityImportResult:
    """Map vendor identities (IDENTITY_COLUMNS) to engineers by email in any case, in one
    transaction; a mapping that named someone else is re-pointed and reported. The usage of every
    new or re-pointed identity moves to its owner. Idempotent. Raises ParseError for a refused file."""
    parsed = csv_records(raw, columns=IDENTITY_COLUMNS)
    result = IdentityImportResult(warnings=parsed.warnings)
    rows = _identity_rows(parsed, result)
    _unseen_kinds_warn(rows, result)
    with transaction.atomic():
        engineers = _engineers_by_email({row.email for row in rows})
        existing = {
            (i.vendor, i.kind, i.external_id): i
            for i in VendorIdentity.objects.filter(external_id__in={row.external_id for row in rows}).select_related(
                "engineer"
            )
        }
        new, repointed = [], []
        for row in rows:
            engineer, identity = engineers.get(row.email), existing.get(row.key)
            if engineer is None:
                result.errors.append(
                    f"line {row.line}: no engineer with email {row.email} (import the org chart first)"
                )
                result.skipped += 1
            elif identity is None:
                new.append(
                    VendorIdentity(vendor=row.vendor, kind=row.kind, external_id=row.external_id, engineer=engineer)
                )
            elif identity.engineer_id != engineer.pk:
                result.warnings.append(
                    f"line {row.line}: {':'.join(row.key)} moved from {identity.engineer.email} to {row.email}"
                )
                identity.engineer = engineer
                repointed.append(identity)
            else:
                result.unchanged += 1
        VendorIdentity.objects.bulk_create(new)
        VendorIdentity.objects.bulk_update(repointed, ["engineer"], batch_size=BATCH)
        result.created, result.repointed = len(new), len(repointed)
        moved = sorted((i.vendor, i.kind, i.external_id) for i in [*new, *repointed])
        result.usage_rows_moved = usage_reattribute(identities=moved) if moved else 0
        impact_reattribute()
    return result
