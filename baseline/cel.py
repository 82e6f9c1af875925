"""CEL compilation and evaluation, and the paths an expression reads.

One runtime (Google's C++ CEL through ``cel-expr-python``) with the extensions Kubernetes also
enables (strings, optional). Expressions are compiled once; an object is converted once into an
activation and every compiled expression is evaluated against it.

Preview-unknown values are decided *outside* CEL: :func:`referenced_paths` lists the object paths an
expression (and the variables it uses) can read; if an unknown value sits on or under one of them,
the verdict is ``unknown``, never pass or fail. This is conservative: an expression that would have
short-circuited past the unknown is still reported unknown.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_bindings, ext_optional, ext_strings

__all__ = [
    "CEL_INT_RANGE",
    "ROOT_VARIABLES",
    "UNKNOWN_SENTINELS",
    "BatchCheck",
    "CelCompileError",
    "CompiledCheck",
    "compile_batch",
    "compile_check",
    "drop_nulls",
    "find_unknown_paths",
    "is_unknown",
    "new_activation",
    "referenced_paths",
    "related_kinds",
    "unconvertible",
]

#: Names an expression may use at top level. The same names the admission engines provide.
ROOT_VARIABLES = ("object", "oldObject", "request", "variables", "namespaceObjects", "stackResources")

#: The engine's wire sentinels for values that are unknown during preview (pulumi.runtime.rpc).
UNKNOWN_SENTINELS = frozenset(
    {
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string / generic
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)

Path = tuple[str, ...]


class CelCompileError(ValueError):
    pass


_ENV = cel.NewEnv(
    variables={name: cel.Type.DYN for name in ROOT_VARIABLES},
    extensions=[ext_strings.ExtStrings(), ext_optional.ExtOptional()],
)


def new_activation(data: Mapping[str, Any]) -> Any:
    """Convert the data once; evaluate many compiled expressions against the result."""
    return _ENV.Activation(data=data)


@dataclass(frozen=True)
class CompiledCheck:
    """A target's expression with its variables inlined, compiled once, and the paths it reads.

    CEL variables are pure and lazily evaluated, so substituting ``variables.X`` by ``(X's
    expression)`` is the same program; it lets one activation per object serve every target with no
    round-trips of intermediate values. The admission renderers emit the variables as they are.
    """

    program: Any
    paths: frozenset[Path]
    reads_related: bool
    variable_sources: tuple[tuple[str, str], ...] = ()
    inlined: str = ""
    field_names: frozenset[str] = frozenset()
    iterated_names: frozenset[str] = frozenset()
    presence: frozenset[Path] = frozenset()
    #: "or"/"and" and the checks of the top-level operands: when a value the whole expression reads
    #: is unknown, a known operand can still decide it (``true || x``, ``false && x``), as CEL does
    junction: str = ""
    operands: tuple[CompiledCheck, ...] = ()
    #: the target's own expression, before its variables were inlined (what :func:`compile_batch` binds)
    expression: str = ""
    #: the only kinds of ``namespaceObjects`` the expression can be decided by (:func:`related_kinds`);
    #: None: any object may count (or it reads none)
    related_kinds: frozenset[str] | None = None

    def run(self, data: Mapping[str, Any]) -> tuple[bool | None, str | None]:
        """Evaluate against fresh data (``data['variables']`` holds ``params``)."""
        return self.run_activation(new_activation(data))

    def run_activation(self, activation: Any) -> tuple[bool | None, str | None]:
        """Evaluate against a prepared activation: one per object serves every target."""
        return _verdict(self.program.eval(activation))


def _verdict(result: Any) -> tuple[bool | None, str | None]:
    kind = result.type()
    if kind == cel.Type.BOOL:
        return bool(result.value()), None
    if kind == cel.Type.ERROR:
        return None, str(result.value())
    return None, f"expression returned {kind.name()}, not bool"


def _compile(expression: str, where: str) -> Any:
    try:
        return _ENV.compile(expression)
    except RuntimeError as exc:
        raise CelCompileError(f"{where}: {exc}") from None


def inline_variables(expression: str, variables: Sequence[tuple[str, str]]) -> str:
    """Substitute each ``variables.NAME`` by its (already inlined) expression, in order."""
    done: dict[str, str] = {}
    for name, source in variables:
        done[name] = _substitute(source, done)
    return _substitute(expression, done)


def _parenthesised(source: str, _match: re.Match[str]) -> str:
    return f"({source})"


def _substitute(text: str, inlined: Mapping[str, str]) -> str:
    for name, source in inlined.items():
        # a function, not a template: the source's backslashes must not be read as group references
        text = re.sub(rf"(?<![\w.])variables\.{re.escape(name)}\b", functools.partial(_parenthesised, source), text)
    return text


def compile_check(
    expression: str, variables: Sequence[tuple[str, str]] = (), where: str = "<expression>"
) -> CompiledCheck:
    """Compile a target's check; the same text is compiled once per process (``where`` only names
    the target in an error). A fleet run builds one evaluator per stack: they share the programs."""
    try:
        return _compile_cached(expression, tuple(variables))
    except CelCompileError as exc:
        raise CelCompileError(str(exc).replace(_CACHE_WHERE, where)) from None


_CACHE_WHERE = "\x00target\x00"


@functools.lru_cache(maxsize=4096)
def _compile_cached(expression: str, variables: tuple[tuple[str, str], ...]) -> CompiledCheck:
    for name, _source in variables:  # each variable must compile on its own, as the engines compile it
        _compile(inline_variables(f"variables.{name}", variables), f"{_CACHE_WHERE} variable {name}")
    return _compile_check(expression, variables, _CACHE_WHERE, split=True)


def _compile_check(
    expression: str, variables: Sequence[tuple[str, str]], where: str, split: bool
) -> CompiledCheck:
    inlined = inline_variables(expression, variables)
    program = _compile(inlined, where)
    paths, presence = read_paths(expression, dict(variables))
    reads_related = "namespaceObjects" in inlined or "stackResources" in inlined
    junction, parts = split_top_level(expression) if split else ("", [expression])
    operands = (
        tuple(_compile_check(part, variables, f"{where} operand {i}", split=False) for i, part in enumerate(parts))
        if junction
        else ()
    )
    return CompiledCheck(
        program,
        paths,
        reads_related,
        tuple(variables),
        inlined,
        field_names(inlined),
        iterated_names(inlined),
        presence,
        junction,
        operands,
        expression,
        related_kinds(inlined),
    )


_RELATED_USE = re.compile(r"namespaceObjects\b")
_KIND_TEST = re.compile(
    r"\.\s*exists\s*\(\s*([A-Za-z_]\w*)\s*,\s*(?:has\s*\(\s*\1\s*\.\s*kind\s*\)\s*&&\s*)?"
    r"\1\s*\.\s*kind\s*==\s*'([A-Za-z][A-Za-z0-9]*)'\s*&&"
)


def related_kinds(expression: str) -> frozenset[str] | None:
    """The kinds of ``namespaceObjects`` that can decide ``expression``, when that is plain from its
    text; None otherwise (every object may count, or it reads no ``namespaceObjects``).

    Only one form is read: every use is ``namespaceObjects.exists(o, [has(o.kind) &&] o.kind == 'K'
    && ...)`` whose predicate joins its conditions with ``&&`` alone at its top level. For an object
    whose kind is a string other than every such K, each predicate is false, so leaving the object out
    changes no result: it neither makes an ``exists`` true nor raises an error. Anything else (``all``,
    ``size(namespaceObjects)``, an ``||`` or ``?:`` at the predicate's top level) gives None.
    """
    uses = list(_RELATED_USE.finditer(expression))
    if not uses:
        return None
    kinds: set[str] = set()
    for use in uses:
        test = _KIND_TEST.match(expression, use.end())
        if test is None:
            return None
        close = _closing_paren(expression, expression.index("(", use.end()))
        if close is None or _has_top_level_alternative(expression[test.end() : close]):
            return None
        kinds.add(test.group(2))
    return frozenset(kinds)


def _structure(text: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """(index, character, bracket depth after it) for each character of ``text`` from ``start`` that
    is outside string literals."""
    depth, i, quote = 0, start, ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        else:
            depth += (c in "([{") - (c in ")]}")
            yield i, c, depth
        i += 1


def _closing_paren(text: str, open_at: int) -> int | None:
    """The index of the ``)`` that closes the ``(`` at ``open_at`` (string literals skipped)."""
    return next((i for i, c, depth in _structure(text, open_at) if depth == 0 and c in ")]}"), None)


def _has_top_level_alternative(text: str) -> bool:
    """Whether ``text`` has ``||`` or ``?`` outside every bracket and string literal."""
    return any(depth == 0 and (c == "?" or text.startswith("||", i)) for i, c, depth in _structure(text))


# --------------------------------------------------------------------------- batches

#: The batch programs' environment: the controls' own, plus ``cel.bind`` (which controls may not use:
#: :data:`_ENV` does not offer it). Its programs evaluate against :data:`_ENV`'s activations.
_BATCH_ENV = cel.NewEnv(
    variables={name: cel.Type.DYN for name in ROOT_VARIABLES},
    extensions=[ext_strings.ExtStrings(), ext_optional.ExtOptional(), ext_bindings.ExtBindings()],
)
_BOUND_PREFIX = "fbbind_"
_BOUND = re.compile(rf"(?<![\w.]){_BOUND_PREFIX}([A-Za-z_][A-Za-z0-9_]*)\b")
#: a macro whose iteration variable shadows a root name: binding could then change what a name means
_SHADOWING = re.compile(
    r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*(?:" + "|".join(ROOT_VARIABLES) + rf"|{_BOUND_PREFIX}\w*)\s*,"
)


@dataclass(frozen=True)
class BatchCheck:
    """Several checks compiled into one program, their shared variables evaluated once.

    ``cel.bind(v, <variable>, [<check 1>, <check 2>, ...])``: one evaluation instead of one per
    check, and ``variables.podSpec``, ``variables.containers``... computed once per object instead
    of once per use. CEL is pure, so when the program returns a list of booleans, each is exactly
    what its check alone returns. Anything else (an error anywhere: a variable no check would have
    read, one check's own error; a value that is not a boolean) returns None, and the caller
    evaluates the checks one by one, which gives each its own verdict or error exactly.
    """

    program: Any
    size: int

    def run_activation(self, activation: Any) -> list[bool] | None:
        """Each check's verdict, in order, or None: evaluate them one by one."""
        result = self.program.eval(activation)
        if result.type() != cel.Type.LIST:
            return None
        values = result.plain_value()
        if type(values) is not list or len(values) != self.size:
            return None
        for value in values:
            if type(value) is not bool:
                return None
        return values


def _bind_names(text: str, names: Iterable[str]) -> str:
    for name in names:
        text = re.sub(rf"(?<![\w.])variables\.{re.escape(name)}\b", _BOUND_PREFIX + name, text)
    return text


#: compile_batch's programs, once per process (a fleet run builds an evaluator per stack, and the
#: checks are shared: see compile_check). Keyed by the checks' identities; the checks are held, so an
#: identity is never reused while its entry lives.
_BATCHES: dict[tuple[int, ...], tuple[tuple[CompiledCheck, ...], BatchCheck | None]] = {}


def compile_batch(checks: Sequence[CompiledCheck]) -> BatchCheck | None:
    """One program for ``checks`` (see :class:`BatchCheck`), or None when they cannot share one.

    Proven, not assumed: each check's text with its variables bound must inline back into exactly
    the text that check was compiled from, and a variable shared by two checks must have one
    definition. Otherwise (or if the program does not compile) there is no batch.
    """
    held = tuple(checks)
    key = tuple(map(id, held))
    cached = _BATCHES.get(key)
    if cached is not None and all(a is b for a, b in zip(cached[0], held, strict=True)):
        return cached[1]
    if len(_BATCHES) >= 4096:
        _BATCHES.clear()
    batch = _compile_batch(held)
    _BATCHES[key] = (held, batch)
    return batch


def _compile_batch(checks: Sequence[CompiledCheck]) -> BatchCheck | None:
    if len(checks) < 2:
        return None
    definitions: dict[str, str] = {}
    inlined: dict[str, str] = {}
    bodies: list[str] = []
    for check in checks:
        if not check.expression:
            return None
        texts = [check.expression, *(source for _, source in check.variable_sources)]
        if any(_BOUND_PREFIX in t or _SHADOWING.search(t) for t in texts):
            return None
        own: list[str] = []
        # a variable of the params alone (the Pod Security version table's) is cheap and stays
        # inline: each bound name nests the program one level deeper, and the parser stops at 32
        pure: dict[str, str] = {}
        for name, source in check.variable_sources:
            source = _substitute(source, pure)
            if not _READS_OBJECT.search(source) and not _READS_VARIABLE.search(source):
                pure[name] = source
                continue
            bound = _bind_names(source, own)
            if definitions.setdefault(name, bound) != bound:
                return None
            inlined.setdefault(name, _unbind(bound, inlined))
            own.append(name)
        body = _bind_names(_substitute(check.expression, pure), own)
        if _unbind(body, inlined) != check.inlined:
            return None
        bodies.append(f"({body})")
    program_text = "[" + ", ".join(bodies) + "]"
    for name in reversed(list(definitions)):
        if re.search(rf"(?<![\w.]){_BOUND_PREFIX}{re.escape(name)}\b", program_text):
            program_text = f"cel.bind({_BOUND_PREFIX}{name}, {definitions[name]}, {program_text})"
    try:
        program = _BATCH_ENV.compile(program_text)
    except RuntimeError:  # e.g. the parser's nesting limit: the checks run one by one
        return None
    return BatchCheck(program, len(checks))


_READS_OBJECT = re.compile(r"(?<![\w.])(?:" + "|".join(r for r in ROOT_VARIABLES if r != "variables") + r")\b")
_READS_VARIABLE = re.compile(r"(?<![\w.])variables\s*\.\s*(?!params\b)")


def _unbind(text: str, inlined: Mapping[str, str]) -> str:
    """``text`` with each bound name replaced by its variable's inlined source, as inline_variables
    would have written it."""
    return _BOUND.sub(lambda m: f"({inlined[m.group(1)]})", text)


def split_top_level(expression: str) -> tuple[str, list[str]]:
    """("or", operands) or ("and", operands) of a top-level ``||``/``&&`` chain, else ("", [expression]).

    Respects parentheses, brackets, braces and string literals; a top-level ternary (``?:``, the
    lowest precedence) is never split, and one pair of wrapping parentheses is looked through.
    """
    text = expression.strip()
    for _ in range(8):
        inner = _unwrap(text)
        if inner is None:
            break
        text = inner
    for op, name in (("||", "or"), ("&&", "and")):
        parts = _split_at(text, op)
        if parts is not None and len(parts) > 1:
            return name, parts
    return "", [expression]


def _scan(text: str) -> Iterator[tuple[int, str, int]]:
    """(index, char, depth) of every character outside string literals."""
    depth, i, quote = 0, 0, ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        else:
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
            yield i, c, depth
        i += 1


def _unwrap(text: str) -> str | None:
    if not (text.startswith("(") and text.endswith(")")):
        return None
    for i, c, depth in _scan(text):
        if depth == 0 and i < len(text) - 1:
            return None  # the first "(" closes before the end: "(a) || (b)"
        del c
    return text[1:-1].strip()


def _split_at(text: str, op: str) -> list[str] | None:
    parts, start, prev = [], 0, ""
    for i, c, depth in _scan(text):
        if depth == 0 and c == "?":
            return None
        if depth == 0 and prev == op[0] and c == op[1] and i - 1 >= start:
            parts.append(text[start : i - 1].strip())
            start = i + 1
            prev = ""
            continue
        prev = c if depth == 0 else ""
    parts.append(text[start:].strip())
    return parts if all(parts) else None


# --------------------------------------------------------------------------- referenced paths

_SEGMENT = r"(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\s*(?:\"[^\"]*\"|'[^']*')\s*\])"
_CHAIN = re.compile(rf"(?<![\w.])(object|oldObject|variables\.[A-Za-z_][A-Za-z0-9_]*)({_SEGMENT}*)")
_SEG = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:\"([^\"]*)\"|'([^']*)')\s*\]")


def _segments(chain: str) -> list[str]:
    out = []
    for m in _SEG.finditer(chain):
        out.append(m.group(1) if m.group(1) is not None else (m.group(2) if m.group(2) is not None else m.group(3)))
    return out


def referenced_paths(expression: str, variables: Mapping[str, str] | None = None) -> frozenset[Path]:
    """Object paths (key tuples, list indices dropped) that the expression can read.

    ``variables.X`` is followed into X's own expression; ``variables.params`` is intent data,
    always known, and reads nothing of the object.
    """
    return read_paths(expression, variables)[0]


def read_paths(
    expression: str, variables: Mapping[str, str] | None = None
) -> tuple[frozenset[Path], frozenset[Path]]:
    """(value paths, presence paths): ``has(object.a.b)`` only asks whether ``b`` is there, so an
    unknown *below* ``a.b`` cannot change its answer; an unknown at or above it can."""
    variables = variables or {}
    out: set[Path] = set()
    presence: set[Path] = set()
    _collect(expression, variables, out, (), presence)
    return frozenset(out), frozenset(presence - out)


def _collect(
    expression: str,
    variables: Mapping[str, str],
    out: set[Path],
    stack: tuple[str, ...],
    presence: set[Path] | None = None,
) -> None:
    for m in _CHAIN.finditer(expression):
        root, rest = m.group(1), m.group(2)
        segs = _segments(rest)
        if segs and expression[m.end() :].lstrip().startswith("("):
            segs = segs[:-1]  # `.all(`, `.size(`, `.startsWith(`: a method call, not a field
        if root.startswith("variables."):
            name = root.split(".", 1)[1]
            if name == "params" or name in stack:
                continue
            if name in variables:
                # what the variable reads, plus nothing more specific: a conservative superset
                _collect(variables[name], variables, out, (*stack, name))
            continue
        path = tuple(segs) if root == "object" else ("<old>", *segs)
        is_has = expression[: m.start()].rstrip().endswith("has(") and expression[m.end() :].lstrip().startswith(")")
        if is_has and presence is not None and segs:
            presence.add(path)
        else:
            out.add(path)


# --------------------------------------------------------------------------- unknowns


_FIELD_NAME = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()|\[\s*(?:\"([^\"]*)\"|'([^']*)')\s*\]")


_STRING_LITERAL = re.compile(r"\"([^\"\\]*)\"|'([^'\\]*)'")
_ITERATED = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)\s*\.\s*(?:all|exists|exists_one|map|filter)\s*\(")


def field_names(expression: str, literals: bool = True) -> frozenset[str]:
    """Every key an expression can name: selected fields (``.name``, ``['name']``), methods excluded,
    and every string literal (``'key' in map``).

    For objects reached through a collection (``namespaceObjects.exists(o, o.spec...)``) the exact
    path is not known statically; an unknown under keys the expression never names cannot change
    its verdict, one under named keys can.
    """
    out = set()
    # selections only: a dotted string ('docker.io') is not a field
    for m in _FIELD_NAME.finditer(expression if literals else _STRING_LITERAL.sub("''", expression)):
        out.add(m.group(1) or m.group(2) or m.group(3) or "")
    if literals:
        for m in _STRING_LITERAL.finditer(expression):
            out.add(m.group(1) if m.group(1) is not None else m.group(2))
    return frozenset(out)


def iterated_names(expression: str) -> frozenset[str]:
    """Fields whose elements a macro visits (``.labels.exists(``): their keys need not be named."""
    return frozenset(m.group(1) for m in _ITERATED.finditer(expression))


def related_unknown_hits(
    related_unknowns: Iterable[tuple[Path, ...]], names: frozenset[str], iterated: frozenset[str] = frozenset()
) -> list[str]:
    """Unknown paths (precomputed per related object) the expression can reach.

    An expression reaches a value only through keys it names, or by a macro iterating the
    collection that holds it: an unknown at ``metadata.annotations.x`` is out of reach of an
    expression that names neither ``metadata`` and ``annotations`` nor iterates ``annotations``.
    """
    hits = []
    for paths in related_unknowns:
        for path in paths:
            reachable = (
                not path
                or all(key in names for key in path)
                or (len(path) >= 2 and all(key in names for key in path[:-1]) and path[-2] in iterated)
            )
            if reachable:
                hits.append(".".join(path) or "(whole object)")
    return hits


def is_unknown(value: Any) -> bool:
    if isinstance(value, str):
        return value in UNKNOWN_SENTINELS
    # pulumi.output.Unknown (mocks in preview) and similar markers, without importing pulumi
    return type(value).__name__ == "Unknown"


_MARKER = "\x00fleet-baseline-unknown\x00"


def _json_default(value: Any) -> str:
    return _MARKER if is_unknown(value) else repr(value)


def _may_hold_unknown(obj: Any) -> bool:
    """A C-speed pre-scan: almost no object holds an unknown, so most skip the Python walk."""
    try:
        text = json.dumps(obj, default=_json_default, check_circular=False)
    except (ValueError, TypeError, RecursionError):
        return True
    return _MARKER in text or any(s in text for s in UNKNOWN_SENTINELS)


def find_unknown_paths(obj: Any, limit: int = 256) -> tuple[Path, ...]:
    """Every path (list indices dropped) under which the object holds a preview-unknown value.

    Past ``limit`` unknowns, or nesting deeper than 128 levels, the list ends with the empty path
    (the whole object): an unknown not listed must still be one every check depends on.
    """
    if not _may_hold_unknown(obj):
        return ()
    found: list[Path] = []

    def walk(value: Any, path: Path, depth: int) -> None:
        if len(found) >= limit:
            return
        if depth > 128:
            found.append((*path, "<too deep>"))
            return
        if is_unknown(value):
            found.append(path)
        elif isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, (*path, str(k)), depth + 1)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v, path, depth + 1)

    walk(obj, (), 0)
    if len(found) >= limit or any(path and path[-1] == "<too deep>" for path in found):
        found.append(())
    return tuple(found)


def drop_nulls(obj: Any, depth: int = 256) -> Any:
    """The object as the API server keeps it: every map key whose value is null removed, at any depth.

    The API server decodes a manifest into typed objects, where ``rules: null`` or
    ``seccompProfile: null`` is the field left unset, so admission (and ``kubectl get``) never sees
    the null. CEL does: ``has(x.f)`` is true for a null ``f`` and ``has(x.f.g)`` an error. Judged
    after this, a manifest gets the verdict the cluster's own admission gives it. Null list items are
    kept (they are no field). The object itself is returned when it holds no null (a C-speed
    pre-scan: most do not); past ``depth`` levels the rest is left as it is.
    """
    try:
        text = json.dumps(obj, default=_json_default, check_circular=False)
    except (ValueError, TypeError, RecursionError):
        text = "null"
    if "null" not in text:
        return obj
    return _without_nulls(obj, depth)


def _without_nulls(value: Any, depth: int) -> Any:
    if depth <= 0:
        return value
    if type(value) is dict:
        out = {k: _without_nulls(v, depth - 1) for k, v in value.items() if v is not None}
        return value if len(out) == len(value) and all(out[k] is value[k] for k in out) else out
    if type(value) is list:
        items = [_without_nulls(v, depth - 1) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


#: What the runtime takes as a CEL value: these exact types (a subclass is refused), integers in 64 bits.
_CEL_SCALARS = frozenset({str, bytes, bytearray, float, bool, type(None)})
_CEL_KEYS = frozenset({str, bool})
#: the integers the runtime holds: int64 and uint64 together
CEL_INT_RANGE = (-(2**63), 2**64 - 1)


def unconvertible(obj: Any) -> str | None:
    """What in ``obj`` the CEL runtime cannot hold, and where, in the runtime's words, or None.

    The runtime refuses such a value (an integer beyond 64 bits, a set, a tuple, a date, a map key that
    is not a string, integer or boolean) with a message that quotes every value enclosing it: its size
    is the object's size times its depth, gigabytes for a few megabytes of hostile manifest. Found here
    first, in one pass, such an object is never handed to the runtime (``"Non-CEL value type set at
    spec.x"``). Unknown markers are not values to convert: the unknown machinery handles them.
    """
    stack: list[Any] = [obj]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is dict:
            for key in value:
                if not (type(key) in _CEL_KEYS or (type(key) is int and CEL_INT_RANGE[0] <= key <= CEL_INT_RANGE[1])):
                    return _refusal(obj, value, f"Invalid map key type {type(key).__name__}")
            stack.extend(value.values())
        elif kind is list:
            stack.extend(value)
        elif kind is int:
            if not CEL_INT_RANGE[0] <= value <= CEL_INT_RANGE[1]:
                return _refusal(obj, value, "Integer value out of the 64-bit range")
        elif kind not in _CEL_SCALARS and not is_unknown(value):
            return _refusal(obj, value, f"Non-CEL value type {kind.__name__}")
    return None


def _refusal(obj: Any, bad: Any, what: str) -> str:
    """``what`` at the path of ``bad`` in ``obj`` (list indices dropped), found with a second walk."""
    stack: list[tuple[Any, Path]] = [(obj, ())]
    while stack:
        value, path = stack.pop()
        if value is bad:
            return f"{what} at {'.'.join(path) or '(the object)'}"
        if type(value) is dict:
            stack.extend((v, (*path, str(k)[:40])) for k, v in value.items())
        elif type(value) is list:
            stack.extend((v, path) for v in value)
    return what


def unknown_hits(unknown: Iterable[Path], referenced: Iterable[Path], presence: Iterable[Path] = ()) -> list[str]:
    """The unknown paths that an expression reading ``referenced`` (and testing ``presence``) depends on."""
    hits = []
    refs = list(referenced)
    tests = list(presence)
    for u in unknown:
        value = any(u[: min(len(u), len(r))] == r[: min(len(u), len(r))] for r in refs)
        if value or any(len(u) <= len(p) and p[: len(u)] == u for p in tests):
            hits.append(".".join(u) or "(whole object)")
    return hits
