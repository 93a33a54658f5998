"""The email channel (IMAP intake, SMTP delivery): docs/architecture.md, "Email"."""
