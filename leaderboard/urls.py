from django.urls import path

from .views import board, efficiency, impact, people, privacy, teams

app_name = "leaderboard"
urlpatterns = [
    path("", board.home, name="home"),
    path("teams/menu/", board.team_menu, name="team_menu"),
    path("me/", people.me, name="me"),
    path("engineers/<int:pk>/", people.engineer_detail, name="engineer"),
    path("teams/<int:pk>/", teams.team_detail, name="team"),
    path("settings/privacy/", privacy.privacy_edit, name="privacy"),
    path("impact/", impact.impact, name="impact"),
    path("efficiency/", efficiency.efficiency, name="efficiency"),
]
