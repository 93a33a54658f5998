"""The email channel's pure parts: MIME in, MIME out, settings, SMTP error classes."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import aiosmtplib
import orjson
import pytest

from server.domain.errors import Invalid
from server.transports.email.config import EmailConfig, scrub, validate_settings
from server.transports.email.mime_build import OutgoingFile, build_email, reply_subject
from server.transports.email.mime_parse import MimeError, parse_email
from server.transports.email.smtp_delivery import classify

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
CONFIG = EmailConfig(
    address="support@shop.example",
    sender_name="Shop Support",
    imap_host="imap.shop.example",
    imap_port=993,
    imap_security="tls",
    smtp_host="smtp.shop.example",
    smtp_port=465,
    smtp_security="tls",
    username="support@shop.example",
    password="hunter2-secret",
    signature_html="<p>Kind regards, <b>Shop</b></p>",
)


def mail(*headers: str, body: str = "Hello") -> bytes:
    return ("\r\n".join([*headers, "", body, ""])).encode()


def test_encoded_headers_and_latin1_body_read_as_written() -> None:
    parsed = parse_email((SAMPLES / "encoded_headers.eml").read_bytes())
    assert parsed.from_name == "Jürgen Müller"
    assert parsed.from_address == "juergen@kunde.example"
    assert parsed.subject == "Preisänderung für Bestellung"
    assert parsed.text == "Grüße aus Köln: die Lieferung ist beschädigt."
    assert parsed.message_id == "encoded-1@kunde.example"


def test_unknown_charset_keeps_the_text_and_stays_storable() -> None:
    parsed = parse_email((SAMPLES / "bad_charset.eml").read_bytes())
    assert "Order 4711" in parsed.text and "arrived broken" in parsed.text
    orjson.dumps(parsed.text)  # no lone surrogates: the store and the wire accept it
    assert parsed.problems


def test_missing_sender_is_refused_with_a_reason() -> None:
    with pytest.raises(MimeError, match="no usable From"):
        parse_email((SAMPLES / "no_from.eml").read_bytes())


def test_deep_nesting_keeps_the_top_and_says_what_was_skipped() -> None:
    parsed = parse_email((SAMPLES / "deep_nesting.eml").read_bytes())
    assert "Top level text survives." in parsed.text
    assert "nested too deeply" in parsed.text
    assert [a.filename for a in parsed.attachments] == ["invoice.pdf"]
    assert parsed.attachments[0].data.startswith(b"%PDF")


def test_missing_message_id_gets_a_stable_hash() -> None:
    raw = (SAMPLES / "html_no_message_id.eml").read_bytes()
    first, again = parse_email(raw), parse_email(raw)
    assert first.message_id == again.message_id
    assert first.message_id.startswith("sha256-")
    assert "<b>team</b>" in first.html


def test_thread_ids_nearest_first_and_auto_replies_flagged() -> None:
    parsed = parse_email(
        mail(
            "From: a@b.example",
            "Message-ID: <m3@b>",
            "In-Reply-To: <m2@us>",
            "References: <m0@b> <m1@us>\r\n <m2@us>",
            "Auto-Submitted: auto-replied",
        )
    )
    assert parsed.thread_ids == ["m2@us", "m1@us", "m0@b"]
    assert parsed.auto_submitted


def test_oversized_attachment_is_left_out_with_a_note() -> None:
    message = EmailMessage()
    message["From"] = "Big <big@b.example>"
    message["Message-ID"] = "<big@b>"
    message.set_content("See attached")
    message.add_attachment(b"x" * 5000, maintype="application", subtype="zip", filename="a.zip")
    message.add_attachment(b"small", maintype="text", subtype="csv", filename="b.csv")
    parsed = parse_email(message.as_bytes(), max_attachment=1000)
    assert [a.filename for a in parsed.attachments] == ["b.csv"]
    assert "See attached" in parsed.text
    assert "Attachment a.zip" in parsed.text and "too large" in parsed.text


def test_very_long_text_is_cut_not_refused() -> None:
    parsed = parse_email(mail("From: a@b.example", body="word " * 30_000))
    assert len(parsed.text) < 65_536
    assert "too long" in parsed.text


def test_reply_has_threading_headers_signature_and_attachment() -> None:
    built = build_email(
        CONFIG,
        to_address="dora@customer.example",
        to_name="Dora\r\nBcc: evil@x.example",
        subject=reply_subject("Invoice\nquestion", is_reply=True),
        message_id="msg_1@shop.example",
        text="Line one\n\nLine two",
        in_reply_to="d1@cust",
        references=["d0@cust", "d1@cust"],
        files=[OutgoingFile("credit.pdf", "application/pdf", b"%PDF-1.4")],
    )
    parsed = BytesParser(policy=policy.default).parsebytes(built.as_bytes())
    assert str(parsed["From"]) == "Shop Support <support@shop.example>"
    assert parsed["Bcc"] is None  # no header injection through names
    assert str(parsed["Subject"]) == "Re: Invoice question"
    assert str(parsed["Message-ID"]) == "<msg_1@shop.example>"
    assert str(parsed["In-Reply-To"]) == "<d1@cust>"
    assert str(parsed["References"]) == "<d0@cust> <d1@cust>"
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert "Line two\n\n-- \nKind regards, Shop" in plain.get_content().replace("\r\n", "\n")
    assert "<p>Line one</p><p>Line two</p>" in html.get_content()
    assert [a.get_filename() for a in parsed.iter_attachments()] == ["credit.pdf"]


def test_subject_gets_one_re_only() -> None:
    assert reply_subject("Re: Order", is_reply=True) == "Re: Order"
    assert reply_subject("Order", is_reply=True) == "Re: Order"
    assert reply_subject("Order", is_reply=False) == "Order"
    assert reply_subject("", is_reply=False) == "(no subject)"


def test_settings_get_defaults_and_clear_refusals() -> None:
    settings = validate_settings(
        {
            "address": "Support@Shop.example",
            "imap_host": "imap.shop.example",
            "smtp_host": "smtp.shop.example",
            "smtp_security": "starttls",
            "signature_html": "<p onclick='x()'>Hi</p><script>x()</script>",
        },
        {"password": "p"},
    )
    assert settings["address"] == "support@shop.example"
    assert settings["username"] == "support@shop.example"
    assert (settings["imap_port"], settings["smtp_port"]) == (993, 587)
    assert "script" not in settings["signature_html"]
    assert "onclick" not in settings["signature_html"]
    base = {"address": "a@b.example", "imap_host": "i.example", "smtp_host": "s.example"}
    with pytest.raises(Invalid, match="STARTTLS is not supported"):
        validate_settings({**base, "imap_security": "starttls"}, {"password": "p"})
    with pytest.raises(Invalid, match=r"secrets\.password"):
        validate_settings(base, {})
    with pytest.raises(Invalid, match="sender_name"):
        validate_settings({**base, "sender_name": "A\r\nBcc: x"}, {"password": "p"})


def test_smtp_errors_are_classified_and_scrubbed() -> None:
    busy = classify(aiosmtplib.SMTPResponseException(451, "try later"), "pw")
    assert busy.retryable
    refused = classify(aiosmtplib.SMTPDataError(554, "spam detected for pw"), "pw")
    assert not refused.retryable and "554" in refused.reason and "pw" not in refused.reason
    assert classify(ConnectionRefusedError(111, "refused"), "pw").retryable
    bounced = classify(
        aiosmtplib.SMTPRecipientsRefused(
            [aiosmtplib.SMTPRecipientRefused(550, "no such user", "x@y.example")]
        ),
        "pw",
    )
    assert not bounced.retryable and "x@y.example" in bounced.reason
    assert scrub("login hunter2-secret refused", CONFIG.password) == "login [redacted] refused"
