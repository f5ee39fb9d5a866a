"""The error pages a user meets: ours, with a way back, not Django's bare 'Not Found'."""

import pytest
from django.test import RequestFactory
from django.views.defaults import server_error

from tests.factories import EngineerFactory


@pytest.mark.django_db
def test_a_missing_page_or_one_the_role_may_not_see_says_so_with_links_home(client):
    engineer = EngineerFactory()
    client.force_login(engineer.user)

    for path in ("/no-such-page/", "/finance/"):  # finance answers an engineer 404
        page = client.get(path)
        assert page.status_code == 404
        body = page.content.decode()
        assert "doesn't exist, or isn't yours to see" in body
        assert 'href="/me/"' in body and "Log out" in body  # the site's own page, navigation included


def test_the_server_error_page_renders_without_a_database_or_a_request_context():
    response = server_error(RequestFactory().get("/"))  # no django_db mark: a query would fail
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()
