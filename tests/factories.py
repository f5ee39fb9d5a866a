"""factory_boy factories for the org directory and the rollup."""

from datetime import date
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from usage.models import DailyUsage, Engineer, Team, TeamMembership, VendorIdentity

PASSWORD = "pw-for-tests"  # noqa: S105


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.SelfAttribute("username")
    password = factory.django.Password(PASSWORD)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")
    parent = None


class EngineerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Engineer
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"engineer{n}@example.com")
    name = factory.Sequence(lambda n: f"Engineer {n}")
    title = "Software Engineer"
    cost_center = "CC-100"
    github_login = factory.Sequence(lambda n: f"gh{n}")
    start_date = date(2024, 1, 1)
    user = factory.SubFactory(UserFactory, username=factory.SelfAttribute("..email"))

    @factory.post_generation
    def team(self, create, extracted, **kwargs):
        """EngineerFactory(team=some_team) also makes the open membership from start_date."""
        if create and extracted is not None:
            TeamMembership.objects.create(engineer=self, team=extracted, valid_from=self.start_date or date(2024, 1, 1))


class TeamMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TeamMembership

    engineer = factory.SubFactory(EngineerFactory)
    team = factory.SubFactory(TeamFactory)
    valid_from = date(2024, 1, 1)


class VendorIdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VendorIdentity

    vendor = "anthropic"
    kind = "api_key_id"
    external_id = factory.Sequence(lambda n: f"apikey_{n}")
    engineer = factory.SubFactory(EngineerFactory)


class DailyUsageFactory(factory.django.DjangoModelFactory):
    """A rollup row, for read-side tests (the ingest pipeline writes real ones)."""

    class Meta:
        model = DailyUsage

    day = date(2026, 10, 1)
    engineer = factory.SubFactory(EngineerFactory)
    team = None
    vendor = "anthropic"
    product = "api"
    model = "claude-sonnet-4-5"
    input_uncached_tokens = 1000
    cache_read_tokens = 5000
    cache_write_tokens = 500
    output_tokens = 500
    tokens = factory.LazyAttribute(
        lambda o: o.input_uncached_tokens + o.cache_read_tokens + o.cache_write_tokens + o.output_tokens
    )
    requests = 10
    cost_usd = Decimal("1.50")


# Billing: caps, budgets, exceptions (issue 4)

from billing.models import CapException, CapPolicy, TeamBudget, TeamWebhook  # noqa: E402


class CapPolicyFactory(factory.django.DjangoModelFactory):
    """The org default unless team= or engineer= (with the matching scope) is given."""

    class Meta:
        model = CapPolicy

    scope = factory.LazyAttribute(
        lambda o: CapPolicy.Scope.ENGINEER if o.engineer else CapPolicy.Scope.TEAM if o.team else CapPolicy.Scope.ORG
    )
    team = None
    engineer = None
    vendor = ""
    product = ""
    amount_usd = Decimal("1500.00")
    period = "month"
    reason = ""


class TeamBudgetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TeamBudget

    team = factory.SubFactory(TeamFactory)
    period = "month"
    amount_usd = Decimal("10000.00")


class TeamWebhookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TeamWebhook

    team = factory.SubFactory(TeamFactory)
    url = "http://127.0.0.1:9/hook"


class CapExceptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CapException

    engineer = factory.SubFactory(EngineerFactory)
    amount_usd = Decimal("500.00")
    reason = "release crunch"
    until = date(2026, 12, 31)
    status = CapException.Status.PENDING
