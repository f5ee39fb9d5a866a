"""The connectors' HTTP client against a local server: timeouts, Retry-After, what is not retried."""

import time
from email.utils import formatdate

import pytest

from tests.billing.fake_http import scripted_server
from usage.connectors.client import ConnectorError, HttpClient


def serve(answers: list):
    """Answers in order; an answer may be a number of seconds to stall before a 200."""

    def respond(method, path, query, headers, body):
        answer = answers.pop(0) if answers else (200, {}, b'{"ok": true}')
        if isinstance(answer, float):
            time.sleep(answer)
            return 200, {}, b'{"late": true}'
        return answer

    return scripted_server(respond)


def test_a_request_that_times_out_is_retried():
    sleeps: list[float] = []
    with serve([0.5]) as (url, requests):
        client = HttpClient(base_url=url, headers={}, timeout=0.2, sleep=sleeps.append)
        assert client.get_json("/x") == {"ok": True}
    assert sleeps == [2.0] and client.requests == 2


def test_retry_after_as_an_http_date_is_honoured():
    sleeps: list[float] = []
    later = formatdate(time.time() + 30, usegmt=True)
    with serve([(503, {"Retry-After": later}, b"{}")]) as (url, _):
        HttpClient(base_url=url, headers={}, sleep=sleeps.append).get_json("/x")
    assert 25 <= sleeps[0] <= 31


def test_a_refused_key_fails_at_once_with_the_vendors_words():
    sleeps: list[float] = []
    with serve([(401, {}, b'{"error": "invalid x-api-key"}')]) as (url, requests):
        with pytest.raises(ConnectorError, match="HTTP 401.*invalid x-api-key"):
            HttpClient(base_url=url, headers={}, sleep=sleeps.append).get_json("/v1/thing?secret=1")
    assert sleeps == [] and len(requests) == 1


def test_an_answer_that_is_not_json_is_an_error_naming_the_request_without_its_query():
    with serve([(200, {}, b"<html>proxy login</html>")]) as (url, _):
        with pytest.raises(ConnectorError, match=r"GET http://127.0.0.1:\d+/report: the answer is not JSON") as exc:
            HttpClient(base_url=url, headers={}).get_json("/report", {"sig": "secret"})
    assert "secret" not in str(exc.value)


def test_only_http_urls_are_fetched():
    with pytest.raises(ConnectorError, match="not an http"):
        HttpClient(base_url="file:///etc/passwd", headers={})
