"""A synthetic check as code: the pydantic models that a checks file, the API and the runner share.

A definition says what to probe and what to assert, never how it went: results live elsewhere.
Every model refuses unknown fields, so a misspelt key in a checks file is an error rather than
a setting that silently does nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from opsyard_synthetics.expressions import ExpressionSyntaxError, compile_expression
from opsyard_synthetics.extraction import ExtractionError, validate_extraction

CheckKind = Literal["http", "flow", "tcp", "dns", "tls"]
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
RecordType = Literal["A", "AAAA", "CNAME", "MX", "TXT"]

# Lower-case letters, digits and dashes, starting and ending with a letter or digit: a check
# name appears in URLs, CLI arguments and dedup keys.
CHECK_NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$"
# Variable and secret names are used inside `{{ ... }}` placeholders and `vars.name`.
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
# Step names show up in results and reasons ("step token: status 500").
STEP_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"

DEFAULT_INTERVAL_SECONDS = 300


def _compiles(text: str) -> str:
    try:
        compile_expression(text)
    except ExpressionSyntaxError as exc:
        raise ValueError(f"{text}: {exc}") from exc
    return text


Assertion = Annotated[str, AfterValidator(_compiles)]
"""An assertion in the expression language, refused at validation when it does not compile."""


class Definition(BaseModel):
    # Unknown fields are refused so a typo never silently does nothing.
    model_config = ConfigDict(extra="forbid")


class Thresholds(Definition):
    """Latency limits: above `degraded_ms` a run is degraded, above `failing_ms` it fails."""

    degraded_ms: float | None = Field(default=None, gt=0)
    failing_ms: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _degraded_below_failing(self) -> Self:
        if (
            self.degraded_ms is not None
            and self.failing_ms is not None
            and self.degraded_ms > self.failing_ms
        ):
            raise ValueError("degraded_ms must not be greater than failing_ms")
        return self


class Quorum(Definition):
    """How many locations must fail (out of how many; None = all that ran) before paging."""

    failing: int = Field(default=1, ge=1)
    of: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _failing_within_of(self) -> Self:
        if self.of is not None and self.failing > self.of:
            raise ValueError("failing must not be greater than of")
        return self


class BasicAuth(Definition):
    """HTTP basic authentication; values may hold `{{ secrets.NAME }}` placeholders."""

    type: Literal["basic"]
    username: str
    password: str


class BearerAuth(Definition):
    """An `Authorization: Bearer` token; usually `{{ secrets.NAME }}` or an extracted variable."""

    type: Literal["bearer"]
    token: str


class OAuth2ClientCredentials(Definition):
    """OAuth 2.0 client credentials grant (RFC 6749 section 4.4) fetched before the request."""

    type: Literal["oauth2_client_credentials"]
    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None
    audience: str | None = None


Auth = Annotated[BasicAuth | BearerAuth | OAuth2ClientCredentials, Field(discriminator="type")]


class Extraction(Definition):
    """Where a step finds a value for later steps: a JSONPath, a header name or a regex."""

    source: Literal["jsonpath", "header", "regex"]
    expression: str = Field(min_length=1)

    @model_validator(mode="after")
    def _usable(self) -> Self:
        try:
            validate_extraction(self.source, self.expression)
        except ExtractionError as exc:
            raise ValueError(str(exc)) from exc
        return self


class HttpStep(Definition):
    """One HTTP request with its assertions and the values it extracts for later steps."""

    name: str = Field(default="request", pattern=STEP_NAME_PATTERN)
    method: HttpMethod = "GET"
    url: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    json_body: Any | None = None
    auth: Auth | None = None
    follow_redirects: bool = True
    timeout_s: float = Field(default=10, gt=0, le=120)
    assertions: list[Assertion] = Field(default_factory=list)
    extract: dict[Annotated[str, Field(pattern=IDENTIFIER_PATTERN)], Extraction] = Field(
        default_factory=dict
    )
    thresholds: Thresholds | None = None

    @model_validator(mode="after")
    def _one_body(self) -> Self:
        if self.body is not None and self.json_body is not None:
            raise ValueError("give either body or json_body, not both")
        return self

    @model_validator(mode="after")
    def _http_url(self) -> Self:
        # Placeholders may fill in the host, but the scheme is fixed here so a check can never
        # be pointed at file:// or another protocol by a variable.
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return self


class TcpTarget(Definition):
    """A TCP connect check: the check passes when the connection opens within the timeout."""

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    timeout_s: float = Field(default=10, gt=0, le=120)


class DnsQuery(Definition):
    """A DNS resolution check; `resolver` is an address to ask instead of the system's."""

    name: str = Field(min_length=1)
    record_type: RecordType = "A"
    resolver: str | None = None
    timeout_s: float = Field(default=5, gt=0, le=60)


class TlsTarget(Definition):
    """A TLS certificate check; `server_name` is the SNI name when it differs from `host`."""

    host: str = Field(min_length=1)
    port: int = Field(default=443, ge=1, le=65535)
    server_name: str | None = None
    timeout_s: float = Field(default=10, gt=0, le=120)


# Which target field each kind needs; every other target field must be absent.
_TARGET_FIELD: dict[str, str] = {"tcp": "tcp", "dns": "dns", "tls": "tls"}


class CheckDefinition(Definition):
    """One synthetic check: what to probe, from where, how often, and what counts as healthy."""

    name: str = Field(pattern=CHECK_NAME_PATTERN)
    kind: CheckKind
    interval_seconds: int = Field(default=DEFAULT_INTERVAL_SECONDS, ge=10, le=86400)
    locations: list[str] | None = Field(default=None, min_length=1)
    critical: bool = False
    thresholds: Thresholds = Field(default_factory=Thresholds)
    steps: list[HttpStep] = Field(default_factory=list)
    tcp: TcpTarget | None = None
    dns: DnsQuery | None = None
    tls: TlsTarget | None = None
    assertions: list[Assertion] = Field(default_factory=list)
    depends_on: str | None = Field(default=None, pattern=CHECK_NAME_PATTERN)
    quorum: Quorum = Field(default_factory=Quorum)
    secrets: list[Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fields_match_kind(self) -> Self:
        if self.kind == "http" and len(self.steps) != 1:
            raise ValueError("an http check has exactly one step")
        if self.kind == "flow" and not self.steps:
            raise ValueError("a flow check has at least one step")
        if self.kind in ("http", "flow"):
            if self.assertions:
                raise ValueError(f"a {self.kind} check puts its assertions in its steps")
        elif self.steps:
            raise ValueError(f"a {self.kind} check has no steps")
        for kind, field in _TARGET_FIELD.items():
            present = getattr(self, field) is not None
            if kind == self.kind and not present:
                raise ValueError(f"a {kind} check needs its `{field}` target")
            if kind != self.kind and present:
                raise ValueError(f"`{field}` belongs to {kind} checks, not to {self.kind}")
        return self

    @model_validator(mode="after")
    def _unique_step_names(self) -> Self:
        names = [step.name for step in self.steps]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"step names must be unique: {', '.join(duplicates)}")
        return self

    @model_validator(mode="after")
    def _not_own_dependency(self) -> Self:
        if self.depends_on == self.name:
            raise ValueError("a check cannot depend on itself")
        return self


class ChecksFile(Definition):
    """A checks-as-code file: a version and the team's checks."""

    version: Literal[1] = 1
    checks: list[CheckDefinition] = Field(default_factory=list)
