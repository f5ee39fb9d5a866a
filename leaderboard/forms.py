from django import forms

from leaderboard.models import PrivacySettings


class PrivacySettingsForm(forms.ModelForm):
    class Meta:
        model = PrivacySettings
        fields = ["board_names", "min_team_size"]
        labels = {"board_names": "The peer leaderboard shows", "min_team_size": "Hide team aggregates below (members)"}

    def clean_min_team_size(self) -> int:
        value = self.cleaned_data["min_team_size"]
        if value < 1:
            raise forms.ValidationError("At least 1.")
        return value
