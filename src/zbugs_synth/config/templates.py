"""Settings of `generate-templates`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zbugs_synth.config import ParseError, integer, number, path_value, setting

# The original tool's ten software categories, in its order (also the order categories start in).
CATEGORIES: tuple[str, ...] = (
    "web-frontend", "mobile-app", "api-service", "infrastructure", "data-platform",
    "developer-tools", "security", "ml-ai", "embedded-iot", "game-media",
)

DEFAULT_MODEL = "claude-sonnet-5"
DEFAULT_OUT = Path("db/seed-data/templates")


def _text(text: str) -> str:
    if not text.strip():
        raise ParseError("expected a non-empty value")
    return text.strip()


def _optional_text(text: str) -> str | None:
    return text.strip() or None


def _url(text: str) -> str | None:
    s = text.strip()
    if not s:
        return None
    if not s.startswith(("http://", "https://")):
        raise ParseError("expected an http:// or https:// URL")
    return s


@dataclass(frozen=True)
class TemplatesConfig:
    # No flag for the key: flags end up in shell history and `ps` output.
    api_key: str | None = setting(
        None, env="ANTHROPIC_API_KEY", parse=_optional_text, secret=True,
        help="Anthropic API key")
    model: str = setting(
        DEFAULT_MODEL, env="ANTHROPIC_MODEL", flag="--model", parse=_text,
        help="Claude model id")
    base_url: str | None = setting(
        None, env="ANTHROPIC_BASE_URL", flag="--base-url", parse=_url,
        help="API base URL; unset means the SDK default, https://api.anthropic.com")
    out: Path = setting(
        DEFAULT_OUT, env=None, flag="--out", parse=path_value,
        help="directory the category files and summary.json are written to")
    num_projects: int = setting(
        100, env="NUM_PROJECTS", flag="--num-projects", parse=integer(len(CATEGORIES), 100_000),
        help="total template projects, divided across the 10 categories")
    components: int = setting(
        100, env="TEMPLATE_COMPONENTS", flag="--components", parse=integer(1, 2_000),
        help="components per project")
    labels: int = setting(
        48, env="TEMPLATE_LABELS", flag="--labels", parse=integer(1, 1_000),
        help="labels per category")
    titles: int = setting(
        200, env="TEMPLATE_TITLES", flag="--titles", parse=integer(1, 10_000),
        help="title templates per category (half bugs, half features)")
    descriptions: int = setting(
        100, env="TEMPLATE_DESCRIPTIONS", flag="--descriptions", parse=integer(1, 10_000),
        help="description templates per category")
    comments: int = setting(
        150, env="TEMPLATE_COMMENTS", flag="--comments", parse=integer(1, 10_000),
        help="comment templates per category (investigation, fixes, reviews)")
    pool_values: int = setting(
        20, env="TEMPLATE_POOL_VALUES", flag="--pool-values", parse=integer(1, 1_000),
        help="values per slot pool per category")
    projects_per_call: int = setting(
        5, env="TEMPLATE_PROJECTS_PER_CALL", flag="--projects-per-call", parse=integer(1, 100),
        help="projects (with their components) asked for in one call")
    category_concurrency: int = setting(
        3, env="TEMPLATE_CATEGORY_CONCURRENCY", flag="--category-concurrency", parse=integer(1, 10),
        help="categories generated at the same time")
    concurrency: int = setting(
        4, env="TEMPLATE_CONCURRENCY", flag="--concurrency", parse=integer(1, 64),
        help="API calls in flight at once within one category")
    max_reasks: int = setting(
        3, env="TEMPLATE_MAX_REASKS", flag="--max-reasks", parse=integer(0, 20),
        help="follow-up requests per batch when an answer is invalid, before the category fails")
    max_retries: int = setting(
        5, env="ANTHROPIC_MAX_RETRIES", flag="--max-retries", parse=integer(0, 50),
        help="SDK retries per request on rate limits, overload, 5xx, timeouts and network errors")
    timeout: float = setting(
        600.0, env="ANTHROPIC_TIMEOUT", flag="--timeout", parse=number(0, 3_600, lo_open=True),
        help="seconds to wait for one API answer")
    max_tokens: int = setting(
        16_000, env="TEMPLATE_MAX_TOKENS", flag="--max-tokens", parse=integer(256, 128_000),
        help="max_tokens of each request")
