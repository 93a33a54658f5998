"""The store contract: one suite every `Store` implementation must pass."""
