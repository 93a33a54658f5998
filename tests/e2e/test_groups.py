"""The Group Management Panel in headless Chromium: the real demo server with a Cloud API
account pointing at the fake Graph API (run on its own event loop thread here), whose group
webhooks reach the server signed as Meta signs them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from playwright import sync_api

from tests.e2e.conftest import ServerProcess
from tests.e2e.test_web_client import DESKTOP, Session
from tests.fakes.graph import FakeGraph

pytestmark = pytest.mark.browser
expect = sync_api.expect
T = TypeVar("T")


class GraphThread:
    """The fake Graph API on an event loop in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.graph = FakeGraph()
        self.run(self.graph.start())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=20)

    def close(self) -> None:
        self.run(self.graph.settle())
        self.run(self.graph.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


@pytest.fixture
def graph_thread() -> Iterator[GraphThread]:
    fake = GraphThread()
    try:
        yield fake
    finally:
        fake.close()


def test_the_group_panel_follows_the_group_live(
    chromium_browser: Any, demo_server: ServerProcess, graph_thread: GraphThread
) -> None:
    graph = graph_thread.graph
    http = httpx.Client(base_url=demo_server.url, timeout=10.0)
    admin = demo_server.admin
    token = http.post("/api/tokens", json=admin).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    me = http.get("/api/me", headers=auth).json()
    me = me.get("user", me)
    answer = http.patch(f"/api/users/{me['id']}", json={"can_manage_groups": True}, headers=auth)
    assert answer.status_code == 200, answer.text
    created = http.post(
        "/api/accounts",
        headers=auth,
        json={
            "kind": "whatsapp",
            "name": "Groups number",
            "settings": {
                "provider": "cloud",
                "phone_number_id": graph.phone_number_id,
                "waba_id": graph.waba_id,
                "graph_base_url": graph.url,
            },
            "secrets": {
                "access_token": graph.access_token,
                "app_secret": graph.app_secret,
                "verify_token": "verify",
            },
        },
    )
    assert created.status_code == 201, created.text
    account_id = created.json()["account"]["id"]
    hook = f"{demo_server.url}/channels/whatsapp/{account_id}/webhook"
    graph.webhook_url = hook
    answer = http.post(f"/api/accounts/{account_id}/whatsapp/groups/eligibility", headers=auth)
    assert answer.status_code == 200, answer.text

    session = Session(chromium_browser, demo_server, admin, DESKTOP)
    page = session.page
    try:
        page.get_by_test_id("create-group").click()
        dialog = page.get_by_test_id("group-create-dialog")
        expect(dialog.get_by_test_id("group-sender")).to_contain_text("Groups number")
        dialog.get_by_test_id("group-subject").fill("Brake kit buyers")
        dialog.get_by_test_id("group-approval").check()
        dialog.get_by_test_id("group-create-submit").click()
        expect(page.get_by_test_id("thread-title")).to_have_text("Brake kit buyers")
        if not page.get_by_test_id("details").is_visible():
            page.get_by_test_id("toggle-details").click()
        panel = page.get_by_test_id("group-panel")
        expect(panel).to_have_attribute("data-group-state", "active")
        expect(panel.get_by_test_id("group-invite-link")).to_contain_text("chat.whatsapp.com")
        group_id = next(iter(graph.groups))

        # Someone asks to join: the request shows up live; approving it adds them.
        request = graph.join(group_id, "4915123456789", "Jonas Weber")
        assert request is not None
        assert graph_thread.run(graph.deliver(hook, request))[0] == 200
        expect(panel.get_by_test_id("group-join-request")).to_contain_text("Jonas Weber")
        panel.get_by_test_id("group-join-request").get_by_role("button", name="Approve").click()
        expect(panel.get_by_test_id("group-participant")).to_have_count(2)
        expect(panel.get_by_test_id("group-count")).to_have_text("2/8")
        expect(session.messages).to_contain_text("Jonas Weber (+4915123456789) joined")

        # Meta suspends the group: a red banner, and the composer says why nothing goes out.
        assert graph_thread.run(graph.deliver(hook, graph.suspend(group_id)))[0] == 200
        expect(panel.get_by_test_id("group-suspended")).to_be_visible()
        expect(page.get_by_test_id("group-send-block")).to_contain_text("suspended")

        # Delete Group: the thread stays as a read-only archive.
        page.evaluate("window.confirm = () => true")  # the agent confirms the deletion
        panel.get_by_test_id("group-delete").click()
        expect(panel).to_have_attribute("data-group-state", "deleted")
        expect(panel.get_by_test_id("group-archived")).to_contain_text("read-only archive")
        expect(session.composer).to_have_count(0)
        expect(
            page.get_by_test_id("message").filter(has_text="Jonas Weber (+4915123456789) joined")
        ).to_have_count(1)
        assert session.errors == []
    finally:
        session.context.close()
        http.close()
