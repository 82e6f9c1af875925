"""Strategies and helpers shared by the property tests: hostile values, catalog-shaped objects with
unknowns, and valid intents for each cloud.

Everything the strategies know about the catalog is derived from it (target types and kinds, the
field names expressions read, the leaf values of the controls' own examples), so a new control is
covered without editing this file.
"""

from __future__ import annotations

import copy
import string
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

from baseline.catalog import load_catalog
from baseline.cel import UNKNOWN_SENTINELS, field_names
from baseline.loader import read_stack_config
from tests.conftest import STACKS_DIR

CATALOG = load_catalog()
SENTINELS: tuple[str, ...] = tuple(sorted(UNKNOWN_SENTINELS))

Path = tuple[Any, ...]
#: One thing to judge: (props, Pulumi type token or None).
Item = tuple[Any, str | None]


def examples(ci: int, cap: int) -> int:
    """``ci`` examples under the ``ci`` profile, scaled with the active profile (at most ``cap``).

    For tests whose examples are expensive (a Pulumi component under mocks, about a second each).
    """
    active = settings.default
    return max(1, min(cap, ci * (active.max_examples if active is not None else 50) // 50))


# --------------------------------------------------------------------------- the catalog, as data

#: Pulumi type tokens the catalog targets, and the Kubernetes kinds (apiVersion, kind) it targets.
TARGET_TYPES: tuple[str, ...] = tuple(sorted({t.type for t in CATALOG.targets() if t.type}))
TARGET_KINDS: tuple[tuple[str, str], ...] = tuple(
    sorted({(k.api_version, k.kind) for t in CATALOG.targets() for k in t.kinds})
)
#: The same kinds as Pulumi Kubernetes type tokens (``kubernetes:apps/v1:Deployment``), patches included.
KUBE_TYPES: tuple[str, ...] = tuple(
    sorted(
        {k.pulumi_type for t in CATALOG.targets() for k in t.kinds}
        | {k.pulumi_type + "Patch" for t in CATALOG.targets() for k in t.kinds}
    )
)

#: Every key an expression (or a variable it uses) can name: where an unknown is worth putting.
FIELD_NAMES: tuple[str, ...] = tuple(
    sorted(
        {
            name
            for t in CATALOG.targets()
            for text in (t.expression, *(v.expression for v in t.variables))
            for name in field_names(text, literals=False)
            if name
        }
    )
)


def _example_items() -> list[list[Item]]:
    out: list[list[Item]] = []
    for control in CATALOG:
        for ex in control.examples():
            obj = ex.object
            if obj.get("kind") == "List" and isinstance(obj.get("items"), list):
                items: list[Item] = []
                for item in obj["items"]:
                    if "type" in item and "properties" in item:
                        items.append((item["properties"], item["type"]))
                    else:
                        items.append((item, None))
                out.append(items)
            else:
                out.append([(obj, ex.type)])
    return out


#: The controls' own pass/fail/unknown examples, each a list of items (a stack example has several).
EXAMPLE_ITEMS: tuple[list[Item], ...] = tuple(_example_items())


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    elif not (isinstance(value, str) and value in UNKNOWN_SENTINELS):
        yield value


def _leaf_pool() -> tuple[Any, ...]:
    seen: dict[str, Any] = {}
    for items in EXAMPLE_ITEMS:
        for props, _ in items:
            for leaf in _leaves(props):
                seen.setdefault(f"{type(leaf).__name__}:{leaf!r}", leaf)
    return tuple(seen[k] for k in sorted(seen))


#: Concrete leaf values the examples use ('ENCRYPTED', 'secrets', CIDRs, ARNs, ...): substitutes
#: for an unknown that can flip a verdict, unlike random text.
LEAF_VALUES: tuple[Any, ...] = _leaf_pool()

#: Concrete values of every shape, for replacing an unknown.
GENERIC_VALUES: tuple[Any, ...] = (
    True,
    False,
    None,
    "",
    "x",
    0,
    1,
    -1,
    2.5,
    [],
    {},
    ["secrets"],
    ["Ingress", "Egress"],
    {"a": "b"},
    {"enabled": True},
    [{}],
    "0.0.0.0/0",
    "restricted",
    "1.0.0",
)


# --------------------------------------------------------------------------- hostile values

HUGE_SIZES = (10_000, 100_000, 1_000_000)

#: Keys as manifests can carry them: YAML allows ints, booleans and null as keys.
keys: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(FIELD_NAMES),
    st.text(max_size=12),
    st.integers(-3, 3),
    st.booleans(),
    st.none(),
)

scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**40, -(10**40)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(SENTINELS),
    st.sampled_from(LEAF_VALUES),
    st.binary(max_size=8),
    st.dates(),
    st.datetimes(),
    st.sampled_from(HUGE_SIZES).map(lambda n: "\u00e9" * n),
)


def _nest(value: Any, depth: int, as_map: bool) -> Any:
    for _ in range(depth):
        value = {"a": value} if as_map else [value]
    return value


hostile_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=4),
        st.tuples(children, children),
        st.builds(_nest, children, st.integers(1, 150), st.booleans()),
    ),
    max_leaves=12,
)


# --------------------------------------------------------------------------- paths in nested data


def node_paths(value: Any, path: Path = (), depth: int = 0) -> list[Path]:
    """Every node's path (keys and list indices), the root included, to a bounded depth."""
    out = [path]
    if depth > 40:
        return out
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(node_paths(v, (*path, k), depth + 1))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(node_paths(v, (*path, i), depth + 1))
    return out


def get_at(value: Any, path: Path) -> Any:
    for part in path:
        value = value[part]
    return value


def has_path(value: Any, path: Path) -> bool:
    try:
        get_at(value, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


def set_at(root: Any, path: Path, new: Any) -> Any:
    """``root`` with the node at ``path`` replaced (in place below the root; the root is returned)."""
    if not path:
        return new
    get_at(root, path[:-1])[path[-1]] = new
    return root


def sentinel_paths(value: Any, path: Path = ()) -> list[Path]:
    """Paths of every unknown sentinel (list indices kept, so each can be substituted)."""
    if isinstance(value, str) and value in UNKNOWN_SENTINELS:
        return [path]
    out: list[Path] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(sentinel_paths(v, (*path, k)))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            out.extend(sentinel_paths(v, (*path, i)))
    return out


def replace_sentinels(value: Any, choose: Callable[[Path], Any], path: Path = ()) -> Any:
    """A copy of ``value`` with each unknown sentinel replaced by ``choose(its path)``."""
    if isinstance(value, str) and value in UNKNOWN_SENTINELS:
        return choose(path)
    if isinstance(value, dict):
        return {k: replace_sentinels(v, choose, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_sentinels(v, choose, (*path, i)) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return tuple(replace_sentinels(v, choose, (*path, i)) for i, v in enumerate(value))
    return value


# --------------------------------------------------------------------------- objects with unknowns


_IDENTITY = frozenset({("apiVersion",), ("kind",)})
_KINDS = {(k.api_version, k.kind): k for t in CATALOG.targets() for k in t.kinds}


def _pulumi_type(props: Any) -> str | None:
    """The Pulumi type token of a Kubernetes object (as the pack and a state export see it)."""
    key = (props.get("apiVersion"), props.get("kind")) if isinstance(props, dict) else None
    return _KINDS[key].pulumi_type if key in _KINDS else None


@st.composite
def unknown_items(draw: st.DrawFn, max_mutations: int = 4) -> tuple[list[Item], list[Item]]:
    """(original, mutated): a catalog example with unknowns (and hostile values) put into it.

    Unknowns go on existing nodes at any depth, under new keys that expressions read, in floods
    (hundreds in one object), and on a namespaced object's ``metadata.namespace`` (in a stack,
    where membership of a namespace decides what its checks see).
    """
    original = draw(st.sampled_from(EXAMPLE_ITEMS))
    items: list[Item] = [
        (copy.deepcopy(props), typ if typ or not draw(st.booleans()) else _pulumi_type(props))
        for props, typ in original
    ]
    for _ in range(draw(st.integers(1, max_mutations))):
        index = draw(st.integers(0, len(items) - 1))
        props, typ = items[index]
        kind = draw(
            st.sampled_from(["unknown", "unknown", "unknown", "new-key", "hostile", "flood", "namespace", "nested"])
        )
        # the root stays a mapping (as the engine sends it); apiVersion and kind stay what they are:
        # they decide which checks apply, literals of the resource's class in any Pulumi program
        paths = [p for p in node_paths(props) if p and p not in _IDENTITY] or [("metadata",)]
        if kind == "unknown":
            path = draw(st.sampled_from(paths))
            props = set_at(props, path, draw(st.sampled_from(SENTINELS)))
        elif kind == "new-key":
            holders = [p for p in paths if isinstance(get_at(props, p), dict)]
            if holders:
                holder = draw(st.sampled_from(holders))
                get_at(props, holder)[draw(st.sampled_from(FIELD_NAMES))] = draw(st.sampled_from(SENTINELS))
        elif kind == "hostile":
            path = draw(st.sampled_from(paths))
            props = set_at(props, path, draw(hostile_values))
        elif kind == "flood":  # many unknowns, first in the object (before any other)
            flood = {f"flood-{i}": SENTINELS[i % len(SENTINELS)] for i in range(draw(st.sampled_from([5, 300])))}
            props = {"floodAnnotations": flood, **props}
        elif kind == "namespace":
            md = props.get("metadata") if isinstance(props, dict) else None
            if isinstance(md, dict):
                md[draw(st.sampled_from(["namespace", "name"]))] = draw(st.sampled_from(SENTINELS))
        else:  # an unknown deep inside a list of maps, where macros iterate
            path = draw(st.sampled_from(paths))
            props = set_at(props, path, [{draw(st.sampled_from(FIELD_NAMES)): draw(st.sampled_from(SENTINELS))}])
        items[index] = (props, typ)
    return original, items


@st.composite
def random_items(draw: st.DrawFn) -> Item:
    """A random property bag for a type or kind the catalog targets."""
    if draw(st.booleans()):
        typ: str = draw(st.sampled_from(TARGET_TYPES + KUBE_TYPES))
        props: Any = draw(st.dictionaries(keys, hostile_values, max_size=6))
        if typ.startswith("kubernetes:") and draw(st.booleans()):
            api_version, kind = draw(st.sampled_from(TARGET_KINDS))
            props.update(apiVersion=api_version, kind=kind)
        return props, typ
    api_version, kind = draw(st.sampled_from(TARGET_KINDS))
    props = draw(st.dictionaries(keys, hostile_values, max_size=6))
    props.update(apiVersion=api_version, kind=kind)
    if draw(st.booleans()):
        props["metadata"] = draw(
            st.fixed_dictionaries(
                {}, optional={"name": hostile_values, "namespace": hostile_values, "labels": hostile_values}
            )
        )
    return props, None


# --------------------------------------------------------------------------- valid intents

_LOWER = string.ascii_lowercase
_DNS_CHARS = _LOWER + string.digits + "-"


def _is_dns_label(text: str) -> bool:
    return 1 <= len(text) <= 63 and text[0] not in "-" and text[-1] != "-" and set(text) <= set(_DNS_CHARS)


dns_labels: st.SearchStrategy[str] = st.one_of(
    st.text(alphabet=_DNS_CHARS, min_size=1, max_size=20).filter(_is_dns_label),
    st.sampled_from(["a", "default", "x" * 63, "a-b", "b-c", "a-b-c", "0"]),
)

_NOT_NAMESPACES = frozenset(
    {"default", "kube-system", "kube-public", "kube-node-lease", "kyverno", "gatekeeper-system"}
)
_GUID_HEX = "0123456789abcdef"
AZURE_SCOPE = "/subscriptions/3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b/resourceGroups/rg"


def _hex(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=_GUID_HEX, min_size=n, max_size=n)


def guids() -> st.SearchStrategy[str]:
    return st.builds(lambda a, b, c, d, e: f"{a}-{b}-{c}-{d}-{e}", _hex(8), _hex(4), _hex(4), _hex(4), _hex(12))


def stack_intent_mapping(cloud: str) -> dict[str, Any]:
    """The prod stack's intent for ``cloud`` as the loader merges it (the file, the inline over it)."""
    import yaml

    config = read_stack_config(STACKS_DIR / f"Pulumi.{cloud}-prod.yaml")
    merged: dict[str, Any] = dict(yaml.safe_load((STACKS_DIR / config["intentFile"]).read_text()))
    for key, value in config["intent"].items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


@st.composite
def intent_mappings(draw: st.DrawFn, cloud: str) -> dict[str, Any]:
    """A valid intent for ``cloud``: the prod stack's cluster and hardening, with random namespaces,
    access grants and workload identities (random namespaces, service accounts, mechanisms, roles)."""
    data = copy.deepcopy(stack_intent_mapping(cloud))
    namespaces = draw(st.lists(dns_labels.filter(lambda n: n not in _NOT_NAMESPACES), unique=True, max_size=4))
    data["namespaces"] = [{"name": n, "owner": draw(st.sampled_from(["t", "platform-team"]))} for n in namespaces]
    usable = [*namespaces, "default", "kube-system"]

    grants: list[dict[str, Any]] = []
    for name in draw(st.lists(dns_labels, unique=True, max_size=4)):
        role = draw(st.sampled_from(["cluster-admin", "admin", "edit", "view"]))
        scope: Any = "cluster"
        if role != "cluster-admin" and draw(st.booleans()):
            scope = {"namespaces": draw(st.lists(st.sampled_from(usable), min_size=1, max_size=3))}  # repeats too
        grants.append(
            {
                "name": name,
                "role": role,
                "scope": scope,
                "aws": {
                    "principalArn": f"arn:aws:iam::111122223333:{draw(st.sampled_from(['role', 'user']))}/{name}",
                    "kubernetesGroups": draw(
                        st.lists(st.sampled_from(["team", "system:masters", "readers"]), max_size=2, unique=True)
                    ),
                },
                "gcp": {"member": f"{draw(st.sampled_from(['group', 'user', 'serviceAccount']))}:{name}@example.com"},
                "azure": {
                    "objectId": draw(guids()),
                    "principalType": draw(st.sampled_from(["Group", "User", "ServicePrincipal"])),
                },
            }
        )
    if not any(g["role"] == "cluster-admin" for g in grants):  # the loader refuses an intent nobody can administer
        admin = next(n for n in ("fleet-admins", "fleet-admins-2") if n not in {g["name"] for g in grants})
        grants.append(
            {
                "name": admin,
                "role": "cluster-admin",
                "aws": {"principalArn": f"arn:aws:iam::111122223333:role/{admin}"},
                "gcp": {"member": f"group:{admin}@example.com"},
                "azure": {"objectId": "0b1f6a4e-2c3d-4e5f-8a9b-0c1d2e3f4a5b"},
            }
        )
    data["access"] = grants

    identities: list[dict[str, Any]] = []
    accounts: set[tuple[str, str]] = set()
    for i, name in enumerate(draw(st.lists(dns_labels, unique=True, max_size=4))):
        ns = draw(st.sampled_from(usable))
        sa = draw(st.one_of(dns_labels, st.just("default")))
        if cloud != "eks" and (ns, sa) in accounts:
            continue  # GKE and AKS: a Kubernetes service account acts as one cloud identity
        accounts.add((ns, sa))
        policies = draw(
            st.lists(
                st.builds(
                    lambda account, policy: f"arn:aws:iam::{account}:policy/{policy}",
                    st.sampled_from(["aws", "111122223333", "444455556666"]),
                    st.sampled_from(["ReadOnlyAccess", "orders-queue", "team/orders-queue", "a"]),
                ),
                max_size=3,
            )
        )
        roles = draw(st.lists(st.sampled_from(["roles/pubsub.publisher", "roles/datastore.user"]), max_size=2))
        gcp_id = f"wi{i}-{draw(st.text(alphabet=_LOWER, min_size=4, max_size=8))}"
        azure_roles = draw(st.lists(guids(), max_size=2))
        identities.append(
            {
                "name": name,
                "namespace": ns,
                "serviceAccount": sa,
                "needsApi": draw(st.booleans()),
                "aws": {"mechanism": draw(st.sampled_from(["irsa", "pod-identity"])), "policyArns": policies},
                "gcp": {"serviceAccountId": gcp_id, "roles": roles},
                "azure": {"roleDefinitionIds": azure_roles, **({"scope": AZURE_SCOPE} if azure_roles else {})},
            }
        )
    data["workloadIdentities"] = identities
    data["exceptions"] = []
    hardening = data.setdefault("hardening", {})
    hardening["workloadIdentity"] = True
    if cloud == "eks":
        mode = draw(st.sampled_from(["API", "API_AND_CONFIG_MAP", "CONFIG_MAP"]))
        auth: dict[str, Any] = {"eksMode": mode}
        if mode != "API":
            auth["awsAuth"] = [
                {"rolearn": f"arn:aws:iam::111122223333:role/{g['name']}", "username": g["name"], "groups": ["team"]}
                for g in grants[:2]
            ]
        hardening["authentication"] = auth
    data.setdefault("admission", {})["engine"] = draw(st.sampled_from(["vap", "kyverno", "gatekeeper"]))
    return data
