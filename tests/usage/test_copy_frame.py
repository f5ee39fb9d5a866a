"""copy_frame writes COPY's CSV itself: every value must come back from the server as it went in."""

from decimal import Decimal

import pandas as pd
import pytest
from django.db import connection

from usage.services.ingest import copy_frame

TRICKY = ["plain", "", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "back\\slash", "\\N", " padded ", "ünï"]


@pytest.mark.django_db
def test_copy_frame_round_trips_text_nulls_numbers_and_booleans():
    frame = pd.DataFrame(
        {
            "text": [*TRICKY, None],
            "number": list(range(len(TRICKY) + 1)),
            "flag": [n % 2 == 0 for n in range(len(TRICKY) + 1)],
            "amount": ["0.000123", None, "1.50", *["2"] * (len(TRICKY) - 2)],
        }
    )
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE round_trip (text text, number bigint, flag boolean, amount numeric)")
        copy_frame(cursor, "round_trip", frame, ["text", "number", "flag", "amount"])
        cursor.execute("SELECT text, number, flag, amount FROM round_trip ORDER BY number")
        rows = cursor.fetchall()
        cursor.execute("DROP TABLE round_trip")
    assert [row[0] for row in rows] == [*TRICKY, None]
    assert [row[1] for row in rows] == list(range(len(TRICKY) + 1))
    assert [row[2] for row in rows] == [n % 2 == 0 for n in range(len(TRICKY) + 1)]
    assert rows[0][3] == Decimal("0.000123") and rows[1][3] is None
