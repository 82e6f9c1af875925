"""The CEL layer: compilation, verdicts, the paths an expression reads, unknown detection."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baseline.cel import (
    UNKNOWN_SENTINELS,
    CelCompileError,
    compile_check,
    find_unknown_paths,
    is_unknown,
    referenced_paths,
    unknown_hits,
)


def test_sentinels_are_the_engines() -> None:
    from pulumi.runtime import rpc

    sdk = {getattr(rpc, n) for n in dir(rpc) if n.startswith("UNKNOWN") and isinstance(getattr(rpc, n), str)}
    sdk.discard("")
    assert sdk <= UNKNOWN_SENTINELS
    from pulumi_policy import proxy

    policy_sdk = {getattr(proxy, n) for n in dir(proxy) if n.startswith("UNKNOWN_") and n.endswith("_VALUE")}
    assert policy_sdk == UNKNOWN_SENTINELS


def test_compile_error_names_the_place() -> None:
    with pytest.raises(CelCompileError, match="CL-99 target 0"):
        compile_check("object.a ==", where="CL-99 target 0")


def test_verdicts_and_errors() -> None:
    check = compile_check("object.a.b == 1")
    params = {"variables": {"params": {}}}
    assert check.run({"object": {"a": {"b": 1}}, **params}) == (True, None)
    assert check.run({"object": {"a": {"b": 2}}, **params}) == (False, None)
    verdict, error = check.run({"object": {"a": {}}, **params})
    assert verdict is None and error and "b" in error
    not_bool = compile_check("object.a")
    verdict, error = not_bool.run({"object": {"a": "x"}, **params})
    assert verdict is None and "not bool" in (error or "")


def test_variables_are_evaluated_in_order_and_visible() -> None:
    check = compile_check(
        "variables.doubled == 4 && variables.params.k == 'v'",
        [("base", "object.n"), ("doubled", "variables.base * 2")],
    )
    assert check.run({"object": {"n": 2}, "variables": {"params": {"k": "v"}}}) == (True, None)
    verdict, error = check.run({"object": {}, "variables": {"params": {"k": "v"}}})
    assert verdict is None and error and "n" in error


def test_inlining_respects_identifier_boundaries() -> None:
    from baseline.cel import inline_variables

    text = inline_variables(
        "variables.spec2.x && variables.spec.y && variables.params.z",
        [("spec", "object.spec"), ("spec2", "variables.spec.template")],
    )
    assert text == "((object.spec).template).x && (object.spec).y && variables.params.z"


def test_each_variable_must_compile_on_its_own() -> None:
    with pytest.raises(CelCompileError, match="variable broken"):
        compile_check("true", [("broken", "object.a ==")], where="X")


def test_referenced_paths_follow_fields_and_stop_at_methods() -> None:
    expr = (
        "has(object.spec.hostPID) && object.spec.containers.all(c, c.image.startsWith('r/')) && "
        "object.metadata.labels['pod-security.kubernetes.io/enforce'] == 'restricted' && "
        "variables.params.x == 1"
    )
    assert referenced_paths(expr) == {  # has(object.spec.hostPID) only tests presence: see read_paths
        ("spec", "containers"),
        ("metadata", "labels", "pod-security.kubernetes.io/enforce"),
    }


def test_referenced_paths_through_variables() -> None:
    paths = referenced_paths(
        "variables.cs.all(c, c.x)",
        {"cs": "variables.spec.containers", "spec": "object.kind == 'Pod' ? object.spec : object.spec.template.spec"},
    )
    assert paths == {("kind",), ("spec",), ("spec", "template", "spec")}


def test_unknown_detection() -> None:
    u = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    obj = {"name": "c", "vpcConfig": {"endpointPublicAccess": u}, "tags": {"a": "b"}, "list": [{"x": u}]}
    found = find_unknown_paths(obj)
    assert set(found) == {("vpcConfig", "endpointPublicAccess"), ("list", "x")}
    assert unknown_hits(found, [("vpcConfig", "endpointPublicAccess")]) == ["vpcConfig.endpointPublicAccess"]
    assert unknown_hits(found, [("vpcConfig",)]) == ["vpcConfig.endpointPublicAccess"]  # under a read path
    assert unknown_hits(found, [("tags",)]) == []  # an unknown elsewhere does not matter
    whole = find_unknown_paths({"vpcConfig": "dd056dcd-154b-4c76-9bd3-c8f88648b5ff"})
    assert unknown_hits(whole, [("vpcConfig", "endpointPublicAccess")]) == ["vpcConfig"]  # above a read path


def test_is_unknown_recognises_the_sdk_marker() -> None:
    from pulumi.output import Unknown

    assert is_unknown(Unknown())
    assert not is_unknown("plain")


def test_find_unknown_paths_is_bounded_on_deep_nesting() -> None:
    deep: dict[str, object] = {}
    cur = deep
    for _ in range(1000):
        nxt: dict[str, object] = {}
        cur["a"] = nxt
        cur = nxt
    found = find_unknown_paths(deep)
    assert found and found[0][-1] == "<too deep>"


def test_top_level_split() -> None:
    from baseline.cel import split_top_level

    assert split_top_level("!has(object.a) || (has(object.p) && object.p in ['a'])") == (
        "or",
        ["!has(object.a)", "(has(object.p) && object.p in ['a'])"],
    )
    assert split_top_level("(a && (b || c))") == ("and", ["a", "(b || c)"])
    assert split_top_level("a || b ? c : d") == ("", ["a || b ? c : d"])  # a ternary is never split
    assert split_top_level("x == '||' || y") == ("or", ["x == '||'", "y"])  # nor inside strings
    assert split_top_level("(a) || (b)") == ("or", ["(a)", "(b)"])
    assert split_top_level("f(a || b)") == ("", ["f(a || b)"])


def test_presence_tests_only_care_about_the_key() -> None:
    from baseline.cel import read_paths

    values, presence = read_paths("has(object.metadata) && object.metadata.name == 'default'")
    assert values == {("metadata", "name")} and presence == {("metadata",)}
    u = ("metadata", "annotations", "x")
    assert unknown_hits([u], values, presence) == []  # below a has() and beside the read value
    assert unknown_hits([("metadata",)], values, presence) == ["metadata"]  # the tested key itself


# --------------------------------------------------------------------------- related kinds

RELATED = [
    ("namespaceObjects.exists(o, o.kind == 'A' && o.x)", {"A"}),
    ("namespaceObjects.exists(o, has(o.kind) && o.kind == 'A' && (o.x || o.y))", {"A"}),
    (
        "namespaceObjects.exists(o, o.kind == 'A' && o.s == ')||(')"
        " && namespaceObjects.exists(p, p.kind == 'B' && 1 == 1)",
        {"A", "B"},
    ),
    ("namespaceObjects.exists(o, o.kind == 'A' && o.x || true)", None),  # true for any kind
    ("namespaceObjects.exists(o, o.kind == 'A' && o.b ? true : true)", None),
    ("namespaceObjects.exists(o, o.kind == 'A')", None),  # no && after the kind: not the form read
    ("namespaceObjects.all(o, o.kind == 'A' && o.x)", None),
    ("namespaceObjects.exists_one(o, o.kind == 'A' && o.x)", None),
    ("size(namespaceObjects) > 0", None),
    ("namespaceObjects.exists(o, o.kind == 'A' && o.x) || size(namespaceObjects) == 0", None),
    ("namespaceObjects.exists(o, p.kind == 'A' && o.x)", None),  # another variable's kind
    ("object.kind == 'Namespace'", None),  # reads no namespaceObjects
]


@pytest.mark.parametrize(("expression", "kinds"), RELATED)
def test_related_kinds_are_read_only_from_the_safe_form(expression: str, kinds: set[str] | None) -> None:
    from baseline.cel import related_kinds

    assert related_kinds(expression) == (frozenset(kinds) if kinds is not None else None)


SENTINEL_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
_MEMBER = st.fixed_dictionaries(
    {"kind": st.sampled_from(["A", "B", "C"]) | st.integers(0, 3) | st.just(SENTINEL_STRING)},
    optional={"x": st.booleans() | st.integers(0, 3) | st.text(max_size=2), "s": st.sampled_from([")||(", "a"])},
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([e for e, k in RELATED if k is not None]), st.lists(_MEMBER | st.just({}), max_size=6))
def test_leaving_out_other_kinds_changes_no_result(expression: str, members: list[dict[str, Any]]) -> None:
    """The soundness :func:`related_kinds` promises: the same value (or the same error) without the
    objects of other kinds."""
    from baseline.cel import related_kinds

    kinds = related_kinds(expression)
    assert kinds is not None
    kept = [m for m in members if not isinstance(m.get("kind"), str) or m["kind"] in kinds | {SENTINEL_STRING}]
    check = compile_check(expression, [])
    assert check.run({"namespaceObjects": members}) == check.run({"namespaceObjects": kept})
