"""The fast paths the benchmarks measure give exactly what the paths they replace give.

On the benchmark corpus and on broken variants of it: one batched CEL evaluation per object against
one evaluation per target; the tree reader of plain YAML against the bounded composer.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest

import baseline.audit.sources as sources
import baseline.evaluator as evaluator_module
from baseline.catalog import load_catalog
from baseline.evaluator import Evaluator, Finding, Subject
from benchmarks.corpus import objects
from benchmarks.run import write_manifests

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def _broken(obj: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The object with one thing wrong: missing or mistyped fields, a system namespace, an unknown."""
    obj = copy.deepcopy(obj)
    spec = obj.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    pod = template.get("spec") if isinstance(template, dict) else None
    choice = rng.randrange(10)
    if choice == 0:
        obj.pop("spec", None)
    elif choice == 1 and isinstance(spec, dict):
        spec["template"] = "not a template"
    elif choice == 2:
        obj["metadata"]["namespace"] = 7
    elif choice == 3:
        obj["metadata"]["labels"] = ["not", "a", "map"]
    elif choice == 4:
        obj["metadata"]["namespace"] = "kube-system"
    elif choice == 5 and isinstance(pod, dict):
        pod["containers"][0]["securityContext"] = {"privileged": "yes"}
    elif choice == 6:
        obj["metadata"]["namespace"] = UNKNOWN
    elif choice == 7 and isinstance(pod, dict):
        pod["hostNetwork"] = UNKNOWN
    elif choice == 8 and isinstance(pod, dict):
        pod["containers"][0]["image"] = None
    elif choice == 9 and isinstance(pod, dict):
        pod["containers"] = 5
    return obj


def _evaluate(
    subjects: list[Subject], batched: bool, monkeypatch: pytest.MonkeyPatch, filtered: bool = True
) -> list[Finding]:
    with monkeypatch.context() as m:
        if not batched:
            m.setattr(evaluator_module, "compile_batch", lambda checks: None)
        if not filtered:
            m.setattr(evaluator_module, "_may_be_of", lambda kind, kinds: True)
        evaluator = Evaluator(
            load_catalog(),
            params={"defaultPodSecurityLevel": "restricted", "namespaceLevels": {"team-1": "privileged"}},
        )
        return evaluator.evaluate_all(subjects)


def test_batched_evaluation_gives_every_verdict_and_error_of_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    corpus = list(objects(1500))
    subjects = [Subject(o) for o in corpus + [_broken(o, rng) for o in corpus]]
    batched = _evaluate(subjects, True, monkeypatch)
    one_by_one = _evaluate(subjects, False, monkeypatch)
    assert batched == one_by_one
    statuses = {f.status for f in batched}
    assert {"pass", "fail", "unknown"} <= statuses  # errors and unknowns were exercised too


def _odd_kind(obj: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Objects a namespace's checks must still see, or may leave out: odd kinds and broken policies."""
    obj = copy.deepcopy(obj)
    choice = rng.randrange(6)
    if choice == 0:
        obj["kind"] = UNKNOWN  # may be any kind: kept
    elif choice == 1:
        obj["kind"] = 7  # not a string: kept
    elif choice == 2:
        del obj["kind"]
    elif choice == 3 and obj["kind"] == "NetworkPolicy":
        obj["spec"] = {"podSelector": UNKNOWN, "policyTypes": ["Ingress", "Egress"]}
    elif choice == 4 and obj["kind"] == "ResourceQuota":
        obj["spec"] = {"hard": "lots"}  # an error inside the predicate
    elif choice == 5:
        obj["spec"] = {"x": 2**70}  # a value CEL cannot hold: only matters where the object is handed over
    return obj


def test_namespace_checks_see_only_the_kinds_that_decide_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Leaving out of ``namespaceObjects`` the objects of kinds no check there can be decided by
    changes no verdict, error or unknown (but a value CEL cannot hold in a left-out Deployment no longer
    makes the namespace's checks unknown: those are compared apart)."""
    rng = random.Random(11)
    corpus = list(objects(3000))
    spaces = sorted({o["metadata"].get("namespace") or "" for o in corpus})
    odd_spaces = set(spaces[::2])  # the other half keeps namespaces that decide
    odd = [_odd_kind(o, rng) for o in corpus if o["metadata"].get("namespace") in odd_spaces and rng.random() < 0.3]
    subjects = [Subject(o) for o in corpus + odd]
    filtered = _evaluate(subjects, True, monkeypatch)
    whole = _evaluate(subjects, True, monkeypatch, filtered=False)
    assert len(filtered) == len(whole)
    differ = [(a, b) for a, b in zip(filtered, whole, strict=True) if a != b]
    for a, b in differ:  # only namespaces where a left-out object held what the runtime refuses
        assert a.subject.startswith("Namespace/") and b.status == "unknown" and "could not evaluate" in (b.detail or "")
        # decided, or undecided for an object of a kind that counts (an unknown, or its own refusal)
        assert a.status in {"pass", "fail"} or a.unknown or " in NetworkPolicy/" in (a.detail or ""), a
    assert differ, "a refusal in a left-out object was exercised"
    namespaces = [f for f in filtered if f.subject.startswith("Namespace/") and f.control_id in {"NS-02", "NS-05"}]
    assert {"pass", "fail", "unknown"} <= {f.status for f in namespaces}, "the corpus exercises every outcome"


ODD_YAML = [
    "",
    "---\n",
    "---\n...\n---\n",
    "a: 1\na: 2\n",
    "a: &x 1\nb: *x\n",
    "? [a]\n: 1\n",
    "<<: {a: 1}\n",
    "a: !!binary aGVsbG8=\n",
    "a: !!int abc\n",
    "t: 2001-12-14t21:59:43.10-05:00\n",
    "x: .nan\n",
    ".nan: 1\n",
    "1: a\ntrue: b\n",
    "a: 0x1F\nb: 0o17\nc: 1_000\nd: 1:20\ne: +12\nf: -.inf\ng: 1e3\nh: 1.5e3\n",
    "a: yes\nb: off\nc: ~\nd: Null\n",
    "= : 1\n",
    "- - - - x\n",
    "[" * 200 + "]" * 200,
    "a: [" * 130 + "]" * 130,
    "a:\n  b:\n    - c: d\n      e: f\n",
    "a: b: c\n",
    "a: [1, 2\n",
    "%TAG ! tag:example.com,2000:\n---\na: !foo 1\n",
    "a: ! 1\n",
    "- &a [*a]\n",
    "k: |\n  line1\n  line2\n",
    "'1': a\n1: b\n",
    "a: " + "9" * 5000 + "\n",
    "a: 1\n---\n- b\n---\nc\n",
]


def _documents(text: str, tree: bool, monkeypatch: pytest.MonkeyPatch, max_nodes: int) -> tuple[str, Any]:
    with monkeypatch.context() as m:
        if not tree:
            m.setattr(sources.manifests, "_tree_documents", lambda text, max_nodes: None)
        try:
            # the document, its number and line; whether it is plain is the tree reader's to say
            return "ok", repr([d[:3] for d in sources.manifests._yaml_documents(text, Path("f.yaml"), max_nodes)])
        except sources.SourceError as exc:
            return "refused", str(exc)


@pytest.mark.parametrize("max_nodes", [sources.DEFAULT_MAX_NODES, 7])
def test_the_tree_reader_reads_what_the_bounded_reader_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_nodes: int
) -> None:
    write_manifests(tmp_path, 300)
    texts = [p.read_text(encoding="utf-8") for p in sorted(tmp_path.glob("*.yaml"))] + ODD_YAML
    for text in texts:
        assert _documents(text, True, monkeypatch, max_nodes) == _documents(text, False, monkeypatch, max_nodes), text[
            :200
        ]
    # the corpus takes the tree path
    assert sources.manifests._tree_documents(texts[0], sources.DEFAULT_MAX_NODES) is not None


PLAIN_OR_NOT = [
    ("a: 1\nb: [x, 'y', 2.5, true, null, 18446744073709551615]\n", True),
    ("a: -9223372036854775808\n", True),
    ("a: 18446744073709551616\n", False),  # beyond uint64
    ("a: -9223372036854775809\n", False),
    ("a: 04da6b54-80e4-46f7-96ec-b56ff0331ba9\n", False),  # the engine's unknown sentinel, plain
    ("a: ['dd056dcd-154b-4c76-9bd3-c8f88648b5ff']\n", False),  # and quoted
    ("? null\n: x\n", False),  # a null key
    ("2: a\ntrue: b\n", True),
    ("a: 2024-01-01\n", True),  # a timestamp stays text
]


@pytest.mark.parametrize(("text", "plain"), PLAIN_OR_NOT)
def test_a_plain_document_is_one_the_evaluator_need_not_walk(text: str, plain: bool) -> None:
    """What the tree reader calls plain is what the evaluator's own walks would find nothing in."""
    from baseline.cel import find_unknown_paths, unconvertible

    [(_, doc, _, said)] = sources.manifests._tree_documents(text, sources.DEFAULT_MAX_NODES) or [(0, None, 0, None)]
    assert said is plain
    assert (not find_unknown_paths(doc) and unconvertible(doc) is None) is plain


def test_the_corpus_is_read_plain(tmp_path: Path) -> None:
    write_manifests(tmp_path, 300)
    snap = sources.read_manifests([tmp_path])
    assert snap.subjects and all(s.plain for s in snap.subjects)
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec: {x: 99999999999999999999}")
    [odd] = [s for s in sources.read_manifests([hostile]).subjects]
    assert not odd.plain
    assert {f.status for f in Evaluator().evaluate_all([odd])} == {"unknown"}  # walked, refused, never passed
