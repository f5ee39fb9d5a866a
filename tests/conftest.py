from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "company-small"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.exists():
        pytest.skip(f"the shared samples are not beside the checkout ({SAMPLES})")
    return SAMPLES


@pytest.fixture
def other_connection(db):
    """A second session on the test database (autocommit), as another worker would have; opened
    with the parameters Django's own connection uses (TCP or the embedded server's socket)."""
    import psycopg
    from django.db import connection

    connection.ensure_connection()
    params = connection.get_connection_params()
    with psycopg.connect(autocommit=True, **params) as conn:
        yield conn


@pytest.fixture
def default_priorities(db) -> None:
    """The SourcePriority rows the migration adds, again: a transactional test runs after others
    have flushed the database, migration data included."""
    import importlib

    from django.apps import apps

    importlib.import_module("usage.migrations.0005_sources").add_default_priorities(apps, None)
