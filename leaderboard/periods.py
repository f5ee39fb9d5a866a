"""Periods carried in the query string (`?start=YYYY-MM-DD&end=YYYY-MM-DD`, end exclusive, or
`?period=7d|30d|month|last_month|quarter`) so that a link can be shared."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django import forms
from django.utils import timezone

PRESETS = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "month": "This month",
    "last_month": "Last month",
    "quarter": "This quarter",
}
MAX_DAYS = 366 * 2


@dataclass(frozen=True)
class Period:
    """Days in [start, end)."""

    start: date
    end: date
    preset: str = ""  # "" for a custom range
    # A period still running (today is inside it): the day after today. Its change is measured
    # over the days passed so far, against as many days before it (Nov 1-24 against Oct 1-24),
    # as /me/ and /finance/ do, not against a whole period of which only part has passed.
    elapsed_end: date | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> date:
        """The period's last day, for the page (`end` is the day after it)."""
        return self.end - timedelta(days=1)

    @property
    def whole_months(self) -> int:
        """How many calendar months the period is, or 0 if it is not whole months."""
        if self.start.day != 1 or self.end.day != 1:
            return 0
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month

    @property
    def previous(self) -> Period:
        """What the change arrows compare with: whole months against the months before (October
        against September, not the 31 days before it); a running period's days so far against as
        many days there; else the period of the same length just before this one."""
        elapsed = (self.elapsed_end or self.end) - self.start
        if self.whole_months:
            start = month_start(self.start, -self.whole_months)
            return Period(start, min(start + elapsed, self.start))
        return Period(self.start - elapsed, self.start)

    @property
    def previous_label(self) -> str:
        """What the change is against, in words for the page."""
        previous = self.previous
        last = previous.end - timedelta(days=1)
        if self.elapsed_end is not None:
            return f"the same {previous.days} days before ({previous.start:%b %-d} – {last:%b %-d})"
        if self.whole_months == 1:
            return f"the month before ({previous.start:%B %Y})"
        if self.whole_months:
            return f"the {self.whole_months} months before ({previous.start:%b %Y} – {last:%b %Y})"
        return f"the {self.days} days before"

    @property
    def label(self) -> str:
        if self.preset:
            return PRESETS[self.preset]
        return f"{self.start:%b %-d, %Y} – {self.end - timedelta(days=1):%b %-d, %Y}"

    def query(self) -> str:
        return f"period={self.preset}" if self.preset else f"start={self.start}&end={self.end}"


def period_of(start: date, end: date, today: date, preset: str = "") -> Period:
    """[start, end), marked as running when today is inside it and later days are not."""
    tomorrow = today + timedelta(days=1)
    return Period(start, end, preset, tomorrow if start < tomorrow < end else None)


def month_start(day: date, offset: int = 0) -> date:
    index = day.year * 12 + day.month - 1 + offset
    return date(index // 12, index % 12 + 1, 1)


def preset_period(preset: str, today: date) -> Period:
    tomorrow = today + timedelta(days=1)
    if preset == "7d":
        return period_of(tomorrow - timedelta(days=7), tomorrow, today, preset)
    if preset == "30d":
        return period_of(tomorrow - timedelta(days=30), tomorrow, today, preset)
    if preset == "last_month":
        return period_of(month_start(today, -1), month_start(today), today, preset)
    if preset == "quarter":
        first = month_start(today, -((today.month - 1) % 3))
        return period_of(first, month_start(first, 3), today, preset)
    return period_of(month_start(today), month_start(today, 1), today, "month")


class PeriodForm(forms.Form):
    period = forms.ChoiceField(choices=list(PRESETS.items()), required=False)
    start = forms.DateField(required=False)
    end = forms.DateField(required=False)  # exclusive: the links the pages build
    to = forms.DateField(required=False)  # inclusive: the day a person picks as the last

    def clean(self):
        data = super().clean()
        if data.get("to") and not data.get("end"):
            data["end"] = data["to"] + timedelta(days=1)
        start, end = data.get("start"), data.get("end")
        if bool(start) != bool(end):
            raise forms.ValidationError("Give both a first and a last day, or neither.")
        if start and end:
            if end <= start:
                raise forms.ValidationError("The last day must not be before the first.")
            if (end - start).days > MAX_DAYS:
                raise forms.ValidationError(f"A period can be at most {MAX_DAYS} days long.")
        return data

    def period_or_default(self, default: str = "30d", today: date | None = None) -> Period:
        """The requested period; an invalid request falls back to the default (errors stay on the form)."""
        today = today or timezone.now().date()
        if not self.is_valid():
            return preset_period(default, today)
        if self.cleaned_data.get("start"):
            return period_of(self.cleaned_data["start"], self.cleaned_data["end"], today)
        return preset_period(self.cleaned_data.get("period") or default, today)
