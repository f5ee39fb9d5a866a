"""Input validation of the billing endpoints."""

from django import forms

from billing.models import CapPeriod, CapPolicy


class CapCheckForm(forms.Form):
    email = forms.CharField(max_length=254)
    vendor = forms.CharField(max_length=40)
    product = forms.CharField(max_length=40, required=False)


class CapRaiseRequestForm(forms.Form):
    """Amounts are validated by the service (one message for the page, CLI and API alike)."""

    amount_usd = forms.CharField(
        label="Raise my cap by (USD)",
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "500"}),
    )
    vendor = forms.CharField(
        max_length=40,
        required=False,
        help_text="Leave empty to raise the cap of every tool.",
        widget=forms.TextInput(attrs={"list": "raise-vendors", "placeholder": "all tools"}),
    )
    product = forms.CharField(
        max_length=40,
        required=False,
        help_text="Optional: one product of the vendor.",
        widget=forms.TextInput(attrs={"list": "raise-products", "placeholder": "every product"}),
    )
    until = forms.DateField(label="Until", widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class CapDecisionForm(forms.Form):
    exception_id = forms.IntegerField(widget=forms.HiddenInput)
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("deny", "Deny")])
    note = forms.CharField(max_length=500, required=False)


# The caps page (/caps/). Amounts, expiries, scopes and permissions are checked by the
# services, so the page, the command line and the API refuse bad input with the same words.

DATE = forms.DateInput(attrs={"type": "date"})
REASON = forms.Textarea(attrs={"rows": 2})
TEAM = forms.TextInput(attrs={"list": "cap-teams"})  # suggestions: the teams the viewer administers


class CapPolicyForm(forms.Form):
    scope = forms.ChoiceField(choices=CapPolicy.Scope.choices, initial=CapPolicy.Scope.ENGINEER)
    team_name = forms.CharField(label="Team", max_length=200, required=False, widget=TEAM)
    engineer_email = forms.CharField(
        label="Engineer email", max_length=254, required=False, widget=forms.TextInput(attrs={"list": "cap-emails"})
    )
    vendor = forms.CharField(max_length=40, required=False, help_text="empty: every tool")
    product = forms.CharField(max_length=40, required=False)
    amount_usd = forms.CharField(label="Amount (USD)", max_length=20)
    period = forms.ChoiceField(choices=CapPeriod.choices, initial=CapPeriod.MONTH)
    valid_until = forms.DateField(label="Expires", required=False, widget=DATE, help_text="an override")
    reason = forms.CharField(widget=REASON, required=False)


class CapPolicyChangeForm(forms.Form):
    amount_usd = forms.CharField(label="Amount (USD)", max_length=20)
    period = forms.ChoiceField(choices=CapPeriod.choices)
    valid_until = forms.DateField(label="Expires", required=False, widget=DATE)
    reason = forms.CharField(widget=REASON, required=False)


class TeamBudgetForm(forms.Form):
    team_name = forms.CharField(label="Team", max_length=200, widget=TEAM)
    amount_usd = forms.CharField(label="Amount (USD)", max_length=20)
    period = forms.ChoiceField(choices=CapPeriod.choices, initial=CapPeriod.MONTH)
    reason = forms.CharField(widget=REASON, required=False)


class ToolPolicyForm(forms.Form):
    team_name = forms.CharField(label="Team", max_length=200, widget=TEAM)
    vendor = forms.CharField(max_length=40)
    product = forms.CharField(max_length=40, required=False, help_text="empty: every product")
    starts_on = forms.DateField(label="From", widget=DATE)
    reason = forms.CharField(widget=REASON)


class DeleteForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)


class SeatUploadForm(forms.Form):
    """A seats CSV for /finance/; its rows are checked by the import service."""

    file = forms.FileField(label="Seats CSV")
    complete = forms.BooleanField(
        required=False,
        label="Copilot seats JSON: it lists every seat we pay for (open seats it no longer lists end yesterday)",
    )

    def clean_file(self):
        from django.conf import settings

        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"{upload.name} is larger than {settings.IMPORT_MAX_UPLOAD_BYTES} bytes.")
        return upload
