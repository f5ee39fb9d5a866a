"""Writes and workflows of the billing app: re-pricing, caps and budgets, alerts, exports."""

from .pricing import usage_reprice

__all__ = ["usage_reprice"]
