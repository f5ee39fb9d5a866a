"""Input validation of the billing endpoints."""

from django import forms


class CapCheckForm(forms.Form):
    email = forms.CharField(max_length=254)
    vendor = forms.CharField(max_length=40)
    product = forms.CharField(max_length=40, required=False)


class CapRaiseRequestForm(forms.Form):
    """Amounts are validated by the service (one message for the page, CLI and API alike)."""

    amount_usd = forms.CharField(label="Raise by (USD)", max_length=20)
    vendor = forms.CharField(max_length=40, required=False, help_text="empty: all tools")
    product = forms.CharField(max_length=40, required=False)
    until = forms.DateField(label="Until (YYYY-MM-DD)")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class CapDecisionForm(forms.Form):
    exception_id = forms.IntegerField(widget=forms.HiddenInput)
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("deny", "Deny")])
    note = forms.CharField(max_length=500, required=False)
