"""The WhatsApp channel: Meta's Cloud API and Twilio, intake webhooks and delivery.

- `config.py`: account settings and secrets per provider, validated on write.
- `signatures.py`: webhook signatures (Meta's X-Hub-Signature-256, Twilio's X-Twilio-Signature).
- `parse.py`: webhook payloads -> `Inbound` messages, delivery statuses, template reviews.
- `cloud_api.py`, `twilio_api.py`: the providers' HTTP APIs (send, media).
- `channel.py`: the `Channel` both providers share (picked per account).
- `webhooks.py`: the HTTP routes Meta and Twilio call.
- `templates_sync.py`: submitting templates to Meta for review.
"""
