"""The agents' web client in headless Chromium against the real demo server.

Each test makes its own conversations (fresh contact ids) so they do not depend on each other;
they share one server process per module. Screenshots of the main screens land in
docs/screenshots/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api

from tests.e2e.conftest import ROOT, Inbound, ServerProcess

pytestmark = pytest.mark.browser

expect = sync_api.expect
# Generous: CI machines can be busy; passing tests do not wait for it.
expect.set_options(timeout=20_000)

DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 820, "height": 1100}


class Session:
    """One agent's browser context, logged in."""

    def __init__(
        self, browser: Any, server: ServerProcess, creds: dict[str, str], viewport: dict[str, int]
    ):
        self.context = browser.new_context(viewport=viewport, base_url=server.url)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        self.page.on("dialog", on_dialog)
        self.page.goto("/")
        self.page.get_by_test_id("login-email").fill(creds["email"])
        self.page.get_by_test_id("login-password").fill(creds["password"])
        self.page.get_by_test_id("login-submit").click()
        expect(self.page.get_by_test_id("app")).to_be_visible()
        self.user_id: str = self.page.evaluate("window.__conv.getState().me.id")

    def row(self, conversation_id: str) -> Any:
        return self.page.locator(
            f'[data-testid="conversation-row"][data-conversation-id="{conversation_id}"]'
        )

    def show_tab(self, tab: str, status: str = "open") -> None:
        self.page.get_by_test_id(f"tab-{tab}").click()
        self.page.get_by_test_id("filter-status").select_option(status)

    def open(self, conversation_id: str) -> None:
        """Open a conversation from the All tab, as an agent would."""
        self.show_tab("all")
        self.row(conversation_id).click()
        expect(self.page.get_by_test_id("thread")).to_have_attribute(
            "data-conversation-id", conversation_id
        )

    @property
    def composer(self) -> Any:
        return self.page.get_by_test_id("composer-input")

    @property
    def messages(self) -> Any:
        return self.page.get_by_test_id("message-list")

    def close(self) -> None:
        assert not self.errors, f"uncaught errors in the page: {self.errors}"
        self.context.close()


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


def _sender(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_login_rejects_a_wrong_password_and_the_session_survives_reload(
    chromium_browser: Any, demo_server: ServerProcess
) -> None:
    context = chromium_browser.new_context(viewport=DESKTOP, base_url=demo_server.url)
    page = context.new_page()
    page.goto("/")
    page.get_by_test_id("login-email").fill("alice@demo.test")
    page.get_by_test_id("login-password").fill("not-the-password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_be_visible()
    page.get_by_test_id("login-password").fill(demo_server.agent("alice")["password"])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("me-name")).to_have_text("Alice Agent")
    page.reload()
    expect(page.get_by_test_id("me-name")).to_have_text("Alice Agent")
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    context.close()


def test_two_agents_live_list_thread_assignment_and_typing(
    sessions: Any, api_inbound: Inbound, screenshots: Path
) -> None:
    alice = sessions("alice")
    bob = sessions("bob")
    for agent in (alice, bob):
        agent.show_tab("all")

    sender = _sender("live")
    conversation_id = api_inbound(sender, "Hello from the live test", name="Livia Tester")
    for agent in (alice, bob):
        expect(agent.row(conversation_id)).to_be_visible()
        expect(agent.row(conversation_id)).to_contain_text("Livia Tester")
        expect(agent.row(conversation_id)).to_contain_text("Hello from the live test")
        # Newest activity first: the new conversation is at the top.
        expect(agent.page.get_by_test_id("conversation-row").first).to_have_attribute(
            "data-conversation-id", conversation_id
        )

    alice.row(conversation_id).click()
    expect(alice.page.get_by_test_id("thread-title")).to_have_text("Livia Tester")
    bob.row(conversation_id).click()
    expect(bob.messages).to_contain_text("Hello from the live test")
    expect(alice.page.get_by_test_id("viewing-indicator")).to_contain_text("Bob Agent is viewing")

    api_inbound(sender, "A second message, live")
    for agent in (alice, bob):
        expect(agent.messages).to_contain_text("A second message, live")
        expect(agent.row(conversation_id)).to_contain_text("A second message, live")

    # Alice takes it, Bob watches his own tab while Alice hands the conversation over.
    assignee = alice.page.get_by_test_id("assignee-select")
    assignee.select_option(f"u:{alice.user_id}")
    expect(assignee).to_have_value(f"u:{alice.user_id}")
    expect(bob.page.get_by_test_id("assignee-select")).to_have_value(f"u:{alice.user_id}")
    bob.page.get_by_test_id("tab-mine").click()
    expect(bob.row(conversation_id)).to_have_count(0)
    assignee.select_option(f"u:{bob.user_id}")
    expect(assignee).to_have_value(f"u:{bob.user_id}")
    expect(bob.row(conversation_id)).to_be_visible()
    expect(bob.page.get_by_test_id("assignee-select")).to_have_value(f"u:{bob.user_id}")

    bob.composer.click()
    bob.composer.press_sequentially("Let me check that for you")
    expect(alice.page.get_by_test_id("typing-indicator")).to_contain_text("Bob Agent is replying")
    alice.page.screenshot(path=str(screenshots / "inbox-thread-open.png"))

    # Sending ends the typing signal at once.
    bob.composer.press("Enter")
    expect(alice.messages).to_contain_text("Let me check that for you")
    expect(alice.page.get_by_test_id("typing-indicator")).to_have_count(0)


def test_send_keys_and_send_with_status(sessions: Any, api_inbound: Inbound) -> None:
    conversation_id = api_inbound(_sender("keys"), "Can you help with my order?", name="Kira Keys")
    admin = sessions("admin")
    admin.open(conversation_id)
    outbound = admin.page.locator('[data-testid="message"][data-kind="outbound"]')
    composer = admin.composer

    composer.click()
    composer.press_sequentially("Sent with Enter")
    composer.press("Enter")
    expect(outbound).to_have_count(1)
    expect(outbound.first).to_contain_text("Sent with Enter")
    expect(composer).to_have_value("")
    # The demo's webhook acknowledges the delivery: the tick moves past "queued".
    expect(outbound.first.get_by_test_id("delivery-status")).to_have_attribute(
        "data-status", re.compile("sent|delivered|read")
    )

    composer.press_sequentially("line one")
    composer.press("Shift+Enter")
    composer.press_sequentially("line two")
    expect(composer).to_have_value("line one\nline two")
    composer.press("Enter")
    expect(outbound).to_have_count(2)

    admin.page.get_by_test_id("open-settings").click()
    admin.page.get_by_test_id("send-key-ctrl_enter").check()
    admin.page.get_by_test_id("settings-save").click()
    expect(admin.page.get_by_test_id("settings-dialog")).to_have_count(0)
    try:
        composer.click()
        composer.press_sequentially("Sent with Ctrl+Enter")
        composer.press("Enter")
        expect(composer).to_have_value("Sent with Ctrl+Enter\n")
        expect(outbound).to_have_count(2)
        composer.press("Control+Enter")
        expect(outbound).to_have_count(3)
        expect(outbound.nth(2)).to_contain_text("Sent with Ctrl+Enter")

        # The setting is the user's, so it survives a reload (and so does the session).
        admin.page.reload()
        expect(admin.page.get_by_test_id("thread")).to_be_visible()
        composer.click()
        composer.press_sequentially("Still Ctrl+Enter after reload")
        composer.press("Enter")
        expect(composer).to_have_value("Still Ctrl+Enter after reload\n")
        composer.fill("")

        # The send-menu shows which status actions apply right now.
        composer.press_sequentially("Done, closing this")
        admin.page.get_by_test_id("send-menu-button").click()
        menu = admin.page.get_by_test_id("send-menu")
        expect(menu.get_by_test_id("send-then-resolve")).not_to_have_attribute(
            "aria-disabled", "true"
        )
        expect(menu.get_by_test_id("send-then-reopen")).to_have_attribute("aria-disabled", "true")
        admin.page.keyboard.press("Escape")
        expect(menu).to_have_count(0)

        composer.press("Control+Shift+Enter")
        expect(outbound).to_have_count(4)
        expect(outbound.nth(3)).to_contain_text("Done, closing this")
        expect(admin.page.get_by_test_id("thread")).to_have_attribute("data-status", "resolved")
        expect(admin.page.get_by_test_id("reopen-button")).to_be_visible()
    finally:
        admin.page.get_by_test_id("open-settings").click()
        admin.page.get_by_test_id("send-key-enter").check()
        admin.page.get_by_test_id("settings-save").click()
        expect(admin.page.get_by_test_id("settings-dialog")).to_have_count(0)

    # Alt+Shift+Enter sends and reopens.
    composer.click()
    composer.press_sequentially("Reopening with a reply")
    composer.press("Alt+Shift+Enter")
    expect(outbound).to_have_count(5)
    expect(admin.page.get_by_test_id("thread")).to_have_attribute("data-status", "open")


def test_slash_opens_templates_filtered_as_you_type(
    sessions: Any, api_inbound: Inbound, screenshots: Path
) -> None:
    conversation_id = api_inbound(_sender("tpl"), "Where is my quote?", name="Tara Template")
    alice = sessions("alice")
    alice.open(conversation_id)
    composer = alice.composer
    composer.click()
    composer.press_sequentially("/qu")
    picker = alice.page.get_by_test_id("template-picker")
    expect(picker).to_be_visible()
    options = picker.get_by_test_id("template-option")
    expect(options).to_have_count(2)
    expect(options.nth(0)).to_contain_text("Quick thanks")
    expect(options.nth(1)).to_contain_text("Quote ready")
    expect(picker).not_to_contain_text("Order shipped")
    alice.page.screenshot(path=str(screenshots / "composer-template-picker.png"))

    composer.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    composer.press("ArrowUp")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    composer.press("Enter")
    expect(picker).to_have_count(0)
    # Rendered by the server for this conversation: the contact's name is filled in.
    expect(composer).to_have_value(re.compile(r"^Thanks Tara Template, we're on it"))
    # Enter now sends the inserted text.
    composer.press("Enter")
    expect(alice.messages).to_contain_text("Thanks Tara Template, we're on it")

    # A label matches too ("Greetings" is the label of "Quick thanks" and "Welcome").
    composer.press_sequentially("/gre")
    expect(options.first).to_contain_text("Quick thanks")
    composer.press("Escape")
    expect(picker).to_have_count(0)
    expect(composer).to_have_value("/gre")


def test_actions_notes_tags_snooze_attachments_and_new_conversation(
    sessions: Any, api_inbound: Inbound, screenshots: Path
) -> None:
    conversation_id = api_inbound(_sender("act"), "Please tag me", name="Axel Actions")
    alice = sessions("alice")
    alice.open(conversation_id)
    page = alice.page
    if not page.get_by_test_id("details").is_visible():
        page.get_by_test_id("toggle-details").click()

    # Private note.
    page.get_by_test_id("note-toggle").click()
    alice.composer.click()
    alice.composer.press_sequentially("Internal: VIP customer")
    alice.composer.press("Enter")
    note = page.locator('[data-testid="message"][data-kind="note"]')
    expect(note).to_contain_text("Internal: VIP customer")
    expect(note).to_contain_text("Private note")
    page.get_by_test_id("note-toggle").click()

    # Tags: an existing one, and one created inline.
    tag_name = f"e2e-{uuid.uuid4().hex[:6]}"
    page.get_by_test_id("add-tag").click()
    page.get_by_test_id("tag-input").fill("Urg")
    page.get_by_test_id("tag-input").press("Enter")
    page.get_by_test_id("tag-input").fill(tag_name)
    expect(page.get_by_test_id("tag-create")).to_contain_text(tag_name)
    page.get_by_test_id("tag-input").press("Enter")
    page.keyboard.press("Escape")
    details = page.get_by_test_id("details")
    expect(details.get_by_test_id("tag-pill")).to_have_count(2)
    expect(details).to_contain_text("Urgent")
    expect(details).to_contain_text(tag_name)

    # Attachments: too large is refused before upload; a small image uploads and shows inline.
    drop = """async ([name, size, type]) => {
        let blob;
        if (type.startsWith('image/')) {
          const canvas = document.createElement('canvas');
          canvas.width = 240;
          canvas.height = 140;
          const g = canvas.getContext('2d');
          const grad = g.createLinearGradient(0, 0, 240, 140);
          grad.addColorStop(0, '#6366f1');
          grad.addColorStop(1, '#22d3ee');
          g.fillStyle = grad;
          g.fillRect(0, 0, 240, 140);
          blob = await new Promise((resolve) => canvas.toBlob(resolve, type));
        } else {
          blob = new Blob([new Uint8Array(size)], { type });
        }
        const dt = new DataTransfer();
        dt.items.add(new File([blob], name, { type }));
        const target = document.querySelector('[data-testid="composer"]');
        target.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true }));
        target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true }));
    }"""
    page.evaluate(drop, ["huge.bin", 26 * 1024 * 1024, "application/octet-stream"])
    expect(page.get_by_test_id("file-error")).to_contain_text("25 MB")
    expect(page.get_by_test_id("attachment-chip")).to_have_count(0)
    page.evaluate(drop, ["chart.png", 0, "image/png"])
    expect(page.get_by_test_id("attachment-chip")).to_have_attribute("data-state", "done")
    alice.composer.press_sequentially("Here is the picture")
    alice.composer.press("Enter")
    image = page.get_by_test_id("attachment-image").locator("img")
    expect(image).to_be_visible()
    expect(image).to_have_js_property("naturalWidth", 240)

    # A delivery failure reported by the channel shows with its reason.
    alice.composer.press_sequentially("This one will bounce")
    alice.composer.press("Enter")
    bounced = page.locator('[data-testid="message"][data-kind="outbound"]').last
    expect(bounced).to_contain_text("This one will bounce")
    expect(bounced).to_have_attribute("data-message-id", re.compile("^msg_"))
    api_inbound.status(bounced.get_attribute("data-message-id"), "failed", "Recipient blocked us")
    expect(bounced.get_by_test_id("delivery-status")).to_have_attribute("data-status", "failed")
    expect(bounced.get_by_test_id("delivery-reason")).to_have_text("Failed: Recipient blocked us")

    # Snooze, then reopen.
    page.get_by_test_id("snooze-button").click()
    page.get_by_test_id("snooze-1h").click()
    expect(page.get_by_test_id("thread")).to_have_attribute("data-status", "snoozed")
    # The line names the end in the viewer's own zone, formatted by the browser.
    snooze_line = page.locator(".msg-system-text").filter(has_text="snoozed the conversation")
    expect(snooze_line.last).to_be_visible()
    expect(snooze_line.last).not_to_have_text(re.compile(r"\d{2}:\d{2} [A-Z]{3,4}$"))
    page.get_by_test_id("reopen-button").first.click()
    expect(page.get_by_test_id("thread")).to_have_attribute("data-status", "open")

    # Link a customer by search.
    page.get_by_test_id("link-customer").click()
    page.get_by_test_id("customer-search").fill("North")
    page.get_by_test_id("customer-result").first.click()
    expect(page.get_by_test_id("linked-customer")).to_have_text("Northwind Traders")
    expect(page.get_by_test_id("thread-title")).to_have_text("Northwind Traders")

    page.screenshot(path=str(screenshots / "thread-note-tags-attachment.png"))

    # Start a new conversation with the + button.
    recipient = _sender("new")
    page.get_by_test_id("new-conversation").click()
    page.get_by_test_id("new-to").fill(recipient)
    page.get_by_test_id("new-name").fill("Nora Newconv")
    page.get_by_test_id("new-text").fill("Hello, we are reaching out first")
    page.get_by_test_id("new-submit").click()
    expect(page.get_by_test_id("new-conversation-dialog")).to_have_count(0)
    expect(page.get_by_test_id("thread-title")).to_have_text("Nora Newconv")
    expect(alice.messages).to_contain_text("Hello, we are reaching out first")


def test_html_email_renders_sandboxed_without_running_scripts(
    sessions: Any, api_inbound: Inbound, demo_server: ServerProcess
) -> None:
    html = (
        "<p>Hello <b>rich</b> world</p>"
        "<script>window.top.__pwned = 'script'; parent.__pwned = 'script'; alert('script')</script>"
        "<img src=\"x\" onerror=\"window.top.__pwned='onerror'; alert('onerror')\">"
        "<a href=\"javascript:alert('link')\">click</a>"
        f'<a href="{demo_server.url}/healthz" id="terms">our terms</a>'
    )
    conversation_id = api_inbound(_sender("html"), "Hello rich world", name="Hana Html", html=html)
    alice = sessions("alice")
    alice.open(conversation_id)
    frame_el = alice.page.get_by_test_id("email-frame")
    expect(frame_el).to_be_visible()
    # No scripts, no same origin: only links may open, in a tab of their own.
    assert frame_el.get_attribute("sandbox") == "allow-popups allow-popups-to-escape-sandbox"
    srcdoc = frame_el.get_attribute("srcdoc") or ""
    assert "default-src 'none'; img-src data: https: cid:; style-src 'unsafe-inline'" in srcdoc
    frame = alice.page.frame_locator('[data-testid="email-frame"]')
    expect(frame.locator("b")).to_have_text("rich")
    frame.locator("a", has_text="click").click()
    alice.page.wait_for_timeout(1000)
    assert alice.page.evaluate("window.__pwned") is None
    assert alice.dialogs == []
    # A plain link in the email opens in a new tab; the inbox stays where it was.
    with alice.page.context.expect_page() as opened:
        frame.locator("a", has_text="our terms").click()
    opened.value.wait_for_load_state()
    assert opened.value.url == f"{demo_server.url}/healthz"
    assert alice.page.url.startswith(demo_server.url) and "/healthz" not in alice.page.url
    opened.value.close()


def test_reconnects_and_catches_up_after_a_server_restart(
    sessions: Any, demo_server: ServerProcess, api_inbound: Inbound, screenshots: Path
) -> None:
    sender = _sender("restart")
    conversation_id = api_inbound(sender, "Before the restart", name="Rita Restart")
    alice = sessions("alice")
    alice.show_tab("all")
    alice.open(conversation_id)
    expect(alice.messages).to_contain_text("Before the restart")
    alice.page.evaluate("window.__samePage = 'yes'")
    banner = alice.page.get_by_test_id("reconnecting-banner")
    expect(banner).to_have_count(0)

    stopped_at = time.monotonic()
    demo_server.stop()
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Reconnecting")
    alice.page.screenshot(path=str(screenshots / "reconnecting-banner.png"))
    time.sleep(max(0.0, 5.0 - (time.monotonic() - stopped_at)))
    demo_server.start()

    api_inbound(sender, "Sent while you were away")
    other = api_inbound(
        _sender("restart-new"), "A new conversation after the restart", name="Nils New"
    )
    expect(alice.messages).to_contain_text("Sent while you were away", timeout=30_000)
    expect(alice.row(other)).to_be_visible()
    expect(banner).to_have_count(0)
    assert alice.page.evaluate("window.__samePage") == "yes", "the page was reloaded"

    # Still live after the reconnect.
    api_inbound(sender, "And live again")
    expect(alice.messages).to_contain_text("And live again")


def test_resync_reloads_quietly_when_the_server_cannot_replay(
    sessions: Any, api_inbound: Inbound
) -> None:
    sender = _sender("resync")
    conversation_id = api_inbound(sender, "Before the resync", name="Rex Resync")
    alice = sessions("alice")
    alice.open(conversation_id)
    expect(alice.messages).to_contain_text("Before the resync")
    alice.page.evaluate("window.__samePage = 'yes'")
    # A cursor the server cannot replay from (as after a log reset): it answers
    # {"resync": true}; the client reloads what it shows and starts over from the server's cursor.
    missed = api_inbound(_sender("resync-missed"), "Missed while away", name="Mia Missed")
    alice.page.evaluate("window.__conv.reconnectWithCursor(10 ** 9)")
    alice.page.wait_for_function("() => window.__conv.cursor < 10 ** 9")
    expect(alice.row(missed)).to_be_visible()
    api_inbound(sender, "Live again after the resync")
    expect(alice.messages).to_contain_text("Live again after the resync")
    assert alice.page.evaluate("window.__samePage") == "yes", "the page was reloaded"


def test_tablet_width_is_usable(sessions: Any, api_inbound: Inbound, screenshots: Path) -> None:
    conversation_id = api_inbound(_sender("tablet"), "Testing on a tablet", name="Tom Tablet")
    alice = sessions("alice", TABLET)
    alice.show_tab("all")
    alice.open(conversation_id)
    expect(alice.row(conversation_id)).to_be_visible()
    expect(alice.composer).to_be_visible()
    expect(alice.page.get_by_test_id("assignee-select")).to_be_visible()
    overflow = alice.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"page scrolls sideways by {overflow}px at 820px"
    alice.page.screenshot(path=str(screenshots / "tablet-820.png"))


def test_infinite_scroll_and_history_paging(sessions: Any, api_inbound: Inbound) -> None:
    batch = _sender("page")
    talker = _sender("history")
    # More than one page (50) of conversations and of messages in one conversation.
    for i in range(max(0, 56 - api_inbound.conversation_count())):
        api_inbound(f"{batch}-{i}", f"Bulk {i}", name=f"Bulk {i:02d}")
    for i in range(60):
        api_inbound(talker, f"History line {i:03d}", name="Hugo History")
    conversation_id = api_inbound(talker, "The latest line", name="Hugo History")

    alice = sessions("alice")
    alice.show_tab("all", status="all")
    rows = alice.page.get_by_test_id("conversation-row")
    expect(rows.first).to_have_attribute("data-conversation-id", conversation_id)
    expect(rows).to_have_count(50)
    rows.last.scroll_into_view_if_needed()
    expect(rows).not_to_have_count(50)
    assert rows.count() > 55, "the second page did not arrive"
    ids = rows.evaluate_all("els => els.map(e => e.dataset.conversationId)")
    assert len(ids) == len(set(ids)), "a conversation is listed twice"

    # History: the newest page first, older ones when scrolled to the top.
    alice.open(conversation_id)
    messages = alice.page.get_by_test_id("message")
    expect(messages.last).to_contain_text("The latest line")
    expect(messages).to_have_count(50)
    alice.page.get_by_test_id("message-list").evaluate("el => el.parentElement.scrollTop = 0")
    expect(messages).to_have_count(61)
    # Scrolled up, a new message does not yank the view down: a pill offers to jump.
    api_inbound(talker, "Arrived while reading history")
    expect(messages).to_have_count(62)
    pill = alice.page.get_by_test_id("new-messages-below")
    expect(pill).to_be_visible()
    pill.click()
    expect(pill).to_have_count(0)
    expect(messages.last).to_be_in_viewport()
    seqs = alice.page.locator('[data-testid="message"]').evaluate_all(
        "els => els.map(e => e.textContent)"
    )
    assert len(seqs) == len(set(seqs)), "a message is shown twice"


def test_client_unit_tests_pass() -> None:
    """The client's own unit tests (vitest: list placement, resume sequencing, key mapping...)."""
    web = ROOT / "web-client"
    vitest = web / "node_modules" / "vitest" / "vitest.mjs"
    node = shutil.which("node")
    if node is None or not vitest.exists():
        pytest.fail("web-client dependencies are not installed: run scripts/install.sh")
    result = subprocess.run(
        [node, str(vitest), "run"], cwd=web, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_message_search_finds_a_resolved_conversation_and_opens_it(
    sessions: Any, api_inbound: Inbound
) -> None:
    word = f"zanzibar{uuid.uuid4().hex[:8]}"
    conversation_id = api_inbound(
        _sender("search"), f"Is parcel {word} on its way?", name="Sasha Search"
    )
    admin = sessions("admin")
    admin.open(conversation_id)
    admin.page.get_by_test_id("resolve-button").click()
    expect(admin.page.get_by_test_id("thread")).to_have_attribute("data-status", "resolved")

    alice = sessions("alice")
    alice.show_tab("all")
    expect(alice.row(conversation_id)).to_have_count(0)
    page = alice.page
    box = page.get_by_role("searchbox", name="Search messages")
    expect(page.get_by_role("search")).to_be_visible()
    box.focus()
    box.press_sequentially(word[:-3])
    result = page.locator(
        f'[data-testid="search-result"][data-conversation-id="{conversation_id}"]'
    )
    expect(result).to_have_count(1)
    expect(result).to_contain_text("Sasha Search")
    expect(result).to_have_attribute("data-status", "resolved")
    expect(result.locator("mark")).to_have_text(word[:-3])
    expect(page.get_by_test_id("search-status")).to_have_text("1 message found")
    expect(page.get_by_test_id("conversation-list")).to_be_hidden()

    result.click()
    thread = page.get_by_test_id("thread")
    expect(thread).to_have_attribute("data-conversation-id", conversation_id)
    expect(thread).to_have_attribute("data-status", "resolved")
    expect(alice.messages).to_contain_text(f"Is parcel {word} on its way?")

    # Nothing matches: the empty state; Escape clears and the normal list comes back.
    box.fill(f"{word}nomatch")
    expect(page.get_by_test_id("search-empty")).to_have_text(re.compile("No messages match"))
    box.press("Escape")
    expect(box).to_have_value("")
    expect(page.get_by_test_id("search-results")).to_have_count(0)
    expect(page.get_by_test_id("conversation-list")).to_be_visible()

    # The clear button does the same and gives the focus back to the box.
    box.press_sequentially(word)
    expect(result).to_have_count(1)
    page.get_by_test_id("search-clear").click()
    expect(page.get_by_test_id("search-results")).to_have_count(0)
    expect(box).to_be_focused()


def test_message_search_shows_more_results_on_request(sessions: Any, api_inbound: Inbound) -> None:
    word = f"quokka{uuid.uuid4().hex[:8]}"
    sender = _sender("many")
    for k in range(55):
        api_inbound(sender, f"Question {k} about {word}", name="Manny Many")
    page = sessions("alice").page
    page.get_by_role("searchbox", name="Search messages").fill(word)
    results = page.get_by_test_id("search-result")
    expect(results).to_have_count(50)
    expect(page.get_by_test_id("search-status")).to_have_text("50 messages found")
    page.get_by_test_id("search-more").click()
    expect(results).to_have_count(55)
    expect(page.get_by_test_id("search-status")).to_have_text("55 messages found")
    expect(page.get_by_test_id("search-more")).to_have_count(0)  # everything is shown
