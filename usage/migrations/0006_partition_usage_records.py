"""The raw usage table becomes partitioned by month on bucket_start (issue 7).

PostgreSQL cannot partition a table in place: the rows are copied into a new partitioned table
of the same name, columns, constraint and index names. Its primary key gains bucket_start (a
unique key of a partitioned table must hold the partition key); `id` keeps its values and draws
new ones from a plain sequence (PostgreSQL 15 has no identity columns on partitioned tables).
Months from the oldest row (at most three years back) to three months ahead get a partition; a
default partition takes anything else until usage.services.partitions moves it into its month.
Irreversible: going back would need the same copy the other way.
"""

import django.contrib.postgres.indexes
from django.db import migrations, models

PARTITION_SQL = """
ALTER TABLE usage_usagerecord RENAME TO usage_usagerecord_unpartitioned;
CREATE SEQUENCE usage_usagerecord_part_id_seq;
CREATE TABLE usage_usagerecord (
    LIKE usage_usagerecord_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS
) PARTITION BY RANGE (bucket_start);
ALTER TABLE usage_usagerecord ALTER COLUMN id SET DEFAULT nextval('usage_usagerecord_part_id_seq');
ALTER SEQUENCE usage_usagerecord_part_id_seq OWNED BY usage_usagerecord.id;
CREATE TABLE usage_usagerecord_default PARTITION OF usage_usagerecord DEFAULT;
DO $$
DECLARE
    m date;
    last date := (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months')::date;
BEGIN
    SELECT greatest(
        date_trunc('month', coalesce(min(bucket_start), now()) AT TIME ZONE 'UTC'),
        date_trunc('month', now() AT TIME ZONE 'UTC') - interval '36 months'
    )::date INTO m FROM usage_usagerecord_unpartitioned;
    WHILE m <= last LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF usage_usagerecord FOR VALUES FROM (%L) TO (%L)',
            'usage_usagerecord_' || to_char(m, 'YYYY_MM'),
            m::text || ' 00:00:00+00',
            (m + interval '1 month')::date::text || ' 00:00:00+00'
        );
        m := (m + interval '1 month')::date;
    END LOOP;
END $$;
INSERT INTO usage_usagerecord SELECT * FROM usage_usagerecord_unpartitioned;
SELECT setval('usage_usagerecord_part_id_seq', coalesce((SELECT max(id) FROM usage_usagerecord_unpartitioned), 0) + 1, false);
DROP TABLE usage_usagerecord_unpartitioned;
ALTER TABLE usage_usagerecord ADD CONSTRAINT usage_usagerecord_pkey PRIMARY KEY (id, bucket_start);
ALTER TABLE usage_usagerecord ADD CONSTRAINT usage_record_natural_key UNIQUE (dataset, dedup_key, bucket_start);
ALTER TABLE usage_usagerecord ADD CONSTRAINT usage_usagerecord_batch_id_dfcf89ca_fk_usage_importbatch_id
    FOREIGN KEY (batch_id) REFERENCES usage_importbatch (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE usage_usagerecord ADD CONSTRAINT usage_usagerecord_engineer_id_281ccc64_fk_usage_engineer_id
    FOREIGN KEY (engineer_id) REFERENCES usage_engineer (id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX usage_unmapped_identity ON usage_usagerecord (vendor, identity_kind, identity_value)
    WHERE engineer_id IS NULL;
CREATE INDEX usage_unmapped_batch ON usage_usagerecord (batch_id) WHERE engineer_id IS NULL;
CREATE INDEX usage_not_counted_batch ON usage_usagerecord (batch_id) WHERE NOT counted;
CREATE INDEX usage_record_bucket_brin ON usage_usagerecord USING brin (bucket_start);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0005_sources"),
    ]

    operations = [
        migrations.CreateModel(
            name="RawRetention",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("pruned_before", models.DateField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(PARTITION_SQL)],
            state_operations=[
                migrations.AddIndex(
                    model_name="usagerecord",
                    index=django.contrib.postgres.indexes.BrinIndex(
                        fields=["bucket_start"], name="usage_record_bucket_brin"
                    ),
                ),
            ],
        ),
    ]
