"""Field patterns shared by the API bodies.

Identifiers we record (end users, tags) are printable text: control characters (NUL above all,
which PostgreSQL text cannot hold) are refused at the door rather than poisoning a vault load.
"""

PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
TAG_KEY = r"^[A-Za-z0-9_.:-]+$"
