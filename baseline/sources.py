"""What an audit reads: manifests, a Pulumi state export or a live cluster, as a :class:`Snapshot`.

Three readers turn what a platform team has into the same thing, a list of
:class:`~baseline.evaluator.Subject` plus what routing and reporting need (the cluster, the stack,
the stamped baseline version, each namespace's owner, the exception records), so one evaluator
judges them all (``baseline.audit``):

* :func:`read_manifests`: YAML or JSON files and directories, as ``kubectl apply -f`` takes them,
  including ``kubectl get -o json`` ``List`` documents.
* :func:`read_state`: a ``pulumi stack export`` (deployment format v3). Each resource is judged on
  its refreshed **outputs** (the live object for Kubernetes resources; the cloud's view, with the
  same camelCase names the inputs use, for cloud resources), not on what the program asked for:
  that is what makes drift visible. Encrypted secrets become the engine's unknown sentinel, so a
  check that reads one says ``unknown``, never ``pass``.
* :func:`read_live`: read-only list calls against a cluster's API, for every kind the catalog's
  library names, through the official ``kubernetes`` client. :func:`audit_cluster_role` is the
  ClusterRole that permits exactly those reads (``docs/audit-clusterrole.yaml`` is generated from it).

Everything here parses; nothing judges. Inputs are untrusted and bounded: files over a size cap,
YAML alias bombs, nesting deeper than :data:`MAX_DEPTH`, duplicate keys, invalid UTF-8 and truncated
JSON are refused with a :class:`SourceError` that names the file (and the document or byte offset),
never a traceback. A state export is read as a stream, one resource at a time, so memory holds what
is judged (each resource's outputs) and not the whole document with every input beside it.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import json
import os
import re
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node
from yaml.resolver import BaseResolver, Resolver

from baseline.catalog import Catalog, KindRef, load_catalog
from baseline.cel import CEL_INT_RANGE, UNKNOWN_SENTINELS
from baseline.evaluator import Subject
from baseline.exceptions import EXCEPTION_TYPE

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = [
    "BASELINE_VERSION_LABEL",
    "DEFAULT_MAX_MANIFEST_BYTES",
    "DEFAULT_MAX_NODES",
    "DEFAULT_MAX_STATE_BYTES",
    "MAX_DEPTH",
    "OWNER_LABEL",
    "UNKNOWN",
    "LiveRead",
    "Snapshot",
    "SourceError",
    "audit_cluster_role",
    "audit_cluster_role_yaml",
    "live_reads",
    "read_live",
    "read_manifests",
    "read_state",
]

#: The labels the in-cluster component stamps (``providers.incluster``; a test keeps them equal).
#: Restated, not imported: the audit must not load the Pulumi SDK and providers to read a file.
OWNER_LABEL = "fleet-baseline.io/owner"
BASELINE_VERSION_LABEL = "fleet-baseline.io/baseline-version"

#: The engine's unknown sentinel (``pulumi.runtime.rpc``): an encrypted secret is a value nobody here
#: can read, which the evaluator's unknown machinery turns into ``unknown`` for any check reading it.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

#: Default caps. A manifest file is read whole; a state export is streamed, but what it holds is
#: kept (each resource's outputs), so its cap bounds memory too: about 4x the file at most.
DEFAULT_MAX_MANIFEST_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_STATE_BYTES = 64 * 1024 * 1024
#: Nodes one YAML document may expand to (aliases counted as the copies they stand for).
DEFAULT_MAX_NODES = 1_000_000
#: Deepest nesting accepted. Kubernetes objects and cloud resources are rarely deeper than 20; CRD
#: schemas reach 40. The evaluator also stops walking at this depth.
MAX_DEPTH = 128

# The engine's signature key and values (sdk/go/common/resource/sig).
_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"

#: The cloud cluster resources that carry the baseline stamp and the owner, and under which names:
#: GCP labels allow no dots or slashes (the version's dots are dashes), Azure tag names no slashes.
#: (type, property, version key, owner key, version written with dashes)
_CLUSTER_STAMPS: dict[str, tuple[str, str, str, bool]] = {
    "aws:eks/cluster:Cluster": ("tags", BASELINE_VERSION_LABEL, OWNER_LABEL, False),
    "gcp:container/cluster:Cluster": (
        "resourceLabels",
        "fleet-baseline-baseline-version",
        "fleet-baseline-owner",
        True,
    ),
    "azure-native:containerservice:ManagedCluster": (
        "tags",
        "fleet-baseline.io_baseline-version",
        "fleet-baseline.io_owner",
        False,
    ),
}
#: The project's cluster components (``fleet-baseline:eks:Cluster``...): their name is the cluster's.
_CLUSTER_COMPONENT = re.compile(r"^fleet-baseline:[a-z]+:Cluster$")


class SourceError(ValueError):
    """A source cannot be read at all. The message names the file and where in it; the CLI exits 2."""


def _quote(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: an error quotes what it refused, not all of it."""
    try:
        text = repr(value)
    except ValueError:  # an integer too long to write out
        text = f"<a {type(value).__name__} too long to show>"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


@dataclass
class Snapshot:
    """One source's objects, ready to judge, and what routing and reports need about them.

    ``problems`` are non-fatal: the audit goes on without what they name (a resource type the
    credentials may not list, resources judged on their inputs for want of outputs), and every
    report shows them, so an incomplete audit never passes for a clean one. ``locations`` maps a
    manifest subject's reference to its file and line, for reports that point at code.
    """

    source: str
    cluster: str | None = None
    stack: str | None = None
    subjects: list[Subject] = field(default_factory=list)
    baseline_version: str | None = None
    owners: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    cluster_owner: str | None = None
    locations: dict[str, tuple[str, int]] = field(default_factory=dict)


def _snapshot(
    source: str,
    raw: Iterable[tuple[Mapping[str, Any], str | None, str | None, str | None]],
    *,
    cluster: str | None = None,
    stack: str | None = None,
    stamp: str | None = None,
    cluster_owner: str | None = None,
    problems: list[str] | None = None,
    exceptions: list[dict[str, Any]] | None = None,
    made: Sequence[Subject] = (),
) -> Snapshot:
    """Subjects (made once the cluster is known, after any ``made`` already), owners and the stamped version."""
    subjects = [*made, *(Subject(props, type=t, name=n, urn=u, cluster=cluster) for props, t, n, u in raw)]
    owners: dict[str, str] = {}
    versions: Counter[str] = Counter()
    for s in subjects:
        if s.kube_kind != ("", "Namespace") or not s.object_name:
            continue
        labels = s.metadata.get("labels")
        if not isinstance(labels, Mapping):
            continue
        owner, version = labels.get(OWNER_LABEL), labels.get(BASELINE_VERSION_LABEL)
        if isinstance(owner, str) and owner:
            owners[s.object_name] = owner
        if isinstance(version, str) and version:
            versions[version] += 1
    if stamp is None and versions:
        stamp = versions.most_common(1)[0][0]
    return Snapshot(
        source=source,
        cluster=cluster,
        stack=stack,
        subjects=subjects,
        baseline_version=stamp,
        owners=owners,
        problems=list(problems or []),
        exceptions=list(exceptions or []),
        cluster_owner=cluster_owner,
    )


def _slim_kubernetes(obj: dict[str, Any]) -> None:
    """Drop ``metadata.managedFields``: server-side apply bookkeeping, often a third of an object,
    read by no control."""
    md = obj.get("metadata")
    if isinstance(md, dict) and "managedFields" in md:
        del md["managedFields"]


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
    integer beyond 64 bits, every key a string, boolean or such an integer) and no string one of the
    engine's unknown sentinels. Seen here at no cost, it spares the evaluator its own walk of them.
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
                    elif value is None and containers and keys[-1] is _NO_KEY and type(containers[-1]) is dict:
                        plain = False  # a null key: CEL's maps take none
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


def _manifest_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The files to read: each file given, and every manifest file under each directory (sorted,
    symlinked directories not followed, hidden directories skipped)."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found: list[Path] = []
            for root, dirs, names in os.walk(p, followlinks=False):
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


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {_quote(k)}")
        out[k] = v
    return out


_JSON_STRICT = json.JSONDecoder(object_pairs_hook=_no_duplicates)
_WS = re.compile(r"[ \t\n\r]*")


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
    files = _manifest_files(paths)
    subjects: list[Subject] = []
    problems: list[str] = []
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


# =========================================================================== state exports


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _too_deep(text: str, start: int, end: int, limit: int) -> bool:
    """Whether the JSON text ``text[start:end]`` nests deeper than ``limit``.

    Almost every value has fewer brackets in all than the limit, which two C-speed counts show;
    only the rest is measured: strings removed, then innermost pairs peeled one level at a time.
    """
    if text.count("{", start, end) + text.count("[", start, end) <= limit:
        return False
    skeleton = _NOT_BRACKET.sub("", _STRING.sub("", text[start:end]))
    for _ in range(limit):
        if not skeleton:
            return False
        skeleton = skeleton.replace("{}", "").replace("[]", "")
    return bool(skeleton)


class _JsonStream:
    """One JSON document read as a stream: structure token by token, values whole.

    The C decoder's ``raw_decode`` parses each value (a resource) from a sliding text buffer; a value
    cut by the end of the buffer is retried with more text (the read size doubles, so a huge value
    costs linear time). Bytes are counted against ``max_bytes`` as they arrive (after gunzip), UTF-8
    is checked as it is decoded, and every error carries the byte offset where it was found.
    """

    _CHUNK = 1 << 20

    def __init__(self, fh: IO[bytes], source: str, max_bytes: int) -> None:
        self._fh = fh
        self.source = source
        self._max = max_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._decode = _JSON_STRICT.raw_decode  # duplicate keys refused at any depth
        self.buf = ""
        self.pos = 0
        self._base = 0  # byte offset of buf[0]
        self._read = 0  # bytes read so far
        self.eof = False
        self._started = False

    # ------------------------------------------------------------------ buffer

    def _fill(self, want: int) -> None:
        if self.eof:
            return
        if self.pos > (1 << 16) and self.pos > len(self.buf) // 2:
            dropped = self.buf[: self.pos]
            self._base += len(dropped) if dropped.isascii() else len(dropped.encode("utf-8"))
            self.buf = self.buf[self.pos :]
            self.pos = 0
        try:
            data = self._fh.read(max(want, self._CHUNK))
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise SourceError(f"{self.source}: not a valid gzip file, or a truncated one: {exc}") from None
        except OSError as exc:
            raise SourceError(f"{self.source}: cannot read after byte {self._read}: {exc}") from None
        if len(data) + self._read > self._max:
            raise SourceError(
                f"{self.source}: over the {self._max}-byte limit for a state export"
                " (raise it with --max-state-bytes, or export one stack per file)"
            )
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise SourceError(f"{self.source}: not UTF-8 text: {exc.reason} at byte {self._read + exc.start}") from None
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        self._read += len(data)
        self.buf += text
        if not data:
            self.eof = True

    def byte_at(self, index: int) -> int:
        head = self.buf[:index]
        return self._base + (len(head) if head.isascii() else len(head.encode("utf-8")))

    def _fail(self, what: str, index: int | None = None) -> SourceError:
        at = self.byte_at(self.pos if index is None else index)
        tail = f" (the input ends at byte {self._read}: truncated?)" if self.eof and at >= self._read - 64 else ""
        return SourceError(f"{self.source}: {what} at byte {at}{tail}")

    # ------------------------------------------------------------------ tokens

    def peek(self) -> str:
        """The next non-blank character ('' at the end), not consumed."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                return ""
            self._fill(self._CHUNK)

    def expect(self, chars: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            found = f"{c!r}" if c else "the end of the input"
            raise self._fail(f"not a state export: expected {' or '.join(repr(x) for x in chars)}, found {found}")
        self.pos += 1
        return c

    def value(self) -> tuple[Any, int, int]:
        """The next JSON value, whole, and its span in ``buf``."""
        self.peek()
        want = self._CHUNK
        while True:
            start = self.pos
            try:
                value, end = self._decode(self.buf, start)
            except json.JSONDecodeError as exc:
                if self.eof:
                    raise self._fail(f"invalid JSON: {exc.msg}", exc.pos) from None
                self._fill(want)
                want *= 2
                continue
            except RecursionError:
                raise self._fail("refused: nesting too deep") from None
            except ValueError as exc:  # a number Python refuses (an integer of more than 4300 digits)
                raise self._fail(f"refused: {exc}") from None
            if end == len(self.buf) and not self.eof and self.buf[start] in "-0123456789tfn":
                self._fill(want)  # a number or literal cut by the buffer's end: read on, decode again
                continue
            self.pos = end
            return value, start, end

    def key(self) -> str:
        key, _, _ = self.value()
        if not isinstance(key, str):
            raise self._fail("not a state export: object keys are strings")
        return key

    def finish(self) -> None:
        if self.peek():
            raise self._fail("invalid JSON: extra data after the document")


#: Where the resources are: ``pulumi stack export`` writes ``deployment``, a file backend's
#: checkpoint (``.pulumi/stacks/<stack>.json``) ``checkpoint.latest``.
_DESCEND = frozenset({("deployment",), ("checkpoint",), ("checkpoint", "latest")})
_RESOURCES = frozenset({("deployment", "resources"), ("checkpoint", "latest", "resources")})
_KEEP = frozenset({("version",), ("deployment", "secrets_providers"), ("checkpoint", "latest", "secrets_providers")})
_SUPPORTED_VERSIONS = (1, 2, 3)


class _StateReader:
    """Turns each streamed resource into what is judged, keeping nothing else."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.raw: list[tuple[Mapping[str, Any], str | None, str | None, str | None]] = []
        self.kept: dict[tuple[str, ...], Any] = {}
        self.stack: str | None = None
        self.cluster: str | None = None
        self.cluster_resource_name: str | None = None
        self.stamp: str | None = None
        self.cluster_owner: str | None = None
        self.exceptions: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.no_outputs: list[str] = []
        self.encrypted = 0
        self.pending_delete = 0
        self.count = 0
        self.found_resources = False

    def walk(self, stream: _JsonStream) -> None:
        if stream.peek() != "{":
            raise stream._fail("not a state export: the document is not a JSON object")
        self._object(stream, ())
        stream.finish()

    def _object(self, stream: _JsonStream, path: tuple[str, ...]) -> None:
        stream.expect("{")
        if stream.peek() == "}":
            stream.pos += 1
            return
        seen: set[str] = set()
        while True:
            key = stream.key()
            if key in seen:  # Go's decoder keeps the last; which one the engine meant is anyone's guess
                raise stream._fail(f"refused: duplicate key {_quote(key)}")
            seen.add(key)
            stream.expect(":")
            here = (*path, key)
            c = stream.peek()
            if here in _DESCEND and c == "{":
                self._object(stream, here)
            elif here in _RESOURCES and c == "[":
                self.found_resources = True
                self._resources(stream)
            else:
                value, _, _ = stream.value()
                if here == ("version",) and value not in _SUPPORTED_VERSIONS:
                    raise SourceError(
                        f"{self.source}: deployment version {_quote(value)}: this reader knows versions 1 to 3"
                        " (pulumi stack export writes 3)"
                    )
                if here in _KEEP:
                    self.kept[here] = value
                elif here in _RESOURCES and value is not None:
                    raise stream._fail("not a state export: resources is not a list")
                elif here in _RESOURCES:
                    self.found_resources = True
            if stream.expect(",}") == "}":
                return

    def _resources(self, stream: _JsonStream) -> None:
        stream.expect("[")
        if stream.peek() == "]":
            stream.pos += 1
            return
        while True:
            value, start, end = stream.value()
            if _too_deep(stream.buf, start, end, MAX_DEPTH):
                raise stream._fail(f"refused: resource {self.count} nests deeper than {MAX_DEPTH} levels", start)
            self.take(value, stream.buf.find(_SIG, start, end) != -1)
            self.count += 1
            if stream.expect(",]") == "]":
                return

    def take(self, res: Any, signed: bool) -> None:
        """One resource: skipped, noted (stack, cluster, exception) or kept as a subject."""
        index = self.count
        if not isinstance(res, dict) or not isinstance(res.get("urn"), str) or not isinstance(res.get("type"), str):
            self.problems.append(f"{self.source}: resources[{index}] has no urn and type: skipped")
            return
        urn: str = res["urn"]
        typ: str = res["type"]
        parts = urn.split("::", 3)
        if len(parts) != 4 or not parts[0].startswith("urn:pulumi:"):
            self.problems.append(f"{self.source}: resources[{index}]: {_quote(urn, 200)} is not a Pulumi URN: skipped")
            return
        if self.stack is None or typ == "pulumi:pulumi:Stack":
            self.stack = parts[0].removeprefix("urn:pulumi:")
        name = parts[3]
        if typ == "pulumi:pulumi:Stack" or typ.startswith("pulumi:providers:"):
            return
        if res.get("delete") is True:
            self.pending_delete += 1  # an old copy awaiting deletion after a replace: its successor is judged
            return
        inputs, outputs = res.get("inputs"), res.get("outputs")
        if not res.get("custom"):
            if typ == EXCEPTION_TYPE:
                record = inputs if isinstance(inputs, dict) and inputs else outputs
                if isinstance(record, dict):
                    record = self._reveal(record) if signed else record
                    self.exceptions.append(record)
                    self.raw.append((record, typ, name, urn))
            elif _CLUSTER_COMPONENT.match(typ):
                self.cluster = name
            return
        if isinstance(outputs, dict) and outputs:
            props = outputs
        elif isinstance(inputs, dict):
            props = inputs
            self.no_outputs.append(urn)
        else:
            self.problems.append(f"{self.source}: {urn}: neither outputs nor inputs: skipped")
            return
        if signed:
            props = self._reveal(props)
        if any(k.startswith("__") for k in props):  # engine-internal keys (__inputs, __meta)
            props = {k: v for k, v in props.items() if not k.startswith("__")}
        if typ.startswith("kubernetes:"):
            _slim_kubernetes(props)
        stamp = _CLUSTER_STAMPS.get(typ)
        if stamp is not None:
            self._cluster_resource(props, stamp)
        self.raw.append((props, typ, name, urn))

    def _cluster_resource(self, props: Mapping[str, Any], stamp: tuple[str, str, str, bool]) -> None:
        prop, version_key, owner_key, dashed = stamp
        labels = props.get(prop)
        if isinstance(labels, Mapping):
            version, owner = labels.get(version_key), labels.get(owner_key)
            if isinstance(version, str) and version and self.stamp is None:
                self.stamp = version.replace("-", ".") if dashed else version
            if isinstance(owner, str) and owner and self.cluster_owner is None:
                self.cluster_owner = owner
        name = props.get("name")
        if isinstance(name, str) and name and self.cluster_resource_name is None:
            self.cluster_resource_name = name

    def _reveal(self, value: Any) -> Any:
        """Secrets decoded where the export holds plaintext, the unknown sentinel where it holds
        ciphertext; resource references as the engine hands them to policies (their id)."""
        if isinstance(value, dict):
            sig = value.get(_SIG)
            if sig == _SECRET_SIG:
                if "plaintext" in value:
                    text = value["plaintext"]
                    if isinstance(text, str) and _too_deep(text, 0, len(text), MAX_DEPTH):
                        raise SourceError(
                            f"{self.source}: refused: resource {self.count} holds a secret nesting deeper than"
                            f" {MAX_DEPTH} levels"
                        )
                    try:
                        return self._reveal(json.loads(value["plaintext"]))
                    except (TypeError, ValueError):
                        self.encrypted += 1
                        return UNKNOWN
                if "value" in value:
                    return self._reveal(value["value"])
                self.encrypted += 1
                return UNKNOWN
            if sig == _RESOURCE_SIG:
                ref = value.get("id") or value.get("urn")
                return ref if isinstance(ref, str) and ref else UNKNOWN
            if sig == _OUTPUT_SIG:
                return self._reveal(value["value"]) if "value" in value else UNKNOWN
            return {k: self._reveal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._reveal(v) for v in value]
        return value

    def snapshot(self) -> Snapshot:
        if not self.found_resources:
            raise SourceError(f"{self.source}: not a state export: no deployment.resources (use pulumi stack export)")
        problems = list(self.problems)
        if self.no_outputs:
            shown = ", ".join(self.no_outputs[:5]) + (
                f" and {len(self.no_outputs) - 5} more" if len(self.no_outputs) > 5 else ""
            )
            problems.append(
                f"{self.source}: {len(self.no_outputs)} resources have no outputs (never refreshed or created?):"
                f" judged on their inputs, which may not be what runs: {shown}"
            )
        if self.encrypted:
            problems.append(
                f"{self.source}: {self.encrypted} secret values are encrypted: checks that read them report unknown"
                " (pulumi stack export --show-secrets decrypts them)"
            )
        if self.pending_delete:
            problems.append(f"{self.source}: {self.pending_delete} resources pending deletion were not judged")
        return _snapshot(
            self.source,
            self.raw,
            cluster=self.cluster or self.cluster_resource_name,
            stack=self.stack,
            stamp=self.stamp,
            cluster_owner=self.cluster_owner,
            problems=problems,
            exceptions=self.exceptions,
        )


def read_state(
    path: str | os.PathLike[str] | IO[bytes],
    *,
    max_bytes: int = DEFAULT_MAX_STATE_BYTES,
) -> Snapshot:
    """A ``pulumi stack export`` document (``-`` reads stdin; gzip is recognised by its magic bytes).

    Each custom resource is judged on its outputs; one without outputs on its inputs, with a problem
    saying so. The stack, default providers and component resources are not judged, except the
    ``fleet-baseline:policy:Exception`` records (ST-02 judges them; they are also listed in
    ``exceptions``) and the cluster components, whose name is the cluster's. The stack name comes from
    the URNs (``urn:pulumi:STACK::PROJECT::...``). Over ``max_bytes`` (checked before reading a file,
    and as a stream is read), invalid or truncated JSON, bad UTF-8 and nesting deeper than
    :data:`MAX_DEPTH` are a :class:`SourceError` with the byte offset.
    """
    if isinstance(path, str | os.PathLike):
        if str(path) == "-":
            return _read_state_stream(sys.stdin.buffer, "<stdin>", max_bytes)
        p = Path(path)
        try:
            size = p.stat().st_size
        except OSError as exc:
            raise SourceError(f"{p}: cannot read: {exc.strerror or exc}") from None
        if p.is_file() and size > max_bytes:
            raise SourceError(
                f"{p}: {size} bytes is over the {max_bytes}-byte limit for a state export"
                " (raise it with --max-state-bytes, or export one stack per file)"
            )
        try:
            with p.open("rb") as fh:
                return _read_state_stream(fh, str(p), max_bytes)
        except OSError as exc:
            raise SourceError(f"{p}: cannot read: {exc.strerror or exc}") from None
    return _read_state_stream(path, getattr(path, "name", "<stream>"), max_bytes)


def _read_state_stream(fh: IO[bytes], source: str, max_bytes: int) -> Snapshot:
    buffered: Any = fh if hasattr(fh, "peek") else io.BufferedReader(cast(Any, fh))
    head = buffered.peek(2)[:2]
    stream_fh: Any = gzip.GzipFile(fileobj=buffered, mode="rb") if head == b"\x1f\x8b" else buffered
    reader = _StateReader(source)
    try:
        reader.walk(_JsonStream(stream_fh, source, max_bytes))
    except gzip.BadGzipFile as exc:
        raise SourceError(f"{source}: not a valid gzip file: {exc}") from None
    return reader.snapshot()


# =========================================================================== live clusters

#: Kinds read with one ``get`` of named objects rather than a cluster-wide list. ConfigMaps carry
#: every application's configuration (often credentials); the only one a control judges is EKS's
#: aws-auth (RB-06), so only it is read, and the ClusterRole grants only it.
_NAMED_GETS: dict[str, tuple[tuple[str, str], ...]] = {"ConfigMap": (("kube-system", "aws-auth"),)}


@dataclass(frozen=True)
class LiveRead:
    """One read-only call the live audit makes: a cluster-wide list, or a get of one named object."""

    kind: KindRef
    namespace: str | None = None
    name: str | None = None

    @property
    def verb(self) -> str:
        return "get" if self.name else "list"

    @property
    def path(self) -> str:
        k = self.kind
        base = f"/api/{k.version}" if not k.group else f"/apis/{k.group}/{k.version}"
        if self.name:
            ns = f"/namespaces/{self.namespace}" if self.namespace else ""
            return f"{base}{ns}/{k.plural}/{self.name}"
        return f"{base}/{k.plural}"

    @property
    def resource(self) -> str:
        """``plural.group`` as RBAC and kubectl name it (``deployments.apps``, ``namespaces``)."""
        return f"{self.kind.plural}.{self.kind.group}" if self.kind.group else self.kind.plural


def live_reads(catalog: Catalog | None = None) -> list[LiveRead]:
    """Every read the live audit makes: each kind of the catalog's library (the kinds its targets
    and its namespace-wide checks read), listed cluster-wide, except the named gets above."""
    catalog = catalog or load_catalog()
    reads: list[LiveRead] = []
    for name, kind in sorted(catalog.kinds.items(), key=lambda kv: (kv[1].group, kv[1].plural)):
        named = _NAMED_GETS.get(name)
        if named is None:
            reads.append(LiveRead(kind))
        else:
            reads.extend(LiveRead(kind, ns, obj) for ns, obj in named)
    return reads


def audit_cluster_role(catalog: Catalog | None = None, name: str = "fleet-baseline-audit") -> dict[str, Any]:
    """The least ClusterRole :func:`read_live` needs: get and list on exactly the kinds it lists, get
    on the named objects it reads, nothing else (no secrets, no write verbs)."""
    lists: dict[str, set[str]] = {}
    named: dict[tuple[str, str], set[str]] = {}
    for read in live_reads(catalog):
        if read.name:
            named.setdefault((read.kind.group, read.kind.plural), set()).add(read.name)
        else:
            lists.setdefault(read.kind.group, set()).add(read.kind.plural)
    rules: list[dict[str, Any]] = [
        {"apiGroups": [group], "resources": sorted(plurals), "verbs": ["get", "list"]}
        for group, plurals in sorted(lists.items())
    ]
    rules += [
        {"apiGroups": [group], "resources": [plural], "resourceNames": sorted(names), "verbs": ["get"]}
        for (group, plural), names in sorted(named.items())
    ]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "fleet-baseline"}},
        "rules": rules,
    }


def audit_cluster_role_yaml(catalog: Catalog | None = None) -> str:
    """``docs/audit-clusterrole.yaml``: the ClusterRole with how to bind it and regenerate it."""
    header = (
        "# The read-only ClusterRole `fleet-baseline audit --context` needs: get/list on exactly the kinds\n"
        "# it reads (the catalog's), get on kube-system/aws-auth only; no Secrets, no write verbs.\n"
        "# Bind it to the identity that runs the audit, e.g.:\n"
        "#   kubectl create clusterrolebinding fleet-baseline-audit \\\n"
        "#     --clusterrole=fleet-baseline-audit --group=fleet-baseline-auditors\n"
        "# Generated from baseline.sources.audit_cluster_role(); regenerate with:\n"
        "#   .venv/bin/python -c \"from baseline.sources import audit_cluster_role_yaml as y; print(y(), end='')\""
        " > docs/audit-clusterrole.yaml\n"
    )
    return header + yaml.safe_dump(audit_cluster_role(catalog), sort_keys=False, default_flow_style=False)


class _Http:
    """GET through the official client's ApiClient: its kubeconfig auth (tokens, exec plugins,
    client certificates), TLS and connection pool. Both request APIs the client has shipped are
    spoken: ``param_serialize`` + ``call_api`` (v34 on) and the older ``call_api(path, method, ...)``."""

    def __init__(self, api: ApiClient, timeout: float) -> None:
        self.api = api
        self.timeout = timeout
        self.host = str(getattr(api.configuration, "host", ""))

    def get(self, path: str, query: list[tuple[str, Any]], max_bytes: int) -> tuple[int, bytes]:
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json"}
        try:
            if hasattr(self.api, "param_serialize"):
                method, url, hdrs, body, post = self.api.param_serialize(
                    "GET", path, query_params=query, header_params=headers, auth_settings=["BearerToken"]
                )
                response = self.api.call_api(
                    method, url, header_params=hdrs, body=body, post_params=post, _request_timeout=self.timeout
                )
                raw = response.response
            else:  # kubernetes < 34
                legacy: Any = self.api
                raw = legacy.call_api(
                    path,
                    "GET",
                    query_params=query,
                    header_params=headers,
                    auth_settings=["BearerToken"],
                    _preload_content=False,
                    _return_http_data_only=True,
                    _request_timeout=self.timeout,
                )
        except ApiException as exc:
            if exc.status:
                return int(exc.status), (exc.body if isinstance(exc.body, bytes) else str(exc.body or "").encode())
            raise SourceError(f"cannot reach the API server at {self.host}: {exc.reason}") from None
        except Exception as exc:  # urllib3's connection and protocol errors
            raise SourceError(f"cannot reach the API server at {self.host}: {type(exc).__name__}: {exc}") from None
        try:
            chunks: list[bytes] = []
            total = 0
            while True:
                chunk = raw.read(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
                if total > max_bytes:
                    raise SourceError(f"{self.host}{path}: a response over {max_bytes} bytes: refused")
                chunks.append(chunk)
        finally:
            release = getattr(raw, "release_conn", None)
            if callable(release):
                release()
        return int(raw.status), b"".join(chunks)


def _kube_message(body: bytes) -> str:
    try:
        status = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace")
    msg = status.get("message") if isinstance(status, dict) else None
    return str(msg) if msg else body[:200].decode("utf-8", "replace")


def read_live(
    context: str | None = None,
    kubeconfig: str | os.PathLike[str] | None = None,
    *,
    client: ApiClient | None = None,
    cluster: str | None = None,
    catalog: Catalog | None = None,
    page_size: int = 500,
    max_pages: int = 10_000,
    max_response_bytes: int = 256 * 1024 * 1024,
    timeout: float = 60.0,
) -> Snapshot:
    """A live cluster, read with :func:`live_reads` only (the verbs :func:`audit_cluster_role` grants).

    ``client`` is an ``ApiClient`` (a test's, pointed at a local server); otherwise one is made from
    ``kubeconfig`` (default: the client's usual lookup) and ``context`` (default: the current one).
    Lists go cluster-wide in pages of ``page_size``, following ``metadata.continue``. Items get the
    ``apiVersion`` and ``kind`` list responses leave out. A 403 (or a 404 for a kind the cluster does
    not serve) on one type is a problem and the audit goes on; an unreachable server or failed
    authentication is a :class:`SourceError`.
    """
    label = f"context {context}" if context else None
    if client is None:
        try:
            from kubernetes import config as kube_module
        except ImportError:
            raise SourceError("a live audit needs the kubernetes client: pip install 'kubernetes>=30,<38'") from None
        kube_config: Any = kube_module  # its loaders are untyped
        config_file = str(kubeconfig) if kubeconfig is not None else None
        try:
            contexts, active = kube_config.list_kube_config_contexts(config_file=config_file)
            chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
            if chosen is None and context is None:
                raise SourceError("the kubeconfig has no current context: pass --context NAME")
            if chosen is None:
                known = ", ".join(sorted(str(c.get("name")) for c in contexts))
                raise SourceError(f"no context {context!r} in the kubeconfig (contexts: {known})")
            client = kube_config.new_client_from_config(config_file=config_file, context=context, persist_config=False)
        except SourceError:
            raise
        except Exception as exc:  # ConfigException, a missing or malformed kubeconfig
            raise SourceError(f"kubeconfig{f' {config_file}' if config_file else ''}: {exc}") from None
        label = f"context {chosen.get('name')}"
        if cluster is None:
            entry = chosen.get("context") or {}
            raw_cluster = str(entry.get("cluster") or chosen.get("name") or "")
            cluster = raw_cluster.rsplit("/", 1)[-1] or None  # an EKS ARN ends in cluster/NAME
    http = _Http(client, timeout)
    label = label or f"API server {http.host}"
    raw: list[tuple[Mapping[str, Any], str | None, str | None, str | None]] = []
    problems: list[str] = []
    for read in live_reads(catalog):
        if read.name:
            status, body = http.get(read.path, [], max_response_bytes)
            if status == 200:
                obj = _json_object(body, read.path)
                obj.setdefault("apiVersion", read.kind.api_version)
                obj.setdefault("kind", read.kind.kind)
                _slim_kubernetes(obj)
                raw.append((obj, None, None, None))
            elif status != 404:  # absent (not an EKS cluster, or access entries only): nothing to judge
                _refusal(status, body, f"{read.verb} {read.resource} {read.namespace}/{read.name}", http, problems)
            continue
        token: str | None = None
        seen: set[str] = set()
        for _page in range(max_pages):
            query: list[tuple[str, Any]] = [("limit", page_size)]
            if token:
                query.append(("continue", token))
            status, body = http.get(read.path, query, max_response_bytes)
            if status != 200:
                _refusal(status, body, f"list {read.resource}", http, problems)
                break
            doc = _json_object(body, read.path)
            for item in doc.get("items") or []:
                if isinstance(item, dict):
                    item.setdefault("apiVersion", read.kind.api_version)
                    item.setdefault("kind", read.kind.kind)
                    _slim_kubernetes(item)
                    raw.append((item, None, None, None))
            md = doc.get("metadata")
            token = md.get("continue") if isinstance(md, dict) else None
            if not token:
                break
            if token in seen:
                problems.append(f"list {read.resource}: the server repeated a continue token: stopped paging")
                break
            seen.add(token)
        else:
            problems.append(f"list {read.resource}: more than {max_pages} pages: the rest was not read")
    return _snapshot(label, raw, cluster=cluster, problems=problems)


def _json_object(body: bytes, path: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise SourceError(f"{path}: the API server answered with something that is not JSON: {exc}") from None
    except RecursionError:
        raise SourceError(f"{path}: the API server answered with JSON nested too deep") from None
    if not isinstance(doc, dict):
        raise SourceError(f"{path}: the API server answered with JSON that is not an object")
    return doc


def _refusal(status: int, body: bytes, what: str, http: _Http, problems: list[str]) -> None:
    """A 403 or 404 on one type is a gap in the audit; failed authentication ends it."""
    message = _kube_message(body)
    if status == 401:
        raise SourceError(f"{http.host}: not authenticated (401): {message}")
    if status == 403:
        problems.append(f"{what}: forbidden (403), not audited: {message}")
    elif status == 404:
        problems.append(f"{what}: not served by this cluster (404), not audited")
    elif status == 410:
        problems.append(f"{what}: the list expired while paging (410): partly audited; run again")
    else:
        problems.append(f"{what}: HTTP {status}, not audited: {message}")
