"""Pages computed ahead of their first view after a change (usage.services.computed).

What a page reads is kept under the versions of the tables it read, so the first view after an
import pays the whole computation: 4 s for /impact/ and 2 s for the root team's page at 50,000
engineers. After each boards' refresh (an import's commit, or beat) the views most likely to
come next are computed here instead: /impact/ as finance or an admin opens it (the default
period, everyone), and each top-level team's page (its default period, the running month).
"""

from __future__ import annotations

from datetime import date

from leaderboard.periods import preset_period
from leaderboard.selectors.board import board_snapshot
from leaderboard.selectors.impact import impact_warm
from leaderboard.selectors.teams import team_usage_warm
from usage.models import Team

IMPACT_PERIOD = "30d"  # the default of /impact/ (PeriodForm.period_or_default)
TEAM_PERIOD = "month"  # the default of a team's page


def pages_warm(*, today: date) -> list[str]:
    """Compute what those views read where it is not kept at the current versions; the names of
    what was computed (nothing when it all was)."""
    warmed = []
    period = preset_period(IMPACT_PERIOD, today)
    if impact_warm(period=period, today=today, snapshot=board_snapshot(period=period)):
        warmed.append("impact")
    month = preset_period(TEAM_PERIOD, today)
    for team_id in Team.objects.filter(parent=None).order_by("pk").values_list("pk", flat=True):
        if team_usage_warm(team_id=team_id, period=month):
            warmed.append(f"team {team_id}")
    return warmed
