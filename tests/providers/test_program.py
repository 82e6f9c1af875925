"""providers.program: where a program's stack config directory is, and the missing-SDK message."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from baseline.loader import stack_config_dir
from providers import MissingCloudSDKError, import_component_module
from tests.conftest import STACKS_DIR


def test_the_repository_program_reads_stacks_through_pulumi_yaml() -> None:
    assert stack_config_dir(STACKS_DIR / "__main__.py") == STACKS_DIR.resolve()


def test_stack_config_dir_of_a_project(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: acme\nruntime: python\nmain: program/\nstackConfigDir: stacks\n")
    (tmp_path / "program").mkdir()
    assert stack_config_dir(tmp_path / "program" / "__main__.py") == tmp_path / "stacks"
    (tmp_path / "Pulumi.yaml").write_text("name: acme\nruntime: python\n")  # no stackConfigDir: beside Pulumi.yaml
    assert stack_config_dir(tmp_path / "program" / "__main__.py") == tmp_path
    lone = tmp_path / "lone"
    lone.mkdir()
    (tmp_path / "Pulumi.yaml").unlink()
    assert stack_config_dir(lone / "__main__.py") == lone  # outside any project: the program's own directory


def test_a_cloud_module_without_its_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pulumi_azure_native", None)
    monkeypatch.delitem(sys.modules, "providers.aks", raising=False)
    with pytest.raises(MissingCloudSDKError, match=r"pip install 'fleet-baseline\[azure\]'") as err:
        import_component_module("providers.aks")
    assert err.value.name == "pulumi_azure_native"
    with pytest.raises(MissingCloudSDKError, match="Azure SDK"):
        import providers

        _ = providers.AksCluster
    # a module that is no cloud's is imported as it is
    assert import_component_module("providers.records").__name__ == "providers.records"
