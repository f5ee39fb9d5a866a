"""Loading impact rows (merged PRs, commits, accepted AI lines) into ImpactRecord.

Set-based like usage: COPY into a staging table, resolve identities in SQL, upsert on the
natural key (dataset, dedup_key). Impact tables are small (a row per person, day and
metric), so there is no rollup: pages read ImpactRecord directly.
"""

from __future__ import annotations

import pandas as pd
from django.db import connection

from usage.importers.base import IMPACT_COLUMNS
from usage.services.computed import versions_move_on_commit

STAGE_IMPACT_DDL = """
CREATE TEMP TABLE stage_impact (
    dedup_key text, day date, window_start date, source text, identity_kind text, identity_value text,
    metric text, value bigint, location text
) ON COMMIT DROP
"""

# A github login two engineers share (a data-entry slip) goes to the first, not to both.
UPSERT_IMPACT_SQL = """
WITH written AS (
    INSERT INTO usage_impactrecord (batch_id, dataset, dedup_key, day, window_start, source, identity_kind,
                                    identity_value, engineer_id, metric, value)
    SELECT %(batch_id)s, %(dataset)s, s.dedup_key, s.day, s.window_start, s.source, s.identity_kind,
           s.identity_value, COALESCE(vi.engineer_id, e.id, g.id), s.metric, s.value
    FROM stage_impact s
    LEFT JOIN usage_vendoridentity vi
           ON vi.vendor = s.source AND vi.kind = s.identity_kind AND vi.external_id = s.identity_value
    LEFT JOIN usage_engineer e ON s.identity_kind = 'email' AND lower(e.email) = lower(s.identity_value)
    LEFT JOIN (SELECT DISTINCT ON (lower(github_login)) lower(github_login) AS login, id FROM usage_engineer
               WHERE github_login <> '' ORDER BY lower(github_login), id) g
           ON s.identity_kind = 'github_login' AND g.login = lower(s.identity_value)
    ORDER BY s.dedup_key
    ON CONFLICT (dataset, dedup_key) DO UPDATE SET
        batch_id = EXCLUDED.batch_id, day = EXCLUDED.day, window_start = EXCLUDED.window_start,
        source = EXCLUDED.source, identity_kind = EXCLUDED.identity_kind, identity_value = EXCLUDED.identity_value,
        engineer_id = EXCLUDED.engineer_id, metric = EXCLUDED.metric, value = EXCLUDED.value
    -- An older batch processed late does not undo a newer restatement.
    WHERE usage_impactrecord.batch_id <= EXCLUDED.batch_id
    RETURNING engineer_id
)
SELECT count(*) FILTER (WHERE engineer_id IS NULL) FROM written
"""


def load_impact(*, batch_id: int, dataset: str, frame: pd.DataFrame):
    """Upsert an impact frame (IMPACT_COLUMNS, one row per key) inside the caller's transaction.

    Idempotent: the same rows again rewrite themselves. Returns the batch's LoadStats.
    """
    from .ingest import LoadStats, copy_frame

    if frame.empty:
        return LoadStats()
    versions_move_on_commit()
    with connection.cursor() as cursor:
        cursor.execute(STAGE_IMPACT_DDL)
        copy_frame(cursor, "stage_impact", frame, list(IMPACT_COLUMNS))
        cursor.execute(UPSERT_IMPACT_SQL, {"batch_id": batch_id, "dataset": dataset})
        (unmapped,) = cursor.fetchone()
        # ON COMMIT DROP is not enough when the caller's transaction goes on (tests, savepoints).
        cursor.execute("DROP TABLE stage_impact")
    return LoadStats(accepted=len(frame), unmapped=unmapped)


# Unmapped impact rows (a small slice: the partial index impact_unmapped_identity) that an
# identity map entry, an email or a github login now names.
REATTRIBUTE_SQL = """
UPDATE usage_impactrecord i SET engineer_id = COALESCE(vi.engineer_id, e.id, g.id)
FROM usage_impactrecord r
LEFT JOIN usage_vendoridentity vi
       ON vi.vendor = r.source AND vi.kind = r.identity_kind AND vi.external_id = r.identity_value
LEFT JOIN usage_engineer e ON r.identity_kind = 'email' AND lower(e.email) = lower(r.identity_value)
LEFT JOIN (SELECT DISTINCT ON (lower(github_login)) lower(github_login) AS login, id FROM usage_engineer
           WHERE github_login <> '' ORDER BY lower(github_login), id) g
       ON r.identity_kind = 'github_login' AND g.login = lower(r.identity_value)
WHERE i.id = r.id AND r.engineer_id IS NULL AND COALESCE(vi.engineer_id, e.id, g.id) IS NOT NULL
"""


def impact_reattribute() -> int:
    """Point unmapped impact rows at whoever their identity names now (after an org chart or
    identity map import). Idempotent; returns the number of rows that found their person."""
    versions_move_on_commit()
    with connection.cursor() as cursor:
        cursor.execute(REATTRIBUTE_SQL)
        return cursor.rowcount
