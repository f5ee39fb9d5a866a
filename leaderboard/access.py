"""The one place that decides who sees what. Every view and selector asks here.

Roles: engineer (anyone in the org chart: sees themself), manager (anyone with reports: sees
their whole reporting chain), finance (Django group `finance`: sees everyone), admin (staff:
everything, plus imports and settings).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL

from leaderboard.models import AuditEntry, PrivacySettings
from usage.models import Engineer

FINANCE_GROUP = "finance"
ADJECTIVES = "Amber Brisk Calm Daring Eager Fabled Gentle Hardy Ivory Jolly Keen Lucid Mellow Nimble Opal Plucky Quiet Rapid Sable Tidy Umber Vivid Witty Zesty".split()
ANIMALS = "Otter Falcon Badger Heron Lynx Marten Puffin Raven Stoat Tapir Walrus Yak Bison Crane Dingo Egret Ferret Gecko Ibis Koala Lemur Newt Orca Panda".split()

# Everyone below a manager, however deep: one recursive query.
CHAIN_SQL = """
WITH RECURSIVE chain(id) AS (
    SELECT id FROM usage_engineer WHERE manager_id = %s
    UNION
    SELECT e.id FROM usage_engineer e JOIN chain c ON e.manager_id = c.id
)
SELECT id FROM chain
"""
# A user's engineer record (if any), whether they are in the finance group, and their reporting
# chain (CHAIN_SQL's), in one round trip: every page asks this first. The chain is left out (NULL)
# when the engineer table's version (usage migration 0010) is the one this process computed it at.
VIEWER_SQL = """
WITH RECURSIVE me AS (
    SELECT id FROM usage_engineer WHERE user_id = %(user)s
), chain(id) AS (
    SELECT e.id FROM usage_engineer e JOIN me ON e.manager_id = me.id
    UNION
    SELECT e.id FROM usage_engineer e JOIN chain c ON e.manager_id = c.id
), v AS (
    SELECT (SELECT version FROM usage_engineer_version WHERE id = 1) AS version
)
SELECT (SELECT id FROM me),
       EXISTS (
           SELECT 1 FROM auth_user_groups ug JOIN auth_group g ON g.id = ug.group_id
           WHERE ug.user_id = %(user)s AND g.name = %(group)s
       ),
       v.version,
       CASE WHEN v.version IS NULL OR v.version <> %(known)s OR (SELECT id FROM me) IS DISTINCT FROM %(known_engineer)s
            THEN ARRAY(SELECT id FROM chain) END
FROM v
"""
# Chains this process has computed, per database and user: (engineer table version, engineer id,
# chain). Only long ones are kept (walking 50,000 reports took 50 ms a page for the top manager;
# a short chain is as quick to walk as to look up), so the memory stays small.
KEEP_CHAINS_FROM = 1000
_chains: dict[tuple[str, int], tuple[int, int | None, frozenset[int]]] = {}


@dataclass(frozen=True)
class Viewer:
    user_id: int | None
    engineer_id: int | None
    is_admin: bool = False
    is_finance: bool = False
    chain_ids: frozenset[int] = field(default_factory=frozenset)  # everyone in their reporting chain

    @property
    def sees_everyone(self) -> bool:
        return self.is_admin or self.is_finance

    @property
    def is_manager(self) -> bool:
        return bool(self.chain_ids)

    def can_view_engineer(self, engineer_id: int) -> bool:
        return self.sees_everyone or engineer_id == self.engineer_id or engineer_id in self.chain_ids

    def sees_name_of(self, engineer_id: int) -> bool:
        """On peer views (the leaderboard) names follow the privacy setting, except for
        people this viewer may open anyway."""
        return self.can_view_engineer(engineer_id)


def viewer_for(user) -> Viewer:
    """The viewer's roles: engineer, groups and reporting chain in one query."""
    if not user.is_authenticated:
        return Viewer(user_id=None, engineer_id=None)
    key = (connection.settings_dict["NAME"], user.pk)
    known_version, known_engineer, known_chain = _chains.get(key, (-1, None, frozenset()))
    with connection.cursor() as cursor:
        # Raw SQL: the ORM lookups it replaces took longer to build than to run (1 ms a page).
        params = {"user": user.pk, "group": FINANCE_GROUP, "known": known_version, "known_engineer": known_engineer}
        cursor.execute(VIEWER_SQL, params)
        engineer_id, is_finance, version, chain_ids = cursor.fetchone()
    if chain_ids is None:  # the same engineer at the same version: the chain kept
        chain = known_chain
    else:
        chain = frozenset(chain_ids or ())
        if version is not None and len(chain) >= KEEP_CHAINS_FROM:
            _chains[key] = (version, engineer_id, chain)
        else:
            _chains.pop(key, None)
    return Viewer(
        user_id=user.pk, engineer_id=engineer_id, is_admin=user.is_staff, is_finance=is_finance, chain_ids=chain
    )


def privacy_settings() -> PrivacySettings:
    return PrivacySettings.objects.get_or_create(pk=1)[0]


def pseudonym(engineer_id: int) -> str:
    """A stable, non-reversible nickname ("Brisk Otter 3f2a"): same person, same name, everywhere."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"engineer:{engineer_id}".encode(), hashlib.sha256).digest()
    return f"{ADJECTIVES[digest[0] % len(ADJECTIVES)]} {ANIMALS[digest[1] % len(ANIMALS)]} {digest[2:4].hex()}"


def display_name(viewer: Viewer, *, engineer_id: int, name: str, mode: str) -> str:
    """What a peer view shows for a person under the board's privacy mode."""
    if mode == PrivacySettings.BoardNames.NAMES or viewer.sees_name_of(engineer_id):
        return name
    return pseudonym(engineer_id)


def audit(user, action: str, target: str = "", **details) -> None:
    AuditEntry.objects.create(
        user=user if getattr(user, "is_authenticated", False) else None, action=action, target=target, details=details
    )


def manages_caps(viewer: Viewer) -> bool:
    """Managers (their chain), finance and admins (everyone) have the caps page."""
    return viewer.sees_everyone or viewer.is_manager


def user_manages_caps(user) -> bool:
    """`manages_caps` for a page that has no Viewer at hand (the nav): at most one query."""
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    return (
        get_user_model()
        .objects.filter(pk=user.pk)
        .filter(Q(groups__name=FINANCE_GROUP) | Q(engineer__reports__isnull=False))
        .exists()
    )


# Helpers that decide the same rules in SQL: a chain is recomputed where it is used, never sent
# as parameters (50,000 ids made each query of the top manager's pages take 0.2-0.6 s to send,
# parse and plan), and skipped when it holds every other engineer.


def chain_is_everyone(viewer: Viewer) -> bool:
    """Whether the viewer's reporting chain holds every engineer but (maybe) them: the top of
    the org chart, whose filters can then be those of finance. One query for a manager, none
    for others (nor for finance and admins, whose reads are not filtered)."""
    if viewer.sees_everyone or not viewer.chain_ids:
        return False
    with_viewer = len(viewer.chain_ids) + (viewer.engineer_id not in viewer.chain_ids)
    return Engineer.objects.count() == with_viewer


def chain_q(viewer: Viewer, field: str, *, everyone: bool) -> Q:
    """`field` (an engineer id) is someone in the viewer's reporting chain; `everyone` is
    chain_is_everyone(viewer). Matches nothing (and Django runs no query) for a non-manager."""
    if not viewer.chain_ids:
        return Q(**{f"{field}__in": []})
    if everyone:
        q = Q(**{f"{field}__isnull": False})
        return q if viewer.engineer_id in viewer.chain_ids else q & ~Q(**{field: viewer.engineer_id})
    # The chain as a subquery (CHAIN_SQL is a constant, the id a parameter): computed, not sent.
    return Q(**{f"{field}__in": RawSQL(CHAIN_SQL, [viewer.engineer_id])})  # noqa: S611


# The team and its ancestors' current members, each walked up their managers (UNION stops a
# cycle): is the viewer one of them, or above one of them? A few dozen rows, not the chain.
TEAM_MANAGERS_SQL = """
WITH RECURSIVE up(id, depth) AS (
    SELECT id, 0 FROM usage_team WHERE id = %(team)s
    UNION ALL
    SELECT t.parent_id, up.depth + 1 FROM usage_team t JOIN up ON t.id = up.id
    WHERE t.parent_id IS NOT NULL AND up.depth < 50
), members AS (
    SELECT m.engineer_id FROM usage_teammembership m JOIN up ON up.id = m.team_id
    WHERE m.valid_from <= %(today)s AND (m.valid_to IS NULL OR m.valid_to > %(today)s)
), above(id) AS (
    SELECT e.manager_id FROM usage_engineer e JOIN members m ON m.engineer_id = e.id
    UNION
    SELECT e.manager_id FROM usage_engineer e JOIN above a ON a.id = e.id
)
SELECT EXISTS (SELECT 1 FROM members WHERE engineer_id = %(viewer)s)
    OR EXISTS (SELECT 1 FROM above WHERE id = %(viewer)s)
"""


def can_view_team(viewer: Viewer, *, team_id: int, today: date) -> bool:
    """Finance and admins see every team; a manager sees a team when someone in their
    reporting chain, or they themself, is a current member of it or of a team above it.
    Answered by walking up from those members, not by sending the chain: about 1 ms for the top
    manager of 50,000 (the chain as a parameter took 36-76 ms). At most one query."""
    if viewer.sees_everyone:
        return True
    if not viewer.is_manager:
        return False
    with connection.cursor() as cursor:
        cursor.execute(TEAM_MANAGERS_SQL, {"team": team_id, "viewer": viewer.engineer_id, "today": today})
        return bool(cursor.fetchone()[0])


# cap_team_set's rule in SQL. Each current membership is inside (in the chain), the viewer's own or
# outside; the marks climb the team tree (UNION stops a cycle) and a team is administered when
# marks inside reach it and none outside. When the chain is everyone, the CASE drops the chain.
CAP_TEAMS_SQL = """
WITH RECURSIVE chain(id) AS (
    SELECT id FROM usage_engineer WHERE manager_id = %(viewer)s
    UNION
    SELECT e.id FROM usage_engineer e JOIN chain c ON e.manager_id = c.id
), marks AS (
    SELECT m.team_id, m.engineer_id = %(viewer)s AS own,
        CASE WHEN %(everyone)s THEN m.engineer_id <> %(viewer)s OR %(self_in_chain)s
             ELSE m.engineer_id IN (SELECT id FROM chain) END AS inside
    FROM usage_teammembership m
    WHERE m.valid_from <= %(today)s AND (m.valid_to IS NULL OR m.valid_to > %(today)s)
), up(id, inside, outside) AS (
    SELECT team_id, bool_or(inside), bool_or(NOT inside AND NOT own) FROM marks GROUP BY team_id
    UNION
    SELECT t.parent_id, up.inside, up.outside FROM usage_team t JOIN up ON t.id = up.id
    WHERE t.parent_id IS NOT NULL
)
SELECT t.id, COALESCE(bool_or(up.inside) AND NOT bool_or(up.outside), FALSE)
FROM usage_team t LEFT JOIN up ON up.id = t.id
GROUP BY t.id
"""


@dataclass(frozen=True)
class TeamSet:
    """Some teams, with the org's other teams: a filter names whichever are fewer (the top
    manager administers every team but the empty ones)."""

    ids: frozenset[int]
    others: frozenset[int]

    def q(self, field: str) -> Q:
        if len(self.others) < len(self.ids):
            return Q(**{f"{field}__isnull": False}) & ~Q(**{f"{field}__in": self.others})
        return Q(**{f"{field}__in": self.ids})


def cap_team_set(viewer: Viewer, *, today: date, everyone: bool) -> TeamSet | None:
    """Teams whose caps, budgets and tool policies a manager administers (None: every team,
    for finance and admins): teams whose current members, this one's and its sub-teams',
    are all in the viewer's chain (or the viewer), and at least one is in the chain. The rule
    of billing.services.validation.authorise, minus empty teams. One query, none for a
    non-manager; `everyone` is chain_is_everyone(viewer)."""
    if viewer.sees_everyone:
        return None
    if not viewer.is_manager:
        return TeamSet(ids=frozenset(), others=frozenset())
    params = {
        "viewer": viewer.engineer_id,
        "today": today,
        "everyone": everyone,
        "self_in_chain": viewer.engineer_id in viewer.chain_ids,
    }
    with connection.cursor() as cursor:
        cursor.execute(CAP_TEAMS_SQL, params)
        rows = cursor.fetchall()
    return TeamSet(ids=frozenset(pk for pk, ok in rows if ok), others=frozenset(pk for pk, ok in rows if not ok))
