"""Single sign-on: the identity provider's verified email finds the user import_org made."""

from mozilla_django_oidc.auth import OIDCAuthenticationBackend


class EmailMatchingOIDCBackend(OIDCAuthenticationBackend):
    def filter_users_by_claims(self, claims):
        email = (claims.get("email") or "").strip().lower()
        if not email or claims.get("email_verified") is False:
            return self.UserModel.objects.none()
        return self.UserModel.objects.filter(username=email)
