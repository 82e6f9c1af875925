"""The intent's reference: the JSON Schema and docs/intent.md, generated from the model and kept current."""

from __future__ import annotations

import io
import json
import re

import jsonschema
import pytest
from pydantic import BaseModel, TypeAdapter

from baseline.cli import main
from baseline.intent import Intent
from baseline.loader import intent_from_config, read_stack_config
from baseline.reference import EXAMPLES, intent_json_schema, intent_reference, sections
from tests.conftest import REPO_ROOT, STACKS_DIR

DOC = REPO_ROOT / "docs" / "intent.md"


def test_docs_intent_md_is_the_generated_reference() -> None:
    assert DOC.read_text(encoding="utf-8") == intent_reference(), (
        "docs/intent.md is stale: fleet-baseline schema --markdown > docs/intent.md"
    )


def _documented(text: str) -> dict[str, dict[str, list[str]]]:
    """model name -> field -> the cells of its row, read back from the Markdown."""
    found: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = re.match(r'^<a id="[^"]+"></a>`(\w+)`$', line)
        if match:
            current = found.setdefault(match.group(1), {})
        elif line.startswith("| `"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            current[cells[0].strip("`")] = cells
    return found


def test_every_field_of_every_section_is_documented_with_an_example() -> None:
    documented = _documented(intent_reference())
    models = {m.__name__: m for _, m in sections()}
    assert {"Intent", "ClusterIntent", "EksCluster", "ExceptionIntent", "Quota"} <= set(models)
    assert set(documented) == set(models)
    for name, model in models.items():
        keys = [f.alias or n for n, f in model.model_fields.items()]
        assert list(documented[name]) == keys
        for key, cells in documented[name].items():
            field_type, default, example = cells[1], cells[2], cells[5]
            assert field_type and default and example, f"{name}.{key}: {cells}"


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_every_example_is_valid_for_its_field(key: str) -> None:
    model_name, field_key = key.split(".")
    model: type[BaseModel] = {m.__name__: m for _, m in sections()}[model_name]
    (field,) = [f for n, f in model.model_fields.items() if (f.alias or n) == field_key]
    TypeAdapter(field.annotation).validate_python(EXAMPLES[key])


def test_the_schema_accepts_every_sample_stack_and_refuses_an_unknown_key() -> None:
    schema = intent_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for stack_file in sorted(STACKS_DIR.glob("Pulumi.*.yaml")):
        intent = intent_from_config(read_stack_config(stack_file), base_dir=STACKS_DIR)
        validator.validate(intent.model_dump(by_alias=True, mode="json"))
    bad = Intent.model_validate(
        {
            "baselineVersion": "1.0.0",
            "cluster": {"name": "a", "cloud": "eks", "owner": "t", "eks": {"region": "r", "subnetIds": ["a", "b"]}},
        }
    ).model_dump(by_alias=True, mode="json")
    bad["hardening"]["endpoint"]["publc"] = False
    errors = list(validator.iter_errors(bad))
    assert errors and "publc" in errors[0].message


def test_schema_command_prints_the_schema_and_the_reference() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["schema"], out=out, err=err) == 0
    assert json.loads(out.getvalue()) == intent_json_schema()
    out = io.StringIO()
    assert main(["schema", "--markdown"], out=out, err=err) == 0
    assert out.getvalue() == intent_reference()
