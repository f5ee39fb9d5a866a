"""A synthetic company, written straight into the bench database with COPY, and event exports.

The company: N engineers in a team tree (leaf teams of ~8 under orgs of ~6 teams, a lead per
team who manages it and reports to the lead above), one login each, one open team membership
each, and D days of usage ending today with a Pareto-skewed appetite (a few heavy users, a
long tail). Usage goes in twice, consistently: as daily-bucket UsageRecord rows (the ledger)
and as the DailyUsage rollup of exactly those rows (one rollup row per ledger row), so the
database looks as if daily vendor exports had been imported for D days. This is the state the
pages are measured on; it is not loaded through the pipeline (that would take as long as the
thing being measured).

The event exports are generic CSV (docs/generic-csv.md), one row per request with a
timestamp, time-ordered, for the same engineers and days: what a gateway log looks like.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

TEAM_SIZE = 8  # engineers per leaf team, the lead included
FAN_OUT = 6  # teams under an org
# (vendor, product, model as the vendor writes it), most popular first.
COMBOS = (
    ("anthropic", "claude_code", "claude-sonnet-4-5-20250929"),
    ("anthropic", "api", "claude-sonnet-4-5-20250929"),
    ("openai", "codex", "gpt-5"),
    ("anthropic", "claude_code", "claude-opus-4-1-20250805"),
    ("anthropic", "api", "claude-haiku-4-5"),
    ("openai", "api", "gpt-5-mini"),
    ("openai", "chat", "gpt-4.1"),
)
COMBO_POPULARITY = np.array([0.34, 0.18, 0.16, 0.12, 0.10, 0.06, 0.04])
SLOT_USE = (1.0, 0.4, 0.15)  # chance an engineer uses their 1st, 2nd, 3rd tool on an active day
SLOT_SHARE = (1.0, 0.5, 0.3)  # of their daily appetite
PARETO_SHAPE = 1.16  # the 80/20 shape
WEIGHT_CAP = 400.0
DAILY_TOKENS = 2_000_000  # an engineer of weight 1 on an active day, all tools
EVENT_TOKENS = 60_000  # median request (agentic, cache-read heavy)
SPLIT = {"input_uncached_tokens": 0.03, "cache_read_tokens": 0.85, "cache_write_tokens": 0.05, "output_tokens": 0.07}
UNMAPPED_KEY = "apikey_bench_unmapped"
SYNTH_DATASET = "bench_daily"
EVENT_COLUMNS = (
    "timestamp",
    "email",
    "vendor",
    "product",
    "model",
    "input_uncached_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "output_tokens",
    "requests",
)
NULL = "\\N"
# Seat licences: (vendor, product, monthly USD, share of engineers holding one). At 50,000
# engineers that is about 60,000 seats, the size /finance/ was first measured at by hand.
SEAT_PLANS = (("cursor", "cursor", "40.00", 0.7), ("github", "copilot", "19.00", 0.5))
FINANCE_USERNAME = "finance@bench.example"  # in the `finance` group: whom /finance/ is measured as


@dataclass(frozen=True)
class Company:
    engineers: int
    days: int
    first_day: str  # ISO dates, inclusive
    last_day: str
    teams: int
    rollup_rows: int
    ledger_rows: int
    viewer_engineer_id: int  # a regular engineer with usage: whom the pages are measured as
    viewer_username: str
    top_manager_engineer_id: int  # the root lead: everyone is in their reporting chain
    top_manager_username: str
    seed: int
    finance_username: str = ""  # empty in a company built before the bench had seats

    def as_dict(self) -> dict:
        return asdict(self)


def email(engineer_id: int) -> str:
    return f"eng{engineer_id:06d}@bench.example"


def _prices() -> tuple[list[str], np.ndarray]:
    """Canonical model names and list unit prices (USD per million: in, cache read, cache write 5m, out)."""
    from billing.pricing import canonical_model, unit_prices

    today = datetime.now(UTC).date()
    canonical, prices = [], []
    for vendor, _product, model in COMBOS:
        unit = unit_prices(vendor=vendor, model=model, day=today, long_context=False)
        canonical.append(unit.model_canonical if unit else canonical_model(vendor, model))
        prices.append([float(unit.input), float(unit.cache_read), float(unit.cache_write_5m), float(unit.output)])
    return canonical, np.array(prices)


@dataclass(frozen=True)
class Org:
    """The team tree and who is where, as arrays indexed by engineer id - 1."""

    team_parent: list[int | None]  # index team id - 1
    team_level: list[int]
    leaves: list[int]
    engineer_team: np.ndarray
    engineer_manager: np.ndarray  # 0: none
    weights: np.ndarray
    combos: np.ndarray  # (N, 3) indexes into COMBOS, distinct per engineer


def org_build(engineers: int, seed: int) -> Org:
    if engineers < 2:
        raise SystemExit("--engineers must be at least 2")
    rng = np.random.default_rng([seed, 1])
    sizes = [max(1, round(engineers / TEAM_SIZE))]
    while sizes[-1] > 1:
        sizes.append(math.ceil(sizes[-1] / FAN_OUT))
    sizes.reverse()  # root level first
    while sum(sizes) >= engineers:  # tiny companies: fewer leaf teams, so there are members
        sizes[-1] -= 1
        if sizes[-1] == 0:
            sizes.pop()
    parent: list[int | None] = []
    level_of: list[int] = []
    first_id_of_level = []
    next_id = 1
    for level, size in enumerate(sizes):
        first_id_of_level.append(next_id)
        for j in range(size):
            parent.append(None if level == 0 else first_id_of_level[level - 1] + j // FAN_OUT)
            level_of.append(level)
        next_id += size
    teams = len(parent)
    leaves = list(range(first_id_of_level[-1], teams + 1))
    team = np.zeros(engineers, dtype=np.int64)
    manager = np.zeros(engineers, dtype=np.int64)
    # Engineer t (t <= teams) leads team t and reports to the lead of the team above.
    for t in range(1, teams + 1):
        team[t - 1] = t
        manager[t - 1] = parent[t - 1] or 0
    members = np.arange(teams + 1, engineers + 1)
    member_team = np.array(leaves)[(members - teams - 1) % len(leaves)]
    team[members - 1] = member_team
    manager[members - 1] = member_team  # the leaf's lead has the leaf's id
    weights = np.minimum(rng.pareto(PARETO_SHAPE, engineers) + 1.0, WEIGHT_CAP)
    combos = np.stack([rng.choice(len(COMBOS), size=3, replace=False, p=COMBO_POPULARITY) for _ in range(engineers)])
    return Org(parent, level_of, leaves, team, manager, weights, combos)


def _copy_frame(cursor, table: str, frame: pd.DataFrame) -> None:
    sql = f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv, NULL '{NULL}')"
    with cursor.copy(sql) as copy:
        copy.write(frame.to_csv(header=False, index=False, na_rep=NULL))


def _org_frames(org: Org, first_day: date, now: datetime) -> dict[str, pd.DataFrame]:
    n = len(org.engineer_team)
    ids = np.arange(1, n + 1)
    emails = [email(i) for i in ids]
    team_names = [
        "Company" if level == 0 else (f"Team {t:05d}" if t in set(org.leaves) else f"Org {t:05d}")
        for t, level in enumerate(org.team_level, start=1)
    ]
    teams = pd.DataFrame(
        {
            "id": range(1, len(org.team_parent) + 1),
            "name": team_names,
            "parent_id": pd.array(org.team_parent, dtype="Int64"),
        }
    )
    users = pd.DataFrame(
        {
            "id": ids,
            "password": "!",  # unusable: the bench logs in with force_login
            "is_superuser": "f",
            "username": emails,
            "first_name": "",
            "last_name": "",
            "email": emails,
            "is_staff": "f",
            "is_active": "t",
            "date_joined": now.isoformat(),
        }
    )
    leads = ids <= len(org.team_parent)
    engineers = pd.DataFrame(
        {
            "id": ids,
            "email": emails,
            "employee_id": [f"B{i:06d}" for i in ids],
            "name": [f"Engineer {i:06d}" for i in ids],
            "title": np.where(leads, "Engineering Manager", "Software Engineer"),
            "cost_center": [f"CC-{t % 97:02d}" for t in org.engineer_team],
            "github_login": [f"gh-eng{i}" for i in ids],
            "manager_id": pd.array(np.where(org.engineer_manager > 0, org.engineer_manager, 0), dtype="Int64"),
            "start_date": (first_day - timedelta(days=365)).isoformat(),
            "end_date": pd.array([None] * n, dtype="object"),
            "user_id": ids,
        }
    )
    engineers.loc[engineers["manager_id"] == 0, "manager_id"] = pd.NA
    memberships = pd.DataFrame(
        {
            "engineer_id": ids,
            "team_id": org.engineer_team,
            "valid_from": (first_day - timedelta(days=365)).isoformat(),
            "valid_to": pd.array([None] * n, dtype="object"),
        }
    )
    return {
        "usage_team": teams,
        "auth_user": users,
        "usage_engineer": engineers,
        "usage_teammembership": memberships,
    }


def _usage_days(org: Org, days: list[date], seed: int, canonical: list[str], prices: np.ndarray) -> Iterator[dict]:
    """Per day, the usage arrays: one row per (engineer, tool) used that day, plus unmapped usage."""
    vendors = np.array([c[0] for c in COMBOS], dtype=object)
    products = np.array([c[1] for c in COMBOS], dtype=object)
    models = np.array([c[2] for c in COMBOS], dtype=object)
    canon = np.array(canonical, dtype=object)
    n = len(org.weights)
    for index, day in enumerate(days):
        rng = np.random.default_rng([seed, 2, index])
        active = rng.random(n) < (0.75 if day.weekday() < 5 else 0.15)
        parts = []
        for slot in range(3):
            used = np.nonzero(active & (rng.random(n) < SLOT_USE[slot]))[0]
            total = org.weights[used] * DAILY_TOKENS * SLOT_SHARE[slot] * rng.lognormal(0.0, 0.6, len(used))
            parts.append((used, org.combos[used, slot], total))
        eng = np.concatenate([p[0] for p in parts])
        combo = np.concatenate([p[1] for p in parts])
        total = np.concatenate([p[2] for p in parts])
        # One row of usage nobody is mapped to yet (an API key without an owner).
        eng_id = np.append(eng + 1, 0)
        combo = np.append(combo, 4)
        total = np.append(total, 3_000_000.0)
        tokens = {name: (total * share).astype(np.int64) for name, share in SPLIT.items()}
        p = prices[combo]
        cost = (
            tokens["input_uncached_tokens"] * p[:, 0]
            + tokens["cache_read_tokens"] * p[:, 1]
            + tokens["cache_write_tokens"] * p[:, 2]
            + tokens["output_tokens"] * p[:, 3]
        ) / 1_000_000
        yield {
            "day": day,
            "engineer_id": eng_id,
            "combo": combo,
            "vendor": vendors[combo],
            "product": products[combo],
            "model": models[combo],
            "model_canonical": canon[combo],
            "tokens": tokens,
            "requests": np.maximum(1, (total // 40_000).astype(np.int64)),
            "cost": np.char.mod("%.10f", cost),
        }


def _rollup_frame(org: Org, u: dict) -> pd.DataFrame:
    t = u["tokens"]
    eng = u["engineer_id"]
    team = np.where(eng > 0, org.engineer_team[np.maximum(eng, 1) - 1], 0)
    return pd.DataFrame(
        {
            "day": u["day"].isoformat(),
            "engineer_id": pd.array(np.where(eng > 0, eng, 0), dtype="Int64").astype("Int64"),
            "team_id": pd.array(team, dtype="Int64"),
            "vendor": u["vendor"],
            "product": u["product"],
            "model": u["model_canonical"],
            "input_uncached_tokens": t["input_uncached_tokens"],
            "cache_read_tokens": t["cache_read_tokens"],
            "cache_write_tokens": t["cache_write_tokens"],
            "output_tokens": t["output_tokens"],
            "tokens": sum(t.values()),
            "requests": u["requests"],
            "cost_usd": u["cost"],
            "unpriced_tokens": 0,
        }
    ).pipe(_null_zero_ids, "engineer_id", "team_id")


def _ledger_frame(u: dict, batch_id: int) -> pd.DataFrame:
    t = u["tokens"]
    eng = u["engineer_id"]
    mapped = eng > 0
    identity = np.where(
        mapped, np.char.add(np.char.add("eng", np.char.zfill(eng.astype(str), 6)), "@bench.example"), ""
    )
    identity = np.where(mapped, identity, UNMAPPED_KEY)
    return pd.DataFrame(
        {
            "batch_id": batch_id,
            "dataset": SYNTH_DATASET,
            "dedup_key": np.char.add(np.char.add(eng.astype(str), "."), u["combo"].astype(str)),
            "bucket_start": f"{u['day'].isoformat()}T00:00:00Z",
            "bucket_width": "1d",
            "day": u["day"].isoformat(),
            "vendor": u["vendor"],
            "product": u["product"],
            "account": "",
            "identity_kind": np.where(mapped, "email", "api_key_id"),
            "identity_value": identity,
            "engineer_id": pd.array(eng, dtype="Int64"),
            "model": u["model"],
            "model_canonical": u["model_canonical"],
            "long_context": "f",
            "input_uncached_tokens": t["input_uncached_tokens"],
            "cache_read_tokens": t["cache_read_tokens"],
            "cache_write_5m_tokens": t["cache_write_tokens"],
            "cache_write_1h_tokens": 0,
            "output_tokens": t["output_tokens"],
            "requests": u["requests"],
            "cost_usd": u["cost"],
            "cost_source": "computed",
        }
    ).pipe(_null_zero_ids, "engineer_id")


def _null_zero_ids(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame.loc[frame[column] == 0, column] = pd.NA
    return frame


def _seat_frame(org: Org, first_day: date, days: int, seed: int) -> pd.DataFrame:
    """Seats per SEAT_PLANS: most bought long before the window, a fifth during it, one in twenty
    ended in it, one in fifty held by an email nobody has (a leaver's: an unmapped seat); Copilot
    says when each was last used (a tenth idle for months)."""
    rng = np.random.default_rng([seed, 6])
    n = len(org.weights)
    frames = []
    for vendor, product, price, share in SEAT_PLANS:
        holders = np.nonzero(rng.random(n) < share)[0] + 1
        k = len(holders)
        start = np.where(rng.random(k) < 0.8, rng.integers(-365, 0, k), rng.integers(0, days, k))
        ended = rng.random(k) < 0.05
        length = rng.integers(1, max(2, days), k)
        end = np.where(ended, np.minimum(start + length, days - 1), -1)
        end = np.where(end >= start, end, -1)
        emails = np.array([email(i) for i in holders], dtype=object)
        left = rng.random(k) < 0.02
        emails[left] = np.char.add(np.char.add("former", holders[left].astype(str)), "@bench.example")
        last_use = np.where(rng.random(k) < 0.1, -rng.integers(60, 120, k), -rng.integers(0, 7, k)) + days - 1

        def iso(offsets: np.ndarray) -> list[str | None]:
            return [None if o < 0 else (first_day + timedelta(days=int(o))).isoformat() for o in offsets]

        frames.append(
            pd.DataFrame(
                {
                    "email": emails,
                    "vendor": vendor,
                    "product": product,
                    "monthly_price_usd": price,
                    "start_on": [(first_day + timedelta(days=int(o))).isoformat() for o in start],
                    "end_on": iso(end),
                    "last_activity_on": iso(last_use) if vendor == "github" else None,
                    "imported_at": datetime.now(UTC).isoformat(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _finance_user(cur) -> None:
    """A finance login with no engineer record, in the `finance` group (leaderboard.access)."""
    cur.execute(
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,"
        " is_active, date_joined) VALUES ('!', false, %(u)s, '', '', %(u)s, false, true, now()) RETURNING id",
        {"u": FINANCE_USERNAME},
    )
    (user_id,) = cur.fetchone()
    cur.execute("INSERT INTO auth_group (name) VALUES ('finance') ON CONFLICT (name) DO NOTHING")
    cur.execute(
        "INSERT INTO auth_user_groups (user_id, group_id) SELECT %s, id FROM auth_group WHERE name = 'finance'",
        [user_id],
    )


def company_build(*, url: str, engineers: int, days: int, seed: int, log=print) -> Company:
    """Write the org and `days` days of usage into the (migrated, empty) bench database."""
    canonical, prices = _prices()
    org = org_build(engineers, seed)
    today = datetime.now(UTC).date()
    day_list = [today - timedelta(days=days - 1 - n) for n in range(days)]
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for table, frame in _org_frames(org, day_list[0], now).items():
            _copy_frame(cur, table, frame)
        for table in ("usage_team", "auth_user", "usage_engineer"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        _finance_user(cur)
        seats = _seat_frame(org, day_list[0], days, seed)
        _copy_frame(cur, "billing_seatassignment", seats)
        cur.execute(
            "INSERT INTO usage_importbatch (filename, raw_file, size_bytes, sha256, format, engineer_email, status,"
            " error, rows_accepted, rows_rejected, rows_unmapped, cost_usd, unmapped_cost_usd, unpriced_rows,"
            " created_at, attempts) VALUES ('bench-synthetic', 'bench/synthetic', 0, '', 'bench', '', 'done', '',"
            " 0, 0, 0, 0, 0, 0, now(), 1) RETURNING id"
        )
        (batch_id,) = cur.fetchone()
        cur.execute(
            "INSERT INTO leaderboard_privacysettings (id, board_names, min_team_size, updated_at)"
            " VALUES (1, 'names', 5, now()) ON CONFLICT DO NOTHING"
        )
    log(f"  org: {engineers:,} engineers, {len(org.team_parent):,} teams, {len(seats):,} seats")
    rollup_rows = 0
    # Two connections: the ledger and the rollup stream side by side, one day at a time.
    with psycopg.connect(url) as ledger_conn, psycopg.connect(url) as rollup_conn:
        lcur, rcur = ledger_conn.cursor(), rollup_conn.cursor()
        for n, u in enumerate(_usage_days(org, day_list, seed, canonical, prices)):
            rollup = _rollup_frame(org, u)
            _copy_frame(rcur, "usage_dailyusage", rollup)
            _copy_frame(lcur, "usage_usagerecord", _ledger_frame(u, batch_id))
            rollup_rows += len(rollup)
            if (n + 1) % 10 == 0 or n + 1 == days:
                log(f"  usage: {n + 1}/{days} days, {rollup_rows:,} rollup rows (= ledger rows)")
    with psycopg.connect(url, autocommit=True) as conn:
        tables = ("usage_dailyusage", "usage_usagerecord", "usage_engineer", "usage_teammembership", "auth_user")
        for table in (*tables, "billing_seatassignment"):
            conn.execute(f"VACUUM ANALYZE {table}")
    members = np.arange(len(org.team_parent) + 1, engineers + 1)
    # The viewer: a regular engineer near the 90th percentile of appetite (an active user).
    member_weights = org.weights[members - 1]
    viewer = int(members[np.argsort(member_weights)[int(0.9 * (len(members) - 1))]])
    return Company(
        engineers=engineers,
        days=days,
        first_day=day_list[0].isoformat(),
        last_day=day_list[-1].isoformat(),
        teams=len(org.team_parent),
        rollup_rows=rollup_rows,
        ledger_rows=rollup_rows,
        viewer_engineer_id=viewer,
        viewer_username=email(viewer),
        top_manager_engineer_id=1,
        top_manager_username=email(1),
        seed=seed,
        finance_username=FINANCE_USERNAME,
    )


# ---------------------------------------------------------------------------------------------
# Event exports (generic CSV, one row per request)


SLICE_ROWS = 250_000  # rows generated at a time: a 2 GB export never sits in memory whole


def _event_chunks(org: Org, day_list: list[date], total: int, seed: int) -> Iterator[pd.DataFrame]:
    """Time-ordered slices of events: each day is cut into equal time slices of about
    SLICE_ROWS requests, sorted within, so the file is sorted and memory stays bounded."""
    rng = np.random.default_rng([seed, 3])
    weekday = np.array([1.0 if d.weekday() < 5 else 0.2 for d in day_list])
    per_day = rng.multinomial(total, weekday / weekday.sum())
    p_engineer = org.weights / org.weights.sum()
    vendors = np.array([c[0] for c in COMBOS], dtype=object)
    products = np.array([c[1] for c in COMBOS], dtype=object)
    models = np.array([c[2] for c in COMBOS], dtype=object)
    emails = np.array([email(i) for i in range(1, len(org.weights) + 1)], dtype=object)
    for index, (day, day_count) in enumerate(zip(day_list, per_day, strict=True)):
        slices = max(1, math.ceil(day_count / SLICE_ROWS))
        width = 86_400_000_000 // slices
        counts = np.random.default_rng([seed, 5, index]).multinomial(day_count, [1 / slices] * slices)
        for part, count in enumerate(counts):
            if count:
                rng = np.random.default_rng([seed, 4, index, part])
                yield _events(
                    rng, org, emails, p_engineer, (vendors, products, models), day, part * width, width, count
                )


def _events(rng, org: Org, emails, p_engineer, names, day: date, begin_us: int, width_us: int, count: int):
    vendors, products, models = names
    eng = rng.choice(len(org.weights), size=count, p=p_engineer)
    slot = rng.choice(3, size=count, p=[0.6, 0.3, 0.1])
    combo = org.combos[eng, slot]
    who = emails[eng]
    # About 0.5 % of requests come from people nobody has mapped yet (unmapped usage).
    ghosts = rng.random(count) < 0.005
    who[ghosts] = np.char.add(np.char.add("ghost", rng.integers(0, 500, ghosts.sum()).astype(str)), "@bench.example")
    start = np.datetime64(day.isoformat(), "us")
    offsets = begin_us + np.sort(rng.integers(0, width_us, count))
    # A whole second is written without a fraction ("...:25Z"); the pipeline's
    # pd.to_datetime infers one format from the first row and fails the batch on such a
    # row (reported; fix: format="ISO8601"). Nudged by 1 us so throughput is measurable.
    offsets = (offsets + (offsets % 1_000_000 == 0)).astype("timedelta64[us]")
    total_tokens = rng.lognormal(np.log(EVENT_TOKENS), 1.0, count)
    return pd.DataFrame(
        {
            "timestamp": np.char.add(np.datetime_as_string(start + offsets, unit="us"), "Z"),
            "email": who,
            "vendor": vendors[combo],
            "product": products[combo],
            "model": models[combo],
            "input_uncached_tokens": (total_tokens * SPLIT["input_uncached_tokens"]).astype(np.int64),
            "cache_read_tokens": (total_tokens * SPLIT["cache_read_tokens"]).astype(np.int64),
            "cache_write_5m_tokens": (total_tokens * SPLIT["cache_write_tokens"]).astype(np.int64),
            "output_tokens": (total_tokens * SPLIT["output_tokens"]).astype(np.int64) + 1,
            "requests": 1,
        }
    )


def _event_days(days: int, event_days: int, ends_after: int = 0) -> list[date]:
    """The last `event_days` of the company's `days` (the export's window), ending today, or
    `ends_after` days after it (a day no earlier run imported)."""
    today = datetime.now(UTC).date() + timedelta(days=ends_after)
    span = max(1, min(days, event_days))
    return [today - timedelta(days=span - 1 - n) for n in range(span)]


def events_write(
    *, path: Path, engineers: int, days: int, event_days: int, rows: int, org_seed: int, seed: int, ends_after: int = 0
) -> dict:
    """A time-ordered generic-CSV event export of `rows` requests by the company's engineers
    (built from `org_seed`, so their tools match their usage) over its last `event_days` days
    (ending `ends_after` days after today): a gateway log shipped daily has event_days=1."""
    org = org_build(engineers, org_seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("w", newline="") as fh:
        fh.write(",".join(EVENT_COLUMNS) + "\n")
        for frame in _event_chunks(org, _event_days(days, event_days, ends_after), rows, seed):
            buffer = io.StringIO()
            frame.to_csv(buffer, header=False, index=False)
            fh.write(buffer.getvalue())
            written += len(frame)
    return {"path": str(path), "rows": written, "bytes": path.stat().st_size, "days": min(days, event_days)}


def events_rows_for_bytes(*, engineers: int, days: int, event_days: int, target_bytes: int, seed: int) -> int:
    """How many event rows make a file of about `target_bytes` (from a sample's row length)."""
    org = org_build(engineers, seed)
    sample = pd.concat(list(_event_chunks(org, _event_days(days, event_days), 20_000, seed)))
    per_row = len(sample.to_csv(header=False, index=False)) / len(sample)
    return max(1, int(target_bytes / per_row))
