"""YAML and JSON manifests, files and directories as kubectl apply -f takes them: bounded, refused with the file and
position, parsed in worker processes when large.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from itertools import repeat
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node
from yaml.resolver import BaseResolver, Resolver

from baseline.audit.sources.snapshot import (
    _JSON_STRICT,
    _WS,
    DEFAULT_MAX_MANIFEST_BYTES,
    DEFAULT_MAX_NODES,
    MAX_DEPTH,
    Snapshot,
    SourceError,
    _quote,
    _slim_kubernetes,
    _snapshot,
    _too_deep,
)
from baseline.cel import CEL_INT_RANGE, UNKNOWN_SENTINELS
from baseline.evaluator import Subject

__all__ = [
    "read_manifests",
]

# =========================================================================== manifests

_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class _Refused(yaml.MarkedYAMLError):
    """A YAML document refused for its shape (too many nodes, too deep, a recursive alias)."""


class _BoundedComposer(Composer):
    """Composes nodes as PyYAML does, counting what the document expands to.

    PyYAML shares an aliased node, so a "billion laughs" document is small in memory, but anything
    that walks the result (the evaluator, a JSON dump) visits every copy. Each node's expanded size
    and height are counted as it is composed, an alias adding the size of the node it names, and
    the document is refused as soon as it passes ``max_nodes`` or ``max_depth``: before it is
    constructed, in time linear in the text.
    """

    max_nodes = DEFAULT_MAX_NODES
    max_depth = MAX_DEPTH

    def compose_document(self) -> Node | None:
        self._expanded = 0
        self._heights: list[int] = []
        self._anchored: dict[int, tuple[int, int]] = {}
        return super().compose_document()

    def _grow(self, size: int, height: int, mark: Any) -> None:
        self._expanded += size
        if self._expanded > self.max_nodes:
            raise _Refused(None, None, f"the document expands to more than {self.max_nodes} nodes (alias bomb?)", mark)
        if len(self._heights) + height > self.max_depth:
            raise _Refused(None, None, f"nesting deeper than {self.max_depth} levels", mark)
        if self._heights:
            self._heights[-1] = max(self._heights[-1], height)

    if TYPE_CHECKING:

        def peek_event(self) -> Any: ...  # the parser's (Python or libyaml), mixed in beside this class

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            node = cast(Node, super().compose_node(parent, index))
            known = self._anchored.get(id(node))
            if known is None:
                mark: Any = event.start_mark
                raise _Refused(None, None, f"alias *{event.anchor} refers to a node that contains it", mark)
            self._grow(known[0], known[1], event.start_mark)
            return node
        anchor = getattr(event, "anchor", None)
        before = self._expanded
        if len(self._heights) >= self.max_depth:
            raise _Refused(None, None, f"nesting deeper than {self.max_depth} levels", event.start_mark)
        self._heights.append(0)
        try:
            node = cast(Node, super().compose_node(parent, index))
        finally:
            height = self._heights.pop() + 1
        size = self._expanded - before + 1
        self._expanded = before
        self._grow(size, height, event.start_mark)
        if anchor is not None:
            self._anchored[id(node)] = (size, height)
        return node


class _Constructor(SafeConstructor):
    """SafeConstructor as Kubernetes reads YAML: duplicate keys refused, timestamps kept as text."""

    def construct_unique_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in mapping
            except TypeError:
                raise ConstructorError(None, None, f"unhashable key {_quote(key)}", key_node.start_mark) from None
            if duplicate:
                raise ConstructorError(None, None, f"duplicate key {_quote(key)}", key_node.start_mark)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_yaml_map_unique(self, node: MappingNode) -> Iterator[dict[Any, Any]]:
        data: dict[Any, Any] = {}
        yield data
        data.update(self.construct_unique_mapping(node))

    def construct_text(self, node: Node) -> str:
        return str(self.construct_scalar(node))  # type: ignore[arg-type]


_Constructor.add_constructor(BaseResolver.DEFAULT_MAPPING_TAG, _Constructor.construct_yaml_map_unique)  # type: ignore[type-var]
# sigs.k8s.io/yaml turns YAML into JSON: a timestamp stays the string it was; so does !!binary
_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_text)  # type: ignore[type-var]
_Constructor.add_constructor("tag:yaml.org,2002:binary", _Constructor.construct_text)  # type: ignore[type-var]


def _readable(construct: Any) -> Any:
    """A scalar constructor whose ``ValueError`` (an integer of more than 4300 digits, ``!!int abc``)
    is a refusal at the scalar's position, not an exception of another kind."""

    def checked(self: _Constructor, node: Node) -> Any:
        try:
            return construct(self, node)
        except ValueError as exc:
            what = f"cannot read {str(node.value)[:40]!r}: {exc}"
            raise ConstructorError(None, None, what, node.start_mark) from None

    return checked


for _tag in ("int", "float"):
    _Constructor.add_constructor(
        f"tag:yaml.org,2002:{_tag}", _readable(SafeConstructor.yaml_constructors[f"tag:yaml.org,2002:{_tag}"])
    )


class _PyLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, _BoundedComposer, _Constructor, Resolver):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        Composer.__init__(self)
        _Constructor.__init__(self)
        Resolver.__init__(self)


_Loader: Callable[[str], Any] = _PyLoader
if yaml.__with_libyaml__:  # libyaml's parser for the events (6x faster), the bounded composer above for nodes
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    class _CLoader(_BoundedComposer, CParser, _Constructor, Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            _Constructor.__init__(self)
            Resolver.__init__(self)

    _Loader = _CLoader

_TREE_SCALARS = frozenset(
    {
        "tag:yaml.org,2002:str",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
        "tag:yaml.org,2002:timestamp",
    }
)
_NO_KEY: Any = object()


def _tree_documents(text: str, max_nodes: int) -> list[tuple[int, Any, int, bool]] | None:
    """The documents of ``text``, straight from libyaml's events, when it is a plain tree; else None.

    What :func:`_yaml_documents` yields, built without composing nodes: almost every manifest is a
    tree of mappings, sequences and plain or quoted scalars, which the bounded composer and the
    constructor turn into exactly what this builds, with the same resolver and scalar constructors.
    Anything else (an anchor, an alias, a tag, a merge or complex key, a duplicate key, nesting or
    size near the bounds, a float key, any parse error) is None: the caller then reads the text the
    bounded way, which decides and words it exactly as it always has. Iterative, so no depth can
    exhaust a stack; aliases are refused before they can expand.

    The fourth item of each document says it is *plain*: every value one the CEL runtime holds (no
    integer beyond 64 bits, every key a string, boolean or such an integer), no string one of the
    engine's unknown sentinels and no null in a mapping. Seen here at no cost, it spares the
    evaluator its own walks of them.
    """
    if not yaml.__with_libyaml__:
        return None
    constructor = _Constructor()
    constructors = constructor.yaml_constructors
    resolver: Any = Resolver()  # PyYAML's own, untyped
    scalars: dict[str, Any] = {}  # plain scalar -> its value (immutable: str, int, bool, None)
    docs: list[tuple[int, Any, int, bool]] = []
    depth_limit = _BoundedComposer.max_depth - 2
    low, high = CEL_INT_RANGE
    try:
        parser: Any = CParser(text)
        get: Callable[[], Any] = parser.get_event
        if type(get()) is not yaml.StreamStartEvent:
            return None
        number = 0
        while True:
            event = get()
            if type(event) is yaml.StreamEndEvent:
                return docs
            if type(event) is not yaml.DocumentStartEvent:
                return None
            number += 1
            containers: list[Any] = []  # open mappings and sequences
            keys: list[Any] = []  # each open mapping's key awaiting its value (_NO_KEY: none)
            root: Any = None
            line = 0
            nodes = 0
            plain = True
            while True:
                event = get()
                kind = type(event)
                if kind is yaml.DocumentEndEvent:
                    break
                if kind is yaml.ScalarEvent:
                    if event.anchor is not None or event.tag is not None:
                        return None
                    value: Any = event.value
                    if event.implicit[0]:
                        if value in scalars:
                            value = scalars[value]
                        else:
                            tag = resolver.resolve(yaml.ScalarNode, value, (True, False))
                            if tag not in _TREE_SCALARS:
                                return None
                            raw = value
                            value = constructors[tag](constructor, yaml.ScalarNode(tag, raw))
                            if type(value) is float:
                                if containers and keys[-1] is _NO_KEY and type(containers[-1]) is dict:
                                    return None  # a float key (nan is not equal to itself)
                            else:
                                scalars[raw] = value
                    kind_of = type(value)
                    if kind_of is str:
                        if value in UNKNOWN_SENTINELS:
                            plain = False
                    elif kind_of is int:
                        if not low <= value <= high:
                            plain = False
                    elif value is None and containers and type(containers[-1]) is dict:
                        # a null key (CEL's maps take none), or a null value, which the evaluator
                        # drops as the API server does (Subject): a plain document holds no null
                        plain = False
                elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                    if event.anchor is not None or event.tag is not None or len(containers) >= depth_limit:
                        return None
                    if containers and type(containers[-1]) is dict and keys[-1] is _NO_KEY:
                        return None  # a complex key
                    nodes += 1
                    if nodes >= max_nodes:
                        return None
                    if not containers:
                        line = event.start_mark.line + 1
                    containers.append({} if kind is yaml.MappingStartEvent else [])
                    keys.append(_NO_KEY)
                    continue
                elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                    value = containers.pop()  # counted at its start
                    keys.pop()
                else:
                    return None  # an alias, or an event a plain tree does not have
                if kind is yaml.ScalarEvent:
                    nodes += 1
                    if nodes >= max_nodes:
                        return None
                if not containers:
                    if kind is yaml.ScalarEvent:
                        line = event.start_mark.line + 1
                    root = value
                    continue
                parent = containers[-1]
                if type(parent) is list:
                    parent.append(value)
                elif keys[-1] is _NO_KEY:
                    if value in parent:
                        return None  # a duplicate key
                    keys[-1] = value
                else:
                    parent[keys[-1]] = value
                    keys[-1] = _NO_KEY
            docs.append((number, root, line, plain))
    except Exception:  # a parse error, an unhashable oddity: the bounded reader says what it is
        return None


def _helm_chart_note(folder: Path) -> str:
    return (
        f"{folder}: a Helm chart (Chart.yaml): skipped, its templates are not manifests; render it and audit"
        f" the result: helm template RELEASE {folder} > rendered.yaml && fleet-baseline audit rendered.yaml"
    )


def _manifest_files(paths: Sequence[str | os.PathLike[str]], notes: list[str] | None = None) -> list[Path]:
    """The files to read: each file given, and every manifest file under each directory (sorted,
    symlinked directories not followed, hidden directories skipped). A Helm chart's folder (one
    holding ``Chart.yaml``) is skipped, with a note in ``notes`` naming it and the command that
    renders it: its templates are Go templates, not manifests."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found: list[Path] = []
            for root, dirs, names in os.walk(p, followlinks=False):
                if "Chart.yaml" in names or "Chart.yml" in names:
                    dirs[:] = []
                    if notes is not None:
                        notes.append(_helm_chart_note(Path(root)))
                    continue
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(Path(root) / n for n in names if n.lower().endswith(_MANIFEST_SUFFIXES))
            files.extend(sorted(found))
        elif p.is_file():
            files.append(p)
        elif p.exists():
            raise SourceError(f"{p}: not a file or directory")
        else:
            raise SourceError(f"{p}: no such file or directory")
    return files


def _read_capped(fh: IO[bytes], size: int, max_bytes: int) -> bytes:
    """At most ``max_bytes + 1`` bytes, read as what ``stat`` said is there (plus any growth since):
    ``read(n)`` allocates ``n`` bytes up front, so one ``read(max_bytes + 1)`` cost 256 MiB per file."""
    data = fh.read(min(size, max_bytes) + 1)
    while len(data) <= max_bytes:
        more = fh.read(min(1 << 20, max_bytes + 1 - len(data)))
        if not more:
            break
        data += more
    return data


def _read_text(path: Path, max_bytes: int) -> str:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(f"{path}: {size} bytes is over the {max_bytes}-byte limit for one file")
        with path.open("rb") as fh:
            data = _read_capped(fh, size, max_bytes)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise SourceError(f"{path}: over the {max_bytes}-byte limit for one file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    return text.removeprefix("\ufeff")


def _yaml_documents(text: str, path: Path, max_nodes: int) -> Iterator[tuple[int, Any, int, bool]]:
    """(document number from 1, data, line, plain) for each document; refusals name the document.

    ``plain``: known to hold only what the CEL runtime takes and no unknown (:func:`_tree_documents`);
    False says only that nobody looked."""
    tree = _tree_documents(text, max_nodes)
    if tree is not None:
        yield from tree
        return
    loader = _Loader(text)
    loader.max_nodes = max_nodes
    number = 0
    try:
        while loader.check_node():
            number += 1
            node = loader.get_node()
            line = node.start_mark.line + 1 if node is not None else 0
            yield number, (loader.construct_document(node) if node is not None else None), line, False
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = " ".join(filter(None, [exc.context, exc.problem]))
        kind = "refused" if isinstance(exc, _Refused | ConstructorError) else "not valid YAML"
        raise SourceError(f"{path}: document {max(number, 1)}{where}: {kind}: {what}") from None
    except yaml.YAMLError as exc:
        raise SourceError(f"{path}: document {max(number, 1)}: not valid YAML: {exc}") from None
    except RecursionError:
        raise SourceError(f"{path}: document {max(number, 1)}: nesting too deep") from None
    finally:
        loader.dispose()




def _json_documents(text: str, path: Path) -> Iterator[tuple[int, Any, int, bool]]:
    """Concatenated JSON values (``kubectl`` accepts a stream of them), duplicate keys refused."""
    pos, number = _WS.match(text, 0).end(), 0  # type: ignore[union-attr]
    line, counted = 1, 0  # lines counted incrementally: many small documents stay linear
    while pos < len(text):
        number += 1
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            value, end = _JSON_STRICT.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise SourceError(
                f"{path}: document {number}, line {exc.lineno}, column {exc.colno}: not valid JSON: {exc.msg}"
            ) from None
        except ValueError as exc:  # the duplicate-key hook
            raise SourceError(f"{path}: document {number} (from line {line}): refused: {exc}") from None
        except RecursionError:
            raise SourceError(f"{path}: document {number}: nesting too deep") from None
        if _too_deep(text, pos, end, MAX_DEPTH):
            raise SourceError(f"{path}: document {number}: refused: nesting deeper than {MAX_DEPTH} levels")
        yield number, value, line, False
        pos = _WS.match(text, end).end()  # type: ignore[union-attr]


def read_manifests(
    paths: Sequence[str | os.PathLike[str]],
    *,
    max_bytes: int = DEFAULT_MAX_MANIFEST_BYTES,
    max_nodes: int = DEFAULT_MAX_NODES,
    jobs: int = 1,
) -> Snapshot:
    """Kubernetes manifests from files and directories (``*.yaml``, ``*.yml``, ``*.json``, recursive).

    Multi-document YAML, JSON (one value or several), and ``List`` documents (``kubectl get -o
    json``, a ``v1 List`` in YAML, or a typed ``NamespaceList`` whose items lack apiVersion and
    kind) are read; empty documents are skipped, and documents that are not Kubernetes objects are
    skipped with a problem. Bad UTF-8, invalid YAML or JSON, duplicate keys, alias bombs, nesting
    deeper than :data:`MAX_DEPTH` and files over ``max_bytes`` are a :class:`SourceError` naming the
    file and the document.

    ``jobs`` > 1 parses the files in that many worker processes when there are enough of them to
    be worth it (:data:`PARALLEL_MIN_BYTES`); the snapshot is the same, object for object and
    problem for problem, in the same order, and the first file in order that is refused is the error.
    """
    problems: list[str] = []
    files = _manifest_files(paths, problems)
    subjects: list[Subject] = []
    locations: dict[str, tuple[str, int]] = {}

    for path, (objects, found) in zip(files, _parsed_files(files, max_bytes, max_nodes, jobs), strict=True):
        problems.extend(found)
        where = str(path)
        for obj, line, plain in objects:
            subject = Subject(obj, plain=plain)  # made once: its reference places it, and it is judged
            subjects.append(subject)
            locations.setdefault(subject.ref, (where, line))
    label = ", ".join(str(p) for p in paths) or "(no files)"
    snap = _snapshot(label, (), problems=problems, made=subjects)
    snap.locations = locations
    if not files:
        snap.problems.append(f"{label}: no manifest files (*.yaml, *.yml, *.json) found")
    return snap


#: Below this much manifest text, worker processes cost more than they save.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024

_Parsed = tuple[list[tuple[dict[str, Any], int, bool]], list[str]]


def _parse_file(path: Path, max_bytes: int, max_nodes: int) -> _Parsed:
    """One file's Kubernetes objects (each with the line its document starts on, and whether it is
    plain) and the problems with it; a :class:`SourceError` when it is refused."""
    text = _read_text(path, max_bytes)
    if path.suffix.lower() == ".json":
        documents = _json_documents(text, path)
    else:
        documents = _yaml_documents(text, path, max_nodes)
    objects: list[tuple[dict[str, Any], int, bool]] = []
    problems: list[str] = []
    for number, doc, line, plain in documents:
        if doc is None:
            continue
        objects.extend((obj, line, plain) for obj in _objects(doc, f"{path}: document {number}", problems))
    return objects, problems


def _parse_file_in_worker(path: Path, max_bytes: int, max_nodes: int) -> tuple[bool, _Parsed | str]:
    try:
        return True, _parse_file(path, max_bytes, max_nodes)
    except SourceError as exc:  # said in the parent, in file order
        return False, str(exc)


def _parsed_files(files: Sequence[Path], max_bytes: int, max_nodes: int, jobs: int) -> Iterator[_Parsed]:
    """:func:`_parse_file` of each file, in order: here, or in ``jobs`` worker processes (forked,
    so nothing is imported again) when the files are many and large enough."""
    import multiprocessing

    total = 0
    if jobs > 1 and len(files) > 1 and "fork" in multiprocessing.get_all_start_methods():
        with contextlib.suppress(OSError):
            total = sum(f.stat().st_size for f in files)
    if total < PARALLEL_MIN_BYTES:
        for path in files:
            yield _parse_file(path, max_bytes, max_nodes)
        return
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=min(jobs, len(files)), mp_context=multiprocessing.get_context("fork"))
    try:
        parsed = pool.map(_parse_file_in_worker, files, repeat(max_bytes), repeat(max_nodes), chunksize=1)
        for ok, result in parsed:
            if not ok:
                raise SourceError(str(result))
            yield result  # type: ignore[misc]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _objects(doc: Any, where: str, problems: list[str]) -> list[dict[str, Any]]:
    """The Kubernetes objects of one document: itself, or a List's items."""
    if not isinstance(doc, dict):
        problems.append(f"{where}: not a Kubernetes object (a {type(doc).__name__}): skipped")
        return []
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items", []), list | None):
        items = doc.get("items") or []
        out: list[dict[str, Any]] = []
        item_kind = kind.removesuffix("List") if kind != "List" else None
        for i, item in enumerate(items):
            if isinstance(item, dict) and item_kind and isinstance(api_version, str):
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", item_kind)
            out.extend(_objects(item, f"{where} items[{i}]", problems))
        return out
    if not isinstance(api_version, str) or not isinstance(kind, str):
        problems.append(f"{where}: not a Kubernetes object (no apiVersion and kind): skipped")
        return []
    _slim_kubernetes(doc)
    return [doc]
