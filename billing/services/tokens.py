"""API tokens for machine clients: made once, shown once, stored as their sha256."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from billing.models import ApiToken
from leaderboard.access import audit

TOKEN_PREFIX = "tb_"  # noqa: S105 - a visible marker for secret scanners, not a secret
# last_used_at is a hint for admins, not a log: refresh it at most this often (one UPDATE).
LAST_USED_GRANULARITY = timedelta(minutes=5)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, name: str, actor=None) -> tuple[ApiToken, str]:
    """A new token named `name`: returns the row and the token itself, which is not stored
    (only its sha256) and cannot be shown again. Audited."""
    name = name.strip()
    if not name:
        raise ValidationError("Give the token a name (who or what uses it).")
    if ApiToken.objects.filter(name=name).exists():
        raise ValidationError(f"A token named {name!r} already exists.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        row = ApiToken.objects.create(name=name, token_sha256=_digest(token))
        audit(actor, "api_token_create", f"api_token:{row.pk}", name=name, via="cli" if actor is None else "web")
    return row, token


def api_token_authenticate(*, authorization: str) -> ApiToken | None:
    """The token an `Authorization: Bearer <token>` header carries, or None. One query, plus
    an UPDATE of last_used_at when it is older than LAST_USED_GRANULARITY."""
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    row = ApiToken.objects.filter(token_sha256=_digest(token)).first()
    if row is None:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row
