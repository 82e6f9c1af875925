"""``fleet-baseline init``: a user's own Pulumi project, ready for ``plan`` and ``pulumi up``.

What it writes (nothing is overwritten; an existing file is an error naming it, and nothing is written):

- ``Pulumi.yaml``: the project (Python, ``stackConfigDir: stacks``).
- ``__main__.py``: three lines calling :func:`providers.program.run`, the program of the installed package.
- ``requirements.txt``: the installed version of fleet-baseline with the chosen clouds' extras.
- ``stacks/intents/baseline.yaml``: the shared intent, every section commented.
- ``stacks/Pulumi.<cloud>-dev.yaml``: one stack per cloud, naming where its cluster lives.
- ``policy/``: the CrossGuard pack's directory for ``pulumi preview --policy-pack policy``: its
  ``PulumiPolicy.yaml``, a three-line ``__main__.py`` calling :func:`policy_packs.entry.serve`, and its
  ``requirements.txt`` pinning the same fleet-baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CLOUDS", "ScaffoldError", "project_files", "scaffold"]

#: cloud -> (extra of the distribution, provider config package, the stack name ``init`` writes)
CLOUDS = {"eks": "aws", "gke": "gcp", "aks": "azure"}


class ScaffoldError(ValueError):
    """Bad arguments or a directory that already holds a file ``init`` would write."""


@dataclass(frozen=True)
class _Names:
    project: str
    version: str
    clouds: tuple[str, ...]

    @property
    def extras(self) -> str:
        return ",".join(CLOUDS[c] for c in self.clouds)


_PULUMI_YAML = """\
# A fleet-baseline project: one stack is one cluster, its intent in stack config.
#   fleet-baseline plan --stack {first}       preview offline (Pulumi mocks + the CrossGuard pack)
#   pulumi preview --stack {first} --policy-pack policy
name: {project}
description: Kubernetes clusters that are born compliant with the team's baseline (fleet-baseline).
runtime:
  name: python
  options:
    toolchain: pip
    virtualenv: venv
stackConfigDir: stacks
"""

_MAIN = '''\
"""fleet-baseline: one stack is one cluster, described by the stack's intent (stacks/Pulumi.<stack>.yaml)."""
from providers.program import run
run(__file__)
'''

_PACK_MAIN = '''\
"""fleet-baseline's CrossGuard pack: the engine runs ``python -u -m pulumi.policy <engine> .`` here."""
from policy_packs.entry import serve
serve(__file__)
'''

_PACK_YAML = """\
# fleet-baseline's CrossGuard pack: `pulumi preview --policy-pack policy`. The policies come from the
# control catalog of the fleet-baseline package requirements.txt installs; each stack's intent (its
# modes, exceptions and rollout wave) sets their levels. `fleet-baseline pack build --out DIR` writes a
# pack with the wheel inside, for `pulumi policy publish`.
description: fleet-baseline, the Kubernetes security baseline judged on every stack of {project}.
runtime: python
"""

_INTENT = """\
# The baseline every cluster of {project} holds, written once. Each stack (stacks/Pulumi.<stack>.yaml)
# adds where its cluster lives and may override any key here (merged one level deep).
# Reference: every field, its type, default and constraint: docs/intent.md, or
#   fleet-baseline schema > intent.schema.json    (for editor completion, see the line below)
# yaml-language-server: $schema=../../intent.schema.json

# The version of this baseline: clusters stamped with an older one show as stale in `fleet-baseline fleet`.
baselineVersion: "1.0.0"

cluster:
  # A DNS label; the stack's own config usually sets it (one cluster per stack).
  name: {project}-dev
  # The team that owns the cluster: findings are routed here unless a namespace has its own owner.
  owner: platform-team
  kubernetesVersion: "1.33"

# Control plane and nodes. Every default below is already the secure choice; they are spelled out so a
# reviewer sees them. Setting one to the insecure value is valid intent: the pack then blocks the stack.
hardening:
  endpoint: {{private: true, public: false}}      # API server reachable only from inside the network
  secretsEncryption: {{enabled: true}}            # envelope encryption of Secrets (EKS creates the key)
  auditLogging: {{enabled: true, retentionDays: 365}}

# Who may use the cluster: a role at cluster scope or in listed namespaces, with each cloud's principal.
access:
  - name: platform-admins
    role: cluster-admin
    scope: cluster
{principals}
# Namespaces the baseline creates: Pod Security labels, default-deny NetworkPolicies, quotas, owner.
namespaces:
  - {{name: apps, owner: app-team}}

podSecurity: {{level: restricted, version: v1.33}}
network: {{defaultDeny: true, allowDns: true, blockMetadata: true}}

# Where images may come from (a prefix each image must start with); empty allows any registry.
registries:
  allowed: []

# Admission: the engine that enforces in the cluster (vap, kyverno or gatekeeper) and each control's
# mode (enforce, audit, off); `fleet-baseline controls` lists the controls.
admission:
  engine: vap
  modes: {{}}

# Which rollout wave this cluster is in (canary, early, broad): per-wave modes apply to it.
rollout: {{wave: broad}}

# Owned, expiring exceptions from one control, e.g.
#   - {{control: NS-01, scope: {{namespace: monitoring}}, owner: platform-team,
#      reason: node-exporter reads host metrics until the agent is replaced, expires: 2027-06-30}}
exceptions: []
"""

_PRINCIPALS = {
    "eks": '    aws: {principalArn: "arn:aws:iam::111122223333:role/platform-admins"}   # replace',
    "gke": '    gcp: {member: "group:platform-admins@example.com"}                      # replace',
    "aks": '    azure: {objectId: "00000000-0000-4000-8000-000000000000"}               # replace',
}

_STACKS = {
    "eks": """\
# An EKS cluster of {project}: the shared intent (intents/baseline.yaml) plus where it lives.
config:
  aws:region: eu-west-1
  fleet-baseline:intentFile: intents/baseline.yaml
  fleet-baseline:intent:
    cluster:
      name: {project}-eks-dev
      cloud: eks
      eks:
        region: eu-west-1
        # two private subnets in different availability zones (replace with yours)
        subnetIds: [subnet-00000000000000001, subnet-00000000000000002]
""",
    "gke": """\
# A GKE cluster of {project}: the shared intent (intents/baseline.yaml) plus where it lives.
config:
  gcp:project: my-project
  gcp:region: europe-west1
  fleet-baseline:intentFile: intents/baseline.yaml
  fleet-baseline:intent:
    cluster:
      name: {project}-gke-dev
      cloud: gke
      gke:
        project: my-project
        location: europe-west1
    hardening:
      # GKE encrypts Secrets with an existing Cloud KMS key (replace with yours)
      secretsEncryption:
        kmsKey: projects/my-project/locations/europe-west1/keyRings/gke/cryptoKeys/secrets
""",
    "aks": """\
# An AKS cluster of {project}: the shared intent (intents/baseline.yaml) plus where it lives.
config:
  azure-native:location: westeurope
  azure-native:subscriptionId: 00000000-0000-4000-8000-000000000001
  fleet-baseline:intentFile: intents/baseline.yaml
  fleet-baseline:intent:
    cluster:
      name: {project}-aks-dev
      cloud: aks
      aks:
        resourceGroupName: rg-{project}-dev
        location: westeurope
        subscriptionId: 00000000-0000-4000-8000-000000000001
        tenantId: 00000000-0000-4000-8000-000000000002
        # where the control plane's audit logs go (replace with your Log Analytics workspace)
        logAnalyticsWorkspaceId: /subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg-observability/providers/Microsoft.OperationalInsights/workspaces/law-{project}
    hardening:
      # AKS encrypts Secrets with an existing, versioned Key Vault key (replace with yours)
      secretsEncryption:
        enabled: true
        kmsKey: https://kv-{project}.vault.azure.net/keys/etcd-kek/0a1b2c3d4e5f60718293a4b5c6d7e8f9
        keyVaultResourceId: /subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg-{project}-dev/providers/Microsoft.KeyVault/vaults/kv-{project}
""",  # noqa: E501 (Azure resource ids are long; a stack file keeps them on one line)
}


def _project_name(directory: Path) -> str:
    name = directory.resolve().name.lower()
    cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in name).strip("-")
    return cleaned or "fleet"


def project_files(directory: Path, clouds: Sequence[str], version: str) -> dict[Path, str]:
    """Every file ``init`` writes, relative to ``directory``, and its text."""
    unknown = [c for c in clouds if c not in CLOUDS]
    if unknown or not clouds:
        raise ScaffoldError(f"--cloud: {', '.join(unknown) or 'nothing'} is not one of {', '.join(CLOUDS)}")
    names = _Names(_project_name(directory), version, tuple(dict.fromkeys(clouds)))
    requirement = f"fleet-baseline[{names.extras}]=={version}\n"
    stacks = {f"{c}-dev": c for c in names.clouds}
    files = {
        Path("Pulumi.yaml"): _PULUMI_YAML.format(project=names.project, first=next(iter(stacks))),
        Path("__main__.py"): _MAIN,
        Path("requirements.txt"): requirement,
        Path("stacks/intents/baseline.yaml"): _INTENT.format(
            project=names.project, principals="\n".join(_PRINCIPALS[c] for c in names.clouds)
        ),
        Path("policy/PulumiPolicy.yaml"): _PACK_YAML.format(project=names.project),
        Path("policy/__main__.py"): _PACK_MAIN,
        Path("policy/requirements.txt"): f"fleet-baseline=={version}\n",
    }
    for stack, cloud in stacks.items():
        files[Path(f"stacks/Pulumi.{stack}.yaml")] = _STACKS[cloud].format(project=names.project)
    return files


def scaffold(directory: str | Path, clouds: Sequence[str], version: str) -> list[Path]:
    """Write the project into ``directory`` (created if missing); returns the paths written.

    Refuses, before writing anything, when any of the files already exists."""
    root = Path(directory)
    files = project_files(root, clouds, version)
    if root.exists() and not root.is_dir():
        raise ScaffoldError(f"{root}: exists and is not a directory")
    existing = [str(root / rel) for rel in files if (root / rel).exists()]
    if existing:
        raise ScaffoldError(f"{root}: would overwrite {', '.join(existing)}; nothing was written")
    written = []
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
