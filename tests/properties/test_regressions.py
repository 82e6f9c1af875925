"""Regressions: the shrunk examples the property tests found, each pinned as an explicit test.

Each test names the property that found it (``tests/properties/test_*.py``) and what went wrong
before the fix.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from baseline import cli
from baseline.loader import IntentError, intent_from_config, intent_from_mapping, load_intent

# --------------------------------------------------------------------------- the intent loader
# found by test_hostile_input.py::test_intent_loader_returns_an_intent_or_names_every_bad_path


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        # int() refuses more than 4300 digits: a ValueError escaped the loader
        (b"baselineVersion: 1.0.0\nzbig: " + b"9" * 5000 + b"\n", "line 2, column 7"),
        # PyYAML's composer recursed until RecursionError
        (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deep"),
        # a complex key is unhashable: TypeError from the duplicate-key check
        (b"? [a, b]\n: c\n", "a key must be a scalar, not a list"),
        # a date that does not exist: ValueError from the timestamp constructor
        (b"exceptions:\n  - expires: 2027-02-30\n", "day is out of range for month"),
        (b"a: !!int abc\n", "cannot read 'abc'"),
    ],
)
def test_unreadable_yaml_is_an_intent_error(tmp_path: Path, text: bytes, fragment: str) -> None:
    path = tmp_path / "intent.yaml"
    path.write_bytes(text)
    with pytest.raises(IntentError, match="not valid YAML") as info:
        load_intent(path)
    assert fragment in str(info.value)
    with pytest.raises(IntentError, match="not valid YAML"):
        intent_from_config({"intentFile": "intent.yaml"}, base_dir=tmp_path)


def test_an_intent_file_that_is_not_utf8_through_stack_config(tmp_path: Path) -> None:
    """``intentFile`` (how plan and the program read it) raised UnicodeDecodeError, a traceback in plan."""
    (tmp_path / "intent.yaml").write_bytes(b"baselineVersion: \xff\n")
    (tmp_path / "Pulumi.s.yaml").write_text("config:\n  fleet-baseline:intentFile: intent.yaml\n")
    with pytest.raises(IntentError, match="not UTF-8 text: invalid start byte at byte 17"):
        intent_from_config({"intentFile": "intent.yaml"}, base_dir=tmp_path)
    err = io.StringIO()
    assert cli.main(["plan", "--stack", "s", "--stacks-dir", str(tmp_path)], out=io.StringIO(), err=err) == 2
    assert err.getvalue().startswith("error: invalid intent in ") and "Traceback" not in err.getvalue()


def test_cross_reference_problems_each_have_their_path() -> None:
    """The intent's cross-reference checks came back as one problem at the top level, paths in its text."""
    data = {
        "baselineVersion": "1.0.0",
        "cluster": {"name": "c", "cloud": "eks", "owner": "o", "eks": {"region": "r", "subnetIds": ["a", "b"]}},
        "namespaces": [{"name": "a", "owner": "t"}, {"name": "a", "owner": "u"}],
        "access": [{"name": "devs", "role": "view", "scope": {"namespaces": ["ghost"]}}],
        "workloadIdentities": [{"name": "w", "namespace": "nowhere", "serviceAccount": "sa"}],
    }
    with pytest.raises(IntentError) as info:
        intent_from_mapping(data)
    assert [(p.path, p.message) for p in info.value.problems] == [
        ("namespaces", "duplicate names ['a']"),
        ("access[0].scope.namespaces", "['ghost'] not declared in namespaces"),
        ("access[0].aws", "required on a eks cluster (principal 'devs')"),
        ("workloadIdentities[0].namespace", "'nowhere' not declared in namespaces"),
        ("workloadIdentities[0].aws", "required on a eks cluster"),
    ]


def test_an_empty_or_padded_key_is_named_readably() -> None:
    """An unknown key ``''`` had the path ``''``: a problem that named no path."""
    with pytest.raises(IntentError) as info:
        intent_from_mapping({"": None, " cluster": 1}, known_controls=())
    paths = [p.path for p in info.value.problems]
    assert "['']" in paths and "[' cluster']" in paths
