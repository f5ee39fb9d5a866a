"""Results of costly reads kept under the versions of the tables they read (ComputedCache).

A page that aggregates millions of rollup rows (/finance/, a big team's page) computes its result
once, in one consistent snapshot, and stores it pickled with the versions it was read at. A later
view whose versions all match reads it back in one query; any write to those tables moves a
version, and the next view computes it again. So an entry is never older than the tables, with one
exception: the rollup's version is a sequence that imports advance without waiting on each other,
so an entry built while an import was committing could carry its version without its rows: every
writer of those tables moves them again at commit (versions_move_on_commit), which makes such an
entry stale.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


# The versions a result can depend on, as SQL expressions (each table's trigger moves its own).
ROLLUP = "(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM usage_rollup_version)"
ENGINEERS = "(SELECT version FROM usage_engineer_version WHERE id = 1)"
TEAMS = "(SELECT version FROM usage_team_version WHERE id = 1)"
MEMBERSHIPS = "(SELECT version FROM usage_membership_version WHERE id = 1)"
IMPACT = "(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM usage_impact_version)"


@contextmanager
def one_snapshot() -> Iterator[None]:
    """A transaction whose reads all see one snapshot of the database (REPEATABLE READ), so that
    what they sum agrees while imports commit. Inside a caller's transaction (tests) it is theirs."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def versions_move_on_commit() -> None:
    """Move the rollup's and impact records' versions again once the caller's transaction
    commits. Their triggers move them when a statement writes, before the rows are visible: a
    result computed meanwhile would carry the new version without those rows, and be read back
    until the next write. Moved at commit, such a result is older than the tables again."""

    def move() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval('usage_rollup_version'), nextval('usage_impact_version')")

    transaction.on_commit(move, robust=True)


def versions_sql(*parts: str) -> str:
    """One text value naming every version in `parts`, compared as a whole."""
    return f"SELECT concat_ws(':', {', '.join(parts)})"


LOOKUP_SQL = "SELECT c.payload FROM usage_computedcache c WHERE c.key = %s AND c.versions = ({versions})"

STORE_SQL = """
WITH dead AS (DELETE FROM usage_computedcache WHERE kind = %(kind)s AND versions <> %(versions)s)
INSERT INTO usage_computedcache (key, kind, versions, built_at, payload)
VALUES (%(key)s, %(kind)s, %(versions)s, %(built_at)s, %(payload)s)
ON CONFLICT (key) DO UPDATE SET versions = EXCLUDED.versions, built_at = EXCLUDED.built_at, payload = EXCLUDED.payload
"""


def computed[T](*, kind: str, key: str, versions: str, compute: Callable[[], T], of: type | tuple[type, ...]) -> T:
    """`compute()`'s result for `kind:key`, read back while nothing in `versions` (versions_sql)
    has changed since it was stored (one query), else computed, stored and returned. `of` is the
    result's class (or classes, as for isinstance): an entry that does not hold one, or holds a
    dataclass with other fields than the class has now (a deploy changed it), is computed again."""
    full_key = f"{kind}:{key}"
    with connection.cursor() as cursor:
        cursor.execute(LOOKUP_SQL.format(versions=versions), [full_key])
        row = cursor.fetchone()
    if row is not None:
        try:
            return _loads(row[0], of)
        except Exception:  # noqa: BLE001 - any unreadable entry is computed anew, and said so
            logger.exception("cached %s could not be read; computing it again", full_key)
    return compute_and_store(kind=kind, key=key, versions=versions, compute=compute)


def compute_and_store[T](*, kind: str, key: str, versions: str, compute: Callable[[], T]) -> T:
    """Compute in one snapshot of the database (REPEATABLE READ, so that the result's parts agree
    while imports commit) and store under the versions read in that snapshot. Entries of the same
    kind at other versions go: versions only grow, so they can never be read again."""
    built_at = timezone.now()
    with one_snapshot(), connection.cursor() as cursor:
        cursor.execute(versions)
        (current,) = cursor.fetchone()
        result = compute()
    payload = zlib.compress(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL), 1)
    # Autocommit: two views storing the same key at once both succeed, the later one kept.
    with connection.cursor() as cursor:
        cursor.execute(
            STORE_SQL,
            {"key": f"{kind}:{key}", "kind": kind, "versions": current, "built_at": built_at, "payload": payload},
        )
    return result


def computed_entry(*, kind: str, key: str, versions: str) -> datetime | None:
    """When the entry for `kind:key` was built, if it is at the current versions."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT built_at FROM usage_computedcache WHERE key = %s AND versions = ({versions})", [f"{kind}:{key}"]
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _loads(payload: bytes, of: type | tuple[type, ...]):
    # Our own rows, written by compute_and_store (Django's database cache unpickles its rows so).
    result = pickle.loads(zlib.decompress(payload))  # noqa: S301
    if not isinstance(result, of):
        raise TypeError(f"holds a {type(result).__name__}")
    if dataclasses.is_dataclass(result) and set(vars(result)) != {f.name for f in dataclasses.fields(result)}:
        raise TypeError(f"holds the fields {sorted(vars(result))}")
    return result
