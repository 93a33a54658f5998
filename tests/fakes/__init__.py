"""Local stand-ins for the SaaS APIs the tests cannot reach (Meta's Graph API, Twilio).

Each fake is a small aiohttp app on a free loopback port that checks requests the way the real
API does (auth, required fields, phone formats), records what it received, answers with the
documented shapes, can be told to fail, serves media, and can send signed webhooks to our
server exactly as the provider does.
"""
