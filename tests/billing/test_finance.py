"""The finance review: access, reconciliation on the shared samples, exports that sum to
usage_report to the cent, formula escaping, FOCUS columns, audit, and a locked query count."""

import csv
import io
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from billing.exports import FOCUS_MANDATORY, chargeback_export, escape_cell, write_csv
from billing.finance import finance_overview, finance_reconciliation
from billing.models import BillingLine, SeatAssignment
from leaderboard.models import AuditEntry
from tests.factories import DailyUsageFactory, EngineerFactory, TeamBudgetFactory, TeamFactory, UserFactory
from usage.models import Engineer, ImportBatch, Team

OCTOBER = date(2026, 10, 1)
FOUNDATION_FILES = [
    "anthropic_usage_report_p1.json",
    "anthropic_usage_report_p2.json",
    "anthropic_cost_report.json",
    "claude_code_analytics.json",
    "openai_usage_completions.json",
    "openai_costs.json",
]
CENT = Decimal("0.005")


def finance_user():
    user = UserFactory()
    user.groups.add(Group.objects.get_or_create(name="finance")[0])
    return user


def import_samples(samples: Path) -> None:
    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    call_command("import_org", str(samples / "org.csv"), **quiet)
    call_command("import_identities", str(samples / "identities.csv"), **quiet)
    call_command("import_usage", *(str(samples / name) for name in FOUNDATION_FILES), **quiet)


def usage_report_total(month: str, by: str = "engineer") -> Decimal:
    out = io.StringIO()
    call_command("usage_report", month=month, by=by, format="json", stdout=out)
    return sum((Decimal(row["cost_usd"]) for row in json.loads(out.getvalue())), Decimal(0))


def a_month_of_usage(teams: int = 2) -> None:
    """Engineers in `teams` teams with usage in October and September, and one unmapped row."""
    for n in range(teams):
        team = TeamFactory(name=f"Team {n}")
        TeamBudgetFactory(team=team, period="month", amount_usd=Decimal("100.00"))
        engineer = EngineerFactory(team=team, cost_center=f"CC-{n}")
        for day, cost in ((date(2026, 10, 3), "12.345678"), (date(2026, 9, 3), "7.10")):
            DailyUsageFactory(engineer=engineer, team=team, day=day, cost_usd=Decimal(cost))
    DailyUsageFactory(engineer=None, day=date(2026, 10, 4), cost_usd=Decimal("3.333333"))


# --- Access ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("billing:finance"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_engineers_and_managers_get_a_404_for_the_page_and_the_exports(client):
    manager = EngineerFactory()
    EngineerFactory(manager=manager)
    for user in (EngineerFactory().user, manager.user):
        client.force_login(user)
        assert client.get(reverse("billing:finance")).status_code == 404
        assert client.get(reverse("billing:finance-export", args=["focus", "csv"])).status_code == 404


@pytest.mark.django_db
def test_finance_and_admins_see_the_page_with_a_nav_link(client):
    for user in (finance_user(), UserFactory(is_staff=True)):
        client.force_login(user)
        response = client.get(reverse("billing:finance"))
        assert response.status_code == 200
        assert f'href="{reverse("billing:finance")}"' in response.content.decode()


# --- Reconciliation on the shared samples ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_anthropic_cost_report_reconciles_with_its_api_usage_to_the_cent(samples):
    import_samples(samples)
    rows = {r.vendor: r for r in finance_reconciliation(start=OCTOBER, end=date(2026, 11, 1))}

    anthropic = rows["anthropic"]
    assert anthropic.products == ("api",)  # Claude Code analytics is subscription usage: not on this bill
    assert anthropic.billed_usd == Decimal("1092.923252")
    assert anthropic.attributed_usd.quantize(Decimal("0.01")) == Decimal("991.16")
    assert anthropic.unmapped_usd.quantize(Decimal("0.01")) == Decimal("101.77")
    assert abs(anthropic.other_usd) < Decimal("0.01")
    assert anthropic.attributed_pct + anthropic.unmapped_pct + anthropic.other_pct == pytest.approx(100)
    assert anthropic.unpriced_rows == 0
    assert abs(rows["openai"].other_usd) < Decimal("0.01")

    # Every export of the month sums to usage_report's total, to the cent.
    total = usage_report_total("2026-10")
    overview = finance_overview(start=OCTOBER, today=date(2026, 11, 15))
    assert abs(overview.total_usd - total) < CENT
    for by in ("cost_center", "team"):
        out = io.StringIO()
        write_csv(chargeback_export(start=OCTOBER, end=date(2026, 11, 1), by=by), out)
        exported = sum(Decimal(r["cost_usd"]) for r in csv.DictReader(io.StringIO(out.getvalue())))
        assert abs(exported - usage_report_total("2026-10", by=by)) < CENT, by


# --- Exports -------------------------------------------------------------------------------


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.django_db(transaction=True)
def test_every_export_command_sums_to_usage_report_for_the_month_to_the_cent(tmp_path):
    a_month_of_usage(teams=3)
    total = usage_report_total("2026-10")

    call_command("export_focus", "--month", "2026-10", str(tmp_path / "focus.csv"), stdout=io.StringIO())
    focus = read_csv(tmp_path / "focus.csv")
    assert abs(sum(Decimal(r["BilledCost"]) for r in focus) - total) < CENT
    assert {r["x_TokenType"] for r in focus} == {"all"}

    for by in ("cost_center", "team"):
        call_command(
            "export_chargeback", "--month", "2026-10", "--by", by, str(tmp_path / f"{by}.csv"), stdout=io.StringIO()
        )
        rows = read_csv(tmp_path / f"{by}.csv")
        assert abs(sum(Decimal(r["cost_usd"]) for r in rows) - total) < CENT
        assert "(unmapped)" in {r[by] for r in rows}

        call_command(
            "export_chargeback", "--month", "2026-10", "--by", by, str(tmp_path / f"{by}.xlsx"), stdout=io.StringIO()
        )
        sheet = load_workbook(tmp_path / f"{by}.xlsx").active
        values = list(sheet.iter_rows(min_row=2, values_only=True))
        assert abs(sum(Decimal(str(v[2])) for v in values) - total) < CENT


@pytest.mark.django_db
def test_the_focus_export_has_every_mandatory_column_and_the_ai_service_category(client):
    a_month_of_usage()
    client.force_login(finance_user())
    response = client.get(reverse("billing:finance-export", args=["focus", "csv"]) + "?month=2026-10")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert set(FOCUS_MANDATORY) <= set(rows[0])
    assert {"x_EngineerEmail", "x_Team", "x_CostCenter", "x_Model", "x_TokenType"} <= set(rows[0])
    assert {r["ServiceCategory"] for r in rows} == {"AI and Machine Learning"}
    assert {r["ServiceSubcategory"] for r in rows} == {"Generative AI"}
    assert {r["ChargePeriodStart"] for r in rows} == {"2026-10-03T00:00:00Z", "2026-10-04T00:00:00Z"}
    assert {r["BillingPeriodEnd"] for r in rows} == {"2026-11-01T00:00:00Z"}


def test_text_that_a_spreadsheet_would_run_is_escaped_and_numbers_are_not():
    assert [escape_cell(v) for v in ("=SUM(A1)", "+1", "-2", "@cmd", "plain")] == [
        "'=SUM(A1)",
        "'+1",
        "'-2",
        "'@cmd",
        "plain",
    ]
    assert escape_cell(Decimal("-1.5")) == Decimal("-1.5")


@pytest.mark.django_db(transaction=True)
def test_formulas_in_cost_centers_are_escaped_in_csv_and_xlsx(tmp_path):
    team = TeamFactory(name='=HYPERLINK("http://x")')
    engineer = EngineerFactory(team=team, cost_center="@SUM(1+1)")
    DailyUsageFactory(engineer=engineer, team=team, day=date(2026, 10, 2))

    call_command(
        "export_chargeback", "--month", "2026-10", "--by", "cost_center", str(tmp_path / "c.csv"), stdout=io.StringIO()
    )
    assert read_csv(tmp_path / "c.csv")[0]["cost_center"] == "'@SUM(1+1)"
    call_command(
        "export_chargeback", "--month", "2026-10", "--by", "team", str(tmp_path / "t.xlsx"), stdout=io.StringIO()
    )
    cell = load_workbook(tmp_path / "t.xlsx").active["A2"]
    assert cell.value == '\'=HYPERLINK("http://x")'
    assert cell.data_type == "s"
    call_command("export_focus", "--month", "2026-10", str(tmp_path / "f.csv"), stdout=io.StringIO())
    assert read_csv(tmp_path / "f.csv")[0]["x_Team"].startswith("'=")


@pytest.mark.django_db
def test_the_commands_refuse_a_bad_month_and_an_unwritable_path(tmp_path):
    with pytest.raises(CommandError, match="2026-10"):
        call_command("export_focus", "--month", "2026-13", str(tmp_path / "f.csv"))
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("export_chargeback", "--month", "2026-10", str(tmp_path / "missing" / "c.csv"))


@pytest.mark.django_db
def test_each_download_and_each_command_export_is_audited(client, tmp_path):
    a_month_of_usage()
    user = finance_user()
    client.force_login(user)
    for kind, fmt in (("chargeback-team", "xlsx"), ("chargeback-cost_center", "csv"), ("focus", "csv")):
        assert client.get(reverse("billing:finance-export", args=[kind, fmt]) + "?month=2026-10").status_code == 200
    call_command("export_focus", "--month", "2026-10", str(tmp_path / "f.csv"), stdout=io.StringIO())

    entries = list(AuditEntry.objects.filter(action="finance.export").order_by("at", "pk"))
    assert [(e.target, e.details["format"], e.details["source"]) for e in entries] == [
        ("chargeback-team", "xlsx", "web"),
        ("chargeback-cost_center", "csv", "web"),
        ("focus", "csv", "web"),
        ("focus", "csv", "command"),
    ]
    assert entries[0].user == user and entries[-1].user is None
    assert all(e.details["month"] == "2026-10" for e in entries)


# --- The page --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_shows_budgets_variance_and_movers(client):
    a_month_of_usage(teams=2)
    client.force_login(finance_user())
    response = client.get(reverse("billing:finance") + "?month=2026-10")
    overview = response.context["o"]
    assert overview.total_usd == Decimal("12.345678") * 2 + Decimal("3.333333")
    assert overview.previous_total_usd == Decimal("14.20")
    team = next(line for line in overview.teams if line.label == "Team 0")
    assert team.budget_usd == Decimal("100.00") and team.budget_left_usd == Decimal("87.654322")
    assert [line.label for line in overview.team_movers] == ["Team 0", "Team 1"]
    assert len(overview.engineer_movers) == 2
    assert overview.forecast is None  # a past month has nothing left to forecast
    assert len(overview.chart_months) == 6 and overview.chart_vendors["anthropic"][-2:] == [
        Decimal("14.20"),
        overview.total_usd,
    ]
    assert "API usage only" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("teams", [1, 12])
def test_the_page_makes_the_same_number_of_queries_with_few_or_many_teams(client, django_assert_num_queries, teams):
    a_month_of_usage(teams=teams)
    for engineer in Engineer.objects.all():  # a seat each: seats are one query whatever their number
        SeatAssignment.objects.create(
            email=engineer.email, vendor="cursor", product="cursor", monthly_price_usd=40, start_on=date(2026, 9, 15)
        )
    user = finance_user()
    client.force_login(user)
    url = reverse("billing:finance") + "?month=2026-10"
    # Session and user, the viewer (one query), the cache lookup, then the month's figures
    # computed in one snapshot (a savepoint here, the versions, six queries: a past month has no
    # forecast) and stored, then budgets and the vendors' bills (none: no reconciliation).
    with django_assert_num_queries(16):
        assert client.get(url).status_code == 200
    # Cached: the lookup, budgets and bills.
    with django_assert_num_queries(6):
        assert client.get(url).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("teams", [1, 12])
def test_the_current_month_with_a_bill_adds_the_forecast_and_the_reconciliation_queries(
    client, django_assert_num_queries, teams
):
    today = timezone.localdate()
    for n in range(teams):
        engineer = EngineerFactory(team=TeamFactory(name=f"Team {n}"))
        DailyUsageFactory(engineer=engineer, team_id=engineer.memberships.get().team_id, day=today)
    batch = ImportBatch.objects.create(filename="cost.json", size_bytes=1, sha256="0" * 64)
    BillingLine.objects.create(
        batch=batch, dataset="anthropic_cost", dedup_key="k", day=today, vendor="anthropic", cost_usd=Decimal("9")
    )
    client.force_login(finance_user())
    with django_assert_num_queries(18):
        response = client.get(reverse("billing:finance"))
    assert response.context["o"].forecast is not None
    with django_assert_num_queries(7):
        response = client.get(reverse("billing:finance"))
    assert response.context["o"].forecast is not None
    assert response.context["o"].reconciliation[0].attributed_usd == Decimal("1.50") * teams


@pytest.mark.django_db
def test_a_malformed_month_shows_this_month_on_the_page_and_exports_nothing(client):
    client.force_login(finance_user())
    page = client.get(reverse("billing:finance") + "?month=2026-13")
    assert page.status_code == 200
    assert page.context["o"].start == timezone.localdate().replace(day=1)
    assert "A month looks like 2026-10" in page.content.decode()
    for far in ("0000-01", "0001-03", "9999-12"):  # six months back or one ahead leaves date's range
        assert client.get(reverse("billing:finance") + f"?month={far}").status_code == 200
        assert client.get(reverse("billing:finance-export", args=["focus", "csv"]) + f"?month={far}").status_code == 404
    assert client.get(reverse("billing:finance-export", args=["focus", "csv"]) + "?month=nope").status_code == 404
    assert client.get(reverse("billing:finance-export", args=["focus", "pdf"])).status_code == 404
    assert not AuditEntry.objects.filter(action="finance.export").exists()


@pytest.mark.django_db
def test_a_parent_team_with_a_budget_is_set_against_its_sub_teams_spend():
    parent = TeamFactory(name="Engineering")
    TeamBudgetFactory(team=parent, period="month", amount_usd=Decimal("10.00"))
    for name in ("Platform", "Payments"):
        team = TeamFactory(name=name, parent=parent)
        DailyUsageFactory(engineer=EngineerFactory(team=team), team=team, day=date(2026, 10, 5))

    teams = {line.label: line for line in finance_overview(start=OCTOBER, today=date(2026, 11, 2)).teams}
    assert teams["Engineering"].cost_usd == 0
    assert teams["Engineering"].subtree_usd == Decimal("3.00")
    assert teams["Engineering"].budget_left_usd == Decimal("7.00")
    assert teams["Engineering"].budget_used_pct == 30


@pytest.mark.django_db
def test_engineer_movers_are_the_five_biggest_rises_then_the_five_biggest_falls():
    from billing.finance import _metered

    october, september = date(2026, 10, 5), date(2026, 9, 5)
    deltas = [30, -5, 12, 0, -40, 7, 12, 3, -1, -9, 50, -2, 1]
    for n, delta in enumerate(deltas):
        engineer = EngineerFactory(name=f"E{n:02d}")
        DailyUsageFactory(engineer=engineer, day=september, cost_usd=Decimal(100))
        DailyUsageFactory(engineer=engineer, day=october, cost_usd=Decimal(100 + delta))
    newcomer = EngineerFactory(name="New")  # nothing last month: a rise of all of it
    DailyUsageFactory(engineer=newcomer, day=october, cost_usd=Decimal(20))

    movers = _metered(date(2026, 10, 1), date(2026, 11, 1)).engineer_movers

    assert [(m.label, m.change_usd) for m in movers] == [
        ("E10", 50), ("E00", 30), ("New", 20), ("E02", 12), ("E06", 12),  # ties: the earlier engineer first
        ("E04", -40), ("E09", -9), ("E01", -5), ("E11", -2), ("E08", -1),
    ]  # fmt: skip
    new = next(m for m in movers if m.label == "New")
    assert (new.cost_usd, new.previous_usd, new.tokens) == (Decimal(20), 0, 7000)


@pytest.mark.django_db
def test_a_month_with_nothing_in_its_six_months_says_so_instead_of_an_empty_chart(client):
    client.force_login(finance_user())
    body = client.get(reverse("billing:finance") + "?month=2025-01").content.decode()
    assert "No usage and no seats in the six months to January 2025" in body
    assert 'data-chart="chart-fin-vendors"' not in body


@pytest.mark.django_db
def test_the_page_names_vendors_and_tools_as_people_read_them(client):
    today = timezone.localdate()
    engineer = EngineerFactory()
    for vendor, product in [("anthropic", "claude_code"), ("anthropic", "api"), ("cursor", "cursor")]:
        DailyUsageFactory(engineer=engineer, day=today, vendor=vendor, product=product)
    SeatAssignment.objects.create(  # nobody in the org chart has the email: an idle seat
        email="gone@example.com", vendor="github", product="copilot", monthly_price_usd=19, start_on=date(2026, 1, 1)
    )
    batch = ImportBatch.objects.create(filename="cost.json", size_bytes=1, sha256="0" * 64)
    BillingLine.objects.create(
        batch=batch, dataset="anthropic_cost", dedup_key="k", day=today, vendor="anthropic", cost_usd=Decimal("9")
    )
    client.force_login(finance_user())
    response = client.get(reverse("billing:finance"))
    overview, body = response.context["o"], response.content.decode()

    assert {line.label for line in overview.vendors} == {"Anthropic", "Cursor", "GitHub"}
    assert {line.label for line in overview.products} == {
        "Anthropic · Claude Code",
        "Anthropic · API",
        "Cursor",
        "GitHub · Copilot",
    }
    assert {trace["name"] for trace in response.context["vendor_fig"]["data"]} == {"Anthropic", "Cursor", "GitHub"}
    assert "<tr><td>Anthropic</td><td>API</td>" in body  # the reconciliation
    assert "<td>GitHub · Copilot</td>" in body  # the idle seat
    for raw in ("anthropic · ", "cursor · cursor", "github · copilot"):
        assert raw not in body


@pytest.mark.django_db
def test_a_month_to_come_shows_this_month_and_says_why(client):
    client.force_login(finance_user())
    this_month = timezone.localdate().replace(day=1)
    later = (this_month + timedelta(days=95)).replace(day=1)
    page = client.get(reverse("billing:finance") + f"?month={later:%Y-%m}")
    assert page.context["o"].start == this_month
    assert f"{later:%B %Y} has not begun: showing this month instead." in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_one_pass_groupings_equal_an_aggregate_per_grouping(seed):
    """billing.finance._metered reads every grouping from one pass (GROUPING SETS); each must
    equal the query per grouping it replaced (kept here): random teams, cost centers, unmapped
    rows, rows of last month after the compared days, and groups used in one month only."""
    import random

    from django.db.models import BooleanField, ExpressionWrapper, F, Q, Sum

    from billing.finance import _metered
    from usage.models import DailyUsage

    rng = random.Random(seed)
    teams = [TeamFactory(name=f"T{n}") for n in range(4)]
    engineers = [EngineerFactory(cost_center=rng.choice(["CC-1", "CC-2", ""])) for _ in range(8)]
    tools = [("anthropic", "api"), ("anthropic", "claude_code"), ("openai", "codex"), ("cursor", "cursor")]
    for n in range(120):
        engineer = rng.choice([*engineers, None])
        vendor, product = rng.choice(tools)
        DailyUsageFactory(
            engineer=engineer,
            team=rng.choice([*teams, None]) if engineer else None,
            day=date(2026, 9, 1) + timedelta(days=rng.randrange(61)),
            vendor=vendor,
            product=product,
            model=f"m{n}",
            cost_usd=Decimal(rng.randrange(0, 10_000)) / 100,
        )
    start, end, before = OCTOBER, date(2026, 11, 1), date(2026, 9, 17)

    def grouped(*fields, **expressions):
        rows = DailyUsage.objects.in_period(date(2026, 9, 1), end).filter(Q(day__gte=start) | Q(day__lt=before))
        sums = {
            "cost": Sum("cost_usd", filter=Q(day__gte=start)),
            "previous": Sum("cost_usd", filter=Q(day__lt=before)),
            "tokens": Sum("tokens", filter=Q(day__gte=start)),
        }
        found = rows.values(*fields, **expressions).annotate(**sums).order_by()
        return sorted(map(repr, map(dict, found)))

    unmapped = ExpressionWrapper(Q(engineer__isnull=True), output_field=BooleanField())
    metered = _metered(start, end, before)

    def mine(rows):
        return sorted(map(repr, rows))

    assert mine(metered.vendor) == grouped("vendor")
    assert mine(metered.product) == grouped("vendor", "product")
    assert mine(metered.center) == grouped(center=F("engineer__cost_center"), unmapped=unmapped)
    assert mine(metered.team) == grouped(team_key=F("team_id"), unmapped=unmapped)
    assert metered.vendor and metered.center and metered.team


@pytest.mark.django_db
def test_the_team_table_lists_the_costliest_and_every_budgeted_team_and_counts_the_rest(client, monkeypatch):
    monkeypatch.setattr("billing.finance.TEAMS_SHOWN", 2)
    for n, cost in enumerate([50, 40, 30, 20, 10]):
        team = TeamFactory(name=f"Squad {n}")
        DailyUsageFactory(engineer=EngineerFactory(team=team), team=team, day=date(2026, 10, 5), cost_usd=cost)
    TeamBudgetFactory(team=Team.objects.get(name="Squad 4"), period="month", amount_usd=Decimal(100))
    client.force_login(finance_user())
    response = client.get(reverse("billing:finance") + "?month=2026-10")
    shown = [line.label for line in response.context["o"].teams_shown]
    assert shown == ["Squad 0", "Squad 1", "Squad 4"]
    body = response.content.decode()
    assert "2 more teams with $50.00 between them are not listed" in body
    assert reverse("billing:finance-export", args=["chargeback-team", "csv"]) + "?month=2026-10" in body
