"""The core needs no cloud SDK: with every cloud SDK unimportable, the intent, catalog, evaluator, audit,
fleet, admission render and the CrossGuard pack's factory import and run; a cloud component names its extra.

Run in a child interpreter whose import system refuses the three SDKs, as an environment installed
without the extras would.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO_ROOT

BLOCK_SDKS = textwrap.dedent(
    """
    import importlib.abc, sys
    SDKS = {"pulumi_aws", "pulumi_gcp", "pulumi_azure_native"}
    class NoCloudSDK(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in SDKS:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, NoCloudSDK())
    """
)

CORE = textwrap.dedent(
    """
    import importlib, json, sys
    for module in ("baseline.intent", "baseline.catalog", "baseline.evaluator", "baseline.loader",
                   "baseline.exceptions", "baseline.audit", "baseline.audit.sources", "baseline.audit.formats",
                   "baseline.fleet", "baseline.render", "baseline.plan", "baseline.cli", "providers.admission",
                   "providers.incluster", "providers.program", "policy_packs.factory"):
        importlib.import_module(module)
    from baseline.cli import main
    from baseline.loader import intent_from_config, read_stack_config
    from providers.admission import render_admission
    intent = intent_from_config(read_stack_config("stacks/Pulumi.eks-prod.yaml"), base_dir="stacks")
    assert render_admission(intent), "no admission objects"
    state = "tests/fixtures/state/eks-prod-drifted.json.gz"
    import tempfile  # never --output /dev/null here: a regression there would replace the machine's device
    with tempfile.TemporaryDirectory() as tmp:
        code = main(["audit", "--format", "json", "--output", tmp + "/report.json", "--state", state])
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in SDKS)
    print(json.dumps({"audit": code, "sdks": loaded}))
    """
)


@pytest.mark.slow
def test_the_core_runs_without_any_cloud_sdk() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_SDKS + CORE], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = done.stdout.strip().splitlines()[-1]
    assert '"sdks": []' in result
    assert '"audit": 1' in result or '"audit": 0' in result  # judged (stale states block), not a crash


@pytest.mark.slow
def test_a_cloud_component_without_its_sdk_names_the_extra() -> None:
    code = BLOCK_SDKS + "from providers import GkeCluster\n"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "providers.gke needs the Google Cloud SDK (pulumi_gcp), which is not installed" in done.stderr
    assert "pip install 'fleet-baseline[gcp]'" in done.stderr
