"""Personal data in prompts: detection, per-customer policy (off/flag/redact/block)."""
