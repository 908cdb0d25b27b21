"""Running one check from one location: steps in order, extraction, assertions, thresholds.

A run ends in one of four outcomes, with a reason in words:

- `ok`: every assertion passed within the thresholds;
- `degraded`: everything passed, but a response time is above a degraded threshold;
- `failing`: the target did not do what the check expects: an assertion failed or could not
  be decided on what it answered, a value to extract is missing, a response time is above a
  failing threshold, or the target could not be reached at all (its name does not resolve,
  the connection is refused, the TLS handshake fails, it does not answer in time);
- `error`: the check could not be run, for a reason on our side: a placeholder or a secret
  that is unknown, an assertion that does not compile, a URL that cannot be requested, an
  address this location may not probe. Nothing was learnt about the target.

A flow stops at its first failing step, since later steps use what earlier ones extracted.
Stored parts of the result (excerpts, headers, URLs, assertion values, reasons) are redacted.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from time import perf_counter, time
from typing import Any, Literal

from opsyard_synthetics.definitions import (
    BasicAuth,
    BearerAuth,
    CheckDefinition,
    HttpStep,
    OAuth2ClientCredentials,
    Thresholds,
)
from opsyard_synthetics.expressions import (
    NOT_JSON,
    AssertionResult,
    Expression,
    ExpressionSyntaxError,
    compile_expression,
    parse_json_body,
)
from opsyard_synthetics.extraction import ExtractionError, extract
from opsyard_synthetics.probes import (
    HttpRequest,
    HttpResponse,
    PhaseTimings,
    ProbeClient,
    ProbeError,
    ProbeSetupError,
    fetch,
    fetch_client_credentials_token,
    probe_dns,
    probe_tcp,
    probe_tls,
)
from opsyard_synthetics.redaction import ACTUAL_LIMIT_CHARS, Redactor
from opsyard_synthetics.slots import offset_seconds
from opsyard_synthetics.templating import (
    TemplateError,
    is_secret,
    placeholders,
    render,
    template_variables,
)

Outcome = Literal["ok", "degraded", "failing", "error"]
_SEVERITY: dict[str, int] = {"ok": 0, "degraded": 1, "failing": 2, "error": 3}
# Headers whose values are credentials: a variable rendered into one is treated as a secret.
_CREDENTIAL_HEADER_NAMES = frozenset({"authorization", "proxy-authorization", "cookie"})


@dataclass
class StepResult:
    """What one step (or the single probe of a tcp, dns or tls check) observed."""

    name: str
    outcome: Outcome
    reason: str | None
    timings: PhaseTimings
    assertions: list[AssertionResult] = field(default_factory=list)
    status: int | None = None
    url: str | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    excerpt: str = ""
    extracted: list[str] = field(default_factory=list)
    auth_ms: float | None = None
    cert_days_left: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    """The outcome of one run of a check from one location, and what each step saw."""

    check: str
    location: str
    outcome: Outcome
    reason: str | None
    steps: list[StepResult]
    started_at: datetime
    duration_ms: float


class _CheckError(Exception):
    """The check cannot run (our side); becomes an `error` outcome with this reason."""


@lru_cache(maxsize=4096)
def _compiled(text: str) -> Expression:
    # Every check runs every few minutes with the same assertions: compile each text once.
    return compile_expression(text)


def _expressions(texts: Sequence[str], where: str) -> list[Expression]:
    compiled: list[Expression] = []
    for text in texts:
        try:
            compiled.append(_compiled(text))
        except ExpressionSyntaxError as exc:
            raise _CheckError(f"{where}assertion {text!r} does not compile: {exc}") from None
    return compiled


class _HttpFacts(Mapping[str, Any]):
    """The facts of one HTTP response; the body is decoded and parsed only if asked for."""

    _KEYS = ("status", "response_time_ms", "headers", "body", "json", "cert_days_left", "vars")

    def __init__(self, response: HttpResponse, variables: Mapping[str, str]) -> None:
        self._response = response
        self._variables = variables
        self._cache: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key in self._cache:
            return self._cache[key]
        value = self._compute(key)
        self._cache[key] = value
        return value

    def _compute(self, key: str) -> Any:
        response = self._response
        if key == "status":
            return response.status
        if key == "response_time_ms":
            return response.timings.total_ms
        if key == "headers":
            combined: dict[str, str] = {}
            for name, value in response.headers:
                combined[name] = f"{combined[name]}, {value}" if name in combined else value
            return combined
        if key == "body":
            return response.text()
        if key == "json":
            return parse_json_body(self["body"])
        if key == "cert_days_left":
            return _days_left(response.cert_not_after)
        if key == "vars":
            return self._variables
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._KEYS)

    def __len__(self) -> int:
        return len(self._KEYS)


def _days_left(not_after: datetime | None) -> float | None:
    if not_after is None:
        return None
    return (not_after - datetime.now(UTC)).total_seconds() / 86400.0


def _evaluate(
    expressions: Sequence[Expression], facts: Mapping[str, Any]
) -> tuple[list[AssertionResult], AssertionResult | None]:
    """Every assertion's results, and the verdict of the first one that did not pass."""
    results: list[AssertionResult] = []
    first_bad: AssertionResult | None = None
    for expression in expressions:
        outcome = expression.evaluate(facts)
        results.extend(outcome)
        verdict = outcome[0]
        if not verdict.passed and first_bad is None:
            first_bad = verdict
    return results, first_bad


def _default_status(status: int) -> AssertionResult:
    # A step without assertions still has to answer like a healthy service.
    passed = 200 <= status < 400
    return AssertionResult(
        "status 2xx or 3xx (no assertions given)",
        passed,
        status,
        f"{'passed' if passed else 'failed'}: the status is {status}",
    )


def _bad_assertion_reason(verdict: AssertionResult) -> str:
    kind = "assertion error" if verdict.error else "assertion failed"
    return f"{kind}: {verdict.message}"


def _threshold_outcome(
    thresholds: Thresholds | None, elapsed_ms: float
) -> tuple[Outcome, str | None]:
    if thresholds is None:
        return "ok", None
    if thresholds.failing_ms is not None and elapsed_ms > thresholds.failing_ms:
        return "failing", f"response_time_ms {elapsed_ms:.0f} > failing {thresholds.failing_ms:g}"
    if thresholds.degraded_ms is not None and elapsed_ms > thresholds.degraded_ms:
        return (
            "degraded",
            f"response_time_ms {elapsed_ms:.0f} > degraded {thresholds.degraded_ms:g}",
        )
    return "ok", None


def _stored_assertions(
    results: Sequence[AssertionResult], redactor: Redactor
) -> list[AssertionResult]:
    return [
        replace(
            result,
            actual=redactor.value(result.actual, limit=ACTUAL_LIMIT_CHARS),
            message=redactor.text(result.message),
        )
        for result in results
    ]


# ---------------------------------------------------------------------------------------------
# HTTP steps


@dataclass
class _Flow:
    """What the steps of one run share: variables so far, and what must never be stored."""

    client: ProbeClient
    variables: dict[str, str]
    redactor: Redactor
    secret_variables: frozenset[str]

    def render(self, text: str, where: str) -> str:
        try:
            return render(text, self.variables)
        except TemplateError as exc:
            raise _CheckError(f"{where}{exc}") from None

    def render_json(self, value: Any, where: str) -> Any:
        # Placeholders inside a JSON body fill string values; numbers stay numbers.
        if isinstance(value, str):
            return self.render(value, where)
        if isinstance(value, list):
            return [self.render_json(item, where) for item in value]
        if isinstance(value, dict):
            return {
                self.render(str(k), where): self.render_json(v, where) for k, v in value.items()
            }
        return value


def _credential_variables(check: CheckDefinition) -> frozenset[str]:
    """Extracted variables that end up in credentials: their values are kept out of results.

    Definitions have no way to mark an extracted value secret, so where it is used decides:
    a variable rendered into an auth field or a credential header is treated as a secret.
    """
    names: set[str] = set()
    for step in check.steps:
        credentials = [
            value
            for name, value in step.headers.items()
            if name.lower() in _CREDENTIAL_HEADER_NAMES
        ]
        if isinstance(step.auth, BearerAuth):
            credentials.append(step.auth.token)
        elif isinstance(step.auth, BasicAuth):
            credentials += [step.auth.username, step.auth.password]
        elif isinstance(step.auth, OAuth2ClientCredentials):
            credentials += [step.auth.client_id, step.auth.client_secret]
        for text in credentials:
            try:
                names.update(name for name in placeholders(text) if not is_secret(name))
            except TemplateError:
                continue  # rendering the step reports it as the check's error
    return frozenset(names)


def _encode_body(step: HttpStep, flow: _Flow, where: str) -> tuple[bytes | None, str | None]:
    """The request body and the content type it implies, if any."""
    if step.json_body is not None:
        document = flow.render_json(step.json_body, where)
        return json.dumps(document).encode(), "application/json"
    if step.body is not None:
        return flow.render(step.body, where).encode(), None
    return None, None


async def _auth_header(step: HttpStep, flow: _Flow, where: str) -> tuple[str | None, float | None]:
    """The Authorization header for the step's auth, and how long a token exchange took."""
    auth = step.auth
    if auth is None:
        return None, None
    if isinstance(auth, BasicAuth):
        pair = f"{flow.render(auth.username, where)}:{flow.render(auth.password, where)}"
        return "Basic " + base64.b64encode(pair.encode()).decode("ascii"), None
    if isinstance(auth, BearerAuth):
        return "Bearer " + flow.render(auth.token, where), None
    token = await fetch_client_credentials_token(
        flow.client,
        token_url=flow.render(auth.token_url, where),
        client_id=flow.render(auth.client_id, where),
        client_secret=flow.render(auth.client_secret, where),
        scope=flow.render(auth.scope, where) if auth.scope else None,
        audience=flow.render(auth.audience, where) if auth.audience else None,
        timeout_s=step.timeout_s,
    )
    flow.redactor.add(token.access_token)
    return f"Bearer {token.access_token}", token.timings.total_ms


async def _run_http_step(step: HttpStep, flow: _Flow) -> StepResult:
    where = f"step '{step.name}': "
    expressions = _expressions(step.assertions, where)
    url = flow.render(step.url, where)
    headers = [(name, flow.render(value, where)) for name, value in step.headers.items()]
    body, content_type = _encode_body(step, flow, where)
    if content_type and not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", content_type))
    for name, value in headers:
        if name.lower() in _CREDENTIAL_HEADER_NAMES:
            flow.redactor.add(value)
    auth_ms: float | None = None
    try:
        authorization, auth_ms = await _auth_header(step, flow, where)
    except (ProbeError, ProbeSetupError) as exc:
        return _unreachable(step, flow, exc, f"{where}OAuth token request: ", url, None)
    if authorization is not None:
        flow.redactor.add(authorization)
        flow.redactor.add(authorization.partition(" ")[2])
        headers = [(n, v) for n, v in headers if n.lower() != "authorization"]
        headers.append(("Authorization", authorization))
    request = HttpRequest(
        method=step.method,
        url=url,
        headers=headers,
        body=body,
        follow_redirects=step.follow_redirects,
        timeout_s=step.timeout_s,
    )
    try:
        response = await fetch(flow.client, request)
    except (ProbeError, ProbeSetupError) as exc:
        return _unreachable(step, flow, exc, where, url, auth_ms)
    return _judge_response(step, flow, response, expressions, auth_ms)


def _unreachable(
    step: HttpStep,
    flow: _Flow,
    exc: ProbeError | ProbeSetupError,
    prefix: str,
    url: str,
    auth_ms: float | None,
) -> StepResult:
    """A step whose target could not be reached (failing), or a request we could not make
    (error, raised)."""
    if isinstance(exc, ProbeSetupError):
        raise _CheckError(f"{prefix}{exc}") from None
    if exc.failure == "refused_address":
        raise _CheckError(f"{prefix}{exc.message}") from None
    return StepResult(
        name=step.name,
        outcome="failing",
        reason=flow.redactor.text(f"{prefix}{exc.message}"),
        timings=exc.timings,
        url=flow.redactor.text(url),
        auth_ms=auth_ms,
    )


def _judge_response(
    step: HttpStep,
    flow: _Flow,
    response: HttpResponse,
    expressions: Sequence[Expression],
    auth_ms: float | None,
) -> StepResult:
    where = f"step '{step.name}': "
    step_variables: dict[str, str] = {}
    facts = _HttpFacts(response, flow.variables)
    missing: list[str] = []
    for variable, rule in step.extract.items():
        try:
            value = extract(
                rule,
                headers=response.headers,
                body=facts["body"] if rule.source != "header" else "",
                json_value=facts["json"] if rule.source == "jsonpath" else NOT_JSON,
            )
        except ExtractionError as exc:
            missing.append(f"could not extract {variable!r}: {exc}")
            continue
        step_variables[variable] = value
        if variable in flow.secret_variables:
            flow.redactor.add(value)
    flow.variables.update(step_variables)
    if expressions:
        results, first_bad = _evaluate(expressions, facts)
    else:
        default = _default_status(response.status)
        results, first_bad = [default], (None if default.passed else default)
    outcome: Outcome = "ok"
    reason: str | None = None
    if first_bad is not None:
        outcome, reason = "failing", where + _bad_assertion_reason(first_bad)
    elif missing:
        outcome, reason = "failing", where + missing[0]
    else:
        outcome, why = _threshold_outcome(step.thresholds, response.timings.total_ms)
        reason = where + why if why else None
    redactor = flow.redactor
    return StepResult(
        name=step.name,
        outcome=outcome,
        reason=redactor.text(reason) if reason else None,
        timings=response.timings,
        assertions=_stored_assertions(results, redactor),
        status=response.status,
        url=redactor.text(response.url),
        response_headers=redactor.headers(response.headers),
        excerpt=redactor.excerpt(facts["body"]),
        extracted=sorted(step_variables),
        auth_ms=auth_ms,
        cert_days_left=facts["cert_days_left"],
        details={"redirects": [redactor.text(u) for u in response.redirects]}
        if response.redirects
        else {},
    )


async def _run_steps(check: CheckDefinition, flow: _Flow, results: list[StepResult]) -> None:
    """Run the steps in order into `results`, which keeps the finished ones if a later step
    turns out to be the check's error."""
    for step in check.steps:
        result = await _run_http_step(step, flow)
        results.append(result)
        if result.outcome in ("failing", "error"):
            break  # later steps need what this one should have produced


# ---------------------------------------------------------------------------------------------
# TCP, DNS and TLS checks


def _judged(
    name: str,
    expressions: Sequence[Expression],
    facts: Mapping[str, Any],
    default: AssertionResult,
    timings: PhaseTimings,
    redactor: Redactor,
    details: dict[str, Any],
) -> StepResult:
    if expressions:
        results, first_bad = _evaluate(expressions, facts)
    else:
        results, first_bad = [default], (None if default.passed else default)
    reason = _bad_assertion_reason(first_bad) if first_bad is not None else None
    return StepResult(
        name=name,
        outcome="failing" if first_bad is not None else "ok",
        reason=redactor.text(reason) if reason else None,
        timings=timings,
        assertions=_stored_assertions(results, redactor),
        cert_days_left=facts.get("cert_days_left"),
        details=details,
    )


async def _run_tcp(check: CheckDefinition, client: ProbeClient, redactor: Redactor) -> StepResult:
    assert check.tcp is not None  # the definition guarantees the target of its kind
    expressions = _expressions(check.assertions, "")
    try:
        result = await probe_tcp(
            client, host=check.tcp.host, port=check.tcp.port, timeout_s=check.tcp.timeout_s
        )
    except ProbeError as exc:
        raise _CheckError(exc.message) from None
    facts = {"connected": result.connected, "response_time_ms": result.timings.total_ms}
    default = AssertionResult(
        "connected (no assertions given)",
        result.connected,
        result.connected,
        "passed: the connection opened"
        if result.connected
        else f"failed: {result.error or 'no connection'}",
    )
    details = {"error": result.error} if result.error else {}
    step = _judged("tcp", expressions, facts, default, result.timings, redactor, details)
    if step.outcome == "failing" and not expressions and result.error:
        step.reason = result.error
    return step


async def _run_dns(check: CheckDefinition, client: ProbeClient, redactor: Redactor) -> StepResult:
    assert check.dns is not None
    query = check.dns
    expressions = _expressions(check.assertions, "")
    try:
        result = await probe_dns(
            client,
            name=query.name,
            record_type=query.record_type,
            resolver=query.resolver,
            timeout_s=query.timeout_s,
        )
    except ProbeSetupError as exc:
        raise _CheckError(str(exc)) from None
    except ProbeError as exc:
        if exc.failure == "refused_address":
            raise _CheckError(exc.message) from None
        return StepResult("dns", "failing", redactor.text(exc.message), exc.timings)
    facts = {"dns": result.answers, "response_time_ms": result.timings.total_ms}
    found = bool(result.answers)
    default = AssertionResult(
        f"at least one {query.record_type} record (no assertions given)",
        found,
        result.answers,
        f"passed: {', '.join(result.answers)}"
        if found
        else f"failed: no {query.record_type} record for {query.name} ({result.rcode})",
    )
    details = {"rcode": result.rcode, "resolver": result.resolver}
    return _judged("dns", expressions, facts, default, result.timings, redactor, details)


async def _run_tls(check: CheckDefinition, client: ProbeClient, redactor: Redactor) -> StepResult:
    assert check.tls is not None
    target = check.tls
    expressions = _expressions(check.assertions, "")
    try:
        result = await probe_tls(
            client,
            host=target.host,
            port=target.port,
            server_name=target.server_name,
            timeout_s=target.timeout_s,
        )
    except ProbeError as exc:
        if exc.failure == "refused_address":
            raise _CheckError(exc.message) from None
        return StepResult("tls", "failing", redactor.text(exc.message), exc.timings)
    facts = {"cert_days_left": result.days_left, "response_time_ms": result.timings.total_ms}
    valid = result.days_left > 0
    default = AssertionResult(
        "cert_days_left > 0 (no assertions given)",
        valid,
        result.days_left,
        f"{'passed' if valid else 'failed'}: the certificate has {result.days_left:.1f} days left",
    )
    details = {
        "subject": result.subject,
        "issuer": result.issuer,
        "not_after": result.not_after.isoformat(),
    }
    return _judged("tls", expressions, facts, default, result.timings, redactor, details)


# ---------------------------------------------------------------------------------------------
# The run


def _worst(steps: Sequence[StepResult]) -> tuple[Outcome, str | None]:
    outcome: Outcome = "ok"
    reason: str | None = None
    for step in steps:
        if _SEVERITY[step.outcome] > _SEVERITY[outcome]:
            outcome, reason = step.outcome, step.reason
    return outcome, reason


async def run_check(
    check: CheckDefinition,
    *,
    location: str,
    secrets: Mapping[str, str],
    client: ProbeClient,
) -> RunResult:
    """Run `check` once from `location` with the team's `secrets`, never raising for the
    check's or the target's faults: those are the `error` and `failing` outcomes."""
    started_at = datetime.now(UTC)
    started = perf_counter()
    known = {name: secrets[name] for name in check.secrets if name in secrets}
    redactor = Redactor(value for value in known.values() if value)
    steps: list[StepResult] = []
    try:
        absent = [name for name in check.secrets if name not in secrets]
        if absent:
            raise _CheckError(f"secret {absent[0]!r} is not set for this team")
        if check.kind in ("http", "flow"):
            flow = _Flow(
                client=client,
                variables=template_variables(extracted={}, secrets=known),
                redactor=redactor,
                secret_variables=_credential_variables(check),
            )
            await _run_steps(check, flow, steps)
        elif check.kind == "tcp":
            steps = [await _run_tcp(check, client, redactor)]
        elif check.kind == "dns":
            steps = [await _run_dns(check, client, redactor)]
        else:
            steps = [await _run_tls(check, client, redactor)]
    except _CheckError as exc:
        return RunResult(
            check=check.name,
            location=location,
            outcome="error",
            reason=f"error: {redactor.text(str(exc))}",
            steps=steps,
            started_at=started_at,
            duration_ms=(perf_counter() - started) * 1000,
        )
    outcome, reason = _worst(steps)
    if outcome in ("ok", "degraded"):
        probe_ms = sum(step.timings.total_ms for step in steps)
        overall, why = _threshold_outcome(check.thresholds, probe_ms)
        if _SEVERITY[overall] > _SEVERITY[outcome]:
            outcome, reason = overall, why
    return RunResult(
        check=check.name,
        location=location,
        outcome=outcome,
        reason=reason,
        steps=steps,
        started_at=started_at,
        duration_ms=(perf_counter() - started) * 1000,
    )


# ---------------------------------------------------------------------------------------------
# Spreading checks over their interval


async def run_cycle(
    check_ids: Sequence[str],
    run: Callable[[str], Awaitable[object]],
    *,
    interval_seconds: int,
    cycle_start: float,
    on_start: Callable[[str, float], None] | None = None,
    clock: Callable[[], float] = time,
) -> None:
    """Start each check at `cycle_start` + its slot offset and wait for all of them.

    `on_start(check_id, lag_seconds)` is told how late each start was against its slot, which
    is how the schedule lag is measured.
    """
    due = sorted((cycle_start + offset_seconds(cid, interval_seconds), cid) for cid in check_ids)
    # Tasks are kept referenced until done: the loop itself holds only weak references.
    tasks: set[asyncio.Task[object]] = set()

    async def start(check_id: str, slot: float) -> object:
        if on_start is not None:
            on_start(check_id, clock() - slot)
        return await run(check_id)

    for slot, check_id in due:
        delay = slot - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(start(check_id, slot))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
