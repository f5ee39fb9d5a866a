from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_seat_last_activity"),
        ("usage", "0011_computed_cache"),
    ]

    operations = [
        # The seat ledger's version, for the finance figures computed ahead
        # (usage.services.computed): a row, so that the new version is seen only together with
        # the committed rows, as usage_team_version. Only seat imports write the ledger.
        migrations.RunSQL(
            """
            CREATE SEQUENCE billing_seat_version_seq;
            CREATE TABLE billing_seat_version (id smallint PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);
            INSERT INTO billing_seat_version VALUES (1, nextval('billing_seat_version_seq'));
            CREATE FUNCTION billing_seat_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE billing_seat_version SET version = nextval('billing_seat_version_seq') WHERE id = 1;
                RETURN NULL;
            END $$;
            CREATE TRIGGER billing_seat_version
                AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON billing_seatassignment
                FOR EACH STATEMENT EXECUTE FUNCTION billing_seat_version_bump();
            """,
            """
            DROP TRIGGER IF EXISTS billing_seat_version ON billing_seatassignment;
            DROP FUNCTION IF EXISTS billing_seat_version_bump();
            DROP TABLE IF EXISTS billing_seat_version;
            DROP SEQUENCE IF EXISTS billing_seat_version_seq;
            """,
        ),
    ]
