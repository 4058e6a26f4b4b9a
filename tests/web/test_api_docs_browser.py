"""The API reference in Chromium: Swagger UI and ReDoc, served from the vendored files under the
Content-Security-Policy (no eval, no inline script), read the live schema and list the endpoints, without a
console error."""

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import make_org, make_user
from tests.web.browser import EXTERNAL, BrowserTestCase

pytestmark = pytest.mark.browser


class ApiDocsTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        make_user(get_user_model(), "alice", make_org("a"))
        self.log_in()
        self.console_errors: list[str] = []
        self.page.on("console", self._console_error)

    def _console_error(self, message) -> None:
        if message.type == "error" and not EXTERNAL.match(message.location.get("url", "")):  # map tiles aborted
            self.console_errors.append(message.text)

    def test_swagger_ui_lists_the_endpoints(self) -> None:
        self.page.goto(f"{self.live_server_url}/api/v1/docs/", wait_until="domcontentloaded")
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('.opblock-summary-path')]"
            ".some((e) => e.textContent.trim() === '/api/v1/devices/')"
        )
        assert self.page.locator(".opblock-tag", has_text="webhooks").count() == 1
        assert self.console_errors == []

    def test_redoc_lists_the_endpoints(self) -> None:
        self.page.goto(f"{self.live_server_url}/api/v1/redoc/", wait_until="domcontentloaded")
        self.page.wait_for_function(
            "() => document.querySelector('#redoc')?.textContent.includes('get/api/v1/devices/')"
        )
        assert "fleet API" in self.page.locator("#redoc").inner_text()
        assert self.console_errors == []
