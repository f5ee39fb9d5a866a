"""The leaderboard's read models: people and teams ranked over a period, in a fixed number of queries.

Everything is computed in PostgreSQL over the DailyUsage rollup: one query for the people board
(ranks, percentiles, change against the previous period, top model and tool, titles) and one for
the team board, whatever the number of engineers. Names leave this module already resolved under
the privacy setting, so the page, the CSV and the chart cannot disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape
from math import ceil

from django.conf import settings
from django.db import connection

from leaderboard.access import Viewer, display_name
from leaderboard.charts import base_layout
from leaderboard.models import BoardSnapshot, PrivacySettings
from leaderboard.periods import Period
from leaderboard.selectors.board_sql import (
    PEOPLE_SQL,
    PODIUM_SIZE,
    SNAPSHOT_ALL_SQL,
    SNAPSHOT_PAGE_SQL,
    TEAMS_SNAPSHOT_SQL,
    TEAMS_SQL,
)
from leaderboard.services import VERSION_SQL, snapshot_is_fresh
from usage.display import product_label, vendor_label

METRICS = {"spend": "Spend", "tokens": "Tokens", "tokens_per_usd": "Tokens per dollar"}
# Tiers by percentile of the sort metric (percent_rank: the share of the others ranked below).
TIERS = (("emerald", 0.95), ("gold", 0.80), ("silver", 0.50), ("bronze", 0.0))
TIER_COLOURS = {"emerald": "#067647", "gold": "#eaaa08", "silver": "#98a2b3", "bronze": "#a4583a"}  # as app.css
TITLES = {
    "token_legend": ("Token Legend", "most tokens"),
    "cache_wizard": ("Cache Wizard", "highest share of input read from cache"),
    "model_connoisseur": ("Model Connoisseur", "most distinct models, two at least"),
    "frugal_virtuoso": ("Frugal Virtuoso", "most tokens per dollar"),
    "output_artisan": ("Output Artisan", "highest share of output tokens"),
    "rising_star": ("Rising Star", "biggest growth in tokens since the period before"),
}


@dataclass(frozen=True)
class Title:
    key: str
    name: str
    blurb: str
    holder: str
    is_viewer: bool


@dataclass(frozen=True)
class BoardRow:
    position: int
    engineer_id: int | None  # None when the viewer may not open this person's page
    name: str
    team: str
    tokens: int
    cost_usd: Decimal
    tokens_per_usd: int | None  # None: no priced usage
    change_pct: float | None  # of the sort metric; None: nothing to compare with
    tier: str
    percentile: float  # share of the others ranked below this row, 0..1
    top_model: str
    top_tool: str  # "vendor/product"
    titles: tuple[str, ...]
    is_viewer: bool


@dataclass(frozen=True)
class BoardPage:
    period: Period
    metric: str
    names: str  # the privacy mode the names were resolved under
    peers_withheld: bool  # only the viewer (and people they may open) are listed
    rows: list[BoardRow]
    podium: list[BoardRow]
    viewer_row: BoardRow | None
    titles: list[Title]
    people: int
    total_tokens: int
    total_cost_usd: Decimal
    unmapped_tokens: int
    unmapped_cost_usd: Decimal
    page: int
    pages: int

    @property
    def has_usage(self) -> bool:
        return bool(self.people or self.unmapped_tokens or self.unmapped_cost_usd)

    @property
    def viewer_top_pct(self) -> int | None:
        """The P of "top P%" on the viewer's rank line, at least 1."""
        if self.viewer_row is None:
            return None
        return max(1, ceil(100 * self.viewer_row.position / self.people))


@dataclass(frozen=True)
class TeamRow:
    position: int
    team_id: int | None  # None: usage of engineers who had no team that day
    name: str
    parent: str
    members: int  # engineers with usage on this team in the period
    tokens: int
    cost_usd: Decimal
    cost_per_member_usd: Decimal
    change_pct: float | None


@dataclass(frozen=True)
class TeamPage:
    period: Period
    metric: str
    rows: list[TeamRow]
    teams: int
    hidden_teams: int  # below the privacy setting's minimum size, for this viewer
    min_team_size: int
    page: int
    pages: int


@dataclass(frozen=True)
class TeamMenu:
    """The team filter: the tree in order, the ids it accepts, and its `<option>`s rendered once."""

    teams: list[tuple[int, str]]  # indented by depth, parents first
    ids: frozenset[int]
    options_html: str  # escaped; none selected
    version: int | None = None  # the team table's version it was built at (None: unknown)
    children: dict[int, tuple[int, ...]] = field(default_factory=dict)

    def subtree(self, team_id: int) -> list[int]:
        """The team and every team below it, however deep (a cycle in the tree is walked once)."""
        found, todo = {team_id}, [team_id]
        while todo:
            for child in self.children.get(todo.pop(), ()):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return sorted(found)

    @property
    def inline(self) -> bool:
        """Small enough to be part of the page; else fetched when first used (team_menu view)."""
        return len(self.teams) <= settings.LEADERBOARD_TEAM_MENU_INLINE

    def options(self, selected: int | None, *, everything: bool) -> str:
        """The `<option>`s with `selected` marked: all of them, or only the selected one."""
        if selected is None:
            return self.options_html if everything else ""
        chosen = f'<option value="{int(selected)}">'
        if not everything:
            start = self.options_html.find(chosen)
            end = self.options_html.find("</option>", start) + len("</option>")
            return self.options_html[start:end].replace(chosen, chosen[:-1] + " selected>") if start >= 0 else ""
        return self.options_html.replace(chosen, chosen[:-1] + " selected>", 1)


@dataclass(frozen=True)
class FilterChoices:
    team_menu: TeamMenu
    vendors: list[str]
    products: list[str]

    @property
    def teams(self) -> list[tuple[int, str]]:
        return self.team_menu.teams


def leaderboard_page(
    *,
    viewer: Viewer,
    privacy: PrivacySettings,
    period: Period,
    metric: str,
    team_id: int | None = None,
    vendor: str = "",
    product: str = "",
    page: int = 1,
    per_page: int = 50,
    everyone: bool = False,
    snapshot: BoardSnapshot | None = None,
) -> BoardPage:
    """People ranked by `metric` over the half-open period, one query whatever the org's size:
    one page of the period's precomputed `snapshot` (board_snapshot) when the board is not
    filtered, else everyone ranked live.

    `everyone=True` returns every row (the CSV export) instead of one page. Under the self_only
    privacy mode only the viewer's own row leaves this function; under pseudonyms, a team filter
    matching fewer than k people lists only the people the viewer may open.
    """
    if snapshot is not None and not (team_id or vendor or product):
        found, head, people, current_page = _snapshot_rows(
            snapshot, viewer=viewer, metric=metric, page=page, per_page=per_page, everyone=everyone
        )
    else:
        params = _params(period, metric, team_id, vendor, product, page, per_page)
        params |= {
            "everyone": everyone,
            "viewer_engineer_id": viewer.engineer_id,
            "most_picked": None if everyone else per_page + PODIUM_SIZE + 1 + len(TITLES),
        }
        records = _fetch(PEOPLE_SQL, params)
        head, found = records[0], [r for r in records if r["engineer_id"] is not None]
        first = found[0] if found else {"people": 0, "total_tokens": 0, "total_cost_usd": Decimal(0), "page": 1}
        people, current_page = int(first["people"]), int(first["page"])
        head = head | {"total_tokens": first["total_tokens"], "total_cost_usd": first["total_cost_usd"]}
    rows = [_board_row(r, viewer, privacy) for r in found]
    lower = (current_page - 1) * per_page
    page_rows = [row for row in rows if everyone or lower < row.position <= lower + per_page]
    self_only = privacy.board_names == PrivacySettings.BoardNames.SELF_ONLY
    # Pseudonyms filtered down to a team smaller than k would each be tied to that team.
    small_team = (
        privacy.board_names == PrivacySettings.BoardNames.PSEUDONYMS
        and team_id is not None
        and people < privacy.min_team_size
    )
    if self_only or small_team:
        rows = page_rows = [row for row in rows if row.is_viewer or (small_team and row.engineer_id is not None)]
    return BoardPage(
        period=period,
        metric=metric,
        names=privacy.board_names,
        peers_withheld=self_only or small_team,
        rows=page_rows,
        podium=[row for row in rows if row.position <= PODIUM_SIZE],
        viewer_row=next((row for row in rows if row.is_viewer), None),
        titles=_titles(rows),
        people=people,
        total_tokens=int(head["total_tokens"]),
        total_cost_usd=head["total_cost_usd"],
        unmapped_tokens=int(head["unmapped_tokens"]),
        unmapped_cost_usd=head["unmapped_cost_usd"],
        page=current_page,
        pages=max(1, ceil(people / per_page)),
    )


LOOK_UP = object()  # team_board_page's snapshot: find it


def team_board_page(
    *,
    viewer: Viewer,
    privacy: PrivacySettings,
    period: Period,
    metric: str,
    team_id: int | None = None,
    vendor: str = "",
    product: str = "",
    page: int = 1,
    per_page: int = 50,
    snapshot: BoardSnapshot | None | object = LOOK_UP,
) -> TeamPage:
    """Teams ranked by `metric` over the half-open period (a team's own usage, by the team of each
    day). Teams with fewer members than the privacy minimum are hidden unless the viewer is a
    manager, finance or an admin. Unfiltered, the period's snapshot's team entries are ranked (the
    snapshot is looked up when not given: one more query; None: there is none); else the rollup,
    live. One query."""
    privileged = viewer.is_manager or viewer.sees_everyone
    params = _params(period, metric, team_id, vendor, product, page, per_page)
    params["min_members"] = 0 if privileged else privacy.min_team_size
    unfiltered = not (team_id or vendor or product)
    if unfiltered and snapshot is LOOK_UP:
        snapshot = board_snapshot(period=period)
    if unfiltered and snapshot is not None:
        records = _fetch(TEAMS_SNAPSHOT_SQL, params | {"snapshot": snapshot.pk})
    else:
        records = _fetch(TEAMS_SQL, params)
    teams = [r for r in records if r["position"] is not None]
    total = int(teams[0]["teams"]) if teams else 0
    return TeamPage(
        period=period,
        metric=metric,
        rows=[_team_row(r) for r in teams],
        teams=total,
        hidden_teams=int(records[0]["hidden_teams"]),
        min_team_size=privacy.min_team_size,
        page=int(teams[0]["page"]) if teams else 1,
        pages=max(1, ceil(total / per_page)),
    )


# The period's snapshot (at most one: unique start, end) and the rollup's current version.
SNAPSHOT_SQL = f"""
SELECT s.*, ({VERSION_SQL}) AS current_version
FROM leaderboard_boardsnapshot s
WHERE s.start = %s AND s."end" = %s AND s.prev_start = %s AND s.prev_end = %s
"""


def board_snapshot(*, period: Period) -> BoardSnapshot | None:
    """The period's precomputed board if it can be trusted (leaderboard.services), else None.
    One query."""
    # raw(): building this query with the ORM took longer than running it (0.3 ms per page).
    previous = period.previous
    found = next(
        iter(BoardSnapshot.objects.raw(SNAPSHOT_SQL, [period.start, period.end, previous.start, previous.end])), None
    )
    if found is None:
        return None
    fresh = snapshot_is_fresh(version=found.version, current_version=found.current_version, built_at=found.built_at)
    return found if fresh else None


# The team table's version (a trigger moves it on every write, usage migration 0009), and the
# teams themselves only when it differs from the menu this process holds: one small query while
# nothing changed. Hashing the table's content instead read every team on every page (3 ms at
# 7,500 teams). No version row (a test database flushed by hand): always read the teams.
TEAM_MENU_SQL = """
SELECT v.version,
       CASE WHEN v.version IS NULL OR v.version <> %(known)s
            THEN (SELECT json_agg(json_build_array(id, name, parent_id)) FROM usage_team) END
FROM (SELECT (SELECT version FROM usage_team_version WHERE id = 1) AS version) v
"""
_team_menus: dict[str, tuple[int, TeamMenu]] = {}  # database name -> (version, menu), per process


def board_team_menu() -> TeamMenu:
    """The team filter's menu, rebuilt only when the team table changed: a big org has thousands
    of teams, and building the tree and its options was most of the board's time. One query."""
    database = connection.settings_dict["NAME"]
    known_version, menu = _team_menus.get(database, (-1, None))
    with connection.cursor() as cursor:
        cursor.execute(TEAM_MENU_SQL, {"known": known_version})
        version, teams = cursor.fetchone()
    if menu is None or version != known_version:
        rows = json.loads(teams) if isinstance(teams, str) else (teams or [])
        tree = _team_tree([(team_id, name, parent_id) for team_id, name, parent_id in rows])
        options = "".join(f'<option value="{team_id}">{escape(label)}</option>' for team_id, label in tree)
        ids = frozenset(team_id for team_id, _ in tree)
        children: dict[int, list[int]] = {}
        for team_id, _, parent_id in rows:
            if parent_id is not None:
                children.setdefault(parent_id, []).append(team_id)
        menu = TeamMenu(
            teams=tree,
            ids=ids,
            options_html=options,
            version=version,
            children={parent: tuple(kids) for parent, kids in children.items()},
        )
        if version is not None:
            _team_menus[database] = (version, menu)
    return menu


def board_filter_choices(*, period: Period, snapshot: BoardSnapshot | None = None) -> FilterChoices:
    """The team menu and the vendors and products with usage in the period (two queries; one
    with the period's snapshot, which lists them)."""
    team_menu = board_team_menu()
    if snapshot is not None:
        pairs = [tuple(pair) for pair in snapshot.vendors]
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT vendor, product FROM usage_dailyusage WHERE day >= %s AND day < %s",
                [period.start, period.end],
            )
            pairs = cursor.fetchall()
    return FilterChoices(
        team_menu=team_menu,
        # In the order the menus read: "Amazon Bedrock" (bedrock) before "Anthropic".
        vendors=sorted({vendor for vendor, _ in pairs}, key=lambda vendor: (vendor_label(vendor), vendor)),
        products=sorted({product for _, product in pairs}, key=lambda product: (product_label(product), product)),
    )


def board_chart(*, board: BoardPage, limit: int = 20) -> dict:
    """A Plotly figure of the page's first rows by the sort metric, coloured by tier. Its hover
    text is the rows' names, already resolved under the privacy setting."""
    rows = board.rows[:limit]
    value_format = "$%{x:,.2f}" if board.metric == "spend" else "%{x:,.0f}"
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": [f"#{row.position} {row.name}" for row in rows],
                "x": [_metric_value(row, board.metric) for row in rows],
                "text": [row.name for row in rows],
                "textposition": "none",
                "hovertemplate": f"%{{text}}<br>{value_format}<extra></extra>",
                "marker": {"color": [TIER_COLOURS[row.tier] for row in rows]},
            }
        ],
        "layout": base_layout(
            height=60 + 22 * max(len(rows), 3),
            hovermode="closest",
            showlegend=False,
            margin={"l": 8, "r": 16, "t": 8, "b": 40},
            yaxis={"autorange": "reversed", "fixedrange": True, "automargin": True, "dtick": 1},
            xaxis={
                "title": {"text": METRICS[board.metric]},
                "fixedrange": True,
                "gridcolor": "#eaecf0",
                # Dollars with a $; token counts as 1.5B, not Plotly's SI 1.5G.
                **({"tickprefix": "$"} if board.metric == "spend" else {"exponentformat": "B"}),
            },
        ),
    }


def _params(
    period: Period, metric: str, team_id: int | None, vendor: str, product: str, page: int, per_page: int
) -> dict:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    return {
        "start": period.start,
        "end": period.end,
        "prev_start": period.previous.start,
        "prev_end": period.previous.end,
        "metric": metric,
        # The team menu is kept per process: one small query while no team changed.
        "team_ids": None if team_id is None else board_team_menu().subtree(team_id),
        "vendor": vendor,
        "product": product,
        "page": max(1, page),
        "per_page": per_page,
    }


def _snapshot_rows(
    snapshot: BoardSnapshot, *, viewer: Viewer, metric: str, page: int, per_page: int, everyone: bool
) -> tuple[list[dict], dict, int, int]:
    """The rows the live query would return, read from the snapshot: the page, the podium, the
    viewer and the title holders. One query (index range on the metric's rank)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    people = snapshot.people
    current_page = min(max(1, page), max(1, ceil(people / per_page)))
    holders = {}
    for title, engineer_id in snapshot.titles.items():
        holders.setdefault(engineer_id, []).append(title)
    params = {
        "snapshot": snapshot.pk,
        "start": snapshot.start,
        "end": snapshot.end,
        "low": (current_page - 1) * per_page + 1,
        "high": current_page * per_page,
        "viewer_engineer_id": viewer.engineer_id,
        "holders": list(holders),
    }
    records = _fetch((SNAPSHOT_ALL_SQL if everyone else SNAPSHOT_PAGE_SQL)[metric], params)
    for record in records:
        record["titles"] = holders.get(record["engineer_id"], [])
    head = {
        "unmapped_tokens": snapshot.unmapped_tokens,
        "unmapped_cost_usd": snapshot.unmapped_cost_usd,
        "total_tokens": snapshot.total_tokens,
        "total_cost_usd": snapshot.total_cost_usd,
    }
    return records, head, people, current_page


def _fetch(sql: str, params: dict) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [col.name for col in cursor.description]
        return [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]


def _board_row(record: dict, viewer: Viewer, privacy: PrivacySettings) -> BoardRow:
    engineer_id = record["engineer_id"]
    named = privacy.board_names == PrivacySettings.BoardNames.NAMES or viewer.sees_name_of(engineer_id)
    # A pseudonym beside a small team's name would give the person away.
    team_shown = named or record["team_size"] >= privacy.min_team_size
    percentile = float(record["percentile"])
    tokens_per_usd = record["tokens_per_usd"]
    return BoardRow(
        position=int(record["position"]),
        engineer_id=engineer_id if viewer.can_view_engineer(engineer_id) else None,
        name=display_name(viewer, engineer_id=engineer_id, name=record["name"], mode=privacy.board_names),
        team=(record["team_name"] or "No team") if team_shown else "—",
        tokens=int(record["tokens"]),
        cost_usd=record["cost_usd"],
        tokens_per_usd=int(tokens_per_usd) if tokens_per_usd is not None else None,
        change_pct=_change(record["value"], record["prev_value"]),
        tier=next(name for name, floor in TIERS if percentile >= floor),
        percentile=percentile,
        top_model=record["top_model"],
        top_tool=record["top_tool"],
        titles=tuple(TITLES[key][0] for key in TITLES if key in record["titles"]),
        is_viewer=engineer_id == viewer.engineer_id,
    )


def _team_row(record: dict) -> TeamRow:
    members = int(record["members"])
    return TeamRow(
        position=int(record["position"]),
        team_id=record["team_id"],
        name=record["name"] or "No team",
        parent=record["parent_name"] or "",
        members=members,
        tokens=int(record["tokens"]),
        cost_usd=record["cost_usd"],
        cost_per_member_usd=record["cost_usd"] / members,
        change_pct=_change(record["value"], record["prev_value"]),
    )


def _change(value: Decimal | None, previous: Decimal | None) -> float | None:
    if value is None or not previous:
        return None
    return float((value - previous) / previous * 100)


def _titles(rows: list[BoardRow]) -> list[Title]:
    """Each title and its holder, in TITLES order; rows already carry privacy-resolved names."""
    holders = {title: row for row in rows for title in row.titles}
    return [
        Title(key=key, name=name, blurb=blurb, holder=holders[name].name, is_viewer=holders[name].is_viewer)
        for key, (name, blurb) in TITLES.items()
        if name in holders
    ]


def _metric_value(row: BoardRow, metric: str) -> float:
    if metric == "tokens":
        return row.tokens
    if metric == "spend":
        return float(row.cost_usd)
    return row.tokens_per_usd or 0


def _team_tree(teams: list[tuple[int, str, int | None]]) -> list[tuple[int, str]]:
    """Teams depth-first, parents before children, labels indented by depth."""
    children: dict[int | None, list[tuple[int, str]]] = {}
    for team_id, name, parent_id in sorted(teams, key=lambda t: t[1].lower()):
        children.setdefault(parent_id, []).append((team_id, name))
    ordered: list[tuple[int, str]] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for team_id, name in children.get(parent_id, []):
            ordered.append((team_id, "\u2002" * 2 * depth + name))
            walk(team_id, depth + 1)

    walk(None, 0)
    return ordered
