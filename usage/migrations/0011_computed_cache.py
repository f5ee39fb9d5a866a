from django.db import migrations, models

# A version for each table computed page data reads that had none (usage.services.computed):
# memberships, written by the org import only, as a row that moves with the committed rows (as
# usage_team_version); impact records, written by imports that must not wait on each other, as a
# sequence (as usage_rollup_version).
VERSIONS = """
CREATE SEQUENCE usage_membership_version_seq;
CREATE TABLE usage_membership_version (id smallint PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);
INSERT INTO usage_membership_version VALUES (1, nextval('usage_membership_version_seq'));
CREATE FUNCTION usage_membership_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE usage_membership_version SET version = nextval('usage_membership_version_seq') WHERE id = 1;
    RETURN NULL;
END $$;
CREATE TRIGGER usage_membership_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON usage_teammembership
    FOR EACH STATEMENT EXECUTE FUNCTION usage_membership_version_bump();

CREATE SEQUENCE usage_impact_version;
CREATE FUNCTION usage_impact_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('usage_impact_version');
    RETURN NULL;
END $$;
CREATE TRIGGER usage_impact_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON usage_impactrecord
    FOR EACH STATEMENT EXECUTE FUNCTION usage_impact_version_bump();
"""
VERSIONS_DROP = """
DROP TRIGGER IF EXISTS usage_membership_version ON usage_teammembership;
DROP FUNCTION IF EXISTS usage_membership_version_bump();
DROP TABLE IF EXISTS usage_membership_version;
DROP SEQUENCE IF EXISTS usage_membership_version_seq;
DROP TRIGGER IF EXISTS usage_impact_version ON usage_impactrecord;
DROP FUNCTION IF EXISTS usage_impact_version_bump();
DROP SEQUENCE IF EXISTS usage_impact_version;
"""


class Migration(migrations.Migration):
    dependencies = [("usage", "0010_engineer_version")]

    operations = [
        migrations.CreateModel(
            name="ComputedCache",
            fields=[
                ("key", models.CharField(max_length=200, primary_key=True, serialize=False)),
                ("kind", models.CharField(max_length=50)),
                ("versions", models.CharField(max_length=200)),
                ("built_at", models.DateTimeField()),
                ("payload", models.BinaryField()),
            ],
            options={"indexes": [models.Index(fields=["kind"], name="computed_cache_kind")]},
        ),
        migrations.RunSQL(VERSIONS, VERSIONS_DROP),
    ]
