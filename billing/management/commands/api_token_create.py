"""Make an API token for a gateway; it is printed once and stored hashed."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from billing.services.tokens import api_token_create


class Command(BaseCommand):
    help = (
        "Create an API token named NAME for a machine client (the cap-check endpoint). The token is printed "
        "once; only its sha256 is stored, so keep it now."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name, **options):
        try:
            row, token = api_token_create(name=name)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stderr.write(f"API token #{row.pk} {row.name!r} (shown once, store it now):")
        self.stdout.write(token)
