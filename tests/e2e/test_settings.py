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
                const init = {method, headers: {'Content-Type': 'application/json'}};
                if (body !== null) init.body = JSON.stringify(body);
                return (await fetch(path, init)).status;
            }""",
            [method, path, body],
        )
    )


def test_tag_and_template_made_in_settings_are_offered_in_the_inbox(
    sessions: Any, api_inbound: Inbound
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
    expect(dialog.get_by_test_id("tag-form").get_by_test_id("field-error")).to_contain_text(
        "already exists"
    )
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
    sessions: Any, demo_server: ServerProcess
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

    bob.page.reload()
    expect(bob.page.get_by_test_id("app")).to_be_visible()
    bob.show_tab("all")
    expect(bob.row(conversation_id)).to_be_visible()
    expect(bob.row(conversation_id)).to_contain_text("Hello partner desk")


def test_agents_cannot_open_the_admin_settings_and_the_api_refuses(
    sessions: Any, demo_server: ServerProcess
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


def test_email_account_test_results_and_account_settings_round_trip(
    sessions: Any, screenshots: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    admin = sessions("admin")
    page = admin.page
    dialog = _open_settings(page, "accounts")
    dialog.get_by_test_id("account-add-email").click()
    add = dialog.get_by_test_id("add-email")
    # Gmail and Office 365 are listed, honestly, as not available.
    expect(add.get_by_role("radio", name="Gmail")).to_be_disabled()
    expect(add.get_by_role("radio", name="IMAP")).to_be_checked()
    add.get_by_test_id("email-name").fill(f"Mail {suffix}")
    add.get_by_test_id("email-address").fill(f"support-{suffix}@shop.example")
    add.get_by_test_id("email-imap-host").fill("127.0.0.1")
    add.get_by_test_id("email-imap-port").fill("1")
    add.get_by_test_id("email-smtp-host").fill("127.0.0.1")
    add.get_by_test_id("email-smtp-port").fill("1")
    add.get_by_test_id("email-create").click()
    # The password is required before anything is sent.
    expect(add.get_by_test_id("field-error")).to_contain_text("password")
    add.get_by_test_id("email-password").fill("app-password")
    # Tested before saving: the results show, and no account exists yet.
    add.get_by_test_id("email-test-unsaved").click()
    expect(add.get_by_test_id("test-imap")).to_contain_text("IMAP: failed")
    expect(add.get_by_test_id("test-smtp")).to_contain_text("SMTP: failed")
    expect(dialog.get_by_test_id("account-detail")).to_have_count(0)
    add.get_by_test_id("email-create").click()

    detail = dialog.get_by_test_id("account-detail")
    expect(detail.get_by_test_id("test-imap")).to_contain_text("IMAP: failed")
    expect(detail.get_by_test_id("test-smtp")).to_contain_text("SMTP: failed")
    # Write-only: the stored password is "set", and its field is empty.
    expect(detail.get_by_test_id("email-password")).to_have_value("")
    expect(detail.get_by_test_id("secret-state").first).to_have_text("set")

    # A malformed host is pointed out next to its field, before anything is saved.
    detail.get_by_test_id("email-imap-host").fill("imap.bad_host.example")
    detail.get_by_test_id("connection-save").click()
    expect(detail.get_by_test_id("field-error").first).to_contain_text("A host name")
    detail.get_by_test_id("email-imap-host").fill("127.0.0.1")
    expect(detail.get_by_text("A host name such as imap.example.com")).to_have_count(0)

    detail.get_by_test_id("signature-html").fill(
        '<p><b>Shop Support</b></p><script>alert(1)</script><img src="x" onerror="alert(2)">'
    )
    preview = page.frame_locator('[data-testid="signature-preview"]')
    expect(preview.locator("b")).to_have_text("Shop Support")
    expect(preview.locator("script")).to_have_count(0)
    detail.get_by_test_id("hours-enabled").check()
    detail.get_by_test_id("hours-sat").get_by_role("checkbox").uncheck()
    detail.get_by_test_id("auto-reply-enabled").check()
    detail.get_by_test_id("automation-save").click()
    expect(detail.get_by_test_id("auto-reply-message")).to_have_attribute("aria-invalid", "true")
    expect(detail.get_by_text("Write the message to send")).to_be_visible()
    detail.get_by_test_id("auto-reply-message").fill("We answer 9-5.")
    detail.get_by_test_id("rule-type").select_option("workload")
    detail.get_by_test_id("rule-add").click()
    detail.get_by_test_id("automation-save").click()
    expect(detail.get_by_test_id("automation-saved")).to_have_text("Settings saved.")

    account_id = detail.get_attribute("data-account-id")
    settings = page.evaluate(
        "async (id) => (await (await fetch(`/api/accounts/${id}`)).json()).account.settings",
        account_id,
    )
    assert settings["auto_reply"] == {
        "enabled": True,
        "trigger": "outside_hours",
        "message": "We answer 9-5.",
    }
    assert settings["business_hours"]["days"]["sat"] is None
    assert settings["business_hours"]["days"]["mon"] == ["09:00", "17:00"]
    assert settings["assignment_rules"] == [{"type": "workload"}]
    assert (
        "<script" not in settings["signature_html"] and "Shop Support" in settings["signature_html"]
    )
    assert settings["imap_host"] == "127.0.0.1"  # the connection settings survived
    detail.get_by_test_id("account-back").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "settings-email-account.png"))


def test_users_and_teams(sessions: Any, demo_server: ServerProcess) -> None:
    suffix = uuid.uuid4().hex[:6]
    admin = sessions("admin")
    dialog = _open_settings(admin.page, "users")
    dialog.get_by_test_id("user-new").click()
    form = dialog.get_by_test_id("user-form")
    form.get_by_test_id("user-name").fill(f"Cara {suffix}")
    form.get_by_test_id("user-email").fill(demo_server.agent("alice")["email"])
    form.get_by_test_id("user-password").fill("a-long-password")
    form.get_by_test_id("user-groups").check()
    form.get_by_test_id("user-save").click()
    # The server's refusal (the email is taken) shows next to the email field.
    expect(form.get_by_test_id("field-error")).to_contain_text("already exists")
    email = f"cara-{suffix}@demo.test"
    form.get_by_test_id("user-email").fill(email)
    form.get_by_test_id("user-save").click()
    row = dialog.get_by_test_id("user-row").filter(has_text=email)
    expect(row).to_contain_text("Manages WhatsApp groups")

    row.get_by_test_id("user-reset").click()
    expect(row.get_by_test_id("reset-form")).to_contain_text(
        "signs Cara " + suffix + " out everywhere"
    )
    row.get_by_test_id("reset-password").fill("another-long-password")
    row.get_by_test_id("reset-save").click()
    expect(row.get_by_test_id("reset-form")).to_have_count(0)
    with httpx.Client(timeout=10.0) as http:
        ok = http.post(
            f"{demo_server.url}/api/tokens",
            json={"email": email, "password": "another-long-password"},
        )
        assert ok.status_code == 200, ok.text

    dialog.get_by_test_id("team-new").click()
    team = dialog.get_by_test_id("team-form")
    team.get_by_test_id("team-name").fill(f"Night shift {suffix}")
    team.get_by_role("checkbox", name=f"Cara {suffix}").check()
    team.get_by_test_id("team-save").click()
    expect(
        dialog.get_by_test_id("team-row").filter(has_text=f"Night shift {suffix}")
    ).to_contain_text(f"Cara {suffix}")
