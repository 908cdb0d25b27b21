"""Checks as code: load a YAML checks file whole or not at all, write one back, and diff it.

`load_checks` reports every problem it finds at once, each with the line and column of the
key or list entry at fault, and raises instead of returning a partial file: applying half a
file would leave a team's checks in a state nobody wrote down. PyYAML's composed nodes keep
the position of every key, so pydantic's error locations map back to lines.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import yaml
from pydantic import ValidationError

from opsyard_synthetics.definitions import CheckDefinition, CheckKind, ChecksFile, HttpStep
from opsyard_synthetics.expressions import compile_expression
from opsyard_synthetics.templating import SECRETS_PREFIX, TemplateError, is_secret, placeholders

MAX_FILE_SIZE: Final = 1024 * 1024

# The facts each kind of probe observes (see expressions.Facts); an assertion on anything
# else could never pass, so it is refused when the file is loaded.
SUBJECTS_BY_KIND: Final[dict[CheckKind, frozenset[str]]] = {
    "http": frozenset(
        {"status", "response_time_ms", "headers", "body", "json", "vars", "cert_days_left"}
    ),
    "flow": frozenset(
        {"status", "response_time_ms", "headers", "body", "json", "vars", "cert_days_left"}
    ),
    "tcp": frozenset({"connected", "response_time_ms"}),
    "dns": frozenset({"dns", "response_time_ms"}),
    "tls": frozenset({"cert_days_left", "connected", "response_time_ms"}),
}

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class ChecksFileProblem:
    """One problem in a checks file: where it is (1-based) and what is wrong."""

    line: int
    column: int
    field: str
    message: str
    path: Path = ()

    @property
    def pointer(self) -> str:
        """The JSON pointer of the field at fault, as API problem details name fields."""
        return _pointer(self.path)

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}"
        subject = f"{self.field}: " if self.field else ""
        return f"{where}: {subject}{self.message}"


def _pointer(path: Path) -> str:
    escaped = (str(part).replace("~", "~0").replace("/", "~1") for part in path)
    return "".join("/" + part for part in escaped)


class ChecksFileError(ValueError):
    """A checks file that was refused whole; `problems` lists everything at fault."""

    def __init__(self, problems: list[ChecksFileProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line, p.column, p.field))
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass(frozen=True)
class CheckChange:
    """A check whose definition differs; `fields` names the top-level fields that changed."""

    name: str
    before: CheckDefinition
    after: CheckDefinition
    fields: list[str]


@dataclass(frozen=True)
class ChecksDiff:
    """What applying a checks file would do, each list sorted by check name."""

    created: list[CheckDefinition] = field(default_factory=list)
    changed: list[CheckChange] = field(default_factory=list)
    removed: list[CheckDefinition] = field(default_factory=list)
    unchanged: list[CheckDefinition] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        """Whether applying would create, change or remove anything."""
        return bool(self.created or self.changed or self.removed)


# ---------------------------------------------------------------------------------------------
# Loading


def load_checks(text: str) -> ChecksFile:
    """Parse and validate a checks file, raising ChecksFileError with every problem found."""
    if len(text) > MAX_FILE_SIZE:
        raise ChecksFileError(
            [_problem(1, 1, (), f"the file is larger than {MAX_FILE_SIZE // 1024} KiB")]
        )
    document = _Document.parse(text)
    try:
        checks = ChecksFile.model_validate(document.data)
    except ValidationError as exc:
        problems = [document.validation_problem(error) for error in exc.errors()]
        # The checks that are valid on their own are still examined, so one pass over the
        # file reports every problem rather than the first kind found.
        problems.extend(_file_problems(_valid_checks(document.data), document))
        raise ChecksFileError(problems) from None
    problems = list(_file_problems(dict(enumerate(checks.checks)), document))
    if problems:
        raise ChecksFileError(problems)
    return checks


def _valid_checks(data: Any) -> dict[int, CheckDefinition]:
    entries = data.get("checks") if isinstance(data, Mapping) else None
    valid: dict[int, CheckDefinition] = {}
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        try:
            valid[index] = CheckDefinition.model_validate(entry)
        except ValidationError:
            continue  # already reported by the validation of the whole file
    return valid


def _problem(line: int, column: int, path: Path, message: str) -> ChecksFileProblem:
    return ChecksFileProblem(line, column, _field_name(path), message, path)


def _field_name(path: Path) -> str:
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else part)
    return name


class _Document:
    """The plain data of a YAML file and the position of every key and list entry in it."""

    def __init__(self, data: Any, positions: dict[Path, tuple[int, int]]) -> None:
        self.data = data
        self.positions = positions

    @classmethod
    def parse(cls, text: str) -> _Document:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            reason = " ".join(part for part in (exc.context, exc.problem) if part)
            raise ChecksFileError([_problem(line, column, (), f"YAML: {reason}")]) from None
        except yaml.YAMLError as exc:  # a reader error, such as a control character
            raise ChecksFileError([_problem(1, 1, (), f"YAML: {exc}")]) from None
        if root is None:
            raise ChecksFileError([_problem(1, 1, (), "the file is empty")])
        builder = _Builder()
        data = builder.build(root, ())
        if builder.problems:
            raise ChecksFileError(builder.problems)
        return cls(data, builder.positions)

    def position(self, path: Path) -> tuple[int, int]:
        """The line and column of `path`, or of its nearest ancestor that is in the file."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.positions:
                return self.positions[path[:end]]
        return (1, 1)

    def problem(self, path: Path, message: str) -> ChecksFileProblem:
        line, column = self.position(path)
        return _problem(line, column, path, message)

    def validation_problem(self, error: Mapping[str, Any]) -> ChecksFileProblem:
        path = self._data_path(tuple(error["loc"]))
        kind = error["type"]
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            # Pydantic places these on the union; the field at fault is its discriminator.
            path = (*path, str(error["ctx"]["discriminator"]).strip("'"))
        if kind == "union_tag_not_found":
            message = f"{path[-1]!r} is required"
        elif kind == "extra_forbidden":
            message = f"unknown field {path[-1]!r}"
        elif kind == "missing":
            message = f"{path[-1]!r} is required"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
        return self.problem(path, message)

    def _data_path(self, loc: Path) -> Path:
        """Pydantic's error location without the parts that are not in the data.

        Discriminated unions add their tag (`bearer`) and dict keys add `[key]` to the
        location; a missing field's name is kept as the last part.
        """
        path: list[str | int] = []
        node = self.data
        for index, part in enumerate(loc):
            last = index == len(loc) - 1
            in_mapping = isinstance(node, Mapping) and part in node
            in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            if in_mapping or in_list:
                node = node[part]
            elif not (last and isinstance(node, Mapping) and part != "[key]"):
                continue
            path.append(part)
        return tuple(path)


class _Builder:
    """Turns composed YAML nodes into plain data, noting where each key and entry was."""

    def __init__(self) -> None:
        self.positions: dict[Path, tuple[int, int]] = {}
        self.problems: list[ChecksFileProblem] = []
        self.constructor = yaml.SafeLoader("")
        self.active: set[int] = set()

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.positions.setdefault(path, _mark(node))
        if id(node) in self.active:  # an alias of an enclosing node: the data would be infinite
            self.problems.append(_problem(*_mark(node), path, "an alias refers to itself"))
            return None
        standard = _STANDARD_TAGS.get(type(node))
        if standard is not None and node.tag != standard:
            # SafeLoader leaves tags on collections to the constructor, which we do not use.
            self.problems.append(
                _problem(*_mark(node), path, f"YAML: the tag {node.tag} is not allowed")
            )
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            return self._scalar(node, path)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problems.append(
                    _problem(*_mark(key_node), path, "merge keys (<<) are not supported")
                )
                continue
            key = self._scalar(key_node, path)
            if not isinstance(key, str | int):
                self.problems.append(_problem(*_mark(key_node), path, "keys must be plain text"))
                continue
            here = (*path, key)
            if key in result:
                # PyYAML would silently keep the last value; a repeated key is a mistake.
                self.problems.append(_problem(*_mark(key_node), here, f"{key!r} is repeated"))
                continue
            self.positions[here] = _mark(key_node)
            result[key] = self.build(value_node, here)
        return result

    def _scalar(self, node: yaml.Node, path: Path) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.problems.append(_problem(*_mark(node), path, "keys must be plain text"))
            return None
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            self.problems.append(_problem(*_mark(node), path, f"YAML: {exc.problem}"))
            return None


_STANDARD_TAGS: Final[dict[type[yaml.Node], str]] = {
    yaml.MappingNode: "tag:yaml.org,2002:map",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
}


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


# ---------------------------------------------------------------------------------------------
# Checks that span more than one field


@dataclass(frozen=True)
class CheckProblem:
    """A problem in one check that no single field shows: `path` is relative to the check."""

    path: Path
    message: str

    @property
    def pointer(self) -> str:
        """The JSON pointer of the field at fault within the check."""
        return _pointer(self.path)


def check_problems(check: CheckDefinition) -> list[CheckProblem]:
    """What is wrong across the fields of one valid check: unknown secrets and variables in
    placeholders, assertions on facts its kind does not observe, quorum beyond its locations.
    """
    problems: list[CheckProblem] = []
    locations, quorum_of = check.locations, check.quorum.of
    if quorum_of is not None and locations is not None and quorum_of > len(locations):
        problems.append(
            CheckProblem(
                ("quorum", "of"),
                f"quorum of {quorum_of} but only {len(locations)} locations are listed",
            )
        )
    for index, assertion in enumerate(check.assertions):
        problems.extend(_assertion_problems(check.kind, assertion, ("assertions", index), set()))
    extracted: set[str] = set()
    for index, step in enumerate(check.steps):
        at: Path = ("steps", index)
        # Placeholders see what earlier steps extracted; assertions see this step's values too.
        problems.extend(_template_problems(step, at, extracted, set(check.secrets)))
        extracted |= set(step.extract)
        for position, assertion in enumerate(step.assertions):
            path = (*at, "assertions", position)
            problems.extend(_assertion_problems(check.kind, assertion, path, extracted))
    return problems


def _assertion_problems(
    kind: CheckKind, text: str, path: Path, extracted: set[str]
) -> Iterator[CheckProblem]:
    expression = compile_expression(text)  # the model compiled it already; this is a cache hit
    for subject in sorted(expression.subjects - SUBJECTS_BY_KIND[kind]):
        yield CheckProblem(path, f"{text}: a {kind} check has no {subject}")
    for variable in sorted(expression.variables - extracted):
        known = ", ".join(sorted(extracted)) or "none"
        yield CheckProblem(
            path, f"{text}: vars.{variable} is not extracted by this or an earlier step "
            f"(extracted: {known})",
        )  # fmt: skip


def _template_problems(
    step: HttpStep, at: Path, extracted: set[str], secrets: set[str]
) -> Iterator[CheckProblem]:
    for path, text in _templated_fields(step, at):
        try:
            names = placeholders(text)
        except TemplateError as exc:
            yield CheckProblem(path, str(exc))
            continue
        for name in names:
            if is_secret(name):
                secret = name.removeprefix(SECRETS_PREFIX)
                if secret not in secrets:
                    listed = ", ".join(sorted(secrets)) or "none"
                    yield CheckProblem(
                        path, f"unknown secret {secret!r}; list it in the check's secrets "
                        f"(listed: {listed})",
                    )  # fmt: skip
            elif name not in extracted:
                known = ", ".join(sorted(extracted)) or "none"
                yield CheckProblem(
                    path, f"unknown variable {name!r}; no earlier step extracts it "
                    f"(extracted: {known})",
                )  # fmt: skip


def _templated_fields(step: HttpStep, at: Path) -> Iterator[tuple[Path, str]]:
    """Every string of an HTTP step that may hold placeholders, with its path."""
    yield (*at, "url"), step.url
    for name, value in step.headers.items():
        yield (*at, "headers", name), value
    if step.body is not None:
        yield (*at, "body"), step.body
    if step.json_body is not None:
        yield from _json_strings(step.json_body, (*at, "json_body"))
    if step.auth is not None:
        for name, value in step.auth:
            if isinstance(value, str) and name != "type":
                yield (*at, "auth", name), value


def _json_strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _json_strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_strings(item, (*path, index))


def _file_problems(
    checks: Mapping[int, CheckDefinition], document: _Document
) -> Iterator[ChecksFileProblem]:
    """Problems in `checks` (the valid checks, by their index in the file) and between them."""
    seen: set[str] = set()
    names = _all_names(document.data)
    for index, check in checks.items():
        at: Path = ("checks", index)
        if check.name in seen:
            yield document.problem((*at, "name"), f"the name {check.name!r} is used twice")
        seen.add(check.name)
        if check.depends_on is not None and check.depends_on not in names:
            yield document.problem(
                (*at, "depends_on"), f"there is no check named {check.depends_on!r}"
            )
        for problem in check_problems(check):
            yield document.problem((*at, *problem.path), problem.message)
    yield from _cycle_problems(checks, document)


def _all_names(data: Any) -> set[str]:
    # Names of invalid checks count too: depending on one is not a second problem.
    entries = data.get("checks") if isinstance(data, Mapping) else None
    if not isinstance(entries, list):
        return set()
    return {e["name"] for e in entries if isinstance(e, Mapping) and isinstance(e.get("name"), str)}


def _cycle_problems(
    checks: Mapping[int, CheckDefinition], document: _Document
) -> Iterator[ChecksFileProblem]:
    index_of: dict[str, int] = {}
    for index, check in checks.items():
        index_of.setdefault(check.name, index)
    parent = {check.name: check.depends_on for check in checks.values() if check.depends_on}
    reported: set[str] = set()
    # Each check depends on at most one other, so following the chain finds every cycle.
    for start in parent:
        chain: list[str] = []
        name: str | None = start
        while name is not None and name not in chain and name not in reported:
            chain.append(name)
            name = parent.get(name)
        if name is None or name in reported:
            continue
        cycle = chain[chain.index(name) :]
        reported.update(cycle)
        first = min(cycle, key=index_of.__getitem__)
        ordered = cycle[cycle.index(first) :] + cycle[: cycle.index(first)]
        yield document.problem(
            ("checks", index_of[first], "depends_on"),
            "dependency cycle: " + " -> ".join([*ordered, first]),
        )


# ---------------------------------------------------------------------------------------------
# Writing and comparing


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (request bodies) as literal blocks, which read like the body."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_checks(checks: ChecksFile) -> str:
    """The checks file as YAML without default values, in the order of `checks.checks`."""
    data = {
        "version": checks.version,
        "checks": [check.model_dump(mode="json", exclude_defaults=True) for check in checks.checks],
    }
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )


def diff_checks(current: Mapping[str, CheckDefinition], desired: ChecksFile) -> ChecksDiff:
    """What applying `desired` to a team whose checks are `current` (by name) would do."""
    wanted = {check.name: check for check in desired.checks}
    created: list[CheckDefinition] = []
    changed: list[CheckChange] = []
    unchanged: list[CheckDefinition] = []
    for name in sorted(wanted):
        after = wanted[name]
        before = current.get(name)
        if before is None:
            created.append(after)
        elif before == after:
            unchanged.append(after)
        else:
            changed.append(CheckChange(name, before, after, _changed_fields(before, after)))
    removed = [current[name] for name in sorted(current) if name not in wanted]
    return ChecksDiff(created, changed, removed, unchanged)


def _changed_fields(before: CheckDefinition, after: CheckDefinition) -> list[str]:
    old, new = before.model_dump(mode="json"), after.model_dump(mode="json")
    return [name for name in CheckDefinition.model_fields if old.get(name) != new.get(name)]
