from django.db import migrations, models


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
    ]
