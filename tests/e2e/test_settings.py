"""The admin Settings area in headless Chromium against the real demo server: what an admin
configures there is what agents then see in the inbox, and agents cannot get in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright import sync_api

from tests.e2e.conftest import Inbound, ServerProcess
from tests.e2e.test_web_client import DESKTOP, TABLET, Session

pytestmark = pytest.mark.browser

expect = sync_api.expect
expect.set_options(timeout=20_000)


@pytest.fixture
def sessions(chromium_browser: Any, demo_server: ServerProcess) -> Iterator[Any]:
    opened: list[Session] = []

    def login(who: str, viewport: dict[str, int] = DESKTOP) -> Session:
        creds = demo_server.admin if who == "admin" else demo_server.agent(who)
        session = Session(chromium_browser, demo_server, creds, viewport)
        opened.append(session)
        return session

    yield login
    for session in opened:
        session.close()


def _open_settings(page: Any, tab: str) -> Any:
    if not page.get_by_test_id("admin-settings").is_visible():
        page.get_by_test_id("open-admin-settings").click()
    dialog = page.get_by_test_id("admin-settings")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id(f"settings-tab-{tab}").click()
    expect(dialog.get_by_test_id(f"settings-tab-{tab}")).to_have_attribute("aria-selected", "true")
    return dialog


def _close_settings(page: Any) -> None:
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("admin-settings")).to_have_count(0)


def _fetch(page: Any, method: str, path: str, body: Any = None) -> int:
    """The HTTP status the API answers this browser session (its cookie) for a request."""
    return int(
        page.evaluate(
            """async ([method, path, body]) => {
                const r = await fetch(path, {method, headers: {'Content-Type': 'application/json'},
                                             body: body === null ? undefined : JSON.stringify(body)});
                return r.status;
            }""",
            [method, path, body],
        )
    )


def test_tag_and_template_made_in_settings_are_offered_in_the_inbox(
    sessions: Any, api_inbound: Inbound, screenshots: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    conversation_id = api_inbound(f"set-{suffix}", "Hello, any news?", name="Sam Settings")
    admin = sessions("admin")
    page = admin.page

    dialog = _open_settings(page, "tags")
    dialog.get_by_test_id("tag-new").click()
    form = dialog.get_by_test_id("tag-form")
    tag_name = f"Escalated {suffix}"
    form.get_by_test_id("tag-name").fill(tag_name)
    form.get_by_test_id("tag-description").fill("Needs a manager")
    form.get_by_role("button", name="Colour #7c3aed").click()
    form.get_by_test_id("tag-save").click()
    row = dialog.get_by_test_id("tag-row").filter(has_text=tag_name)
    expect(row).to_be_visible()
    # The same name again is refused before it reaches the server, next to the field.
    dialog.get_by_test_id("tag-new").click()
    dialog.get_by_test_id("tag-form").get_by_test_id("tag-name").fill(tag_name.upper())
    dialog.get_by_test_id("tag-form").get_by_test_id("tag-save").click()
    expect(dialog.get_by_test_id("tag-form").get_by_test_id("field-error")).to_contain_text("already exists")
    dialog.get_by_test_id("tag-form").get_by_role("button", name="Cancel").click()

    dialog.get_by_test_id("settings-tab-templates").click()
    dialog.get_by_test_id("template-new").click()
    form = dialog.get_by_test_id("template-form")
    template_name = f"Refund policy {suffix}"
    form.get_by_test_id("template-name").fill(template_name)
    form.get_by_test_id("template-content").fill("Hello ")
    form.get_by_role("button", name="Insert {{contact_name}}").click()
    expect(form.get_by_test_id("template-content")).to_have_value("Hello {{contact_name}}")
    form.get_by_test_id("template-labels").fill("Refunds")
    form.get_by_test_id("template-type-reply").check()
    form.get_by_test_id("template-save").click()
    expect(dialog.get_by_test_id("template-row").filter(has_text=template_name)).to_be_visible()
    page.screenshot(path=str(screenshots / "settings-templates.png"))
    _close_settings(page)

    admin.open(conversation_id)
    page.get_by_test_id("add-tag").click()
    page.get_by_test_id("tag-input").fill(f"escalated {suffix}")
    expect(page.get_by_test_id("tag-option").filter(has_text=tag_name)).to_be_visible()
    expect(page.get_by_test_id("tag-create")).to_have_count(0)
    page.get_by_test_id("tag-input").press("Escape")

    admin.composer.click()
    admin.composer.press_sequentially(f"/refund policy {suffix}")
    option = page.get_by_test_id("template-picker").get_by_test_id("template-option")
    expect(option.filter(has_text=template_name)).to_be_visible()
    admin.composer.press("Enter")
    expect(admin.composer).to_have_value("Hello Sam Settings")


def test_api_channel_token_once_pause_resume_and_granting_an_agent(
    sessions: Any, demo_server: ServerProcess, screenshots: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    admin = sessions("admin")
    page = admin.page
    dialog = _open_settings(page, "accounts")
    dialog.get_by_test_id("account-add-api").click()
    dialog.get_by_test_id("api-name").fill(f"Partner shop {suffix}")
    dialog.get_by_test_id("api-create").click()
    token_box = dialog.get_by_test_id("api-token")
    expect(token_box).to_be_visible()
    token = token_box.inner_text().strip()
    assert len(token) >= 32
    dialog.get_by_test_id("api-done").click()

    row = dialog.get_by_test_id("account-row").filter(has_text=f"Partner shop {suffix}")
    account_id = row.get_attribute("data-account-id")
    assert account_id
    status = row.get_by_test_id("account-status")
    expect(status).to_have_text("Active")
    row.get_by_test_id("account-open").click()
    detail = dialog.get_by_test_id("account-detail")
    # Shown once: the account's page says the token is set but never shows it again.
    expect(detail.get_by_test_id("secret-state").first).to_have_text("set")
    expect(dialog).not_to_contain_text(token)
    detail.get_by_test_id("account-back").click()

    # Pause: the badge changes and the channel refuses intake until resumed.
    row.get_by_test_id("account-pause").click()
    expect(status).to_have_text("Paused")
    with httpx.Client(timeout=10.0) as http:
        refused = http.post(
            f"{demo_server.url}/channels/api/{account_id}/messages",
            json={"message_id": f"p-{suffix}", "from": {"id": f"p-{suffix}"}, "text": "hi"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert refused.status_code == 503, refused.text
        row.get_by_test_id("account-pause").click()
        expect(status).to_have_text("Active")
        stored = http.post(
            f"{demo_server.url}/channels/api/{account_id}/messages",
            json={
                "message_id": f"g-{suffix}",
                "from": {"id": f"g-{suffix}", "name": "Gina Granted"},
                "text": "Hello partner desk",
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert stored.status_code == 201, stored.text
        conversation_id = stored.json()["conversation_id"]

    bob = sessions("bob")
    # Not authorized on the new account yet: its conversation is refused to Bob.
    assert _fetch(bob.page, "GET", f"/api/conversations/{conversation_id}") in (403, 404)

    row.get_by_test_id("account-open").click()
    grants = detail.get_by_test_id("grants")
    detail.get_by_test_id("grant-user").select_option(label="Bob Agent (bob@demo.test)")
    detail.get_by_test_id("grant-add").click()
    bob_row = grants.locator(f'[data-testid="grant-row"][data-user-id="{bob.user_id}"]')
    expect(bob_row.get_by_test_id("grant-handles_conversations")).to_be_checked()
    bob_row.get_by_test_id("grant-can_resolve_all").check()
    detail.get_by_test_id("grants-save").click()
    expect(detail.get_by_test_id("grants-saved")).to_have_text("Authorized users saved.")
    page.screenshot(path=str(screenshots / "settings-account.png"))

    bob.page.reload()
    expect(bob.page.get_by_test_id("app")).to_be_visible()
    bob.show_tab("all")
    expect(bob.row(conversation_id)).to_be_visible()
    expect(bob.row(conversation_id)).to_contain_text("Hello partner desk")


def test_agents_cannot_open_the_admin_settings_and_the_api_refuses(
    sessions: Any, demo_server: ServerProcess, screenshots: Path
) -> None:
    alice = sessions("alice", TABLET)
    page = alice.page
    # Their own profile settings stay; the workspace settings entry is not there.
    expect(page.get_by_test_id("open-settings")).to_be_visible()
    expect(page.get_by_test_id("open-admin-settings")).to_have_count(0)
    account_id = demo_server.credentials["api_channel"]["account_id"]
    assert _fetch(page, "POST", "/api/accounts", {"kind": "api", "name": "Sneaky"}) == 403
    assert _fetch(page, "PATCH", f"/api/accounts/{account_id}", {"name": "Renamed"}) == 403
    assert _fetch(page, "POST", f"/api/accounts/{account_id}/pause") == 403
    assert _fetch(page, "PATCH", f"/api/users/{alice.user_id}", {"role": "admin"}) == 403

    # An admin at tablet width: the tabs are keyboard-reachable and the account list fits.
    admin = sessions("admin", TABLET)
    admin.page.get_by_test_id("open-admin-settings").click()
    tab = admin.page.get_by_test_id("settings-tab-accounts")
    tab.focus()
    admin.page.keyboard.press("ArrowRight")
    expect(admin.page.get_by_test_id("settings-tab-templates")).to_be_focused()
    expect(admin.page.get_by_test_id("settings-tab-templates")).to_have_attribute(
        "aria-selected", "true"
    )
    admin.page.keyboard.press("End")
    expect(admin.page.get_by_test_id("settings-tab-users")).to_be_focused()
    expect(admin.page.get_by_test_id("user-row").first).to_be_visible()
    admin.page.keyboard.press("Home")
    expect(admin.page.get_by_test_id("account-row").first).to_be_visible()
    width = admin.page.evaluate(
        "document.querySelector('[data-testid=admin-settings]').scrollWidth <= window.innerWidth"
    )
    assert width
    admin.page.screenshot(path=str(screenshots / "settings-accounts-820.png"))
