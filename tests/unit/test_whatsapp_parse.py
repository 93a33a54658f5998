"""WhatsApp webhooks: signatures of both providers, and what each payload becomes."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from server.domain.errors import Invalid
from server.domain.models import Template, TemplateApproval
from server.transports.whatsapp import config, signatures
from server.transports.whatsapp.parse import (
    ParsedMessage,
    PayloadError,
    StatusUpdate,
    parse_cloud,
    parse_twilio,
)
from server.transports.whatsapp.templates_sync import message_data, review_body

PHONE_ID = "1065"


def test_meta_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"object":"whatsapp_business_account", "entry": []}'
    header = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert signatures.meta_valid("s3cret", body, header)
    assert not signatures.meta_valid("s3cret", body + b" ", header)  # re-serialized: no match
    assert not signatures.meta_valid("other", body, header)
    assert not signatures.meta_valid("s3cret", body, "")
    assert not signatures.meta_valid("", body, header)


def test_twilio_signature_covers_the_url_and_the_sorted_params() -> None:
    # The scheme written out independently: URL, then each name + value sorted by name.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    data = url + "".join(k + params[k] for k in sorted(params))
    expected = base64.b64encode(hmac.new(b"12345", data.encode(), hashlib.sha1).digest()).decode()
    assert signatures.twilio_signature("12345", url, params.items()) == expected
    assert signatures.twilio_valid("12345", url, list(params.items()), expected)
    assert not signatures.twilio_valid("12345", url + "x", list(params.items()), expected)
    tampered = {**params, "Digits": "9999"}
    assert not signatures.twilio_valid("12345", url, list(tampered.items()), expected)


def _cloud(
    *messages: dict[str, object], statuses: list[dict[str, object]] | None = None
) -> dict[str, object]:
    value: dict[str, object] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001", "phone_number_id": PHONE_ID},
        "contacts": [{"profile": {"name": "Kim"}, "wa_id": "4917600001"}],
        "messages": list(messages),
    }
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "99", "changes": [{"value": value, "field": "messages"}]}],
    }


def _msg(kind: str, body: object, **extra: object) -> dict[str, object]:
    return {
        "from": "4917600001",
        "id": f"wamid.{kind}",
        "timestamp": "1",
        "type": kind,
        kind: body,
        **extra,
    }


def test_a_text_message_becomes_an_inbound_keyed_by_e164_with_the_profile_name() -> None:
    parsed = parse_cloud(_cloud(_msg("text", {"body": "Hallo"})), PHONE_ID)
    inbound = parsed.messages[0].inbound
    assert (inbound.provider_message_id, inbound.handle, inbound.phone) == (
        "wamid.text",
        "+4917600001",
        "+4917600001",
    )
    assert inbound.name == "Kim" and inbound.text == "Hallo"


def test_media_is_referenced_for_download_with_its_caption() -> None:
    document = {
        "id": "777",
        "mime_type": "application/pdf",
        "filename": "quote.pdf",
        "caption": "See",
    }
    parsed = parse_cloud(_cloud(_msg("document", document)), PHONE_ID)
    message = parsed.messages[0]
    assert message.inbound.text == "See"
    assert [(m.ref, m.content_type, m.filename) for m in message.media] == [
        ("777", "application/pdf", "quote.pdf")
    ]


@pytest.mark.parametrize(
    ("kind", "body", "expected"),
    [
        (
            "location",
            {"latitude": 52.5, "longitude": 13.4, "name": "Depot"},
            "Location: Depot (52.5, 13.4)",
        ),
        (
            "contacts",
            [{"name": {"formatted_name": "Ana"}, "phones": [{"phone": "+3412"}]}],
            "Shared contact: Ana (+3412)",
        ),
        (
            "interactive",
            {"type": "button_reply", "button_reply": {"id": "y", "title": "Yes"}},
            "Selected: Yes",
        ),
        (
            "interactive",
            {
                "type": "list_reply",
                "list_reply": {"id": "2", "title": "Tuesday", "description": "am"},
            },
            "Selected: Tuesday (am)",
        ),
        ("button", {"payload": "STOP", "text": "Stop promotions"}, "Pressed: Stop promotions"),
        ("reaction", {"message_id": "wamid.x", "emoji": "👍"}, "Reacted 👍 to a message"),
    ],
)
def test_other_types_become_readable_lines(kind: str, body: object, expected: str) -> None:
    parsed = parse_cloud(_cloud(_msg(kind, body)), PHONE_ID)
    assert parsed.messages[0].inbound.text.startswith(expected)


def test_an_unsupported_type_is_kept_as_a_clear_line_not_dropped() -> None:
    unsupported = _msg(
        "unsupported", None, errors=[{"code": 131051, "title": "Message type unknown"}]
    )
    parsed = parse_cloud(_cloud(unsupported), PHONE_ID)
    assert parsed.messages[0].inbound.text == (
        "[Unsupported WhatsApp message type unsupported: Message type unknown]"
    )


def test_statuses_carry_the_error_reason_and_unknown_ones_are_skipped() -> None:
    failed: dict[str, object] = {
        "id": "wamid.out",
        "status": "failed",
        "recipient_id": "4917600001",
        "errors": [
            {
                "code": 131047,
                "title": "Re-engagement message",
                "error_data": {"details": "More than 24 hours have passed"},
            }
        ],
    }
    parsed = parse_cloud(
        _cloud(statuses=[failed, {"id": "wamid.x", "status": "deleted"}]), PHONE_ID
    )
    assert parsed.statuses == [
        StatusUpdate(
            "wamid.out",
            "failed",
            "WhatsApp error 131047: Re-engagement message (More than 24 hours have passed)",
        )
    ]


def test_another_phone_numbers_changes_are_skipped_and_bad_shapes_refused() -> None:
    assert parse_cloud(_cloud(_msg("text", {"body": "x"})), "other").skipped == 1
    with pytest.raises(PayloadError):
        parse_cloud({"object": "page", "entry": []}, PHONE_ID)
    with pytest.raises(PayloadError):
        parse_cloud({"object": "whatsapp_business_account", "entry": [{"changes": "x"}]}, PHONE_ID)
    with pytest.raises(PayloadError):
        parse_cloud(_cloud({"id": "wamid.1", "from": "not-a-number", "type": "text"}), PHONE_ID)


def test_template_review_webhooks_give_the_verdict() -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "99",
                "changes": [
                    {
                        "field": "message_template_status_update",
                        "value": {
                            "event": "REJECTED",
                            "message_template_id": 5551,
                            "message_template_name": "promo",
                            "message_template_language": "en_US",
                            "reason": "INCORRECT_CATEGORY",
                        },
                    }
                ],
            }
        ],
    }
    review = parse_cloud(payload, PHONE_ID).reviews[0]
    assert (review.provider_template_id, review.approval, review.reason) == (
        "5551",
        TemplateApproval.REJECTED,
        "INCORRECT_CATEGORY",
    )


def test_twilio_inbound_status_and_media() -> None:
    inbound = parse_twilio(
        {
            "MessageSid": "SM1",
            "From": "whatsapp:+5511900000000",
            "Body": "Oi",
            "NumMedia": "1",
            "MediaUrl0": "https://api.twilio.com/media/1",
            "MediaContentType0": "image/png",
            "ProfileName": "Rui",
            "SmsStatus": "received",
        }
    )
    assert isinstance(inbound, ParsedMessage)
    assert inbound.inbound.handle == "+5511900000000" and inbound.inbound.name == "Rui"
    assert inbound.media[0].ref == "https://api.twilio.com/media/1"
    status = parse_twilio(
        {"MessageSid": "SM2", "MessageStatus": "undelivered", "ErrorCode": "63024"}
    )
    assert status == StatusUpdate("SM2", "failed", "Twilio error 63024: undelivered")
    assert parse_twilio({"MessageSid": "SM2", "MessageStatus": "queued"}) is None
    with pytest.raises(PayloadError):
        parse_twilio({"MessageSid": "SM3", "From": "+5511900000000", "Body": "sms, not whatsapp"})
    with pytest.raises(PayloadError):
        parse_twilio({"From": "whatsapp:+5511900000000"})


def test_phone_numbers_are_normalized_to_e164() -> None:
    assert config.normalize_phone("+49 151 2345-6789") == "+4915123456789"
    assert config.normalize_phone("whatsapp:+15550001111") == "+15550001111"
    assert config.normalize_phone("15550001111") == "+15550001111"
    with pytest.raises(Invalid):
        config.normalize_phone("call me")


def test_account_settings_are_checked_per_provider() -> None:
    cloud = {"provider": "cloud", "phone_number_id": "1065", "waba_id": "99"}
    secrets = {"access_token": "t", "app_secret": "a", "verify_token": "v"}
    checked = config.validate(cloud, secrets)
    assert checked["graph_base_url"] == "https://graph.facebook.com"
    with pytest.raises(Invalid, match="verify_token"):
        config.validate(cloud, {"access_token": "t", "app_secret": "a"})
    with pytest.raises(Invalid, match="account_sid"):
        config.validate({"provider": "twilio", "account_sid": "nope"}, {"auth_token": "x"})
    with pytest.raises(Invalid, match="provider"):
        config.validate({}, {})


def test_named_variables_become_positions_for_meta() -> None:
    template = Template(
        id="tpl",
        account_id="acc",
        name="Quote ready!",
        content="Hi {{customer_name}}, {{quote_number}} / {{customer_name}}",
    )
    body = review_body(template)
    assert body["name"] == "quote_ready"
    assert body["components"][0]["text"] == "Hi {{1}}, {{2}} / {{1}}"
    text, data = message_data(template, {"customer_name": "Bo"}, {"quote_number": "Q-1"})
    assert text == "Hi Bo, Q-1 / Bo"
    assert data["template"]["params"] == ["Bo", "Q-1"]
    with pytest.raises(Invalid) as missing:
        message_data(template, {"customer_name": "Bo"}, {})
    assert missing.value.code == "template_params_missing"
