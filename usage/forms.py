from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from usage.importers.registry import IMPORTERS


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one <input type=file multiple>: cleans to a list."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(**kwargs)

    def clean(self, data, initial=None):
        clean_one = super().clean
        files = list(data) if isinstance(data, list | tuple) else [data]
        # No file at all is cleaned as one missing file, so `required` applies.
        return [clean_one(item, initial) for item in files or [None]]


class UploadForm(forms.Form):
    # Empty files are refused in clean_uploads, with a message that names them.
    uploads = MultipleFileField(
        label="Export files",
        allow_empty_file=True,
        error_messages={"required": "Choose or drop at least one export file."},
    )
    format = forms.ChoiceField(
        choices=[("", "Detect from the content"), *((name, name) for name in sorted(IMPORTERS))],
        required=False,
    )
    engineer_email = forms.EmailField(
        required=False,
        label="Whose usage (optional)",
        help_text="Only for logs that carry no identity, such as local Claude Code or Codex logs.",
    )

    def clean_uploads(self) -> list:
        """Every file must be within the limit and not empty; otherwise none is imported."""
        limit = settings.IMPORT_MAX_UPLOAD_BYTES
        errors = []
        for upload in self.cleaned_data["uploads"]:
            if upload.size == 0:
                errors.append(f"{upload.name} is empty.")
            elif upload.size > limit:
                errors.append(
                    f"{upload.name} is {filesizeformat(upload.size)}; the limit is {filesizeformat(limit)} per file."
                )
        if errors:
            raise forms.ValidationError(errors)
        return self.cleaned_data["uploads"]


class IdentityMapForm(forms.Form):
    vendor = forms.CharField(max_length=40)
    kind = forms.CharField(max_length=40)
    # The value must match the ledger exactly, whitespace included.
    external_id = forms.CharField(max_length=255, strip=False)
    engineer_email = forms.EmailField(label="Engineer email")
