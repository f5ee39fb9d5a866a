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

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def previous(self) -> Period:
        """The period of the same length just before this one (for change arrows)."""
        return Period(self.start - timedelta(days=self.days), self.start)

    @property
    def label(self) -> str:
        if self.preset:
            return PRESETS[self.preset]
        return f"{self.start:%b %-d, %Y} – {self.end - timedelta(days=1):%b %-d, %Y}"

    def query(self) -> str:
        return f"period={self.preset}" if self.preset else f"start={self.start}&end={self.end}"


def month_start(day: date, offset: int = 0) -> date:
    index = day.year * 12 + day.month - 1 + offset
    return date(index // 12, index % 12 + 1, 1)


def preset_period(preset: str, today: date) -> Period:
    tomorrow = today + timedelta(days=1)
    if preset == "7d":
        return Period(tomorrow - timedelta(days=7), tomorrow, preset)
    if preset == "30d":
        return Period(tomorrow - timedelta(days=30), tomorrow, preset)
    if preset == "last_month":
        return Period(month_start(today, -1), month_start(today), preset)
    if preset == "quarter":
        first = month_start(today, -((today.month - 1) % 3))
        return Period(first, month_start(first, 3), preset)
    return Period(month_start(today), month_start(today, 1), "month")


class PeriodForm(forms.Form):
    period = forms.ChoiceField(choices=list(PRESETS.items()), required=False)
    start = forms.DateField(required=False)
    end = forms.DateField(required=False)

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if bool(start) != bool(end):
            raise forms.ValidationError("Give both start and end (end is exclusive), or neither.")
        if start and end:
            if end <= start:
                raise forms.ValidationError("The end date must be after the start date (end is exclusive).")
            if (end - start).days > MAX_DAYS:
                raise forms.ValidationError(f"A period can be at most {MAX_DAYS} days long.")
        return data

    def period_or_default(self, default: str = "30d", today: date | None = None) -> Period:
        """The requested period; an invalid request falls back to the default (errors stay on the form)."""
        today = today or timezone.now().date()
        if not self.is_valid():
            return preset_period(default, today)
        if self.cleaned_data.get("start"):
            return Period(self.cleaned_data["start"], self.cleaned_data["end"])
        return preset_period(self.cleaned_data.get("period") or default, today)
