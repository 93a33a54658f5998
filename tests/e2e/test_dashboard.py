"""The Performance Metrics dashboard in headless Chromium against the real demo server.

The dashboard must show exactly the figures `GET /api/metrics` answered for its filters, and
move when a customer writes. The figures are read from the response the page itself received,
so the test never depends on the clock.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright import sync_api

from tests.e2e.conftest import Inbound, ServerProcess

pytestmark = pytest.mark.browser

expect = sync_api.expect
expect.set_options(timeout=20_000)


def _count(n: int) -> str:
    return f"{n:,}"


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{round(rate * 100)}%"


@pytest.fixture
def admin_page(chromium_browser: Any, demo_server: ServerProcess) -> Iterator[Any]:
    context = chromium_browser.new_context(
        viewport={"width": 1280, "height": 900}, base_url=demo_server.url
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/")
    page.get_by_test_id("login-email").fill(demo_server.admin["email"])
    page.get_by_test_id("login-password").fill(demo_server.admin["password"])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("app")).to_be_visible()
    try:
        yield page
        assert errors == []
    finally:
        context.close()


def _reply_and_resolve(server: ServerProcess, conversation_id: str) -> None:
    with httpx.Client(base_url=server.url, timeout=10.0) as http:
        token = http.post("/api/tokens", json=server.admin).json()["token"]
        response = http.post(
            f"/api/conversations/{conversation_id}/messages",
            json={"text": "Sorted!", "then": "resolve", "idempotency_key": uuid.uuid4().hex},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text


def _open(page: Any) -> dict[str, Any]:
    """Open the dashboard from the top bar with the keyboard; return the figures it loaded."""
    button = page.get_by_role("button", name="Dashboard")
    with page.expect_response(lambda r: "/api/metrics?" in r.url) as info:
        button.focus()
        page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="Dashboard")).to_be_visible()
    return dict(json.loads(info.value.text()))


def _shows(page: Any, figures: dict[str, Any]) -> None:
    kpi = page.get_by_test_id
    expect(kpi("kpi-inbound-value")).to_have_text(_count(figures["volumes"]["inbound"]))
    expect(kpi("kpi-replies-value")).to_have_text(_count(figures["volumes"]["replies"]))
    expect(kpi("kpi-new-value")).to_have_text(_count(figures["conversations"]["new"]))
    expect(kpi("kpi-resolved-value")).to_have_text(_count(figures["conversations"]["resolved"]))
    expect(kpi("kpi-resolution-rate-value")).to_have_text(
        _percent(figures["conversations"]["resolution_rate"])
    )
    expect(kpi("kpi-unanswered-value")).to_have_text(
        _count(figures["first_response"]["unanswered"])
    )
    expect(page.get_by_test_id("chart-day")).to_have_count(len(figures["days"]))


def test_dashboard_shows_the_figures_and_follows_new_messages(
    admin_page: Any, api_inbound: Inbound, demo_server: ServerProcess, screenshots: Path
) -> None:
    page = admin_page
    customer = f"dash-{uuid.uuid4().hex[:8]}"
    conversation_id = api_inbound(customer, "Where is my parcel?", name="Dana Dash")
    api_inbound(customer, "It was due yesterday", name="Dana Dash")
    _reply_and_resolve(demo_server, conversation_id)

    figures = _open(page)
    assert figures["volumes"]["inbound"] >= 2 and figures["conversations"]["resolved"] >= 1
    _shows(page, figures)
    # The admin answered and resolved: the agents table says so.
    admin_row = page.locator('[data-testid="dashboard-agent"]').filter(
        has_text=figures["agents"][0]["name"]
    )
    expect(admin_row.first).to_be_visible()
    mine = [a for a in figures["agents"] if a["replies"] >= 1 and a["resolved"] >= 1]
    assert mine, figures["agents"]
    page.screenshot(path=str(screenshots / "dashboard.png"))

    # A new customer message: Refresh shows one more inbound message and one more waiting.
    api_inbound(f"dash-{uuid.uuid4().hex[:8]}", "Hello?", name="Eve Dash")
    with page.expect_response(lambda r: "/api/metrics?" in r.url) as info:
        page.get_by_test_id("dashboard-refresh").click()
    after = json.loads(info.value.text())
    assert after["volumes"]["inbound"] == figures["volumes"]["inbound"] + 1
    assert after["first_response"]["unanswered"] == figures["first_response"]["unanswered"] + 1
    _shows(page, after)

    # The filters ask the server for what they say.
    with page.expect_response(lambda r: "/api/metrics?" in r.url) as info:
        page.get_by_test_id("dashboard-business-hours").check()
    assert "business_hours=true" in info.value.url
    expect(page.get_by_text("Durations count business hours only.")).to_be_visible()
    with page.expect_response(lambda r: "/api/metrics?" in r.url) as info:
        page.get_by_test_id("dashboard-range-30d").check()
    month = json.loads(info.value.text())
    assert len(month["days"]) >= 30
    assert month["volumes"]["inbound"] >= after["volumes"]["inbound"]
    _shows(page, month)

    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Dashboard")).to_have_count(0)
