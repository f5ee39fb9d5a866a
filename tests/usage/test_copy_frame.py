"""copy_frame writes COPY's CSV itself: every value must come back from the server as it went in."""

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from django.db import connection

from usage.services.ingest import _copy_text, _csv_cells, copy_frame

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


def csv_of_each_cell(frame: pd.DataFrame, columns: list[str]) -> str:
    """COPY's CSV built a cell at a time (_csv_cells): what _copy_text must write."""
    return "\n".join(map(",".join, zip(*[_csv_cells(frame[name]) for name in columns], strict=True))) + "\n"


FRAMES = {
    "plain": pd.DataFrame(
        {
            "key": pd.Series(["a1", "b2", "c3"], dtype="str"),
            "flag": [True, False, True],
            "count": [0, 7, 10**15 - 1],
            "small": pd.Series([1, 2, 3], dtype="uint8"),
            "amount": [None, "1.50", None],
            "ord": [0, 1, 2],
        }
    ),
    "tricky text": pd.DataFrame({"text": pd.Series([*TRICKY, None], dtype="str"), "n": range(len(TRICKY) + 1)}),
    "missing text": pd.DataFrame({"text": pd.Series(["a", None, "b"], dtype="str"), "n": [1, 2, 3]}),
    "all missing": pd.DataFrame({"a": [None, None], "b": [None, None], "n": [5, 6]}),
    "numbers": pd.DataFrame(
        {
            "negative": [-1, 0, 5],
            "huge": [10**18, 2**63 - 1, 0],
            "nullable": pd.Series([1, None, 3], dtype="Int64"),
            "float": [1.5, float("nan"), 1e-05],
            "flags": [False, False, True],
        }
    ),
    "objects": pd.DataFrame(
        {
            "price": [Decimal("0.000003"), None, Decimal("1E-7")],
            "day": [date(2026, 1, 2), None, date(2026, 1, 3)],
            "mixed": ["x", 3, None],
        }
    ),
}


@pytest.mark.parametrize("name", FRAMES)
def test_copy_text_is_what_a_cell_at_a_time_writes(name):
    frame = FRAMES[name]
    for columns in (list(frame.columns), list(frame.columns)[::-1]):
        for part in (frame, frame.iloc[1:]):
            assert _copy_text(part, columns).decode() == csv_of_each_cell(part, columns)


@pytest.mark.django_db
def test_copy_frame_round_trips_adjacent_numbers_and_missing_text():
    frame = pd.DataFrame(
        {
            "text": pd.Series(["a", None, "\\N", "x,y"], dtype="str"),
            "flag": [True, False, True, False],
            "tokens": [0, 9, 10, 10**15 - 1],
            "number": [3, 2, 1, 0],
        }
    )
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE round_trip (text text, flag boolean, tokens bigint, number bigint)")
        copy_frame(cursor, "round_trip", frame, ["text", "flag", "tokens", "number"])
        cursor.execute("SELECT text, flag, tokens FROM round_trip ORDER BY number DESC")
        rows = cursor.fetchall()
        cursor.execute("DROP TABLE round_trip")
    assert rows == [("a", True, 0), (None, False, 9), ("\\N", True, 10), ("x,y", False, 10**15 - 1)]


# --- One COPY for a stream of frames, written from a thread -------------------------------------


@pytest.mark.django_db
def test_a_background_copy_stream_stages_every_frame_in_order(monkeypatch):
    from usage.services import ingest

    monkeypatch.setattr(ingest, "COPY_CHUNK_ROWS", 3)  # several pieces per frame, through the queue
    frames = [pd.DataFrame({"n": range(start, start + 7)}) for start in range(0, 70, 7)]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE streamed (n bigint, at bigserial)")
        with ingest.copy_stream(cursor, "streamed", ["n"], background=True) as write:
            for frame in frames:
                write(frame)
        cursor.execute("SELECT n FROM streamed ORDER BY at")
        assert [row[0] for row in cursor.fetchall()] == list(range(70))
        cursor.execute("DROP TABLE streamed")


def test_a_failure_on_the_writer_thread_is_raised_to_the_caller():
    from usage.services.ingest import _in_background

    written = []

    def write(piece):
        if piece == b"bad":
            raise ConnectionResetError("server went away")
        written.append(piece)

    with pytest.raises(ConnectionResetError, match="server went away"):
        with _in_background(write) as send:
            for piece in (b"one", b"bad", b"two", b"three", b"four"):
                send(piece)  # raises at a later send, or at the end
    assert written == [b"one"]


def test_a_failure_in_the_caller_stops_the_writer_thread():
    import threading

    from usage.services.ingest import _in_background

    written = []
    with pytest.raises(ValueError, match="bad line"):
        with _in_background(written.append) as send:
            send(b"one")
            raise ValueError("bad line")
    assert written == [b"one"]
    assert not [t for t in threading.enumerate() if t.name == "copy-writer"]
