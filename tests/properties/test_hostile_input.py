"""Hostile input, property-tested: the intent loader, the evaluator and the pack, manifests and state.

Each reader of untrusted input has one contract: a result, or its own error type with a message that
says where (a field path, a file and position), within bounded time and memory; never another
exception, never a traceback through the CLI. The evaluator's contract is soundness: an object with
an unknown value is never judged ``pass`` (or ``fail``) unless every concrete value the unknown could
turn out to be gives the same verdict.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gzip
import io
import json
import math
import random
import re
import reprlib
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, event, example, given, settings
from hypothesis import strategies as st
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from baseline import cli
from baseline.audit.sources import SourceError, read_manifests, read_state
from baseline.cel import find_unknown_paths
from baseline.evaluator import Evaluator, Finding, Subject, intent_params
from baseline.intent import Intent
from baseline.loader import IntentError, intent_from_config, intent_from_mapping, load_intent
from policy_packs.factory import PackSetup, build_policies, setup_from_stack_config, unwrap
from tests.properties.strategies import (
    CATALOG,
    FIELD_NAMES,
    GENERIC_VALUES,
    LEAF_VALUES,
    SENTINELS,
    Item,
    examples,
    get_at,
    has_path,
    hostile_values,
    node_paths,
    random_items,
    replace_sentinels,
    sentinel_paths,
    set_at,
    stack_intent_mapping,
    unknown_items,
)

REPO = Path(__file__).resolve().parents[2]
STATE_FIXTURES = sorted((REPO / "tests" / "fixtures" / "state").glob("*.json.gz"))

#: CPU seconds (this process's, so a busy machine does not count): generous for a slow CI machine;
#: the slowest input here (an intent nested until PyYAML's recursion gives up) takes about 0.7 s.
SECONDS = 5.0


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A fresh directory per example (hypothesis and function-scoped ``tmp_path`` do not mix)."""
    with tempfile.TemporaryDirectory(prefix="fleet-baseline-prop-") as d:
        yield Path(d)


@contextlib.contextmanager
def within(seconds: float = SECONDS) -> Iterator[None]:
    """The block's CPU time is under ``seconds``: a hang guard, not a speed target. Not judged while
    a tracer runs (hypothesis traces a failing example to explain it, coverage tools trace every
    line): a deeply nested input then costs the tracer 50 times what it costs the reader (36 CPU
    seconds once, in the long run, for what takes 0.7)."""
    traced = sys.gettrace() is not None
    start = time.process_time()
    yield
    took = time.process_time() - start
    if not (traced or sys.gettrace() is not None):
        assert took < seconds, f"took {took:.1f} CPU seconds (limit {seconds})"


# =========================================================================== the intent loader

BASES = {cloud: stack_intent_mapping(cloud) for cloud in ("eks", "gke", "aks")}

#: Problems about the file as a whole (no field to name): the only ones without a path.
WHOLE_DOCUMENT = ("not valid YAML", "expected a mapping", "cannot read", "file is ", "not UTF-8")

TYPE_SWAPS: tuple[Any, ...] = (
    None,
    [],
    {},
    "",
    "text",
    [1, 2],
    {"x": 1},
    True,
    0,
    -1,
    0.5,
    2**31,
    2**63,
    10**100,
    -(10**100),
    1e308,
    math.inf,
    -math.inf,
    math.nan,
)

TEXT_INSERTS = (
    "!!python/object/apply:os.system ['true']",
    "!!binary AAAA",
    "!!set {a, b}",
    "? [a, b]\n: c\n",
    "? {a: b}\n: c\n",
    "&anchor ",
    "*nowhere",
    "<<: *nowhere\n",
    "{",
    "]",
    "\t",
    "%YAML 1.1\n---\n",
    "---\n",
    "...\n",
    "\x00",
    "\ufeff",
    "\ud7ff\ue000\U0010ffff",
    "2038-01-19T03:14:08Z",
    "0x7fffffffffffffff",
    "1_000",
    "0o777",
    ".nan",
    "-.inf",
)


def _typo(key: str, draw: st.DrawFn) -> str:
    if not key:
        return "x"
    i = draw(st.integers(0, len(key) - 1))
    op = draw(st.sampled_from(["drop", "double", "swap", "upper", "snake", "plural", "space"]))
    if op == "drop":
        return key[:i] + key[i + 1 :] or "k"
    if op == "double":
        return key[:i] + key[i] + key[i:]
    if op == "swap" and len(key) > 1:
        j = min(i + 1, len(key) - 1)
        chars = list(key)
        chars[i], chars[j] = chars[j], chars[i]
        return "".join(chars)
    if op == "upper":
        return key[:1].upper() + key[1:]
    if op == "snake":
        return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key)
    if op == "space":
        return f" {key}"
    return key + "s"


def _mutate_tree(doc: Any, draw: st.DrawFn) -> Any:
    paths = node_paths(doc)
    op = draw(st.sampled_from(["delete", "rename", "swap", "swap", "huge", "unicode", "number", "nest", "wrap"]))
    path = draw(st.sampled_from(paths))
    node = get_at(doc, path) if path else doc
    if op == "delete" and path:
        parent = get_at(doc, path[:-1])
        del parent[path[-1]]
        return doc
    if op == "rename" and path and isinstance(path[-1], str):
        parent = get_at(doc, path[:-1])
        new_key: Any = _typo(path[-1], draw) if draw(st.booleans()) else draw(st.text(min_size=1, max_size=8))
        parent[new_key] = parent.pop(path[-1])
        return doc
    if op == "swap":
        new: Any = draw(st.sampled_from(TYPE_SWAPS))
    elif op == "huge":
        new = draw(st.sampled_from(["a", "\u00e9", "-"])) * draw(st.sampled_from([10_000, 300_000]))
    elif op == "unicode":
        new = draw(st.text(min_size=1, max_size=30))
    elif op == "number":
        new = draw(st.one_of(st.integers(), st.floats(), st.sampled_from([2**64, -(2**63), 10**40])))
    elif op == "nest":
        new = node
        for _ in range(draw(st.integers(1, 120))):
            new = [new] if draw(st.booleans()) else {"k": new}
    else:  # a scalar where a list is expected and the other way round
        new = [node] if not isinstance(node, list) else (node[0] if node else {})
    return set_at(doc, path, new)


def _mutate_text(text: str, draw: st.DrawFn) -> str:
    op = draw(st.sampled_from(["dup-key", "dup-key", "deep", "bigint", "bomb", "truncate", "insert", "junk"]))
    if op == "dup-key":
        lines = text.split("\n")
        candidates = [i for i, line in enumerate(lines) if re.match(r"^\s*(- )?[A-Za-z][\w-]*:", line)]
        if candidates:
            i = draw(st.sampled_from(candidates))
            line = lines[i].replace("- ", "  ", 1) if lines[i].lstrip().startswith("- ") else lines[i]
            lines.insert(i + 1, line)
        return "\n".join(lines)
    if op == "deep":
        n = draw(st.sampled_from([50, 500, 5_000, 50_000]))
        opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
        return text + f"\nzdeep: {opener * n}{closer * n}\n"
    if op == "bigint":
        digits = "9" * draw(st.sampled_from([19, 400, 4_301, 20_000]))
        return re.sub(r"\b(\d+)\b", digits, text, count=1) if draw(st.booleans()) else text + f"\nzbig: {digits}\n"
    if op == "bomb":
        levels = draw(st.integers(2, 9))
        lines = ["z0: &z0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        lines += [f"z{i}: &z{i} [{', '.join([f'*z{i - 1}'] * 9)}]" for i in range(1, levels)]
        return text + "\n" + "\n".join(lines) + "\n"
    if op == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    at = draw(st.integers(0, len(text)))
    junk = draw(st.sampled_from(TEXT_INSERTS)) if op == "insert" else draw(st.text(max_size=10))
    return text[:at] + junk + text[at:]


@st.composite
def intent_files(draw: st.DrawFn) -> bytes:
    """The prod intent plus a cluster block, mutated as trees and as text, sometimes as bytes."""
    doc = copy.deepcopy(BASES[draw(st.sampled_from(sorted(BASES)))])
    for _ in range(draw(st.integers(0, 3))):
        doc = _mutate_tree(doc, draw)
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    for _ in range(draw(st.integers(0 if doc != BASES["eks"] else 1, 2))):
        text = _mutate_text(text, draw)
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return data


def _assert_problems_name_paths(exc: IntentError) -> None:
    assert exc.problems, "an IntentError with no problem"
    for problem in exc.problems:
        assert isinstance(problem.path, str) and isinstance(problem.message, str) and problem.message
        assert problem.path or problem.message.startswith(WHOLE_DOCUMENT), f"no path: {problem!r}"
    text = str(exc)
    assert "Traceback" not in text


def _load(path: Path) -> Intent | IntentError:
    with within():
        try:
            return load_intent(path)
        except IntentError as exc:
            _assert_problems_name_paths(exc)
            return exc


def _plan(stacks_dir: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with within():
        code = cli.main(["plan", "--stack", "fuzz", "--stacks-dir", str(stacks_dir)], out=out, err=err)
    return code, err.getvalue()


@given(intent_files())
@example(b"baselineVersion: 1.0.0\ncluster: {name: a}\nzbig: " + b"9" * 5000 + b"\n")
@example(b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n")
@example(b"? [a, b]\n: c\n")
@example(b"baselineVersion: \xff\n")
def test_intent_loader_returns_an_intent_or_names_every_bad_path(data: bytes) -> None:
    with scratch() as d:
        (d / "intent.yaml").write_bytes(data)
        (d / "Pulumi.fuzz.yaml").write_text("config:\n  fleet-baseline:intentFile: intent.yaml\n")
        loaded = _load(d / "intent.yaml")
        # the stack-config path (what plan and the program use) agrees with the file loader
        try:
            with within():
                via_config: Intent | IntentError = intent_from_config({"intentFile": "intent.yaml"}, base_dir=d)
        except IntentError as exc:
            _assert_problems_name_paths(exc)
            via_config = exc
        assert isinstance(via_config, IntentError) == isinstance(loaded, IntentError)
        # the pack starts whatever the stack's intent: without one, and saying why, when it is bad
        setup = setup_from_stack_config({"intentFile": "intent.yaml"}, d, CATALOG)
        assert (setup.intent_problem is None) == isinstance(loaded, Intent), setup.intent_problem
        if isinstance(loaded, Intent):
            return  # a valid intent would start the pack: plan's happy path is tested elsewhere
        code, err = _plan(d)
        assert code == cli.EXIT_BAD_INPUT, err
        assert err.startswith("error: invalid intent in "), err[:500]
        assert "Traceback" not in err
        for problem in loaded.problems:
            assert problem.path in err


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode), intent_files()))
def test_a_hostile_stack_file_is_bad_input_not_a_crash(data: bytes) -> None:
    with scratch() as d:
        (d / "Pulumi.fuzz.yaml").write_bytes(data)
        code, err = _plan(d)
        assert code == cli.EXIT_BAD_INPUT, err
        assert err.startswith("error: ") and "Traceback" not in err


@given(st.dictionaries(st.text(max_size=10), hostile_values, max_size=6), st.sampled_from(sorted(BASES)))
def test_intent_mappings_with_hostile_values(extra: dict[str, Any], cloud: str) -> None:
    """Straight from a mapping (the pack's inline ``fleet-baseline:intent``): hostile values anywhere."""
    doc = copy.deepcopy(BASES[cloud])
    for key, value in extra.items():
        target = doc
        if key and key[0] in "hnwa" and isinstance(doc.get("hardening"), dict):
            target = doc["hardening"]
        target[key] = value
    with within():
        try:
            intent_from_mapping(doc)
        except IntentError as exc:
            _assert_problems_name_paths(exc)


# =========================================================================== the evaluator

PROD = intent_from_config(
    {"intentFile": "intents/prod.yaml", "intent": BASES["eks"] | {"exceptions": []}}, base_dir=REPO / "stacks"
)
#: No exceptions: an excepted finding would hide the verdict the oracle compares.
EVALUATOR = Evaluator(CATALOG, params=intent_params(PROD, CATALOG), system_namespaces=PROD.system_namespaces)

Verdicts = dict[tuple[Any, ...], Finding]


def _subjects(items: Sequence[Item]) -> list[Subject]:
    return [
        Subject(props, type=typ, name=f"r{i}", urn=f"urn:pulumi:s::p::{typ or 'k8s'}::r{i}")
        for i, (props, typ) in enumerate(items)
    ]


def _judge(items: Sequence[Item], evaluator: Evaluator = EVALUATOR) -> Verdicts:
    """Every finding, keyed by what it judges: (subject, control, n-th finding of that control)."""
    subjects = _subjects(items)
    out: Verdicts = {}
    for i, s in enumerate(subjects):
        seen: Counter[str] = Counter()
        for f in evaluator.evaluate(s):
            out[("object", i, f.control_id, seen[f.control_id])] = f
            seen[f.control_id] += 1
    seen_stack: Counter[tuple[str, str]] = Counter()
    for f in evaluator.evaluate_stack(subjects):
        key = (f.subject, f.control_id)
        out[("stack", *key, seen_stack[key])] = f
        seen_stack[key] += 1
    return out


def _check_findings(verdicts: Verdicts) -> None:
    for f in verdicts.values():
        assert f.status in {"pass", "fail", "unknown", "excepted"}
        if f.status == "unknown":
            assert f.unknown or f.detail, f
        # what a finding says is bounded, whatever the object: the runtime's refusals once quoted
        # every enclosing value (gigabytes of detail for megabytes of object)
        assert len(f.detail or "") < 10_000 and len(f.message) < 10_000, (f.control_id, len(f.detail or ""))


@given(st.lists(random_items(), min_size=1, max_size=4))
def test_evaluator_never_raises_on_random_property_bags(items: list[Item]) -> None:
    with within():
        _check_findings(_judge(items))


def _candidates(original: Sequence[Item], index: int, path: tuple[Any, ...]) -> list[Any]:
    """Concrete values an unknown at ``path`` of item ``index`` could be: what the example had there,
    values of every shape, and the examples' own leaves."""
    out: list[Any] = []
    if index < len(original) and has_path(original[index][0], path):
        value = get_at(original[index][0], path)
        if not sentinel_paths(value):
            out.append(copy.deepcopy(value))
    return out


def _substitute(items: Sequence[Item], choose: Callable[[int, tuple[Any, ...]], Any]) -> list[Item]:
    return [(replace_sentinels(props, functools.partial(choose, i)), typ) for i, (props, typ) in enumerate(items)]


@settings(max_examples=examples(100, cap=10_000))
@given(unknown_items(), st.randoms(use_true_random=False))
def test_evaluator_is_sound_on_unknowns(drawn: tuple[list[Item], list[Item]], rnd: random.Random) -> None:
    """A pass or fail on an object holding unknowns holds for every value the unknowns could take."""
    original, items = drawn
    positions = [(i, p) for i, (props, _) in enumerate(items) for p in sentinel_paths(props)]
    claimed = _judge(items)
    _check_findings(claimed)
    decided = {k: f.status for k, f in claimed.items() if f.status in {"pass", "fail"}}
    event(f"unknowns: {'none' if not positions else '1' if len(positions) == 1 else 'many'}")
    event(f"verdicts beside unknowns: {'none' if not decided else 'some'}")
    if not positions or not decided:
        return
    # every unknown the same value of each shape, what the example had there, then random mixes
    assignments: list[Choose] = [_everywhere(v) for v in EVERYWHERE]
    assignments.append(lambda i, p: (_candidates(original, i, p) or [None])[0])
    assignments += [_mixed(original, rnd.random()) for _ in range(4)]
    for choose in assignments:
        concrete = _substitute(items, choose)
        verdicts = _judge(concrete)
        for key, status in decided.items():
            if key in verdicts:  # a substitution can change what applies (a system namespace): not a verdict
                got = verdicts[key].status
                assert got == status, (
                    f"{key}: said {status!r} with unknowns at {[f'{i}:{p}' for i, p in positions][:10]},"
                    f" but {got!r} once they are known: {BRIEF.repr(concrete)}"
                )


Choose = Callable[[int, tuple[Any, ...]], Any]
BRIEF = reprlib.Repr()  # a failure message shows the object's shape, not megabytes of it
BRIEF.maxstring, BRIEF.maxother, BRIEF.maxlevel, BRIEF.maxdict, BRIEF.maxlist = 200, 200, 12, 30, 30
POOL: tuple[Any, ...] = (*GENERIC_VALUES, *LEAF_VALUES)
EVERYWHERE: tuple[Any, ...] = (True, False, None, "", {}, [], "x")


def _everywhere(value: Any) -> Choose:
    return lambda i, p: copy.deepcopy(value)


def _mixed(original: Sequence[Item], seed: float) -> Choose:
    """Each unknown its own value, what the example had there or any from the pool (reproducibly)."""

    def choose(i: int, p: tuple[Any, ...]) -> Any:
        local = random.Random(f"{seed}:{i}:{p!r}")
        options = [*_candidates(original, i, p), *POOL]
        return copy.deepcopy(options[local.randrange(len(options))])

    return choose


# --------------------------------------------------------------------------- the pack's validate

SETUP = PackSetup.from_intent(PROD.model_copy(update={"exceptions": []}), CATALOG, source="test")
PREVIEW_POLICIES = {p.name: p for p in build_policies(setup=SETUP, is_preview=lambda: True)}
UP_POLICIES = {p.name: p for p in build_policies(setup=SETUP, is_preview=lambda: False)}
PACK_EVALUATOR = Evaluator(
    CATALOG, params=SETUP.params, modes={}, exceptions=(), system_namespaces=SETUP.system_namespaces
)
OPTS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _report() -> tuple[list[str], Any]:
    reported: list[str] = []
    return reported, lambda message, urn=None: reported.append(message)


def _control_of(policy_name: str) -> Any:
    return CATALOG.by_policy_name(policy_name.removesuffix("-stack")) or CATALOG.by_policy_name(policy_name)


@given(st.one_of(random_items(), unknown_items(max_mutations=2).map(lambda d: d[1][0])))
def test_pack_validate_fails_closed_and_raises_only_unknown_at_preview(item: Item) -> None:
    raw, typ = item
    assume(isinstance(raw, dict))
    props = unwrap(unknown_checking_proxy(copy.deepcopy(raw)))  # what validate sees: the engine's shapes
    subject = Subject(props, type=typ or "kubernetes:core/v1:Pod", name="r", urn="urn:pulumi:s::p::t::r")
    findings = PACK_EVALUATOR.evaluate(subject)
    for control_id in sorted({f.control_id for f in findings}):
        name = CATALOG[control_id].policy_name
        ours = [f for f in findings if f.control_id == control_id]
        for preview, policies in ((True, PREVIEW_POLICIES), (False, UP_POLICIES)):
            policy = policies[name]
            assert isinstance(policy, ResourceValidationPolicy)
            args = ResourceValidationArgs(
                subject.type or "", unknown_checking_proxy(copy.deepcopy(raw)), subject.urn or "", "r", OPTS, None, {}
            )
            reported, report = _report()
            raised = False
            try:
                policy.validate(args, report)
            except UnknownValueError:
                raised = True
            undecided = [f for f in ours if f.status == "unknown" and f.unknown]
            blocking = [f for f in ours if f.status == "fail" or (f.status == "unknown" and not f.unknown)]
            if preview:
                assert raised == bool(undecided), (ours, reported)
                assert len(reported) == len(blocking), (ours, reported)
            else:
                assert not raised
                assert len(reported) == len(blocking) + len(undecided), (ours, reported)  # fails closed


@given(unknown_items(max_mutations=3))
def test_stack_policies_never_raise_but_unknown_at_preview(drawn: tuple[list[Item], list[Item]]) -> None:
    _, raw = drawn
    items = [(unwrap(unknown_checking_proxy(copy.deepcopy(props))), typ) for props, typ in raw]
    subjects = _subjects(items)
    resources = [
        PolicyResource(
            s.type or "kubernetes:core/v1:Pod",
            unknown_checking_proxy(copy.deepcopy(props)),
            s.urn or "",
            s.name or "",
            OPTS,
            None,
            None,
            [],
            {},
        )
        for s, (props, _) in zip(subjects, raw, strict=True)
    ]
    findings = PACK_EVALUATOR.evaluate_stack(subjects)
    for control_id in sorted({f.control_id for f in findings}):
        ours = [f for f in findings if f.control_id == control_id]
        for preview, policies in ((True, PREVIEW_POLICIES), (False, UP_POLICIES)):
            (policy,) = [
                p
                for n, p in policies.items()
                if isinstance(p, StackValidationPolicy) and _control_of(n).id == control_id
            ]
            reported, report = _report()
            try:
                policy.validate(StackValidationArgs(resources), report)
                raised = False
            except UnknownValueError:
                raised = True
            undecided = [f for f in ours if f.status == "unknown" and f.unknown]
            blocking = [f for f in ours if f.status == "fail" or (f.status == "unknown" and not f.unknown)]
            assert raised == (preview and bool(undecided))
            assert len(reported) == len(blocking) + (0 if preview else len(undecided))


# =========================================================================== manifests and state exports

EXAMPLE_FILES = sorted(p for p in (REPO / "baseline" / "controls").glob("*/examples/*/*.yaml"))
MANIFEST_TEXTS = tuple(p.read_text() for p in EXAMPLE_FILES if "apiVersion:" in p.read_text())

#: JSON-shaped hostile values (a state export is JSON): huge numbers, NaN, deep nesting, unknowns.
json_values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([10**40, -(2**63), 2**64]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from(SENTINELS),
        st.sampled_from([v for v in LEAF_VALUES if isinstance(v, str | int | float | bool)]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)), children, max_size=4),
    ),
    max_leaves=10,
)


def _bomb(fanout: int, levels: int) -> str:
    row = ", ".join(["lol"] * fanout)
    lines = [f"a0: &a0 [{row}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fanout)}]" for i in range(1, levels)]
    head = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n"
    return head + "\n".join(f"  {x}" for x in lines) + "\n"


def _deep(depth: int, flow: bool) -> str:
    """A document nested ``depth`` levels: flow style, or block style (indented, so its size grows as
    the square of the depth: past 5,000 levels it is written in flow style, or the test itself would
    need gigabytes to write it; found by the long run)."""
    if flow or depth > 5_000:
        return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata: " + "[" * depth + "]" * depth + "\n"
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata:\n" + "".join(
        f"{'  ' * (i + 1)}k:\n" for i in range(depth)
    )


@st.composite
def manifest_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """(suffix, content): random bytes and text, or the catalog's example manifests mutated."""
    source = draw(st.sampled_from(["bytes", "text", "yaml", "yaml", "yaml", "json", "json"]))
    if source == "bytes":
        return draw(st.sampled_from([".yaml", ".json"])), draw(st.binary(max_size=2000))
    if source == "text":
        return draw(st.sampled_from([".yaml", ".json"])), draw(st.text(max_size=500)).encode("utf-8", "surrogatepass")
    text = draw(st.sampled_from(MANIFEST_TEXTS))
    suffix = ".yaml"
    if source == "json":
        suffix = ".json"
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
        text = "\n".join(json.dumps(d, default=str, indent=draw(st.sampled_from([None, 2]))) for d in docs)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["truncate", "insert", "dup-key", "deep", "bomb", "line", "bigint", "docs", "bytes"]))
        if op == "truncate":
            text = text[: draw(st.integers(0, len(text)))]
        elif op == "insert":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.one_of(st.sampled_from(TEXT_INSERTS), st.text(max_size=10))) + text[at:]
        elif op == "dup-key":
            text = (
                text.replace("{", '{"kind": "Secret", ', 1)
                if suffix == ".json"
                else re.sub(r"^(\w+:.*)$", r"\1\n\1", text, count=1, flags=re.M)
            )
        elif op == "deep":
            depth = draw(st.sampled_from([100, 127, 128, 129, 200, 5_000, 100_000]))
            text += "\n" + (
                '{"apiVersion": "v1", "kind": "ConfigMap", "data": ' + "[" * depth + "]" * depth + "}"
                if suffix == ".json"
                else "---\n" + _deep(depth, draw(st.booleans()))
            )
        elif op == "bomb" and suffix == ".yaml":
            text += "\n---\n" + _bomb(draw(st.integers(2, 12)), draw(st.integers(2, 12)))
        elif op == "line":
            size = draw(st.sampled_from([100_000, 2_000_000]))
            text += (
                "\n" + json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "data": {"x": "y" * size}})
                if suffix == ".json"
                else f"\n---\napiVersion: v1\nkind: ConfigMap\ndata: {{x: {'y' * size}}}\n"
            )
        elif op == "bigint":
            text = re.sub(r"\b\d+\b", "9" * draw(st.sampled_from([20, 4_301, 10_000])), text, count=1)
        elif op == "docs" and suffix == ".yaml":
            text = "---\n".join([text] * draw(st.integers(2, 4)))
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(BAD_BYTES)) + data[at:]
    return suffix, data


#: Not UTF-8 (a lone byte, a truncated sequence, an encoded surrogate), a NUL, a BOM in the middle.
BAD_BYTES = (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xef\xbb\xbf")
_WHERE = re.compile(r"(document \d+|byte \d+|bytes is over|limit for one file)")


@given(manifest_files())
@example((".yaml", b"apiVersion: v1\nkind: ConfigMap\ndata: {a: " + b"9" * 5000 + b"}\n"))
@example((".yaml", b"apiVersion: v1\nkind: ConfigMap\ndata: {a: !!int abc}\n"))
def test_manifests_read_or_refused_with_file_and_position(file: tuple[str, bytes]) -> None:
    suffix, data = file
    with scratch() as d:
        path = d / f"m{suffix}"
        path.write_bytes(data)
        with within():
            try:
                snap = read_manifests([path])
            except SourceError as exc:
                message = str(exc)
                assert message.startswith(f"{path}: "), message[:300]
                assert _WHERE.search(message), message[:300]
                return
        with within():  # whatever was read is judged without an exception
            _check_findings({(i,): f for i, f in enumerate(EVALUATOR.evaluate_all(snap.subjects))})


@given(st.sampled_from(MANIFEST_TEXTS), st.data())
def test_a_duplicated_key_in_a_manifest_is_refused(text: str, data: st.DataObject) -> None:
    """Kubernetes refuses a manifest with a key twice; the audit must not judge one of the two."""
    docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    assume(docs)
    doc = data.draw(st.sampled_from(docs))
    holders = [p for p in node_paths(doc) if isinstance(get_at(doc, p), dict) and get_at(doc, p)]
    holder = data.draw(st.sampled_from(holders))
    key = data.draw(st.sampled_from(sorted(map(str, get_at(doc, holder)))))
    body = json.dumps(doc)
    as_json = data.draw(st.booleans())
    # the same key written twice in one mapping: JSON text (also YAML flow), the second value different
    needle = json.dumps(get_at(doc, holder))
    assume(body.count(needle) == 1)
    twice = needle[:-1] + f", {json.dumps(key)}: {json.dumps('other')}" + "}"
    with scratch() as d:
        path = d / ("m.json" if as_json else "m.yaml")
        path.write_text(body.replace(needle, twice))
        with pytest.raises(SourceError, match="duplicate key") as info:
            read_manifests([path])
        assert str(info.value).startswith(f"{path}: document 1")


STATE_TEXTS = tuple(gzip.decompress(p.read_bytes()).decode() for p in STATE_FIXTURES)
SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG, RESOURCE_SIG, OUTPUT_SIG = (
    "1b47061264138c4ac30d75fd1eb44270",
    "5cf8f73096256a8f31e491e813e4eb8e",
    "d0e6a833031e9bbcd3f4e8bde6ca49a4",
)


@st.composite
def secret_values(draw: st.DrawFn) -> Any:
    """What an export holds where a value is secret, a resource reference or an output: well formed or not."""
    plaintext = draw(
        st.one_of(
            json_values.map(json.dumps),
            st.text(max_size=20),
            st.sampled_from(["[" * 200 + "]" * 200, "[" * 5000 + "]" * 5000, "9" * 5000, "{", ""]),
            st.integers(),
        )
    )
    return draw(
        st.sampled_from(
            [
                {SIG: SECRET_SIG, "plaintext": plaintext},
                {SIG: SECRET_SIG, "ciphertext": "v1:abc"},
                {SIG: SECRET_SIG, "value": plaintext},
                {SIG: RESOURCE_SIG, "urn": plaintext},
                {SIG: RESOURCE_SIG, "id": "i-1"},
                {SIG: OUTPUT_SIG},
                {SIG: OUTPUT_SIG, "value": plaintext},
            ]
        )
    )


def _one_resource(outputs: dict[str, Any], type_: str = "aws:x/y:Z") -> bytes:
    resource = {"urn": f"urn:pulumi:s::p::{type_}::n", "type": type_, "custom": True, "outputs": outputs}
    return json.dumps({"version": 3, "deployment": {"resources": [resource]}}).encode()


@st.composite
def state_files(draw: st.DrawFn) -> bytes:
    """A committed state export, mutated as a document and as text and bytes, gzipped or not."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=2000))
    doc = json.loads(draw(st.sampled_from(STATE_TEXTS)))
    resources = doc["deployment"]["resources"]
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["resource", "field", "type", "secret", "top", "drop"]))
        i = draw(st.integers(0, len(resources) - 1))
        res = resources[i]
        if op == "resource":
            resources[i] = draw(json_values)
        elif op == "field" and isinstance(res, dict) and len(node_paths(res)) > 1:  # a resource emptied has none
            paths = node_paths(res)[1:]
            set_at(res, draw(st.sampled_from(paths)), draw(json_values))
        elif op == "type" and isinstance(res, dict):
            res["type"] = draw(
                st.one_of(
                    st.sampled_from(["kubernetes:x", "kubernetes:", "kubernetes", "", "pulumi:providers:", "::"]),
                    st.text(max_size=20),
                    st.sampled_from(SENTINELS),
                )
            )
        elif op == "secret" and isinstance(res, dict):
            holders = [p for p in node_paths(res) if isinstance(get_at(res, p), dict)]
            get_at(res, draw(st.sampled_from(holders)))[draw(st.sampled_from(FIELD_NAMES))] = draw(secret_values())
        elif op == "top":
            key = draw(st.sampled_from(["version", "deployment", "checkpoint"]))
            doc[key] = draw(json_values)
        elif op == "drop" and isinstance(res, dict):
            res.pop(draw(st.sampled_from(sorted(res) or ["urn"])), None)
    text = json.dumps(doc, indent=draw(st.sampled_from([None, 4])))
    for _ in range(draw(st.integers(0, 2))):
        op = draw(st.sampled_from(["truncate", "insert", "bigint", "deep", "dup-key"]))
        at = draw(st.integers(0, len(text)))
        if op == "truncate":
            text = text[:at]
        elif op == "insert":
            junk = draw(st.one_of(st.text(max_size=6), st.sampled_from(["{", "]", '"', "\\", ","])))
            text = text[:at] + junk + text[at:]
        elif op == "bigint":
            text = re.sub(r"(?<=: )\d+\b", "9" * draw(st.sampled_from([4_301, 10_000])), text, count=1)
        elif op == "deep":
            depth = draw(st.sampled_from([129, 500, 5_000, 100_000]))
            text = text.replace('"outputs": {', '"outputs": {"deep": ' + "[" * depth + "]" * depth + ", ", 1)
        else:
            text = text.replace('"outputs": {', '"outputs": {"name": "shadow", ', 1)
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(BAD_BYTES)) + data[at:]
    if draw(st.booleans()):
        data = gzip.compress(data, compresslevel=1, mtime=0)
        if draw(st.integers(0, 3)) == 0:  # a damaged archive: cut short, or one byte flipped
            at = draw(st.integers(0, len(data) - 1))
            data = data[:at] if draw(st.booleans()) else data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
    return data


@given(state_files())
@example(_one_resource({"a": 1}).replace(b'"a": 1', b'"a": ' + b"9" * 5000))
@example(_one_resource({"a": 1}, "kubernetes:x"))
@example(_one_resource({"a": {SIG: SECRET_SIG, "plaintext": "[" * 900 + "]" * 900}}))
def test_state_exports_read_or_refused_with_file_and_position(data: bytes) -> None:
    with scratch() as d:
        path = d / "state.json"
        path.write_bytes(data)
        with within():
            try:
                snap = read_state(path)
            except SourceError as exc:
                message = str(exc)
                assert message.startswith(f"{path}: "), message[:300]
                assert "\n" not in message and len(message) < 2000, message[:300]
                return
        for s in snap.subjects:  # what is judged is bounded like what was read
            assert not any(p and p[-1] == "<too deep>" for p in find_unknown_paths(s.props)), s.ref
        with within():
            _check_findings({(i,): f for i, f in enumerate(EVALUATOR.evaluate_all(snap.subjects))})


# --------------------------------------------------------------------------- bounded memory and time


def _peak(read: Any) -> tuple[int, float]:
    tracemalloc.start()
    start = time.process_time()
    try:
        read()
    except SourceError:
        pass
    finally:
        took = time.process_time() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, took


@settings(max_examples=examples(12, cap=500))
@given(st.integers(2, 40), st.integers(2, 12))
def test_alias_bombs_are_refused_in_bounded_memory(fanout: int, levels: int) -> None:
    """Whatever its shape, a document expanding past the node cap is refused before it is built."""
    with scratch() as d:
        path = d / "bomb.yaml"
        text = _bomb(fanout, levels)
        path.write_text(text)
        expanded = sum(fanout**i for i in range(1, levels + 1))
        peak, took = _peak(lambda: read_manifests([path]))
        assert took < SECONDS
        assert peak < 64 * 1024 * 1024 + (200 * expanded if expanded < 1_000_000 else 0), (expanded, peak)


@settings(max_examples=6)
@given(st.sampled_from([1_000_000, 4_000_000]), st.sampled_from([".yaml", ".json", "state"]))
def test_a_huge_single_line_is_read_in_bounded_memory(size: int, kind: str) -> None:
    with scratch() as d:
        if kind == "state":
            path = d / "state.json"
            path.write_bytes(_one_resource({"x": "y" * size}))
            peak, took = _peak(lambda: read_state(path))
        else:
            path = d / f"line{kind}"
            obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"x": "y" * size}}
            path.write_text(json.dumps(obj))  # JSON is YAML: one line either way
            peak, took = _peak(lambda: read_manifests([path]))
        assert took < 2 * SECONDS
        assert peak < 12 * size + 16 * 1024 * 1024, peak
