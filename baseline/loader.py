"""Load an intent from a YAML file or from Pulumi stack config, with errors that name the field path.

Nothing here reads the environment or global config: callers pass the file path or the config mapping.
``stacks/`` is the only place that reads stack config and hands it to :func:`intent_from_config`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from baseline.intent import Intent
from baseline.requirements import intent_problems

__all__ = [
    "CONFIG_NAMESPACE",
    "IntentError",
    "Problem",
    "intent_from_config",
    "intent_from_mapping",
    "load_intent",
    "read_stack_config",
    "stack_config_dir",
]

#: Pulumi config namespace of the project (``fleet-baseline:intent``).
CONFIG_NAMESPACE = "fleet-baseline"

#: Largest intent file accepted; an intent is a few KiB, anything near this is not one.
MAX_INTENT_BYTES = 4 * 1024 * 1024


class Problem(tuple[str, str]):
    """One bad field: ``(path, message)``."""

    __slots__ = ()

    @property
    def path(self) -> str:
        return self[0]

    @property
    def message(self) -> str:
        return self[1]


class IntentError(ValueError):
    """The intent is malformed. ``problems`` lists every bad field path with its message."""

    def __init__(self, source: str, problems: Iterable[tuple[str, str]]) -> None:
        self.source = source
        self.problems = [Problem(p) for p in problems]
        lines = [f"invalid intent in {source}:"]
        lines += [f"  - {p.path or '(top level)'}: {p.message}" for p in self.problems]
        super().__init__("\n".join(lines))


# pydantic puts the tags of union members and validators in ``loc``; they are not field names
_LOC_TAG_PREFIXES = ("function-", "literal[")
_LOC_TAGS = frozenset({"str", "int", "NamespaceScope"})


def _loc_to_path(loc: tuple[int | str, ...], data: Any = None) -> str:
    """``loc`` as a path of wire keys. ``data`` is the input validated: a part that is a key of it at
    that level is the user's key even where it reads like one of pydantic's tags (``literal[``)."""
    out = ""
    here = data
    for part in loc:
        is_key = isinstance(here, Mapping) and part in here
        if isinstance(part, int):
            out += f"[{part}]"
        elif not is_key and (part in _LOC_TAGS or part.startswith(_LOC_TAG_PREFIXES)):
            continue  # a tag names a union member or validator, not a level of the input
        elif not part or part.strip() != part or not part.isprintable():  # a key you could not read as written
            out += f"[{part!r}]"
        else:
            out += f".{part}" if out else part
        in_list = isinstance(part, int) and isinstance(here, list) and 0 <= part < len(here)
        here = here[part] if is_key or in_list else None
    return out


def _allowed_keys(parent_loc: tuple[int | str, ...]) -> list[str]:
    """The camelCase keys the model at ``parent_loc`` accepts, for an unknown-key message."""
    model: Any = Intent
    for part in parent_loc:
        if isinstance(part, int):
            continue
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        field = fields.get(str(part))
        if field is None:
            if str(part) in {"NamespaceScope"}:
                continue
            return []
        candidates = [a for a in get_args(field.annotation) or (field.annotation,)]
        nested = [c for c in _flatten(candidates) if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return sorted(f.alias or n for n, f in model.model_fields.items())


def _flatten(types: list[Any]) -> list[Any]:
    out: list[Any] = []
    for t in types:
        args = get_args(t)
        out.extend(_flatten(list(args)) if args else [t])
    return out


# what a model validator that checks several fields at once reports: "path: message; path: message"
_PATH_MESSAGE = re.compile(r"([A-Za-z][A-Za-z0-9]*(?:\[\d+\]|\.[A-Za-z][A-Za-z0-9]*)*): (.+)", re.DOTALL)


def _split_paths(path: str, msg: str) -> list[tuple[str, str]]:
    """One problem per field a model validator names (the intent's cross-references), each at its path."""
    matches = [_PATH_MESSAGE.fullmatch(part) for part in msg.split("; ")]
    if not all(matches):
        return [(path, msg)]
    return [(f"{path}.{m.group(1)}" if path else m.group(1), m.group(2)) for m in matches if m]


def _problems_from_validation(err: ValidationError, data: Any = None) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for e in err.errors(include_url=False):
        path = _loc_to_path(tuple(e["loc"]), data)
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(tuple(e["loc"])[:-1])
            msg = "unknown key (misspelled?)" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
        elif msg.startswith("Value error, "):
            problems.extend(_split_paths(path, msg.removeprefix("Value error, ")))
            continue
        problems.append((path, msg))
    # a union (scope: 'cluster' | {namespaces}) reports one error per branch: keep them, deduplicated
    seen: set[tuple[str, str]] = set()
    unique = []
    for p in problems:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


def _catalog_problems(intent: Intent, known_ids: frozenset[str]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for i, exc in enumerate(intent.exceptions):
        if exc.control not in known_ids:
            problems.append((f"exceptions[{i}].control", f"no control {exc.control!r} in the catalog"))
    for cid in intent.admission.modes:
        if cid not in known_ids:
            problems.append((f"admission.modes.{cid}", f"no control {cid!r} in the catalog"))
    for wave, modes in intent.admission.waves.items():
        for cid in modes:
            if cid not in known_ids:
                problems.append((f"admission.waves.{wave}.{cid}", f"no control {cid!r} in the catalog"))
    return problems


def intent_from_mapping(data: Any, source: str = "<intent>", known_controls: Iterable[str] | None = None) -> Intent:
    """Validate a plain mapping into an :class:`Intent` or raise :class:`IntentError`.

    ``known_controls`` defaults to the shipped catalog's ids, so an exception or mode naming a
    control that does not exist is an error, not a silent no-op.
    """
    if not isinstance(data, Mapping):
        raise IntentError(source, [("", f"expected a mapping of intent fields, got {type(data).__name__}")])
    try:
        intent = Intent.model_validate(data)
    except ValidationError as err:
        raise IntentError(source, _problems_from_validation(err, data)) from None
    if known_controls is None:
        from baseline.catalog import CatalogError, intent_catalog

        try:
            known_controls = intent_catalog(intent).ids()
        except CatalogError as exc:
            raise IntentError(source, [("customControls", str(exc))]) from None
    problems = _catalog_problems(intent, frozenset(known_controls))
    # what the cluster's cloud cannot be deployed with (a cluster-admin grant, GKE's key, ...): refused
    # here, for every command, not half-way through a `pulumi up`
    problems += intent_problems(intent)
    if problems:
        raise IntentError(source, problems)
    return intent


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of letting the last one win silently."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in mapping
        except TypeError:  # a complex key (``? [a, b]``): no intent field is named that way
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be a scalar, not a {type(key).__name__}", key_node.start_mark
            ) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _where_unreadable(construct: Any) -> Any:
    """A scalar constructor whose ``ValueError`` (an integer of more than 4300 digits, ``2027-02-30``)
    is a YAML error at the scalar's position, not an exception of another kind."""

    def checked(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value[:40]!r}: {exc}", node.start_mark
            ) from None

    return checked


for _tag in ("int", "float", "timestamp"):
    _UniqueKeyLoader.add_constructor(
        f"tag:yaml.org,2002:{_tag}", _where_unreadable(yaml.SafeLoader.yaml_constructors[f"tag:yaml.org,2002:{_tag}"])
    )


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise IntentError(source, [("", f"not valid YAML: {exc}")]) from None
    except RecursionError:
        raise IntentError(source, [("", "not valid YAML: nested too deep for an intent")]) from None
    except ValueError as exc:  # a scalar Python refuses to convert (an integer of more than 4300 digits)
        raise IntentError(source, [("", f"not valid YAML: {exc}")]) from None


def load_intent(path: str | Path, known_controls: Iterable[str] | None = None) -> Intent:
    """Load an intent file (YAML or JSON). The file holds the intent itself at top level."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_INTENT_BYTES:
            raise IntentError(str(p), [("", f"file is {size} bytes; an intent is at most {MAX_INTENT_BYTES}")])
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise IntentError(str(p), [("", f"cannot read: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise IntentError(str(p), [("", f"not UTF-8 text: {exc.reason} at byte {exc.start}")]) from None
    data = _parse_yaml(text, str(p))
    if isinstance(data, dict):
        _resolve_custom_controls(data, p.parent)
    return intent_from_mapping(data, str(p), known_controls)


def _resolve_custom_controls(data: dict[str, Any], base_dir: Path) -> None:
    """``customControls`` entries made absolute against the directory the intent was read from."""
    dirs = data.get("customControls")
    if isinstance(dirs, list):
        data["customControls"] = [str((base_dir / d).resolve()) if isinstance(d, str) and d else d for d in dirs]


def intent_from_config(
    config: Mapping[str, Any],
    base_dir: str | Path = ".",
    source: str = "stack config",
    known_controls: Iterable[str] | None = None,
) -> Intent:
    """Build the intent from a stack's config values (keys without the ``fleet-baseline:`` prefix).

    Either ``intent`` holds the intent inline (a structured config object, or its JSON text as the
    Pulumi SDK returns it), or ``intentFile`` names a YAML file relative to ``base_dir``. With both,
    the inline object is merged over the file (one level deep per top-level key), so a shared intent
    file can be specialised per stack.
    """
    unknown = sorted(set(config) - {"intent", "intentFile"})
    if unknown:
        raise IntentError(source, [(f"{CONFIG_NAMESPACE}:{k}", "unknown config key") for k in unknown])
    merged: dict[str, Any] = {}
    if "intentFile" in config:
        file_path = Path(base_dir) / str(config["intentFile"])
        data = _parse_yaml(_read_text(file_path), str(file_path))
        if not isinstance(data, Mapping):
            raise IntentError(str(file_path), [("", "expected a mapping of intent fields")])
        merged.update(data)
        source = f"{source} + {file_path}"
    if "intent" in config:
        inline = config["intent"]
        if isinstance(inline, str):
            try:
                inline = json.loads(inline)
            except json.JSONDecodeError as exc:
                raise IntentError(source, [(f"{CONFIG_NAMESPACE}:intent", f"not a JSON object: {exc}")]) from None
        if not isinstance(inline, Mapping):
            raise IntentError(source, [(f"{CONFIG_NAMESPACE}:intent", "expected an object")])
        for key, value in inline.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    if "intentFile" not in config and "intent" not in config:
        raise IntentError(source, [(f"{CONFIG_NAMESPACE}:intent", "set 'intent' or 'intentFile'")])
    _resolve_custom_controls(merged, Path(base_dir))
    # an empty intent (a file holding `{}`) is validated like any other: it lacks the required fields
    return intent_from_mapping(merged, source, known_controls)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IntentError(str(path), [("", f"cannot read: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise IntentError(str(path), [("", f"not UTF-8 text: {exc.reason} at byte {exc.start}")]) from None


def read_stack_config(stack_file: str | Path) -> dict[str, Any]:
    """Read a ``Pulumi.<stack>.yaml`` and return this project's config values, prefix stripped.

    Used by offline tooling (``fleet-baseline plan``) that runs where no Pulumi CLI is; the Pulumi
    program itself gets the same values from the engine.
    """
    path = Path(stack_file)
    data = _parse_yaml(_read_text(path), str(path)) or {}
    if not isinstance(data, Mapping):
        raise IntentError(str(path), [("", "a stack file is a mapping with a 'config' key")])
    config = data.get("config") or {}
    if not isinstance(config, Mapping):
        raise IntentError(str(path), [("config", "expected a mapping")])
    out: dict[str, Any] = {}
    for key, value in config.items():
        ns, _, name = str(key).partition(":")
        if ns == CONFIG_NAMESPACE and name:
            out[name] = value
    return out


def stack_config_dir(start: str | Path) -> Path:
    """Where a Pulumi project's stack files (and so every ``intentFile``) live, seen from ``start`` (a
    file or a directory inside the project): ``stackConfigDir`` of the nearest ``Pulumi.yaml`` at or
    above it, else that ``Pulumi.yaml``'s own directory, else ``start``'s directory (no project)."""
    path = Path(start).resolve()
    first = path if path.is_dir() else path.parent
    for directory in (first, *first.parents):
        project_file = directory / "Pulumi.yaml"
        if not project_file.is_file():
            continue
        try:
            project = yaml.safe_load(project_file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return directory
        configured = project.get("stackConfigDir") if isinstance(project, Mapping) else None
        return (directory / configured).resolve() if isinstance(configured, str) and configured else directory
    return first
