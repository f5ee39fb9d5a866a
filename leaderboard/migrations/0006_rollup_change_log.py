"""Which days of the rollup changed since the boards' last refresh: one row per statement that
writes usage_dailyusage (its first and last day), so a refresh rebuilds only the periods and
weeks whose days changed. A new day's log moved 4 periods and 1 week, but every refresh rebuilt
5 periods and 12 weeks (50,000 engineers: 46 s of a worker per import). The refresh deletes the
rows it has seen; a row committed after its snapshot stays for the next one. The row inserted
here makes the first refresh rebuild everything: snapshots built before knew no log."""

from django.db import migrations

FORWARD = """
CREATE TABLE usage_rollup_change (first_day date NOT NULL, last_day date NOT NULL);
INSERT INTO usage_rollup_change VALUES ('-infinity', 'infinity');
CREATE FUNCTION usage_rollup_change_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO usage_rollup_change SELECT min(day), max(day) FROM new_rows HAVING count(*) > 0;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO usage_rollup_change SELECT min(day), max(day) FROM old_rows HAVING count(*) > 0;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO usage_rollup_change
        SELECT min(day), max(day) FROM (SELECT day FROM old_rows UNION ALL SELECT day FROM new_rows) d
        HAVING count(*) > 0;
    ELSE  -- TRUNCATE: every day
        INSERT INTO usage_rollup_change VALUES ('-infinity', 'infinity');
    END IF;
    RETURN NULL;
END $$;
-- A trigger with transition tables has one event each.
CREATE TRIGGER usage_dailyusage_change_insert AFTER INSERT ON usage_dailyusage
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_change_log();
CREATE TRIGGER usage_dailyusage_change_update AFTER UPDATE ON usage_dailyusage
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_change_log();
CREATE TRIGGER usage_dailyusage_change_delete AFTER DELETE ON usage_dailyusage
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_change_log();
CREATE TRIGGER usage_dailyusage_change_truncate AFTER TRUNCATE ON usage_dailyusage
    FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_change_log();
"""

BACKWARD = """
DROP TRIGGER usage_dailyusage_change_insert ON usage_dailyusage;
DROP TRIGGER usage_dailyusage_change_update ON usage_dailyusage;
DROP TRIGGER usage_dailyusage_change_delete ON usage_dailyusage;
DROP TRIGGER usage_dailyusage_change_truncate ON usage_dailyusage;
DROP FUNCTION usage_rollup_change_log();
DROP TABLE usage_rollup_change;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboard", "0005_team_board_entries"),
        ("usage", "0012_usage_record_natural_primary_key"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
