"""The HTTP client every connector uses: timeouts, retries on 429 and 5xx, Retry-After.

Standard library only (urllib): a few GETs and POSTs a run do not need a dependency. The sleep
is injectable so tests of the backoff take no time.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from email.utils import parsedate_to_datetime

logger = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ConnectorError(Exception):
    """A pull that cannot go on: the message names the request and what went wrong, for a person."""


class HttpClient:
    def __init__(
        self,
        *,
        base_url: str,
        headers: dict[str, str],
        timeout: float = 30.0,
        attempts: int = 5,
        backoff: float = 2.0,
        max_wait: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConnectorError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep
        self.requests = 0  # how many requests this client sent, retries included

    def get_json(self, path: str, params: list[tuple[str, str]] | dict | None = None) -> dict:
        return self._json("GET", self.url(path, params), None, auth=True)

    def post_json(self, path: str, body: dict) -> dict:
        return self._json("POST", self.url(path), json.dumps(body).encode(), auth=True)

    def get_bytes(self, url: str, *, auth: bool = True) -> bytes:
        """A whole URL (a signed download link: auth=False, its signature is the credential)."""
        return self.request("GET", url, None, auth=auth)

    def url(self, path: str, params: list[tuple[str, str]] | dict | None = None) -> str:
        query = f"?{urllib.parse.urlencode(params, doseq=True)}" if params else ""
        return f"{self.base_url}/{path.lstrip('/')}{query}"

    def _json(self, method: str, url: str, data: bytes | None, *, auth: bool) -> dict:
        raw = self.request(method, url, data, auth=auth)
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConnectorError(f"{method} {_short(url)}: the answer is not JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise ConnectorError(f"{method} {_short(url)}: expected a JSON object, got {type(doc).__name__}")
        return doc

    def request(self, method: str, url: str, data: bytes | None, *, auth: bool = True) -> bytes:
        """Send one request, retrying 429, 5xx, timeouts and cut-off bodies; raise ConnectorError."""
        if not url.startswith(("http://", "https://")):
            raise ConnectorError(f"not an http(s) URL: {_short(url)}")
        headers = {"Accept": "application/json", **(self.headers if auth else {})}
        if data is not None:
            headers["Content-Type"] = "application/json"
        error = ""
        for attempt in range(1, self.attempts + 1):
            self.requests += 1
            wait = self.backoff * 2 ** (attempt - 1)
            request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - checked
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    return response.read()
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code} {exc.reason}"
                if exc.code not in RETRY_STATUSES:
                    detail = exc.read()[:300].decode("utf-8", "replace")
                    raise ConnectorError(f"{method} {_short(url)}: {error}: {detail}") from exc
                wait = _retry_after(exc.headers.get("Retry-After"), default=wait)
            except http.client.IncompleteRead as exc:
                # The connection closed before Content-Length bytes arrived: a cut-off body.
                error = f"the answer was cut off after {len(exc.partial)} bytes"
            except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
                error = str(getattr(exc, "reason", exc)) or type(exc).__name__
            if attempt < self.attempts:
                wait = min(wait, self.max_wait)
                logger.info("%s %s: %s; retrying in %.1fs", method, _short(url), error, wait)
                self.sleep(wait)
        raise ConnectorError(f"{method} {_short(url)}: {error} (gave up after {self.attempts} attempts)")


def _retry_after(value: str | None, *, default: float) -> float:
    """Retry-After in seconds or as an HTTP date; the backoff when absent or unreadable."""
    if not value:
        return default
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return default


def _short(url: str) -> str:
    """A URL for messages: no query string (signed links carry their signature there)."""
    return url.split("?", 1)[0]


def cursor_pages(client: HttpClient, path: str, params: list[tuple[str, str]], *, max_pages: int = 1000) -> list:
    """Follow a `{data, has_more, next_page}` envelope (Anthropic and OpenAI reports) to the end;
    the `data` items of every page, in order."""
    items: list = []
    page = None
    for _ in range(max_pages):
        doc = client.get_json(path, params + ([("page", page)] if page else []))
        data = doc.get("data")
        if not isinstance(data, list):
            raise ConnectorError(f"GET {path}: the answer has no data list")
        items.extend(data)
        if not doc.get("has_more"):
            return items
        page = doc.get("next_page")
        if not page:
            raise ConnectorError(f"GET {path}: has_more is true but next_page is empty")
    raise ConnectorError(f"GET {path}: still more pages after {max_pages}; stopped")
