from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_seat_last_activity"),
        ("usage", "0011_computed_cache"),
    ]

    operations = [
        # The version of the other tables /finance/ reads (the seat ledger and team memberships),
        # as usage_team_version is for teams: a row, so that the new version is seen only together
        # with the committed rows. Both are written by imports of seats and of the org chart only,
        # which may wait on each other for it.
        migrations.RunSQL(
            """
            CREATE SEQUENCE billing_finance_version_seq;
            CREATE TABLE billing_finance_version (id smallint PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);
            INSERT INTO billing_finance_version VALUES (1, nextval('billing_finance_version_seq'));
            CREATE FUNCTION billing_finance_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE billing_finance_version SET version = nextval('billing_finance_version_seq') WHERE id = 1;
                RETURN NULL;
            END $$;
            CREATE TRIGGER billing_finance_version
                AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON billing_seatassignment
                FOR EACH STATEMENT EXECUTE FUNCTION billing_finance_version_bump();
            CREATE TRIGGER billing_finance_version
                AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON usage_teammembership
                FOR EACH STATEMENT EXECUTE FUNCTION billing_finance_version_bump();
            """,
            """
            DROP TRIGGER IF EXISTS billing_finance_version ON billing_seatassignment;
            DROP TRIGGER IF EXISTS billing_finance_version ON usage_teammembership;
            DROP FUNCTION IF EXISTS billing_finance_version_bump();
            DROP TABLE IF EXISTS billing_finance_version;
            DROP SEQUENCE IF EXISTS billing_finance_version_seq;
            """,
        ),
    ]
