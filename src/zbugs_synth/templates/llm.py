"""Generate template categories with Claude: the API client, one batch, one category, one run.

Categories run `category_concurrency` at a time; inside a category, phase-1 calls (projects,
labels, pools) and then phase-2 calls (titles, descriptions, comments) run concurrently, at most
`concurrency` in flight. Every answer is checked (`answers.py`); when it falls short the same
conversation continues with a tool_result listing the problems and asking only for what is
missing, up to `max_reasks` times, after which the category fails and the others carry on.

API errors are retried by the SDK (`max_retries`, honouring retry-after); one that survives the
retries stops the whole run, because the next call would meet the same wall (bad key, exhausted
rate limit, overload, no network). Finished categories are already on disk by then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
from anthropic.types import Message

from zbugs_synth.config.templates import TemplatesConfig
from zbugs_synth.interrupts import run_async
from zbugs_synth.progress import Progress
from zbugs_synth.redact import redact_url, scrub_urls
from zbugs_synth.templates.answers import (
    Checked,
    ProjectAnswer,
    SlotLengths,
    check_labels,
    check_pools,
    check_projects,
    check_templates,
    norm,
)
from zbugs_synth.templates.model import (
    POOL_SLOTS,
    TEMPLATE_KINDS,
    Category,
    PackError,
    People,
    Pools,
    TemplatePack,
    check_pack,
    lint_category,
    parse_category,
)
from zbugs_synth.templates.pack_dir import write_category, write_summary
from zbugs_synth.templates.plan import BatchPlan, CategoryPlan
from zbugs_synth.templates.prompts import (
    ANSWER_KEYS,
    RULES,
    SYSTEM,
    TOOL_NAMES,
    Phase2Context,
    Want,
    feedback,
    labels_prompt,
    pools_prompt,
    projects_prompt,
    templates_prompt,
    tool_for,
)


class ApiFailure(Exception):
    """The API refused us or could not be reached, after the SDK's retries. Safe to print."""


class OutputFailure(ApiFailure):
    """The output directory cannot be written (a full disk): stops the run as an API failure does,
    so that no more calls are paid for answers that could not be kept."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or a stop signal: `cause`) during a run, carrying what the run had spent so far (the
    caller prints it)."""

    def __init__(self, report: RunReport, cause: KeyboardInterrupt | None = None) -> None:
        super().__init__()
        self.report = report
        self.cause = cause


class CategoryFailed(Exception):
    """One category cannot be finished (answers stayed invalid, or were cut off). Safe to print."""


@dataclass
class Usage:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, usage: Any) -> None:
        self.calls += 1
        # Cached prompt tokens are input too; count them so the totals match the bill.
        self.input_tokens += (usage.input_tokens + (usage.cache_creation_input_tokens or 0)
                              + (usage.cache_read_input_tokens or 0))
        self.output_tokens += usage.output_tokens

    def __iadd__(self, other: Usage) -> Usage:
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        return self


# ---- the API client ------------------------------------------------------------------------------

def _clean(text: str, secret: str | None, limit: int = 200) -> str:
    """One line, bounded, and never the API key (error bodies should not echo it; make sure)."""
    text = " ".join(str(text).split())
    if secret:
        text = text.replace(secret, "***")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_detail(e: anthropic.APIStatusError) -> tuple[str, str]:
    """(error type, message) from the API's error body `{"type": "error", "error": {...}}`."""
    body = e.body
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("type", "error")), str(err.get("message", ""))
    if isinstance(body, dict) and "message" in body:
        return str(body.get("type", "error")), str(body["message"])
    return "error", str(e.message)


def describe_api_error(e: anthropic.AnthropicError, cfg: TemplatesConfig) -> str:
    key = cfg.api_key
    where = redact_url(cfg.base_url) if cfg.base_url else "https://api.anthropic.com"  # user:pass@ hidden
    tries = f"{cfg.max_retries + 1} attempt{'s' if cfg.max_retries else ''}"
    if isinstance(e, anthropic.APITimeoutError):
        return (f"no answer from the Anthropic API within {cfg.timeout:g}s ({tries}); raise --timeout "
                "(ANTHROPIC_TIMEOUT) or ask for fewer items per call")
    if isinstance(e, anthropic.APIConnectionError):
        cause = _clean(scrub_urls(str(e.__cause__ or e)), key, 120)
        return f"cannot reach the Anthropic API at {where} ({cause}); check the network or ANTHROPIC_BASE_URL"
    if not isinstance(e, anthropic.APIStatusError):
        return f"Anthropic SDK error: {_clean(str(e), key)}"
    kind, msg = _error_detail(e)
    status = f"{e.status_code} {kind}" + (f": {_clean(msg, key)}" if msg else "")
    if isinstance(e, anthropic.AuthenticationError):
        return (f"the Anthropic API rejected the API key ({status}); check ANTHROPIC_API_KEY "
                "(generate-synthetic works without one, using the bundled template pack)")
    if isinstance(e, anthropic.PermissionDeniedError):
        return f"the API key may not do this ({status}); check that it can use model {cfg.model!r}"
    if isinstance(e, anthropic.NotFoundError):
        return f"not found ({status}); check ANTHROPIC_MODEL ({cfg.model!r}) and ANTHROPIC_BASE_URL"
    if isinstance(e, anthropic.RateLimitError):
        return (f"rate limited by the Anthropic API ({status}) after {tries}; wait, or lower --concurrency "
                "and --category-concurrency")
    if e.status_code == 529 or kind == "overloaded_error":
        return f"the Anthropic API is overloaded ({status}) after {tries}; try again later"
    if e.status_code in (405, 501):  # a server that does not do POST /v1/messages: not a passing fault
        return f"the server at {where} does not take Messages API requests ({status}); check ANTHROPIC_BASE_URL"
    if isinstance(e, anthropic.InternalServerError):
        return f"the Anthropic API failed ({status}) after {tries}; try again later"
    if isinstance(e, anthropic.BadRequestError):
        return f"the Anthropic API refused the request ({status})"
    return f"the Anthropic API answered {status}"


class Claude:
    """The SDK client plus what we add: error translation, and a tool-choice fallback.

    We force the answer tool (`tool_choice: tool`). Some models refuse forced tool use (for example
    with thinking on); on that 400 we switch to `auto` for the rest of the run, where the prompt
    still says to call the tool and an answer without the call is treated as invalid.
    """

    def __init__(self, cfg: TemplatesConfig, log: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.log = log
        self.force_tool = True
        self.client = anthropic.AsyncAnthropic(
            api_key=cfg.api_key, base_url=cfg.base_url, timeout=cfg.timeout, max_retries=cfg.max_retries,
        )

    async def ask(self, messages: list[dict], tool: dict) -> Message:
        while True:
            forced = self.force_tool
            choice = {"type": "tool", "name": tool["name"]} if forced else {"type": "auto"}
            try:
                msg = await self.client.messages.create(
                    model=self.cfg.model, max_tokens=self.cfg.max_tokens, system=SYSTEM,
                    messages=messages, tools=[tool], tool_choice=choice,
                )
            except anthropic.BadRequestError as e:
                if forced and "tool_choice" in _error_detail(e)[1]:
                    if self.force_tool:
                        self.force_tool = False
                        self.log(f"model {self.cfg.model} does not accept a forced tool choice; "
                                 "continuing with tool_choice auto")
                    continue
                raise ApiFailure(describe_api_error(e, self.cfg)) from None
            except anthropic.AnthropicError as e:
                raise ApiFailure(describe_api_error(e, self.cfg)) from None
            if not isinstance(msg, Message):
                # The SDK hands back a body that is not JSON as text: a proxy's page, or a base URL
                # naming an ordinary web server.
                where = redact_url(self.cfg.base_url) if self.cfg.base_url else "https://api.anthropic.com"
                raise ApiFailure(f"the server at {where} did not answer as the Anthropic Messages API does "
                                 f"(got {_clean(str(msg), self.cfg.api_key, 60)!r}); check ANTHROPIC_BASE_URL")
            return msg

    async def close(self) -> None:
        await self.client.close()


# ---- running things together ---------------------------------------------------------------------

def _leaves(e: BaseException) -> Iterator[BaseException]:
    if isinstance(e, BaseExceptionGroup):
        for sub in e.exceptions:
            yield from _leaves(sub)
    else:
        yield e


async def run_all(coros: Sequence[Coroutine[Any, Any, Any]]) -> list[Any]:
    """Run concurrently; on a failure cancel the rest and raise it (an API failure first)."""
    tasks: list[asyncio.Task] = []
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(c) for c in coros]
    except BaseExceptionGroup as eg:
        leaves = list(_leaves(eg))
        for kind in (ApiFailure, CategoryFailed):
            for e in leaves:
                if isinstance(e, kind):
                    raise e from None
        raise
    return [t.result() for t in tasks]


# ---- one category --------------------------------------------------------------------------------

def _remaining(want: Want, accepted: list) -> Want:
    if isinstance(want, tuple):
        got = {slot for slot, _ in accepted}
        return tuple(s for s in want if s not in got)
    return want - len(accepted)


class CategoryRun:
    def __init__(self, gen: Generator, plan: CategoryPlan) -> None:
        self.gen, self.plan, self.cfg = gen, plan, gen.cfg
        self.usage = Usage()
        self.total_calls = len(plan.batches)
        self.task = gen.progress.task(plan.name, self.total_calls, unit="calls")
        self.calls = asyncio.Semaphore(self.cfg.concurrency)
        self.labels_taken: set[str] = set()
        self.templates_taken: dict[str, set[str]] = {k: set() for k in TEMPLATE_KINDS}

    async def _batch(self, batch: BatchPlan, prompt: str, want: Want,
                     check: Callable[[object, Want], Checked]) -> list:
        tool_name = TOOL_NAMES[batch.kind]
        messages: list[dict] = [{"role": "user", "content": prompt}]
        got: list = []
        problems: list[str] = []
        for attempt in range(self.cfg.max_reasks + 1):
            if attempt:
                self.total_calls += 1
                self.task.set_total(self.total_calls)
            async with self.calls:
                msg = await self.gen.claude.ask(messages, tool_for(batch, want, self.plan))
            self.usage.add(msg.usage)
            self.task.advance()
            if msg.stop_reason == "max_tokens":
                raise CategoryFailed(
                    f"{self.plan.name}: the answer to {batch.key} was cut off at max_tokens="
                    f"{self.cfg.max_tokens}; raise --max-tokens (TEMPLATE_MAX_TOKENS) or lower the counts")
            calls = [b for b in msg.content if b.type == "tool_use"]
            call = next((b for b in calls if b.name == tool_name), None)
            if call is None:
                checked = Checked(problems=[f"no call to {tool_name} (stop_reason {msg.stop_reason})"])
            else:
                checked = check(call.input, want)
            asked = want
            got += checked.accepted
            want = _remaining(want, checked.accepted)
            if not want:
                return got
            problems = checked.problems or ["fewer items than asked for"]
            if not msg.content:
                continue  # nothing to reply to; ask the same question again
            text = feedback(tool_name, problems, len(checked.accepted),
                            asked if isinstance(asked, int) else 0, want)
            messages.append({"role": "assistant", "content": [b.to_dict() for b in msg.content]})
            if calls:
                # Every tool_use needs its tool_result; only ours carries the feedback.
                messages.append({"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": b.id, "is_error": True,
                     "content": text if b is call or call is None else f"ignored: only one {tool_name} call counts"}
                    for b in calls]})
            else:
                messages.append({"role": "user", "content": text})
        raise CategoryFailed(
            f"{self.plan.name}: {batch.key}: still invalid after {self.cfg.max_reasks + 1} requests"
            f" ({len(problems)} problems; first: {problems[0]})")

    def _phase1(self, batch: BatchPlan) -> Coroutine[Any, Any, list]:
        name = self.plan.name
        if batch.kind == "projects":
            taken = self.gen.project_names
            prompt = projects_prompt(name, batch, self.plan.components, sorted(taken))
            return self._batch(batch, prompt, batch.count,
                               lambda a, w: check_projects(a, w, self.plan.components, taken))
        if batch.kind == "labels":
            return self._batch(batch, labels_prompt(name, batch), batch.count,
                               lambda a, w: check_labels(a, w, self.labels_taken))
        return self._batch(batch, pools_prompt(name, batch, self.gen.default_pools), batch.slots,
                           lambda a, w: check_pools(a, w, batch.count))

    def _phase2(self, batch: BatchPlan, ctx: Phase2Context) -> Coroutine[Any, Any, list]:
        key, rule, taken = ANSWER_KEYS[batch.kind], RULES[batch.kind], self.templates_taken[batch.kind]
        return self._batch(batch, templates_prompt(self.plan.name, batch, ctx), batch.count,
                           lambda a, w: check_templates(a, key, w, rule, ctx.lengths, taken))

    async def run(self) -> dict:
        first = [b for b in self.plan.batches if b.phase == 1]
        projects: list[ProjectAnswer] = []
        labels: list[str] = []
        pools: dict[str, tuple[str, ...]] = {}
        for batch, got in zip(first, await run_all([self._phase1(b) for b in first]), strict=True):
            if batch.kind == "projects":
                projects += got
            elif batch.kind == "labels":
                labels += got
            else:
                pools.update(got)
        comps = [c for p in projects for c in p.components]
        ctx = Phase2Context(projects, pools, SlotLengths.of(comps, pools))
        second = [b for b in self.plan.batches if b.phase == 2]
        templates: dict[str, list[str]] = {k: [] for k in TEMPLATE_KINDS}
        for batch, got in zip(second, await run_all([self._phase2(b, ctx) for b in second]), strict=True):
            templates[batch.kind] += got
        data = {
            "category": self.plan.name,
            "projects": [{"name": p.name, "components": list(p.components)} for p in projects],
            "labels": labels,
            **templates,
            "slotPools": {s: list(pools[s]) for s in POOL_SLOTS},
        }
        self._final_check(data)
        return data

    def _final_check(self, data: dict) -> None:
        """The loader's own model and lint over the assembled file: what load_pack will accept."""
        source = f"{self.plan.name}.json"
        try:
            cat = parse_category(data, source)
            check_pack([*self.gen.kept, cat], str(self.gen.out_dir))
        except PackError as e:
            raise CategoryFailed(f"{self.plan.name}: the assembled category is invalid: {e}") from None
        pack = TemplatePack((cat,), self.gen.default_pools, self.gen.people)
        problems = lint_category(pack, cat, self.plan.rules())
        if problems:
            raise CategoryFailed(f"{self.plan.name}: the assembled category fails the pack rules:"
                                 f" {problems[0]}")


# ---- a run ---------------------------------------------------------------------------------------

@dataclass
class CategoryResult:
    name: str
    usage: Usage
    path: Path | None = None
    error: str | None = None


@dataclass
class RunReport:
    results: dict[str, CategoryResult] = field(default_factory=dict)
    fatal: str | None = None

    @property
    def total(self) -> Usage:
        total = Usage()
        for r in self.results.values():
            total += r.usage
        return total


class Generator:
    """Generates the planned categories into `out_dir`, writing each one as soon as it is done."""

    def __init__(self, cfg: TemplatesConfig, out_dir: Path, progress: Progress, *, kept: Sequence[Category],
                 default_pools: Pools, people: People) -> None:
        self.cfg, self.out_dir, self.progress = cfg, out_dir, progress
        self.kept = list(kept)   # categories on disk that stay: project names must not clash with them
        self.project_names = {norm(p.name) for c in kept for p in c.projects}
        self.default_pools, self.people = default_pools, people
        self.report = RunReport()
        self.claude: Claude

    async def _category(self, plan: CategoryPlan) -> None:
        run = CategoryRun(self, plan)
        result = self.report.results[plan.name] = CategoryResult(plan.name, run.usage)
        outcome = "stopped"  # cancelled, or the whole run stopped (an API failure elsewhere, Ctrl-C)
        try:
            data = await run.run()
            outcome = "done"
        except CategoryFailed as e:
            outcome = "failed"
            result.error = str(e)
            self.progress.log(f"{plan.name}: failed: {e}")
            return
        finally:
            run.task.done(outcome)
        try:
            result.path = write_category(self.out_dir, data)
            self.kept.append(parse_category(data, str(result.path)))
            write_summary(self.out_dir)
        except OSError as e:
            result.error = f"{plan.name}: cannot write its file in {self.out_dir}: {e.strerror or e}"
            raise OutputFailure(f"cannot write into {self.out_dir}: {e.strerror or e}") from None
        u = run.usage
        self.progress.log(f"{plan.name}: wrote {result.path} ({u.calls} calls, "
                          f"{u.input_tokens:,} input / {u.output_tokens:,} output tokens)")

    async def run(self, plans: Sequence[CategoryPlan]) -> RunReport:
        self.claude = Claude(self.cfg, self.progress.log)
        slots = asyncio.Semaphore(self.cfg.category_concurrency)

        async def one(plan: CategoryPlan) -> None:
            async with slots:
                await self._category(plan)

        try:
            await run_all([one(p) for p in plans])
        except ApiFailure as e:
            self.report.fatal = str(e)
        finally:
            await self.claude.close()
        return self.report


def generate(cfg: TemplatesConfig, plans: Sequence[CategoryPlan], progress: Progress, *,
             kept: Sequence[Category], default_pools: Pools, people: People) -> RunReport:
    gen = Generator(cfg, cfg.out, progress, kept=kept, default_pools=default_pools, people=people)
    try:
        return run_async(gen.run(plans))
    except KeyboardInterrupt as e:
        raise Interrupted(gen.report, e) from None
