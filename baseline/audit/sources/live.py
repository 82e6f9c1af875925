"""A live cluster, read-only: list calls for every kind the catalog's library names, and the ClusterRole that permits
exactly those reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from baseline.catalog import Catalog, KindRef, load_catalog

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

from baseline.audit.sources.snapshot import Snapshot, SourceError, _slim_kubernetes, _snapshot

__all__ = [
    "LiveRead",
    "audit_cluster_role",
    "audit_cluster_role_yaml",
    "live_reads",
    "read_live",
]

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
        "# Generated from baseline.audit.sources.audit_cluster_role(); regenerate with:\n"
        "#   .venv/bin/python -c \"from baseline.audit.sources import audit_cluster_role_yaml as y; "
        "print(y(), end='')\""
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
            if status == 404 and read.kind.optional:
                break  # an engine's kind where that engine is not installed: nothing to judge
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
