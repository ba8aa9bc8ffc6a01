"""URLs safe to print: users put credentials in them (`user:pass@`, presigned or SAS query
strings), in every place a URL is given (S3 endpoints, HTTPS sources, the Anthropic base URL)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")


def scrub_urls(text: str) -> str:
    """`text` with every URL in it redacted (for library error messages we pass on)."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


def redact_url(url: str) -> str:
    """`url` safe to print: user info and query string (tokens, signatures) are masked."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<unprintable URL>"
    # The host as written (urlsplit's .hostname lowercases it: a bucket name's case is what is wrong).
    host = parts.netloc.rpartition("@")[2]
    if port is not None or host.endswith(":"):
        host = host.rpartition(":")[0]
    netloc = ("***@" if "@" in parts.netloc else "") + host + (f":{port}" if port is not None else "")
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))

