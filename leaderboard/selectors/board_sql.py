"""The leaderboard's SQL: one statement for the people board and one for the team board.

Both read the DailyUsage rollup once or twice whatever the number of engineers, and compute
ranks, percentiles, change against the previous period and titles in PostgreSQL (window
functions, top-1 scans). Parameters are always bound, never formatted in: the only text put
together here is these constants.
"""

PODIUM_SIZE = 3

# Rows of the usage rollup in scope: the period is added by each query, these filters are
# shared. Optional filters are "param is empty OR column = param" so no SQL is ever built from
# input; psycopg binds client-side, so the planner sees the constants and drops dead branches.
# `team_ids`: the filtered team and every team below it, however deep (TeamMenu.subtree), as a
# constant: the planner estimates it from the statistics and takes the (team, day) index for a
# small team and one hashed pass for a big one. A recursive CTE here was a subplan the planner
# could not see into: every filtered board read the whole period (1.2 s at 50,000 engineers for
# a team of 8, against 12 ms now).
SCOPE_FILTER = """
    (%(vendor)s = '' OR d.vendor = %(vendor)s)
    AND (%(product)s = '' OR d.product = %(product)s)
    AND (%(team_ids)s::bigint[] IS NULL OR d.team_id = ANY(%(team_ids)s::bigint[]))
"""
METRIC_SQL = """
CASE %(metric)s
    WHEN 'tokens' THEN {t}tokens::numeric
    WHEN 'spend' THEN {t}cost_usd
    ELSE {t}tokens / NULLIF({t}cost_usd, 0)
END
"""

# Each person's top model and tool and their team (of their latest day) from `cells`: their
# usage by team, model and tool. Shared with the snapshot build (leaderboard/services.py).
TOPS_SQL = """
top_model AS (
    SELECT DISTINCT ON (engineer_id) engineer_id, model AS top_model
    FROM cells GROUP BY engineer_id, model ORDER BY engineer_id, sum(tokens) DESC, model
),
top_tool AS (
    -- A tool is a vendor's product ("openai/api"): products alone would add up several vendors' APIs.
    SELECT DISTINCT ON (engineer_id) engineer_id, vendor || '/' || product AS top_tool
    FROM cells GROUP BY engineer_id, vendor, product ORDER BY engineer_id, sum(tokens) DESC, vendor, product
),
last_team AS (
    -- The team of the person's latest day in scope: usage follows the team of its day.
    SELECT DISTINCT ON (engineer_id) engineer_id, team_id
    FROM cells ORDER BY engineer_id, last_day DESC, tokens DESC
)"""

PEOPLE_SQL = f"""
WITH per AS (
    -- The main pass over the rollup: this period and the previous one together, by engineer.
    -- Models are counted apart: count(DISTINCT model) here would sort the whole period (3x
    -- slower than two hash aggregates at 50,000 engineers). The NULL engineer is unmapped usage.
    SELECT d.engineer_id,
           sum(d.tokens) FILTER (WHERE d.day >= %(start)s) AS tokens,
           sum(d.cost_usd) FILTER (WHERE d.day >= %(start)s) AS cost_usd,
           sum(d.cache_read_tokens) FILTER (WHERE d.day >= %(start)s) AS cache_read_tokens,
           sum(d.output_tokens) FILTER (WHERE d.day >= %(start)s) AS output_tokens,
           sum(d.tokens) FILTER (WHERE d.day < %(prev_end)s) AS prev_tokens,
           sum(d.cost_usd) FILTER (WHERE d.day < %(prev_end)s) AS prev_cost_usd
    FROM usage_dailyusage d
    WHERE d.day >= %(prev_start)s AND d.day < %(end)s AND {SCOPE_FILTER}
    GROUP BY d.engineer_id
    HAVING count(*) FILTER (WHERE d.day >= %(start)s) > 0  -- usage in this period, not only before
),
models AS (
    SELECT engineer_id, count(*) AS models
    FROM (
        SELECT DISTINCT d.engineer_id, d.model FROM usage_dailyusage d
        WHERE d.day >= %(start)s AND d.day < %(end)s AND d.engineer_id IS NOT NULL AND {SCOPE_FILTER}
    ) pairs
    GROUP BY engineer_id
),
unmapped AS (
    SELECT coalesce(sum(tokens), 0) AS unmapped_tokens, coalesce(sum(cost_usd), 0) AS unmapped_cost_usd
    FROM per WHERE engineer_id IS NULL
),
scored AS (
    SELECT per.*, models.models,
           {METRIC_SQL.format(t="")} AS value,
           {METRIC_SQL.format(t="prev_")} AS prev_value,
           cache_read_tokens / NULLIF(tokens - output_tokens, 0) AS cache_share,  -- tokens: all input + output
           output_tokens / NULLIF(tokens, 0) AS output_share,
           tokens / NULLIF(cost_usd, 0) AS tokens_per_usd,
           tokens / NULLIF(prev_tokens, 0) AS growth
    FROM per JOIN models USING (engineer_id)
),
ranked AS (
    SELECT s.*,
           row_number() OVER (ORDER BY value DESC NULLS LAST, engineer_id) AS position,
           -- percent_rank: the share of the others ranked below; a board of one is its own top.
           CASE WHEN count(*) OVER () = 1 THEN 1 ELSE percent_rank() OVER (ORDER BY value ASC NULLS FIRST) END
               AS percentile,
           count(*) OVER () AS people,
           sum(tokens) OVER () AS total_tokens,
           sum(cost_usd) OVER () AS total_cost_usd,
           least(%(page)s, greatest(1, ceil(count(*) OVER () / %(per_page)s::numeric))) AS page
    FROM scored s
),
contenders AS (
    -- Ratio titles need volume, or one cheap request wins: at least the median person's tokens.
    SELECT * FROM ranked WHERE tokens >= (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY tokens) FROM ranked)
),
holders(title, engineer_id) AS (
    -- Each title is a top-1 scan, not a window sort of everyone.
    SELECT 'token_legend', (SELECT engineer_id FROM ranked ORDER BY tokens DESC, engineer_id LIMIT 1)
    UNION ALL SELECT 'model_connoisseur',
        (SELECT engineer_id FROM ranked WHERE models > 1 ORDER BY models DESC, tokens DESC, engineer_id LIMIT 1)
    UNION ALL SELECT 'cache_wizard',
        (SELECT engineer_id FROM contenders WHERE cache_share > 0 ORDER BY cache_share DESC, engineer_id LIMIT 1)
    UNION ALL SELECT 'frugal_virtuoso',
        (SELECT engineer_id FROM contenders WHERE tokens_per_usd IS NOT NULL
         ORDER BY tokens_per_usd DESC, engineer_id LIMIT 1)
    UNION ALL SELECT 'output_artisan',
        (SELECT engineer_id FROM contenders WHERE output_share > 0 ORDER BY output_share DESC, engineer_id LIMIT 1)
    UNION ALL SELECT 'rising_star',
        (SELECT engineer_id FROM contenders WHERE growth > 1 ORDER BY growth DESC, engineer_id LIMIT 1)
),
picked AS (
    -- The requested page (clamped to the last one), the podium, the viewer and the title holders.
    SELECT r.*, ARRAY(SELECT h.title FROM holders h WHERE h.engineer_id = r.engineer_id) AS titles
    FROM ranked r
    WHERE %(everyone)s
        OR r.position BETWEEN (r.page - 1) * %(per_page)s + 1 AND r.page * %(per_page)s
        OR r.position <= {PODIUM_SIZE}
        OR r.engineer_id = %(viewer_engineer_id)s
        OR r.engineer_id IN (SELECT engineer_id FROM holders)
    -- Never cuts (a page, the podium, the viewer and the title holders at most); it tells the
    -- planner how few rows the laterals below see, which keeps it from costly JIT compilation.
    LIMIT %(most_picked)s
),
cells AS (
    -- The picked people's usage by team, model and tool. A plain join, so the planner takes
    -- index range scans on (engineer, day) for a page and one hash join for the whole export.
    SELECT d.engineer_id, d.team_id, d.model, d.vendor, d.product, max(d.day) AS last_day, sum(d.tokens) AS tokens
    FROM picked p JOIN usage_dailyusage d ON d.engineer_id = p.engineer_id
    WHERE d.day >= %(start)s AND d.day < %(end)s AND {SCOPE_FILTER}
    GROUP BY d.engineer_id, d.team_id, d.model, d.vendor, d.product
),
{TOPS_SQL},
team_size AS (
    -- Headcount over the period: whether a team's name would give a pseudonym away.
    SELECT m.team_id, count(*) AS team_size FROM usage_teammembership m
    WHERE m.valid_from < %(end)s AND (m.valid_to IS NULL OR m.valid_to > %(start)s)
      AND m.team_id IN (SELECT team_id FROM last_team)
    GROUP BY m.team_id
),
shown AS (
    SELECT p.*, e.name, lt.team_id, team.name AS team_name, tm.top_model, tt.top_tool,
           coalesce(ts.team_size, 0) AS team_size
    FROM picked p
    JOIN usage_engineer e ON e.id = p.engineer_id
    JOIN last_team lt USING (engineer_id)
    JOIN top_model tm USING (engineer_id)
    JOIN top_tool tt USING (engineer_id)
    LEFT JOIN team_size ts ON ts.team_id = lt.team_id
    LEFT JOIN usage_team team ON team.id = lt.team_id
)
-- Always one row, so the unmapped totals arrive even when nobody is on the board.
SELECT u.unmapped_tokens, u.unmapped_cost_usd, s.*
FROM unmapped u LEFT JOIN shown s ON TRUE
ORDER BY s.position
"""

# Each team's own members' usage over the period and the one before, by the team of each day:
# `per_team`. The team board ranks it live (TEAMS_SQL) or reads it from the period's snapshot,
# which stores this very statement's rows (leaderboard/services.py, TeamBoardEntry).
TEAM_TOTALS_SQL = f"""
members AS (
    -- One pass over both periods, by team and engineer: members are counted, not summed rows.
    SELECT d.team_id, d.engineer_id,
           sum(d.tokens) FILTER (WHERE d.day >= %(start)s) AS tokens,
           sum(d.cost_usd) FILTER (WHERE d.day >= %(start)s) AS cost_usd,
           sum(d.tokens) FILTER (WHERE d.day < %(prev_end)s) AS prev_tokens,
           sum(d.cost_usd) FILTER (WHERE d.day < %(prev_end)s) AS prev_cost_usd
    FROM usage_dailyusage d
    WHERE d.day >= %(prev_start)s AND d.day < %(end)s AND d.engineer_id IS NOT NULL AND {SCOPE_FILTER}
    GROUP BY d.team_id, d.engineer_id
),
per_team AS (
    SELECT team_id, count(tokens) AS members, sum(tokens) AS tokens, sum(cost_usd) AS cost_usd,
           sum(prev_tokens) AS prev_tokens, sum(prev_cost_usd) AS prev_cost_usd
    FROM members GROUP BY team_id
    HAVING count(tokens) > 0  -- usage in this period, not only in the previous one
)"""

# The team board's ranking of `per_team`: a page of the teams the viewer may see, and how many
# are hidden from them.
_TEAMS_RANKED = f"""
scored AS (
    SELECT team_id, members, tokens, cost_usd,
           {METRIC_SQL.format(t="")} AS value,
           {METRIC_SQL.format(t="prev_")} AS prev_value
    FROM per_team
),
visible AS (
    SELECT s.*,
           row_number() OVER (ORDER BY value DESC NULLS LAST, team_id NULLS LAST) AS position,
           count(*) OVER () AS teams
    FROM scored s WHERE members >= %(min_members)s
),
picked AS (
    SELECT v.*, t.name, parent.name AS parent_name,
           least(%(page)s, greatest(1, ceil(v.teams / %(per_page)s::numeric))) AS page
    FROM visible v
    LEFT JOIN usage_team t ON t.id = v.team_id
    LEFT JOIN usage_team parent ON parent.id = t.parent_id
),
hidden AS (
    SELECT count(*) AS hidden_teams FROM scored WHERE members < %(min_members)s
)
-- Always one row, so the count of hidden teams arrives even when none is shown.
SELECT h.hidden_teams, p.*
FROM hidden h
LEFT JOIN picked p ON p.position BETWEEN (p.page - 1) * %(per_page)s + 1 AND p.page * %(per_page)s
ORDER BY p.position
"""

TEAMS_SQL = f"""
WITH {TEAM_TOTALS_SQL},
{_TEAMS_RANKED}"""

# The same board from a snapshot's team entries: a few thousand rows by index instead of a pass
# over two periods of the rollup (1 s at 50,000 engineers).
TEAMS_SNAPSHOT_SQL = f"""
WITH per_team AS (
    SELECT team_id, members, tokens, cost_usd, prev_tokens, prev_cost_usd
    FROM leaderboard_teamboardentry WHERE snapshot_id = %(snapshot)s
),
{_TEAMS_RANKED}"""


# One page of a precomputed board (leaderboard.services.board_snapshots_refresh), with the same
# columns as PEOPLE_SQL's people. One statement per sort metric, each reading its own rank
# index; the metric picks among these constants, it is never formatted into SQL from input.
# A page reads ~60 entries, and each one's name, team and team size is looked up per row (a
# subquery each): the page costs the same at 500 engineers or 500,000. With joins, the planner
# hashed whole tables whenever it over-guessed the picked rows (27 ms of sequential scans at
# 50,000 engineers for 55 rows). The podium is a closed range for the same reason: `rank <= 3`
# was estimated at ~470 rows.
_SNAPSHOT_PAGE = """
WITH picked AS (
    SELECT b.* FROM leaderboard_boardentry b
    WHERE b.snapshot_id = %(snapshot)s
      AND (b.{rank} BETWEEN %(low)s AND %(high)s
           OR b.{rank} BETWEEN 1 AND {podium}
           OR b.engineer_id = %(viewer_engineer_id)s
           OR b.engineer_id = ANY(%(holders)s))
)
SELECT p.engineer_id, p.{rank} AS position, p.{pct} AS percentile,
       (SELECT e.name FROM usage_engineer e WHERE e.id = p.engineer_id) AS name, p.team_id,
       (SELECT t.name FROM usage_team t WHERE t.id = p.team_id) AS team_name,
       (SELECT count(*) FROM usage_teammembership m
        WHERE m.team_id = p.team_id AND m.valid_from < %(end)s AND (m.valid_to IS NULL OR m.valid_to > %(start)s)
       ) AS team_size,
       p.tokens, p.cost_usd, p.tokens / NULLIF(p.cost_usd, 0) AS tokens_per_usd,
       {value} AS value, {prev_value} AS prev_value, p.top_model, p.top_tool
FROM picked p
ORDER BY position
"""
# Every entry (the CSV export): there, hashing whole tables is the right plan.
_SNAPSHOT_ALL = """
WITH team_size AS (
    SELECT m.team_id, count(*) AS team_size FROM usage_teammembership m
    WHERE m.valid_from < %(end)s AND (m.valid_to IS NULL OR m.valid_to > %(start)s)
    GROUP BY m.team_id
)
SELECT p.engineer_id, p.{rank} AS position, p.{pct} AS percentile, e.name, p.team_id, t.name AS team_name,
       coalesce(ts.team_size, 0) AS team_size, p.tokens, p.cost_usd,
       p.tokens / NULLIF(p.cost_usd, 0) AS tokens_per_usd,
       {value} AS value, {prev_value} AS prev_value, p.top_model, p.top_tool
FROM leaderboard_boardentry p
JOIN usage_engineer e ON e.id = p.engineer_id
LEFT JOIN team_size ts ON ts.team_id = p.team_id
LEFT JOIN usage_team t ON t.id = p.team_id
WHERE p.snapshot_id = %(snapshot)s
ORDER BY position
"""
_SNAPSHOT_METRICS = {
    "tokens": ("rank_tokens", "pct_tokens", "p.tokens::numeric", "p.prev_tokens::numeric"),
    "spend": ("rank_spend", "pct_spend", "p.cost_usd", "p.prev_cost_usd"),
    "tokens_per_usd": (
        "rank_tokens_per_usd",
        "pct_tokens_per_usd",
        "p.tokens / NULLIF(p.cost_usd, 0)",
        "p.prev_tokens / NULLIF(p.prev_cost_usd, 0)",
    ),
}
SNAPSHOT_PAGE_SQL = {
    metric: _SNAPSHOT_PAGE.format(rank=rank, pct=pct, value=value, prev_value=prev, podium=PODIUM_SIZE)
    for metric, (rank, pct, value, prev) in _SNAPSHOT_METRICS.items()
}
SNAPSHOT_ALL_SQL = {
    metric: _SNAPSHOT_ALL.format(rank=rank, pct=pct, value=value, prev_value=prev)
    for metric, (rank, pct, value, prev) in _SNAPSHOT_METRICS.items()
}
