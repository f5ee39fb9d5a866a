from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("usage", "0009_team_version")]

    operations = [
        # The engineer table's version, for the reporting chains a process keeps
        # (leaderboard.access.viewer_for): every statement that writes usage_engineer moves it, as
        # usage_team_version does for the team menu. Only the org import and the admin write it.
        migrations.RunSQL(
            """
            CREATE SEQUENCE usage_engineer_version_seq;
            CREATE TABLE usage_engineer_version (id smallint PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);
            INSERT INTO usage_engineer_version VALUES (1, nextval('usage_engineer_version_seq'));
            CREATE FUNCTION usage_engineer_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE usage_engineer_version SET version = nextval('usage_engineer_version_seq') WHERE id = 1;
                RETURN NULL;
            END $$;
            CREATE TRIGGER usage_engineer_version
                AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON usage_engineer
                FOR EACH STATEMENT EXECUTE FUNCTION usage_engineer_version_bump();
            """,
            """
            DROP TRIGGER IF EXISTS usage_engineer_version ON usage_engineer;
            DROP FUNCTION IF EXISTS usage_engineer_version_bump();
            DROP TABLE IF EXISTS usage_engineer_version;
            DROP SEQUENCE IF EXISTS usage_engineer_version_seq;
            """,
        ),
    ]
