from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("usage", "0008_natural_key_time_first")]

    operations = [
        # The team table's version, for the board's team menu (leaderboard.selectors.board): every
        # statement that writes usage_team moves it. A row, not a bare sequence, so a reader sees
        # the new version only together with the committed teams; the values come from a sequence
        # so that a version is never handed out twice (not even after a rollback or a flush).
        migrations.RunSQL(
            """
            CREATE SEQUENCE usage_team_version_seq;
            CREATE TABLE usage_team_version (id smallint PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);
            INSERT INTO usage_team_version VALUES (1, nextval('usage_team_version_seq'));
            CREATE FUNCTION usage_team_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE usage_team_version SET version = nextval('usage_team_version_seq') WHERE id = 1;
                RETURN NULL;
            END $$;
            CREATE TRIGGER usage_team_version
                AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON usage_team
                FOR EACH STATEMENT EXECUTE FUNCTION usage_team_version_bump();
            """,
            """
            DROP TRIGGER IF EXISTS usage_team_version ON usage_team;
            DROP FUNCTION IF EXISTS usage_team_version_bump();
            DROP TABLE IF EXISTS usage_team_version;
            DROP SEQUENCE IF EXISTS usage_team_version_seq;
            """,
        ),
    ]
