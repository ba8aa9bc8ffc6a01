"""S3 locations, clients and error messages shared by `get-data` and `publish`.

Credentials and region come from boto3's standard chain (environment, shared config, SSO, instance
roles). Reading works without credentials too: public buckets are read with unsigned requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from zbugs_synth.config import ParseError
from zbugs_synth.config.remote import endpoint
from zbugs_synth.errors import PermanentError, UserError
from zbugs_synth.remote.safety import redact_url, scrub_urls

# Bucket names per S3's rules, plus the legacy upper-case/underscore names some stores allow.
_BUCKET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or ends with "/"

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


class S3UrlError(UserError):
    """A malformed s3:// URL: the URL (redacted), then `problem` (what a setting's own line shows)."""

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"{redact_url(url)!r}: {problem}")
        self.problem = problem


def parse_s3_url(url: str) -> S3Location:
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise UserError(f"expected an s3://bucket/prefix/ URL, got {redact_url(url)!r}")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise S3UrlError(url, "an s3:// URL takes no credentials, query or fragment")
    if not _BUCKET_RE.match(parts.netloc):
        raise S3UrlError(url, f"{parts.netloc!r} is not a valid bucket name")
    prefix = parts.path.lstrip("/")
    if any(ord(c) < 32 or ord(c) == 0x7F for c in prefix):
        raise S3UrlError(url, "the prefix contains control characters")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return S3Location(parts.netloc, prefix)


def check_endpoint_url(url: str) -> str:
    """An `--endpoint-url` for S3-compatible stores, by the settings' rule (config.remote.endpoint):
    the commands parse it already; a caller of make_client that did not gets the same one line."""
    try:
        endpoint(url)
    except ParseError as e:
        raise UserError(f"--endpoint-url {redact_url(url)!r}: {e}") from None
    return url


def make_client(endpoint_url: str | None, *, jobs: int, require_credentials: bool, retries: bool = True) -> Any:
    """An S3 client sized for `jobs` parallel transfers; `retries=False` when the caller retries itself.

    Without credentials: an error if we are going to write, unsigned requests if we only read
    (public buckets; a private one answers AccessDenied, which we report as such).
    """
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    if endpoint_url:
        check_endpoint_url(endpoint_url)
    session = boto3.session.Session()
    signed = session.get_credentials() is not None
    if not signed and require_credentials:
        raise PermanentError(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE "
            "(see `aws configure`)"
        )
    config = Config(
        max_pool_connections=max(10, 2 * jobs),
        # (`max_attempts` counts retries after the first attempt; `total_max_attempts` counts them all.)
        retries={"mode": "standard", **({"max_attempts": 4} if retries else {"total_max_attempts": 1})},
        connect_timeout=10,
        read_timeout=60,
        **({} if signed else {"signature_version": UNSIGNED}),
    )
    return session.client("s3", endpoint_url=endpoint_url or None, config=config)


def error_code(e: BaseException) -> str:
    """The S3 error code of a botocore ClientError ('' for anything else)."""
    response = getattr(e, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def http_status(e: BaseException) -> int:
    response = getattr(e, "response", None)
    if isinstance(response, dict):
        return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return 0


def describe_error(e: BaseException) -> str:
    """One printable line for a boto/botocore failure, with any URL in it redacted."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    if isinstance(e, (NoCredentialsError, PartialCredentialsError)):
        return "no usable AWS credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
    if isinstance(e, EndpointConnectionError):
        return f"cannot connect to {redact_url(str(e.kwargs.get('endpoint_url', '')))}"
    if isinstance(e, ClientError):
        code = error_code(e)
        message = (getattr(e, "response", {}) or {}).get("Error", {}).get("Message", "")
        return scrub_urls(f"{code or 'error'}: {message}".rstrip(": "))
    return scrub_urls(f"{type(e).__name__}: {e}")
