"""Configuration of `generate-synthetic`: the guide's variables plus the knobs it leaves implicit."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zbugs_synth.config import (
    ParseError,
    boolean,
    fraction,
    integer,
    looks_like_url,
    number,
    optional_path,
    path_value,
    setting,
)
from zbugs_synth.config.remote import endpoint
from zbugs_synth.cpus import usable_cpus
from zbugs_synth.generate.ids import ISSUE_MAX, SEED_MAX
from zbugs_synth.tables import IDENTITY, MAX_ISSUES

DEFAULT_OUTPUT_DIR = Path("db/seed-data/synthetic/")
COMMENTS_HARD_CAP = 1023  # comment ids reserve 10 bits for the comment's number within its issue


def time_value(text: str) -> int:
    """An ISO-8601 date/time (UTC if no zone) or epoch milliseconds -> epoch milliseconds."""
    s = text.strip()
    if s.isdigit():
        return int(s)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ParseError("expected an ISO-8601 date such as 2026-01-01T00:00:00Z, or epoch milliseconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def output_location(text: str) -> Path | str:
    """A directory, or an s3://bucket/prefix/ URL (kept as text: Path would fold its '//')."""
    s = text.strip()
    if s.lower().startswith("s3://"):
        from zbugs_synth.errors import UserError
        from zbugs_synth.remote.s3 import S3UrlError, parse_s3_url

        try:
            return str(parse_s3_url(s))
        except S3UrlError as e:  # the setting's own line shows the URL already
            raise ParseError(e.problem) from None
        except UserError as e:
            raise ParseError(str(e)) from None
    if "://" in s or s.lower().startswith("s3:") or looks_like_url(s):  # s3:/b/x, postgres:/x: mistyped URLs,
        raise ParseError("expected a directory or s3://bucket/prefix/")  # not directories named "s3:"
    return path_value(text)



_SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "ucxx")


def scheduler_address(text: str) -> str | None:
    """A Dask scheduler's address: [scheme://]host:port (Dask's own form; it has no user or password)."""
    s = text.strip()
    if not s:
        return None
    scheme, sep, rest = s.partition("://")
    if not sep:
        scheme, rest = "tcp", s
    rest = rest.rstrip("/")  # Dask's own parser refuses the slash a copied URL may end with
    host, colon, port = rest.rpartition(":")
    if (scheme.lower() not in _SCHEDULER_SCHEMES or not colon or not host or not port.isdigit()
            or not 0 < int(port) < 65536 or any(c.isspace() or c in "@/?#" for c in host)
            or (host.startswith("[") != host.endswith("]"))
            or (":" in host and not host.startswith("["))):  # an IPv6 host goes in brackets
        raise ParseError(f"expected a Dask scheduler address such as tcp://10.0.0.5:8786 (host:port, with "
                         f"scheme {', '.join(_SCHEDULER_SCHEMES)} or none; no user or password)")
    return f"{scheme}://{rest}" if sep else rest


def _cpus() -> int:
    return usable_cpus()


def num_issues_value(text: str) -> int:
    """NUM_ISSUES, capped by what issue.shortID (int4 from 3000) can number in one database."""
    try:
        n = integer(1, None)(text)
    except ParseError:
        raise ParseError(f"expected a whole number from 1 to {MAX_ISSUES:,}") from None
    if n > min(ISSUE_MAX, MAX_ISSUES):
        raise ParseError(f"at most {MAX_ISSUES:,}: issue.shortID is a 4-byte integer numbered from "
                         f"{IDENTITY['start']} in zbugs' schema, so one database holds no more issues "
                         "(all batches together)")
    return n


def part_number(text: str) -> int:
    """`--part`: checked against `--parts` once both are known (`partitioned.parts_of`)."""
    try:
        return integer(1, 99_999)(text)
    except ParseError:
        raise ParseError("expected a part number, from 1 to the --parts count") from None


# Projects per run. The id space allows far more (generate.ids.PROJECT_MAX), but a project's labels
# and component texts stay in memory for the run: 100,000 projects took 6.4 s and 418 MB before
# the first issue, 10^8 ran out of memory without a word (from an audit).
MAX_PROJECTS = 100_000


@dataclass(frozen=True)
class GenerateConfig:
    num_issues: int = setting(1_000_000, env="NUM_ISSUES", flag="--num-issues",
                              parse=num_issues_value, help=f"total issues to generate (at most {MAX_ISSUES:,}: "
                                                           "issue.shortID is a 4-byte integer)")
    num_projects: int = setting(100, env="NUM_PROJECTS", flag="--num-projects",
                                parse=integer(1, MAX_PROJECTS),
                                help=f"total projects (at most {MAX_PROJECTS:,}: each holds its labels and the "
                                     "texts of its components in memory while the run lasts)")
    num_users: int = setting(100, env="NUM_USERS", flag="--num-users",
                             parse=integer(1, 100_000_000), help="total users")
    comments_per_issue: float = setting(3.0, env="COMMENTS_PER_ISSUE", flag="--comments-per-issue",
                                        parse=number(0.0, 100.0), help="average comments per issue")
    labels_per_issue: float = setting(1.5, env="LABELS_PER_ISSUE", flag="--labels-per-issue",
                                      parse=number(0.0, 64.0), help="average labels per issue")
    shard_size: int = setting(500_000, env="SHARD_SIZE", flag="--shard-size",
                              parse=integer(1, 10**12), help="rows per CSV shard file")
    output_dir: Path | str = setting(DEFAULT_OUTPUT_DIR, env="OUTPUT_DIR", flag="--output-dir",
                                     parse=output_location,
                                     help="output directory, or s3://bucket/prefix/ (written as parts)")
    seed: int = setting(42, env="SEED", flag="--seed", parse=integer(0, SEED_MAX),
                        help="seed: the same seed and settings give the same bytes")
    skip_users: bool = setting(False, env="SKIP_USERS", flag="--skip-users", parse=boolean,
                               help="do not write the user CSV (batch mode: users are shared)")
    templates_dir: Path | None = setting(None, env="TEMPLATES_DIR", flag="--templates-dir",
                                         parse=optional_path, help="template pack directory (default: bundled)")
    workers: int = setting(0, env="WORKERS", flag="--workers", parse=integer(0, 1024),
                           help="generator threads (0: all cores; more than the cores is capped)")
    time_end: int = setting(time_value("2026-01-01T00:00:00Z"), env="TIME_END", flag="--time-end",
                            parse=time_value, help="end of the time window (ISO-8601 or epoch ms)",
                            shown="2026-01-01T00:00:00Z")
    time_span_days: float = setting(1461.0, env="TIME_SPAN_DAYS", flag="--time-span-days",
                                    parse=number(0.0, 36500.0, lo_open=True),
                                    help="length of the time window in days (4 years)")
    project_alpha: float = setting(1.0, env="PROJECT_PARETO_ALPHA", flag="--project-pareto-alpha",
                                   parse=number(0.05, 100.0),
                                   help="Pareto shape of issues across projects (smaller: more skew)")
    comment_alpha: float = setting(2.0, env="COMMENT_PARETO_ALPHA", flag="--comment-pareto-alpha",
                                   parse=number(0.5, 100.0),
                                   help="tail shape of comments per issue (smaller: longer tail)")
    comments_max: int = setting(500, env="COMMENTS_MAX", flag="--comments-max",
                                parse=integer(1, COMMENTS_HARD_CAP), help="most comments on one issue")
    open_fraction: float = setting(0.7, env="OPEN_FRACTION", flag="--open-fraction", parse=fraction,
                                   help="share of open issues")
    assigned_fraction: float = setting(0.7, env="ASSIGNED_FRACTION", flag="--assigned-fraction",
                                       parse=fraction, help="share of issues with an assignee")
    public_fraction: float = setting(0.9, env="PUBLIC_FRACTION", flag="--public-fraction",
                                     parse=fraction, help="share of public issues")
    all_tables: bool = setting(False, env="ALL_TABLES", flag="--all-tables", parse=boolean,
                               help="also write emoji, issueNotifications, viewState and userPref")
    emoji_per_issue: float = setting(0.6, env="EMOJI_PER_ISSUE", flag="--emoji-per-issue",
                                     parse=number(0.0, 32.0), help="mean reactions on an issue (heavy-tailed)")
    emoji_per_comment: float = setting(0.3, env="EMOJI_PER_COMMENT", flag="--emoji-per-comment",
                                       parse=number(0.0, 32.0), help="mean reactions on a comment (heavy-tailed)")
    viewers_per_issue: float = setting(3.0, env="VIEWERS_PER_ISSUE", flag="--viewers-per-issue",
                                       parse=number(0.0, 32.0),
                                       help="mean users who viewed an issue without touching it")
    unread_fraction: float = setting(0.25, env="UNREAD_FRACTION", flag="--unread-fraction", parse=fraction,
                                     help="share of participants whose last view is older than the issue's last "
                                          "change, among those whose last touch came before it (whoever made the "
                                          "change has seen it)")
    unsubscribed_fraction: float = setting(0.1, env="UNSUBSCRIBED_FRACTION", flag="--unsubscribed-fraction",
                                           parse=fraction, help="share of notification subscriptions turned off")
    user_pref_fraction: float = setting(0.3, env="USER_PREF_FRACTION", flag="--user-pref-fraction",
                                        parse=fraction, help="share of users with a stored emojiSkinTone")
    force: bool = setting(False, env=None, flag="--force", parse=boolean,
                          help="overwrite a directory holding another configuration's dataset")
    parts: int = setting(0, env=None, flag="--parts", parse=integer(1, 99_999),
                         help="split the dataset into this many parts, each writable anywhere (default: one whole run)")
    part: int = setting(0, env=None, flag="--part", parse=part_number,
                        help="write only this part, 1-based, with --parts (default: every part, one after the other)")
    scheduler: str | None = setting(None, env="DASK_SCHEDULER_ADDRESS", flag="--scheduler",
                                    parse=scheduler_address, secret=True,  # a mistyped one may hold a password
                                    help="run the parts as tasks on the Dask cluster of this scheduler, "
                                         "e.g. tcp://host:8786 (needs zbugs-synth[dask]; default: in this process)")
    endpoint_url: str | None = setting(None, env="AWS_ENDPOINT_URL", flag="--endpoint-url", parse=endpoint,
                                       secret=True, help="S3 API endpoint of an S3-compatible store")
    skip_space_check: bool = setting(False, env="ZBUGS_SKIP_SPACE_CHECK", flag="--skip-space-check",
                                     parse=boolean, help="write even if the files look too big for the free space "
                                                         "of OUTPUT_DIR's disk (estimated from a sample of the rows "
                                                         "before writing)")

    def resolved_workers(self) -> int:
        return self.workers or _cpus()

    def content_config(self) -> dict[str, Any]:
        """Every setting that changes the rows of the dataset (not where it goes, how it is split into
        shards or how fast): two directories with the same content config hold the same rows, which
        is what the loader's "already loaded" check relies on."""
        d = asdict(self)
        for k in ("output_dir", "workers", "force", "templates_dir", "shard_size", "parts", "part", "scheduler",
                  "endpoint_url", "skip_space_check"):
            d.pop(k)
        return d
