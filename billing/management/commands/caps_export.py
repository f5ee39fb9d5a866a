"""Export effective caps for a gateway (LiteLLM, Cursor) as a file, or push them to its admin API."""

from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.services.gateways import DEFAULT_TOOL, GATEWAYS, gateway_caps, gateway_file, gateway_push, gateway_rows
from leaderboard.access import audit


class Command(BaseCommand):
    help = (
        "Export everyone's effective cap for one tool in the form a gateway takes: litellm (JSON list of "
        "POST /user/update bodies: user_id, max_budget, budget_duration) or cursor (CSV email,spend_limit_dollars, "
        "whole dollars rounded down). --push sends them to the admin API set by LITELLM_API_BASE/LITELLM_API_KEY "
        "or CURSOR_API_BASE/CURSOR_API_KEY; exit status 1 if any user failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("gateway", choices=GATEWAYS)
        parser.add_argument(
            "--vendor", default=None, help="the tool whose cap is exported (default: the gateway's name)"
        )
        parser.add_argument("--product", default="")
        parser.add_argument("--output", type=Path, default=None, help="write the file here (default: stdout)")
        parser.add_argument("--push", action="store_true", help="send to the gateway's admin API instead of a file")
        parser.add_argument("--today", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today, UTC)")

    def handle(self, *args, gateway, vendor, product, output, push, today, **options):
        vendor = (vendor if vendor is not None else DEFAULT_TOOL[gateway][0]).strip().lower()
        caps = gateway_caps(vendor=vendor, product=product.strip().lower(), today=today or timezone.localdate())
        rows = gateway_rows(gateway=gateway, caps=caps)
        if push:
            return self._push(gateway, rows)
        text = gateway_file(gateway=gateway, rows=rows)
        audit(None, "caps_export", gateway, vendor=vendor, product=product, rows=len(rows), via="cli")
        if output is None:
            self.stdout.write(text, ending="")
        else:
            output.write_text(text)
            self.stderr.write(f"{len(rows)} caps written to {output}")

    def _push(self, gateway: str, rows: list[dict]) -> None:
        base = settings.LITELLM_API_BASE if gateway == "litellm" else settings.CURSOR_API_BASE
        key = settings.LITELLM_API_KEY if gateway == "litellm" else settings.CURSOR_API_KEY
        if not base or not key:
            name = gateway.upper()
            raise CommandError(f"set {name}_API_BASE and {name}_API_KEY to push to {gateway}")
        result = gateway_push(gateway=gateway, rows=rows, base_url=base, api_key=key)
        self.stdout.write(f"{gateway}: {result.sent} caps sent, {len(result.failed)} failed")
        for email, error in result.failed:
            self.stderr.write(f"  {email}: {error}")
        if result.failed:
            raise CommandError(f"{len(result.failed)} of {len(rows)} caps were not accepted by {gateway}")
