"""Create or change a cap policy from the command line, as the pages do."""

from datetime import date

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.models import CapPeriod
from billing.services.caps import cap_policy_set
from billing.services.validation import parse_scope


class Command(BaseCommand):
    help = (
        "Create or change a cap policy: a USD limit per period for everyone (org), a team subtree "
        "(team:<team name>) or one engineer (engineer:<email>), optionally for one vendor and/or product. "
        "An existing policy for the same scope and tool is changed. With --until it is an override that "
        "expires after that day and needs a --reason. Audited. Bad input changes nothing (exit status 1)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scope", required=True, help="org | team:<team name> | engineer:<email>")
        parser.add_argument("--amount", required=True, help="USD per period, e.g. 1500 or 1500.00")
        parser.add_argument("--vendor", default="", help="e.g. anthropic, cursor (default: any vendor)")
        parser.add_argument("--product", default="", help="e.g. claude_code, codex (default: any product)")
        parser.add_argument("--period", default=CapPeriod.MONTH, choices=CapPeriod.values)
        parser.add_argument("--reason", default="")
        parser.add_argument("--until", default=None, help="YYYY-MM-DD: last day the override is in force")
        parser.add_argument("--today", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today, UTC)")

    def handle(self, *args, scope, amount, vendor, product, period, reason, until, today, **options):
        try:
            kind, team_name, email = parse_scope(scope)
            policy, created = cap_policy_set(
                actor=None,
                scope=kind,
                team_name=team_name,
                engineer_email=email,
                vendor=vendor,
                product=product,
                amount_usd=amount,
                period=period,
                reason=reason,
                valid_until=until,
                replace_existing=True,
                today=today or timezone.localdate(),
            )
        except ValidationError as exc:
            raise CommandError(f"refused, nothing saved: {' '.join(exc.messages)}") from exc
        self.stdout.write(f"{'created' if created else 'changed'} cap policy #{policy.pk}: {policy.describe()}")
