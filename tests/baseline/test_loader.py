"""Loading intents from files and stack config: every bad field named by path, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baseline.loader import IntentError, intent_from_config, intent_from_mapping, load_intent, read_stack_config

KNOWN = ["NS-01", "CL-01", "POD-10"]

GOOD = """
baselineVersion: "1.0.0"
cluster:
  name: prod
  cloud: eks
  owner: platform
  eks: {region: eu-west-1, subnetIds: [subnet-a, subnet-b]}
namespaces:
  - {name: shop, owner: shop-team}
access:
  - {name: admins, role: cluster-admin, aws: {principalArn: "arn:aws:iam::111122223333:role/admins"}}
"""


def write(tmp_path: Path, text: str, name: str = "intent.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_load_good_file(tmp_path: Path) -> None:
    intent = load_intent(write(tmp_path, GOOD), known_controls=KNOWN)
    assert intent.cluster.name == "prod"
    assert intent.namespaces[0].owner == "shop-team"


def test_misspelled_key_names_the_path_and_the_allowed_keys(tmp_path: Path) -> None:
    text = GOOD.replace("owner: shop-team", "ownr: shop-team")
    with pytest.raises(IntentError) as err:
        load_intent(write(tmp_path, text), known_controls=KNOWN)
    problems = err.value.problems
    assert ("namespaces[0].ownr") in [p.path for p in problems]
    assert ("namespaces[0].owner") in [p.path for p in problems]
    msg = str(err.value)
    assert "unknown key (misspelled?)" in msg and "allowed here:" in msg and "podSecurity" in msg
    assert "Traceback" not in msg


@pytest.mark.parametrize("key", ["literal[", "literal['cluster']", "str", "int", "function-after", "NamespaceScope"])
def test_a_key_spelled_like_a_pydantic_tag_is_still_named(tmp_path: Path, key: str) -> None:
    """pydantic puts union and validator tags in an error's location; a user's key that reads like
    one is still the user's key (found by tests/properties: ``literal[`` at top level had no path)."""
    text = GOOD + f"{json.dumps(key)}: 1\n"
    text = text.replace("  owner: platform\n", f"  owner: platform\n  {json.dumps(key)}: x\n")
    with pytest.raises(IntentError) as err:
        load_intent(write(tmp_path, text), known_controls=KNOWN)
    assert sorted(p.path for p in err.value.problems) == sorted([key, f"cluster.{key}"])


def test_a_union_member_tag_is_not_part_of_the_path(tmp_path: Path) -> None:
    text = GOOD.replace(
        "access:\n", "access:\n  - {name: a, role: view, scope: {namespaces: [shop], str: 1}, aws: {principalArn: x}}\n"
    )
    with pytest.raises(IntentError) as err:
        load_intent(write(tmp_path, text), known_controls=KNOWN)
    paths = [p.path for p in err.value.problems]
    assert "access[0].scope.str" in paths
    assert not [p for p in paths if "NamespaceScope" in p or "literal" in p], paths


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD + (
        "exceptions:\n  - {control: NS-01, scope: {namespace: shop}, reason: a good long reason, expires: 2030-01-01}\n"
    )
    text = text.replace('baselineVersion: "1.0.0"', 'baselineVersion: "one"')
    with pytest.raises(IntentError) as err:
        load_intent(write(tmp_path, text), known_controls=KNOWN)
    paths = {p.path for p in err.value.problems}
    assert {"baselineVersion", "exceptions[0].owner"} <= paths


def test_exception_for_a_control_not_in_the_catalog(tmp_path: Path) -> None:
    text = GOOD + (
        "exceptions:\n  - {control: NS-99, scope: {namespace: shop}, owner: t, reason: a good long reason,"
        " expires: 2030-01-01}\n"
    )
    with pytest.raises(IntentError) as err:
        load_intent(write(tmp_path, text), known_controls=KNOWN)
    assert err.value.problems[0].path == "exceptions[0].control"
    assert "no control 'NS-99'" in err.value.problems[0].message


def test_modes_must_name_catalog_controls() -> None:
    data = {
        "baselineVersion": "1.0.0",
        "cluster": {"name": "p", "cloud": "eks", "owner": "o", "eks": {"region": "r", "subnetIds": ["a", "b"]}},
        "admission": {"modes": {"CL-77": "audit"}, "waves": {"canary": {"POD-98": "enforce"}}},
        "access": [{"name": "a", "role": "cluster-admin", "aws": {"principalArn": "arn:aws:iam::111122223333:role/a"}}],
    }
    with pytest.raises(IntentError) as err:
        intent_from_mapping(data, known_controls=KNOWN)
    assert [p.path for p in err.value.problems] == ["admission.modes.CL-77", "admission.waves.canary.POD-98"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: [unclosed", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ("baselineVersion: 1\nbaselineVersion: 2\n", "duplicate key 'baselineVersion'"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(IntentError, match=fragment):
        load_intent(write(tmp_path, text), known_controls=KNOWN)


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(IntentError, match="cannot read"):
        load_intent(tmp_path / "missing.yaml", known_controls=KNOWN)
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"baselineVersion: \xff\xfe\n")
    with pytest.raises(IntentError, match="not UTF-8"):
        load_intent(p, known_controls=KNOWN)


def test_stack_config_inline_json_and_file_merge(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "base.yaml")
    config = {
        "intentFile": "base.yaml",
        # the Pulumi SDK hands structured config to programs as JSON text
        "intent": json.dumps({"cluster": {"name": "staging"}, "rollout": {"wave": "canary"}}),
    }
    intent = intent_from_config(config, base_dir=tmp_path, known_controls=KNOWN)
    assert intent.cluster.name == "staging"
    assert intent.cluster.cloud == "eks"  # merged one level deep, the file's other keys kept
    assert intent.rollout.wave == "canary"


def test_stack_config_rejects_unknown_project_keys(tmp_path: Path) -> None:
    with pytest.raises(IntentError) as err:
        intent_from_config({"intnet": {}}, base_dir=tmp_path)
    assert err.value.problems[0].path == "fleet-baseline:intnet"


def test_stack_config_without_intent(tmp_path: Path) -> None:
    with pytest.raises(IntentError, match="set 'intent' or 'intentFile'"):
        intent_from_config({}, base_dir=tmp_path)


def test_read_stack_config_keeps_only_project_keys(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "config:\n  aws:region: eu-west-1\n  fleet-baseline:intentFile: x.yaml\n  fleet-baseline:intent: {a: 1}\n",
        "Pulumi.s.yaml",
    )
    assert read_stack_config(p) == {"intentFile": "x.yaml", "intent": {"a": 1}}
