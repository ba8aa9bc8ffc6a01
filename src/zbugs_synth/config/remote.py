"""Settings of `get-data` and `publish`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from zbugs_synth.config import ParseError, boolean, directory_value, integer, setting

DEFAULT_DATA_URL = "s3://rocinante-dev/synthetic_v1/"
DEFAULT_OUT = Path("db/seed-data/synthetic/")


DATA_URL_FORMS = "s3://bucket/prefix/ or https://host/prefix/"


def data_url(text: str) -> str:
    """s3://bucket/prefix/ or http(s)://host/prefix/ (the value is never echoed: it may hold a token)."""
    s = text.strip()
    try:
        parts = urlsplit(s)
    except ValueError:
        raise ParseError(f"expected {DATA_URL_FORMS}") from None
    if parts.scheme.lower() not in ("s3", "http", "https") or not parts.netloc:
        raise ParseError(f"expected {DATA_URL_FORMS}")
    return s


def endpoint(text: str) -> str | None:
    """An S3-compatible store's API endpoint, http(s)://host[:port] (empty: none, i.e. AWS)."""
    s = text.strip()
    if not s:
        return None
    try:
        parts = urlsplit(s)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed [IPv6 bracket
        ok = False
    if not ok:
        raise ParseError("expected http(s)://host[:port]")
    return s


_ENDPOINT_HELP = "S3 API endpoint of an S3-compatible store (MinIO, R2, ...)"
_JOBS_HELP = "files (and parts) transferred in parallel"


@dataclass(frozen=True)
class GetDataConfig:
    source: str = setting(
        DEFAULT_DATA_URL, env="ZBUGS_DATA_URL", flag="--from", parse=data_url, secret=True,
        help=f"where the dataset is published: s3://bucket/prefix/ or https://host/prefix/ "
             f"(default: {DEFAULT_DATA_URL})",
    )
    out: Path = setting(
        DEFAULT_OUT, env="OUTPUT_DIR", flag="--out", parse=directory_value, help="directory to download into"
    )
    endpoint_url: str | None = setting(None, env="AWS_ENDPOINT_URL", flag="--endpoint-url", parse=endpoint,
                                       secret=True, help=_ENDPOINT_HELP)
    jobs: int = setting(8, env=None, flag="--jobs", parse=integer(1, 64), help=_JOBS_HELP)
    force: bool = setting(
        False, env=None, flag="--force", parse=boolean,
        help="delete dataset CSVs in --out that the manifest does not list (otherwise get-data refuses "
             "to mix datasets); nothing but {table}_{shard}.csv files is ever deleted",
    )


@dataclass(frozen=True)
class PublishConfig:
    endpoint_url: str | None = setting(None, env="AWS_ENDPOINT_URL", flag="--endpoint-url", parse=endpoint,
                                       secret=True, help=_ENDPOINT_HELP)
    jobs: int = setting(8, env=None, flag="--jobs", parse=integer(1, 64), help=_JOBS_HELP)
    part_size_mib: int = setting(64, env=None, flag="--part-size", parse=integer(5, 5120),
                                 help="multipart part size in MiB; files above it upload in parts")
