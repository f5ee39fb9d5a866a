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
    """A second session on the test database (autocommit), as another worker would have."""
    import psycopg
    from django.db import connection

    s = connection.settings_dict
    params = {"dbname": s["NAME"], "user": s["USER"] or "postgres", "host": s["HOST"] or None}
    if s["PORT"]:
        params["port"] = s["PORT"]
    if s["PASSWORD"]:
        params["password"] = s["PASSWORD"]
    with psycopg.connect(autocommit=True, **params) as conn:
        yield conn
