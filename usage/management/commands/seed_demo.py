"""A demo company: its HRIS export, vendor exports and seat assignments written as files, then
imported through the same pipeline as real data (import_org, import_identities, import_usage,
import_seats). A few heavy users have a spike day, so the anomalies page has something to show."""

import csv
import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand

TEAMS = [  # (team, parent)
    ("Engineering", ""),
    ("Platform", "Engineering"),
    ("Infrastructure", "Platform"),
    ("Developer Experience", "Platform"),
    ("Product", "Engineering"),
    ("Payments", "Product"),
    ("Growth", "Product"),
    ("Applied AI", "Engineering"),
    ("Research", "Applied AI"),
    ("Data", "Engineering"),
]
FIRST = "Ada Alan Barbara Bjarne Dennis Donald Edsger Frances Grace Guido John Ken Leslie Linus Margaret Niklaus Radia Sophie Tim Yukihiro".split()
LAST = "Lovelace Turing Liskov Stroustrup Ritchie Knuth Dijkstra Allen Hopper Rossum Backus Thompson Lamport Torvalds Hamilton Wirth Perlman Wilson Berners-Lee Matsumoto".split()
ANTHROPIC_MODELS = ["claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5"]
OPENAI_MODELS = ["gpt-5", "gpt-5-mini", "gpt-4.1"]
SPIKE_DAYS_AGO = (3, 9, 16)  # one spike each for the three heaviest users
SPIKE_FACTOR = 20
DEMO_PASSWORD = "tokenboard"  # noqa: S105 - the demo's documented login, never a production secret


class Command(BaseCommand):
    help = "Write a demo company's exports (200 engineers, 90 days) under .data/demo and import them."

    def add_arguments(self, parser):
        parser.add_argument("--engineers", type=int, default=200)
        parser.add_argument("--days", type=int, default=90)
        parser.add_argument("--out", type=Path, default=settings.BASE_DIR / ".data" / "demo")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, engineers, days, out, seed, **options):
        rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
        out.mkdir(parents=True, exist_ok=True)
        end = datetime.now(UTC).date()
        start = end - timedelta(days=days)
        people = self._people(rng, engineers)
        heaviest = sorted(people, key=lambda p: -p["weight"])[: len(SPIKE_DAYS_AGO)]
        self.spikes = {
            (p["email"], end - timedelta(days=ago)) for p, ago in zip(heaviest, SPIKE_DAYS_AGO, strict=False)
        }
        self._write_org(out / "org.csv", people, start)
        keys = self._write_identities(out / "identities.csv", people)
        files = [
            *self._write_anthropic(out, rng, people, keys, start, end),
            self._write_claude_code(out / "claude_code_analytics.json", rng, people, start, end),
            self._write_openai(out / "openai_usage_completions.json", rng, people, start, end),
            self._write_github_prs(out / "github_prs.csv", rng, people, start, end),
        ]
        call_command("import_org", str(out / "org.csv"), stdout=self.stdout)
        call_command("import_identities", str(out / "identities.csv"), stdout=self.stdout)
        # Seat holders' own usage, from a generator of its own: the files above stay as they were.
        tools_rng = random.Random(seed + 1)  # noqa: S311 - demo data, not secrets
        files.append(self._write_cursor(out / "cursor_usage_export.csv", tools_rng, people, start, end))
        call_command("import_usage", *[str(f) for f in files], stdout=self.stdout)
        self._write_seats(out / "seats.csv", people, start)
        call_command("import_seats", str(out / "seats.csv"), stdout=self.stdout, stderr=self.stderr)
        self._write_copilot_seats(out / "copilot_seats.json", tools_rng, people, start, end)
        call_command("import_seats", str(out / "copilot_seats.json"), stdout=self.stdout, stderr=self.stderr)
        self._users(people)
        self.stdout.write(f"Demo ready: log in as admin@example.com / {DEMO_PASSWORD} (or any engineer's email)")

    def _people(self, rng: random.Random, count: int) -> list[dict]:
        people = []
        managers: dict[str, str] = {}
        for i in range(count):
            team, parent = (
                TEAMS[0]
                if i == 0
                else TEAMS[1 + (i - 1) % (len(TEAMS) - 1)]
                if i < len(TEAMS)
                else rng.choice(TEAMS[1:])
            )
            name = f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST) + i) % len(LAST)]}"
            email = f"{name.lower().replace(' ', '.')}{i}@example.com"
            manager = managers.get(team) or managers.get(parent) or (people[0]["email"] if people else "")
            if team not in managers:
                managers[team] = email  # the first person of a team manages it
            # A Pareto-skewed appetite: a few heavy users, a long tail of light ones.
            weight = min(rng.paretovariate(1.3), 40.0)
            people.append(
                {
                    "employee_id": f"E{2000 + i}",
                    "email": email,
                    "name": name,
                    "title": "Engineering Manager" if managers[team] == email else "Software Engineer",
                    "team": team,
                    "parent_team": parent,
                    "manager_email": "" if manager == email else manager,
                    "cost_center": f"CC-{100 + [t for t, _ in TEAMS].index(team) * 10}",
                    "github_login": f"gh-{i}",
                    "weight": weight,
                    "tool": rng.choice(["anthropic_api", "claude_code", "openai", "claude_code", "anthropic_api"]),
                }
            )
        return people

    def _write_org(self, path: Path, people: list[dict], start: date) -> None:
        fields = [
            "employee_id",
            "email",
            "name",
            "title",
            "team",
            "parent_team",
            "manager_email",
            "cost_center",
            "github_login",
            "start_date",
            "end_date",
        ]
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            for p in people:
                writer.writerow({**p, "start_date": (start - timedelta(days=365)).isoformat(), "end_date": ""})

    def _write_identities(self, path: Path, people: list[dict]) -> dict[str, str]:
        keys = {}
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["vendor", "kind", "external_id", "email"])
            for i, p in enumerate(people):
                if p["tool"] == "anthropic_api":
                    keys[p["email"]] = f"apikey_demo{i:04d}"
                    writer.writerow(["anthropic", "api_key_id", keys[p["email"]], p["email"]])
                elif p["tool"] == "openai":
                    writer.writerow(["openai", "user_id", f"user-demo{i:04d}", p["email"]])
        return keys

    def _days(self, start: date, end: date):
        day = start
        while day < end:
            yield day
            day += timedelta(days=1)

    def _write_seats(self, path: Path, people: list[dict], start: date) -> None:
        """Cursor seats for every third person and a contractor nobody imported (an unmapped seat)."""
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["email", "vendor", "product", "monthly_price_usd", "start", "end"])
            for i, p in enumerate(people):
                if i % 3 == 0:
                    writer.writerow([p["email"], "cursor", "cursor", "40", start - timedelta(days=120), ""])
            writer.writerow(["contractor@agency.example", "cursor", "cursor", "40", start + timedelta(days=15), ""])

    def _write_cursor(self, path: Path, rng: random.Random, people: list[dict], start: date, end: date) -> Path:
        """Cursor's dashboard CSV for the Cursor seat holders, but every fourth of them, who bought
        a seat and stopped using it (the idle seats of /finance/)."""
        header = ["Date", "User", "Kind", "Model", "Max Mode", "Input (w/ Cache Write)", "Input (w/o Cache Write)"]
        header += ["Cache Read", "Output Tokens", "Total Tokens", "Cost"]
        users = [p["email"] for i, p in enumerate(people) if i % 3 == 0 and i % 12 != 0]
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
            writer.writerow(header)
            for day in self._days(start, end):
                for email in users:
                    if day.weekday() >= 5 or rng.random() < 0.4:
                        continue
                    write, plain, read, output = (
                        rng.randint(500, 5000),
                        rng.randint(100, 2000),
                        rng.randint(5000, 40000),
                        rng.randint(500, 5000),
                    )
                    moment = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(
                        hours=rng.randint(7, 19)
                    )
                    cost = f"${rng.uniform(0.2, 4):.2f}"
                    row = [moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"), email, "Usage-based", "gpt-5", "No"]
                    writer.writerow([*row, write, plain, read, output, write + plain + read + output, cost])
        return path

    def _write_copilot_seats(self, path: Path, rng: random.Random, people: list[dict], start: date, end: date) -> None:
        """GitHub's Copilot seats API response for every fourth person: some seats pending
        cancellation (partial months), and some nobody has used for two months (idle)."""
        seats = []
        for i, p in enumerate(people):
            if i % 4 != 1:
                continue
            active = end - timedelta(days=60 + i % 30) if i % 24 == 1 else end - timedelta(days=rng.randint(0, 6))
            created = datetime.combine(start - timedelta(days=200), datetime.min.time(), tzinfo=UTC)
            cancel = (start + timedelta(days=30 + i % 20)).isoformat() if i % 5 == 0 else None
            seats.append(
                {
                    "created_at": created.isoformat(),
                    "updated_at": created.isoformat(),
                    "pending_cancellation_date": cancel,
                    "last_activity_at": f"{active.isoformat()}T15:04:05Z",
                    "last_activity_editor": "vscode/1.106.0/copilot-chat/0.33.0",
                    "plan_type": "business",
                    "assignee": {"login": p["github_login"], "type": "User"},
                }
            )
        path.write_text(json.dumps({"total_seats": len(seats), "seats": seats}, indent=1))

    def _tokens(self, rng: random.Random, weight: float, day: date, email: str = "") -> dict | None:
        spike = (email, day) in self.spikes
        if not spike and (day.weekday() >= 5 and rng.random() < 0.8 or rng.random() < 0.15):
            return None  # weekends and days off
        scale = weight * rng.uniform(0.3, 1.7) * (SPIKE_FACTOR if spike else 1)
        return {
            "uncached": int(40_000 * scale),
            "read": int(1_500_000 * scale),
            "write": int(60_000 * scale),
            "output": int(30_000 * scale),
        }

    def _write_anthropic(self, out, rng, people, keys, start, end) -> list[Path]:
        buckets = []
        for day in self._days(start, end):
            results = []
            for p in people:
                if p["email"] not in keys or not (t := self._tokens(rng, p["weight"], day, p["email"])):
                    continue
                model = rng.choice(ANTHROPIC_MODELS)
                results.append(
                    {
                        "uncached_input_tokens": t["uncached"],
                        "cache_creation": {
                            "ephemeral_5m_input_tokens": t["write"],
                            "ephemeral_1h_input_tokens": t["write"] // 10,
                        },
                        "cache_read_input_tokens": t["read"],
                        "output_tokens": t["output"],
                        "server_tool_use": {"web_search_requests": 0},
                        "api_key_id": keys[p["email"]],
                        "account_id": None,
                        "workspace_id": "wrkspc_demo",
                        "model": model,
                        "service_tier": "standard",
                        "context_window": "0-200k",
                        "inference_geo": "global",
                    }
                )
            # A key nobody owns: shows up as unmapped usage to map on the Imports page.
            results.append(
                {
                    "uncached_input_tokens": 20_000,
                    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                    "cache_read_input_tokens": 100_000,
                    "output_tokens": 8_000,
                    "server_tool_use": {"web_search_requests": 0},
                    "api_key_id": "apikey_ci_bot",
                    "account_id": None,
                    "workspace_id": "wrkspc_demo",
                    "model": "claude-haiku-4-5",
                    "service_tier": "standard",
                    "context_window": "0-200k",
                    "inference_geo": "global",
                }
            )
            buckets.append(
                {
                    "starting_at": f"{day}T00:00:00Z",
                    "ending_at": f"{day + timedelta(days=1)}T00:00:00Z",
                    "results": results,
                }
            )
        paths = []
        for n, i in enumerate(range(0, len(buckets), 31)):  # the API pages 31 daily buckets at most
            page = buckets[i : i + 31]
            has_more = i + 31 < len(buckets)
            path = out / f"anthropic_usage_report_p{n + 1}.json"
            path.write_text(
                json.dumps({"data": page, "has_more": has_more, "next_page": f"page_{n + 2}" if has_more else None})
            )
            paths.append(path)
        return paths

    def _write_claude_code(self, path, rng, people, start, end) -> Path:
        records = []
        for day in self._days(start, end):
            for p in people:
                if p["tool"] != "claude_code" or not (t := self._tokens(rng, p["weight"], day, p["email"])):
                    continue
                model = rng.choice(["claude-sonnet-4-5", "claude-opus-4-1-20250805"])
                per_m = {"claude-sonnet-4-5": (3, 15, 0.3, 3.75), "claude-opus-4-1-20250805": (15, 75, 1.5, 18.75)}[
                    model
                ]
                cents = (
                    t["uncached"] * per_m[0] + t["output"] * per_m[1] + t["read"] * per_m[2] + t["write"] * per_m[3]
                ) / 10_000
                records.append(
                    {
                        "date": f"{day}T00:00:00Z",
                        "actor": {"type": "user_actor", "email_address": p["email"].title()},
                        "organization_id": "demo-org",
                        "customer_type": "subscription",
                        "terminal_type": "vscode",
                        "core_metrics": {
                            "num_sessions": rng.randint(1, 12),
                            "lines_of_code": {"added": rng.randint(0, 900), "removed": rng.randint(0, 300)},
                            "commits_by_claude_code": rng.randint(0, 6),
                            "pull_requests_by_claude_code": rng.randint(0, 2),
                        },
                        "tool_actions": {"edit_tool": {"accepted": rng.randint(0, 40), "rejected": rng.randint(0, 5)}},
                        "model_breakdown": [
                            {
                                "model": model,
                                "tokens": {
                                    "input": t["uncached"],
                                    "output": t["output"],
                                    "cache_read": t["read"],
                                    "cache_creation": t["write"],
                                },
                                "estimated_cost": {"amount": round(cents), "currency": "USD"},
                            }
                        ],
                    }
                )
        path.write_text(json.dumps({"data": records, "has_more": False, "next_page": None}))
        return path

    def _write_openai(self, path, rng, people, start, end) -> Path:
        buckets = []
        for day in self._days(start, end):
            results = []
            for n, p in enumerate(people):
                if p["tool"] != "openai" or not (t := self._tokens(rng, p["weight"], day, p["email"])):
                    continue
                cached = t["read"] // 2
                results.append(
                    {
                        "object": "organization.usage.completions.result",
                        "input_tokens": cached + t["uncached"],
                        "input_cached_tokens": cached,
                        "output_tokens": t["output"],
                        "num_model_requests": rng.randint(20, 400),
                        "project_id": "proj_demo",
                        "user_id": f"user-demo{n:04d}",
                        "api_key_id": None,
                        "model": rng.choice(OPENAI_MODELS),
                        "batch": False,
                        "service_tier": "default",
                    }
                )
            ts = int(datetime.combine(day, datetime.min.time(), tzinfo=UTC).timestamp())
            buckets.append({"object": "bucket", "start_time": ts, "end_time": ts + 86400, "results": results})
        path.write_text(json.dumps({"object": "page", "data": buckets, "has_more": False, "next_page": None}))
        return path

    def _write_github_prs(self, path, rng, people, start, end) -> Path:
        """GitHub's pull-request export: a few PRs a week each, some still open, plus PRs by logins
        that are nobody in the org chart (a bot, a contractor) to show as unmapped."""
        fields = ["repo", "number", "author_login", "created_at", "merged_at", "additions", "deletions"]
        repos = ["acme/api", "acme/web", "acme/infra", "acme/ml"]
        rates = [0.0, 0.1, 0.3, 0.5, 0.8]
        authors = [(p["github_login"], rng.choice(rates) if i else 0.4) for i, p in enumerate(people)]
        # The heaviest API user merges nothing: an agent left running, for the impact page's flags.
        idle = max((p for p in people if p["tool"] != "claude_code"), key=lambda p: p["weight"], default=None)
        authors = [(login, 0.0 if idle and login == idle["github_login"] else rate) for login, rate in authors]
        authors += [("dependabot[bot]", 0.6), ("contractor-kim", 0.3)]
        number = 1000
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(fields)
            for day in self._days(start, end):
                if day.weekday() >= 5:
                    continue
                for login, rate in authors:
                    if rng.random() >= rate:
                        continue
                    number += 1
                    midnight = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
                    created = midnight + timedelta(hours=rng.randint(8, 18))
                    merged = created + timedelta(hours=rng.randint(1, 96))
                    merged_at = "" if merged.date() >= end or rng.random() < 0.1 else merged.isoformat()
                    row = [rng.choice(repos), number, login, created.isoformat(), merged_at]
                    writer.writerow([*row, rng.randint(5, 800), rng.randint(0, 300)])
        return path

    def _users(self, people: list[dict]) -> None:
        """Demo logins: an admin, a finance user, and every engineer with the demo password."""
        User = get_user_model()
        admin, _ = User.objects.get_or_create(username="admin@example.com", defaults={"email": "admin@example.com"})
        admin.is_staff = admin.is_superuser = True
        admin.set_password(DEMO_PASSWORD)
        admin.save()
        finance, _ = User.objects.get_or_create(
            username="finance@example.com", defaults={"email": "finance@example.com"}
        )
        finance.set_password(DEMO_PASSWORD)
        finance.save()
        finance.groups.add(Group.objects.get_or_create(name="finance")[0])
        # One hash for all: hashing 200 times would take minutes at Django's iteration count.
        User.objects.filter(username__in=[p["email"] for p in people]).update(password=make_password(DEMO_PASSWORD))
