"""The catalog loader refuses malformed control files with an error naming the file and the field."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from baseline.catalog import CONTROLS_DIR, CatalogError, load_catalog
from baseline.cel import CelCompileError
from baseline.evaluator import Evaluator, Subject

GOOD: dict[str, Any] = {
    "id": "CL-90",
    "slug": "test-control",
    "title": "A test control",
    "description": "Clusters must carry the test tag.",
    "severity": "high",
    "defaultMode": "enforce",
    "rationale": "Only for the loader's tests.",
    "remediation": "Add the tag.",
    "references": {"cis": {"eks": ["9.9.9"]}},
    "targets": [
        {
            "type": "aws:eks/cluster:Cluster",
            "expression": "has(object.tags) && 'test' in object.tags",
            "message": "The cluster has no test tag. Add it.",
        }
    ],
}


def _catalog_dir(tmp_path: Path, control: dict[str, Any], folder: str | None = None) -> tuple[Path, Path]:
    """A catalog directory with the shipped library and one control; returns (dir, control file)."""
    root = tmp_path / "controls"
    root.mkdir()
    shutil.copy(CONTROLS_DIR / "_library.yaml", root / "_library.yaml")
    path = root / (folder or str(control.get("id", "CL-90"))) / "control.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(control, sort_keys=False), encoding="utf-8")
    return root, path


def _with(**changes: Any) -> dict[str, Any]:
    control = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is None:
            control.pop(key, None)
        else:
            control[key] = value
    return control


def _target(**changes: Any) -> list[dict[str, Any]]:
    target = copy.deepcopy(GOOD["targets"][0])
    for key, value in changes.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return [target]


def test_the_good_control_loads_and_judges(tmp_path: Path) -> None:
    root, _ = _catalog_dir(tmp_path, GOOD)
    catalog = load_catalog(root)
    assert catalog.ids() == {"CL-90"}
    evaluator = Evaluator(catalog)
    [ok] = evaluator.evaluate(Subject({"tags": {"test": "1"}}, type="aws:eks/cluster:Cluster"))
    [bad] = evaluator.evaluate(Subject({}, type="aws:eks/cluster:Cluster"))
    assert (ok.status, bad.status) == ("pass", "fail")


@pytest.mark.parametrize(
    ("control", "fragments"),
    [
        pytest.param(_with(severty="high"), ["unknown keys", "severty"], id="unknown-top-level-key"),
        pytest.param(_with(remediation=None), ["missing 'remediation'"], id="missing-remediation"),
        pytest.param(_with(remediation="   "), ["'remediation'", "non-empty"], id="blank-remediation"),
        pytest.param(_with(id="CL-9"), ["id 'CL-9'", "AREA-NN"], id="bad-id-digits"),
        pytest.param(_with(id="XX-01"), ["id 'XX-01'", "AREA-NN"], id="bad-id-area"),
        pytest.param(_with(slug="Test_Control"), ["slug", "kebab-case"], id="slug-not-kebab"),
        pytest.param(_with(severity="severe"), ["severity"], id="bad-severity"),
        pytest.param(_with(defaultMode="block"), ["defaultMode"], id="bad-default-mode"),
        pytest.param(_with(description="No period at the end"), ["description"], id="description-not-a-sentence"),
        pytest.param(_with(references={}), ["CIS sections", "bestPractice"], id="no-references"),
        pytest.param(
            _with(references={"cis": {"eks-1.5": ["5.3.1"]}}), ["unknown benchmark", "eks-1.5"], id="bad-benchmark"
        ),
        pytest.param(_with(targets="aws:eks/cluster:Cluster"), ["'targets'"], id="targets-not-a-list"),
        pytest.param(
            _with(targets=_target(kinds=["Namespace"])), ["targets[0]", "exactly one of 'type'"], id="type-and-kinds"
        ),
        pytest.param(_with(targets=_target(type=None)), ["targets[0]", "exactly one of 'type'"], id="neither"),
        pytest.param(
            _with(targets=_target(expresion="true")), ["targets[0]", "unknown keys", "expresion"], id="target-key"
        ),
        pytest.param(_with(targets=_target(message=None)), ["targets[0]", "missing 'message'"], id="no-message"),
        pytest.param(
            _with(targets=_target(type="aws.eks.Cluster")), ["targets[0]", "not a Pulumi type token"], id="bad-token"
        ),
        pytest.param(
            _with(targets=_target(type=None, kinds=["Widget"])), ["targets[0]", "Widget", "kinds table"], id="bad-kind"
        ),
        pytest.param(
            _with(targets=_target(variables=["noSuchVariable"])),
            ["targets[0].variables[0]", "no library variable 'noSuchVariable'"],
            id="unknown-library-variable",
        ),
        pytest.param(
            _with(targets=_target(variables=[{"name": "params", "expression": "1"}])),
            ["targets[0]", "'params' is reserved"],
            id="variable-named-params",
        ),
        pytest.param(_with(targets=_target(scope="cluster")), ["targets[0]", "scope must be"], id="bad-scope"),
    ],
)
def test_malformed_controls_are_refused(tmp_path: Path, control: dict[str, Any], fragments: list[str]) -> None:
    root, path = _catalog_dir(tmp_path, control)
    with pytest.raises(CatalogError) as err:
        load_catalog(root)
    message = str(err.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_folder_must_be_named_after_the_id(tmp_path: Path) -> None:
    root, path = _catalog_dir(tmp_path, GOOD, folder="CL-91")
    with pytest.raises(CatalogError) as err:
        load_catalog(root)
    assert str(path) in str(err.value)
    assert "folder must be named after the id CL-90" in str(err.value)


def test_a_file_that_is_not_yaml_is_named(tmp_path: Path) -> None:
    root, path = _catalog_dir(tmp_path, GOOD)
    path.write_text("id: CL-90\ntargets: [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        load_catalog(root)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("has(object.tags) &&", id="truncated"),
        pytest.param("object.tags.exists(t, t ==)", id="bad-macro"),
        pytest.param("object.tags.frobnicate()", id="undeclared-function"),
        pytest.param("spec.replicas > 1", id="undeclared-root"),
    ],
)
def test_cel_that_does_not_compile_is_named_when_the_evaluator_is_built(tmp_path: Path, expression: str) -> None:
    root, _ = _catalog_dir(tmp_path, _with(targets=_target(expression=expression)))
    catalog = load_catalog(root)  # the loader checks shape; CEL is compiled once, by the evaluator
    with pytest.raises(CelCompileError) as err:
        Evaluator(catalog)
    assert "CL-90 target 0" in str(err.value)


def test_a_variable_that_does_not_compile_is_named(tmp_path: Path) -> None:
    target = _target(variables=[{"name": "tagged", "expression": "has(object.tags) &&"}], expression="variables.tagged")
    root, _ = _catalog_dir(tmp_path, _with(targets=target))
    catalog = load_catalog(root)
    with pytest.raises(CelCompileError) as err:
        Evaluator(catalog)
    assert "CL-90 target 0 variable tagged" in str(err.value)


def test_a_control_switched_off_is_not_compiled(tmp_path: Path) -> None:
    root, _ = _catalog_dir(tmp_path, _with(targets=_target(expression="has(object.tags) &&")))
    Evaluator(load_catalog(root), modes={"CL-90": "off"})


def test_the_shipped_catalog_compiles() -> None:
    Evaluator(load_catalog())
