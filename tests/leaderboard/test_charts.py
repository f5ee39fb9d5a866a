"""The chart builders are pure: data in, a JSON-ready Plotly figure dict out."""

import json
from datetime import date, timedelta
from decimal import Decimal

from leaderboard import charts

DAYS = [date(2026, 10, 1) + timedelta(days=n) for n in range(3)]


def test_the_daily_figure_stacks_spend_per_key_and_draws_tokens_on_a_second_axis():
    figure = charts.daily_usage_figure(
        days=DAYS,
        spend={
            "anthropic": [Decimal("1.50"), Decimal(0), Decimal("2")],
            "openai": [Decimal(0), Decimal("0.25"), Decimal(0)],
        },
        tokens=[100, 0, 300],
    )
    bars, line = figure["data"][:2], figure["data"][2]
    assert [bar["name"] for bar in bars] == ["anthropic", "openai"]
    assert bars[0]["y"] == [1.5, 0.0, 2.0]
    assert bars[0]["x"] == ["2026-10-01", "2026-10-02", "2026-10-03"]
    assert (line["name"], line["y"], line["yaxis"]) == ("Tokens", [100, 0, 300], "y2")
    assert figure["layout"]["barmode"] == "stack"
    assert figure["layout"]["yaxis2"]["overlaying"] == "y"


def test_every_figure_is_plain_json():
    figures = [
        charts.daily_usage_figure(days=DAYS, spend={"a": [Decimal(1)] * 3}, tokens=[1, 2, 3]),
        charts.donut_figure(labels=["a"], values=[Decimal("1.25")]),
        charts.rank_figure(weeks=DAYS, ranks=[1, None, 3], engineers=[4, 0, 5]),
    ]
    for figure in figures:
        assert json.loads(json.dumps(figure)) == figure
        assert figure["layout"]["autosize"] is True


def test_the_donut_folds_small_slices_into_other():
    labels = [f"model-{n}" for n in range(10)]
    figure = charts.donut_figure(labels=labels, values=[Decimal(n + 1) for n in range(10)], max_slices=4)
    pie = figure["data"][0]
    assert pie["labels"] == ["model-9", "model-8", "model-7", "Other"]
    assert pie["values"] == [10.0, 9.0, 8.0, 28.0]


def test_the_donut_keeps_few_slices_as_they_are():
    pie = charts.donut_figure(labels=["b", "a"], values=[Decimal(1), Decimal(3)])["data"][0]
    assert pie["labels"] == ["a", "b"]


def test_the_rank_figure_puts_first_place_on_top_and_leaves_weeks_without_usage_as_gaps():
    figure = charts.rank_figure(weeks=DAYS, ranks=[2, None, 1], engineers=[10, 0, 12])
    trace = figure["data"][0]
    assert trace["y"] == [2, None, 1]
    assert trace["text"] == ["#2 of 10", "no usage", "#1 of 12"]
    assert trace["connectgaps"] is False
    assert figure["layout"]["yaxis"]["range"] == [2.5, 0.5]  # reversed: #1 on top, no #0


def test_a_sparkline_spans_the_box_with_the_peak_at_the_top():
    points = charts.sparkline_points([Decimal(0), Decimal(5), Decimal("2.5")], width=100, height=22)
    assert points == "0.0,21.0 50.0,1.0 100.0,11.0"


def test_a_flat_or_empty_sparkline_sits_on_the_baseline():
    assert charts.sparkline_points([0, 0], width=10, height=10) == "0.0,9.0 10.0,9.0"
    assert charts.sparkline_points([]) == ""
    assert charts.sparkline_points([Decimal(3)], width=10, height=10) == "0.0,1.0"
