"""POD-01..POD-09 agree with the PodSecurity admission plugin, at the baseline and restricted levels.

The ORACLE below is a transcription, in Python and independent of the controls' CEL, of the
upstream checks in ``k8s.io/pod-security-admission/policy`` (kubernetes/kubernetes,
``staging/src/k8s.io/pod-security-admission/policy/check_*.go``) at every policy version from
v1.25 to v1.37 (each check's ``VersionedCheck`` entries and ``MinimumVersion``s, transcribed here
by hand: the controls read the version table in ``_library.yaml``, never these constants).
``latest`` is the registry's newest policy version, v1.37. It is a test oracle, not production
code: Go's nil pointers are absent keys, a missing string field is "", a missing number is 0.
Each upstream check is mapped to exactly one control (``hostNamespaces`` is split by field:
hostPID/hostIPC to POD-02, hostNetwork to POD-03). A level is the baseline checks, plus at
restricted the restricted checks, minus the checks a restricted check overrides (upstream
``OverrideCheckIDs``); at privileged nothing is checked. A check is there at a version when one of
its ``VersionedCheck``s starts at or below it.

The differential test (below) judges a generated corpus (every field the standards read, alone,
in interacting pairs and in seeded combinations: about 1,000 pods) at baseline and restricted at
every version v1.25..v1.37 and ``latest``; moving one boundary of the version table by a minor
makes it fail (``test_a_planted_version_boundary_is_caught``).

The property test generates pods and pod templates of every workload kind (300 examples,
derandomized, about two seconds): most start hardened and deviate in a few fields, spread over the
controls' fields, the rest are noisy. At every level it asserts that all POD findings pass iff the
oracle allows the pod, and that each control fails iff one of its oracle checks fails. Table and
regression tests pin what random pods reach rarely (every capability, sysctl, SELinux type,
volume type, probe and hook host; Windows and user-namespace exemptions).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baseline.catalog import Catalog, Control, Example, load_catalog
from baseline.evaluator import Evaluator, Finding, Subject

CATALOG: Catalog = load_catalog()
POD_CONTROLS = tuple(f"POD-0{i}" for i in range(1, 10))

Obj = Mapping[str, Any]

# --------------------------------------------------------------------------------------------
# ORACLE: upstream pod-security-admission, policy versions v1.25 .. v1.37
# --------------------------------------------------------------------------------------------

#: the newest policy version upstream registers (registry.go maxVersion): what ``latest`` means
NEWEST = 37

# check_capabilities_baseline.go: capabilities_allowed_1_0
BASELINE_CAPABILITIES = frozenset(
    {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
     "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
)
# check_sysctls.go: sysctls_allowed_1_0, then the sets of the 1.27, 1.29, 1.32 and 1.37 versions
SYSCTLS_1_0 = frozenset(
    {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
     "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"}
)
SYSCTLS_1_27 = SYSCTLS_1_0 | {"net.ipv4.ip_local_reserved_ports"}
SYSCTLS_1_29 = SYSCTLS_1_27 | {"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                               "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
SYSCTLS_1_32 = SYSCTLS_1_29 | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
SYSCTLS_1_37 = SYSCTLS_1_32 | {"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"}
SAFE_SYSCTLS = SYSCTLS_1_37  # the newest set: what the generators draw from


def safe_sysctls(version: int) -> frozenset[str]:
    """CheckSysctls' VersionedChecks: the set of the newest MinimumVersion at or below ``version``."""
    for since, allowed in ((37, SYSCTLS_1_37), (32, SYSCTLS_1_32), (29, SYSCTLS_1_29), (27, SYSCTLS_1_27)):
        if version >= since:
            return allowed
    return SYSCTLS_1_0


# check_seLinuxOptions.go: selinuxAllowedTypes1_0, selinuxAllowedTypes1_31
SELINUX_TYPES_1_0 = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
SELINUX_TYPES_1_31 = SELINUX_TYPES_1_0 | {"container_engine_t"}
SELINUX_TYPES = SELINUX_TYPES_1_31


def selinux_types(version: int) -> frozenset[str]:
    return SELINUX_TYPES_1_31 if version >= 31 else SELINUX_TYPES_1_0
# check_restrictedVolumes.go: the switch's allowed cases
RESTRICTED_VOLUME_SOURCES = (
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim",
    "projected", "secret",
)
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def _visit(spec: Obj) -> list[Obj]:
    """visitor.go visitContainers: init containers, containers, ephemeral containers."""
    return [*spec.get("initContainers", []), *spec.get("containers", []), *spec.get("ephemeralContainers", [])]


def _sc(obj: Obj) -> Obj | None:
    return obj.get("securityContext")


def _windows(spec: Obj) -> bool:
    return spec.get("os") is not None and spec["os"].get("name") == "windows"


def _user_namespace(spec: Obj, version: int) -> bool:
    """helpers.go relaxPolicyForUserNamespacePod, used by the 1.35 versions of runAsNonRoot,
    runAsUser and procMount (baseline). Before 1.35 it sat behind the alpha
    UserNamespacesPodSecurityStandards gate, off by default: no relaxation."""
    return version >= 35 and spec.get("hostUsers") is not None and spec["hostUsers"] is False


def _valid_seccomp(profile: Obj) -> bool:
    return profile.get("type", "") in ("RuntimeDefault", "Localhost")


def check_privileged(meta: Obj, spec: Obj, v: int) -> bool:
    return not any((sc := _sc(c)) is not None and sc.get("privileged") is True for c in _visit(spec))


def check_host_pid_ipc(meta: Obj, spec: Obj, v: int) -> bool:
    return spec.get("hostPID") is not True and spec.get("hostIPC") is not True


def check_host_network(meta: Obj, spec: Obj, v: int) -> bool:
    return spec.get("hostNetwork") is not True


def check_host_ports(meta: Obj, spec: Obj, v: int) -> bool:
    return all(p.get("hostPort", 0) == 0 for c in _visit(spec) for p in c.get("ports", []))


def check_host_path_volumes(meta: Obj, spec: Obj, v: int) -> bool:
    return all(v.get("hostPath") is None for v in spec.get("volumes", []))


def check_capabilities_baseline(meta: Obj, spec: Obj, v: int) -> bool:
    for c in _visit(spec):
        sc = _sc(c)
        caps = sc.get("capabilities") if sc is not None else None
        if caps is not None and any(cap not in BASELINE_CAPABILITIES for cap in caps.get("add", [])):
            return False
    return True


def check_seccomp_baseline(meta: Obj, spec: Obj, v: int) -> bool:
    """seccompProfileBaseline_1_19: anything explicitly set must be RuntimeDefault or Localhost."""
    psc = _sc(spec)
    if psc is not None and psc.get("seccompProfile") is not None and not _valid_seccomp(psc["seccompProfile"]):
        return False
    for c in _visit(spec):
        sc = _sc(c)
        if sc is not None and sc.get("seccompProfile") is not None and not _valid_seccomp(sc["seccompProfile"]):
            return False
    return True


def check_sysctls(meta: Obj, spec: Obj, v: int) -> bool:
    psc = _sc(spec)
    if psc is None:
        return True
    return all(s.get("name", "") in safe_sysctls(v) for s in psc.get("sysctls", []))


def _proc_mount_1_0(spec: Obj) -> bool:
    for c in _visit(spec):
        sc = _sc(c)
        if sc is not None and sc.get("procMount") is not None and sc["procMount"] != "Default":
            return False
    return True


def check_proc_mount_baseline(meta: Obj, spec: Obj, v: int) -> bool:
    """procMount_1_0; from 1.35 procMount1_35baseline: any value in a user-namespace pod."""
    return True if _user_namespace(spec, v) else _proc_mount_1_0(spec)


def check_proc_mount_restricted(meta: Obj, spec: Obj, v: int) -> bool:
    return _proc_mount_1_0(spec)


def check_windows_host_process(meta: Obj, spec: Obj, v: int) -> bool:
    def host_process(sc: Obj | None) -> bool:
        options = sc.get("windowsOptions") if sc is not None else None
        return options is not None and options.get("hostProcess") is True

    return not host_process(_sc(spec)) and not any(host_process(_sc(c)) for c in _visit(spec))


def check_app_armor(meta: Obj, spec: Obj, v: int) -> bool:
    def bad_field(sc: Obj | None) -> bool:
        return (
            sc is not None
            and sc.get("appArmorProfile") is not None
            and sc["appArmorProfile"].get("type", "") not in ("RuntimeDefault", "Localhost")
        )

    if bad_field(_sc(spec)) or any(bad_field(_sc(c)) for c in _visit(spec)):
        return False
    for key, value in (meta.get("annotations") or {}).items():
        if key.startswith(APPARMOR_ANNOTATION_PREFIX) and not (
            value == "" or value == "runtime/default" or value.startswith("localhost/")
        ):
            return False
    return True


def check_selinux(meta: Obj, spec: Obj, v: int) -> bool:
    def valid(sc: Obj | None) -> bool:
        if sc is None or sc.get("seLinuxOptions") is None:
            return True
        opts = sc["seLinuxOptions"]
        return opts.get("type", "") in selinux_types(v) and opts.get("user", "") == "" and opts.get("role", "") == ""

    return valid(_sc(spec)) and all(valid(_sc(c)) for c in _visit(spec))


def check_host_probes_and_lifecycle(meta: Obj, spec: Obj, v: int) -> bool:
    def handler_ok(handler: Obj | None) -> bool:
        if handler is None:
            return True
        for kind in ("httpGet", "tcpSocket"):
            if handler.get(kind) is not None and handler[kind].get("host", "") != "":
                return False
        return True

    for c in _visit(spec):
        if not all(handler_ok(c.get(p)) for p in ("livenessProbe", "readinessProbe", "startupProbe")):
            return False
        lifecycle = c.get("lifecycle")
        if lifecycle is not None and not all(handler_ok(lifecycle.get(h)) for h in ("postStart", "preStop")):
            return False
    return True


def check_restricted_volumes(meta: Obj, spec: Obj, v: int) -> bool:
    return all(any(v.get(src) is not None for src in RESTRICTED_VOLUME_SOURCES) for v in spec.get("volumes", []))


def check_allow_privilege_escalation(meta: Obj, spec: Obj, v: int) -> bool:
    """allowPrivilegeEscalation_1_25: Windows pods exempt; otherwise explicitly false everywhere."""
    if _windows(spec):
        return True
    for c in _visit(spec):
        sc = _sc(c)
        if sc is None or sc.get("allowPrivilegeEscalation") is None or sc["allowPrivilegeEscalation"]:
            return False
    return True


def check_run_as_non_root(meta: Obj, spec: Obj, v: int) -> bool:
    """runAsNonRoot 1.0: pod or every container true, nobody explicitly false; from 1.35 user-namespace
    pods are exempt."""
    if _user_namespace(spec, v):
        return True
    pod_non_root = False
    psc = _sc(spec)
    if psc is not None and psc.get("runAsNonRoot") is not None:
        if not psc["runAsNonRoot"]:
            return False
        pod_non_root = True
    for c in _visit(spec):
        sc = _sc(c)
        if sc is not None and sc.get("runAsNonRoot") is not None:
            if not sc["runAsNonRoot"]:
                return False
        elif not pod_non_root:
            return False
    return True


def check_run_as_user(meta: Obj, spec: Obj, v: int) -> bool:
    """runAsUser 1.23: never 0; from 1.35 user-namespace pods are exempt."""
    if _user_namespace(spec, v):
        return True
    psc = _sc(spec)
    if psc is not None and psc.get("runAsUser") is not None and psc["runAsUser"] == 0:
        return False
    return not any(
        (sc := _sc(c)) is not None and sc.get("runAsUser") is not None and sc["runAsUser"] == 0 for c in _visit(spec)
    )


def check_seccomp_restricted(meta: Obj, spec: Obj, v: int) -> bool:
    """seccompProfileRestricted_1_25: Windows exempt; a container's own profile overrides the pod's."""
    if _windows(spec):
        return True
    pod_set = False
    psc = _sc(spec)
    if psc is not None and psc.get("seccompProfile") is not None:
        if not _valid_seccomp(psc["seccompProfile"]):
            return False  # the pod itself is a bad setter, whatever its containers say
        pod_set = True
    for c in _visit(spec):
        sc = _sc(c)
        if sc is not None and sc.get("seccompProfile") is not None:
            if not _valid_seccomp(sc["seccompProfile"]):
                return False
        elif not pod_set:
            return False
    return True


def check_capabilities_restricted(meta: Obj, spec: Obj, v: int) -> bool:
    """capabilitiesRestricted_1_25: Windows exempt; drop ALL, add only NET_BIND_SERVICE."""
    if _windows(spec):
        return True
    for c in _visit(spec):
        sc = _sc(c)
        if sc is None or sc.get("capabilities") is None:
            return False
        caps = sc["capabilities"]
        if "ALL" not in caps.get("drop", []):
            return False
        if any(cap != "NET_BIND_SERVICE" for cap in caps.get("add", [])):
            return False
    return True


Check = Callable[[Obj, Obj, int], bool]

# upstream check id -> (function, control). hostNamespaces is split by field across two controls.
BASELINE_CHECKS: dict[str, tuple[Check, str]] = {
    "privileged": (check_privileged, "POD-01"),
    "hostNamespaces/hostPID,hostIPC": (check_host_pid_ipc, "POD-02"),
    "hostNamespaces/hostNetwork": (check_host_network, "POD-03"),
    "hostPorts": (check_host_ports, "POD-03"),
    "capabilities_baseline": (check_capabilities_baseline, "POD-06"),
    "seccompProfile_baseline": (check_seccomp_baseline, "POD-07"),
    "hostPathVolumes": (check_host_path_volumes, "POD-08"),
    "sysctls": (check_sysctls, "POD-09"),
    "procMount": (check_proc_mount_baseline, "POD-09"),
    "windowsHostProcess": (check_windows_host_process, "POD-09"),
    "appArmorProfile": (check_app_armor, "POD-09"),
    "seLinuxOptions": (check_selinux, "POD-09"),
    "hostProbesAndHostLifecycle": (check_host_probes_and_lifecycle, "POD-09"),
}
#: checks registered only from a policy version on (their first MinimumVersion, when above 1.25)
REGISTERED_FROM: dict[str, int] = {"hostProbesAndHostLifecycle": 34, "procMount_restricted": 35}
# restricted check id -> (function, control, baseline checks it overrides)
RESTRICTED_CHECKS: dict[str, tuple[Check, str, tuple[str, ...]]] = {
    "allowPrivilegeEscalation": (check_allow_privilege_escalation, "POD-04", ()),
    "runAsNonRoot": (check_run_as_non_root, "POD-05", ()),
    "runAsUser": (check_run_as_user, "POD-05", ()),
    "capabilities_restricted": (check_capabilities_restricted, "POD-06", ("capabilities_baseline",)),
    "seccompProfile_restricted": (check_seccomp_restricted, "POD-07", ("seccompProfile_baseline",)),
    "restrictedVolumes": (check_restricted_volumes, "POD-08", ("hostPathVolumes",)),
    "procMount_restricted": (check_proc_mount_restricted, "POD-09", ("procMount",)),
}


def level_checks(level: str, version: int = NEWEST) -> dict[str, tuple[Check, str]]:
    """The checks in force at a level and policy version (registry.go: a check with no version at
    or below the policy version is not there; a restricted check replaces the ones it overrides)."""
    if level == "privileged":
        return {}
    checks = {k: c for k, c in BASELINE_CHECKS.items() if version >= REGISTERED_FROM.get(k, 0)}
    if level == "restricted":
        for check_id, (fn, control, overrides) in RESTRICTED_CHECKS.items():
            if version < REGISTERED_FROM.get(check_id, 0):
                continue
            for overridden in overrides:
                checks.pop(overridden)
            checks[check_id] = (fn, control)
    return checks


def pod_template(obj: Obj) -> tuple[Obj, Obj]:
    """What PodSecurity judges: the pod's (or the pod template's) metadata and spec."""
    kind = obj["kind"]
    if kind == "Pod":
        return obj.get("metadata", {}), obj["spec"]
    template = obj["spec"]["jobTemplate"]["spec"]["template"] if kind == "CronJob" else obj["spec"]["template"]
    return template.get("metadata", {}), template["spec"]


def policy_minor(version: str) -> int:
    """``v1.NN`` -> NN; ``latest`` (and anything newer than the newest) -> the newest."""
    return NEWEST if version == "latest" else min(int(version.removeprefix("v1.")), NEWEST)


def oracle(obj: Obj, level: str, version: str = "latest") -> dict[str, list[str]]:
    """Control id -> the upstream checks of that control that forbid the pod at this level and version."""
    meta, spec = pod_template(obj)
    v = policy_minor(version)
    failing: dict[str, list[str]] = {cid: [] for cid in POD_CONTROLS}
    for check_id, (fn, control) in level_checks(level, v).items():
        if not fn(meta, spec, v):
            failing[control].append(check_id)
    return failing


def test_oracle_maps_every_upstream_check_to_exactly_one_control() -> None:
    for version in range(25, NEWEST + 1):
        for level in ("baseline", "restricted"):
            controls = {control for _, control in level_checks(level, version).values()}
            assert controls == set(POD_CONTROLS) - ({"POD-04", "POD-05"} if level == "baseline" else set())
        assert level_checks("privileged", version) == {}
    assert "hostProbesAndHostLifecycle" not in level_checks("baseline", 33)
    assert "procMount" in level_checks("restricted", 34) and "procMount" not in level_checks("restricted", 35)


# --------------------------------------------------------------------------------------------
# The evaluator side
# --------------------------------------------------------------------------------------------

LEVEL_NAMESPACE = {"baseline": "ns-baseline", "restricted": "ns-restricted", "privileged": "ns-privileged"}
PARAMS: dict[str, Any] = {
    "namespaceLevels": {ns: level for level, ns in LEVEL_NAMESPACE.items()},
    "defaultPodSecurityLevel": "restricted",
}
EVALUATOR = Evaluator(CATALOG, params=PARAMS)
_EVALUATORS: dict[str, Evaluator] = {}


def evaluator_for(params: Mapping[str, Any]) -> Evaluator:
    """Compiling the catalog takes a while: one evaluator per distinct params."""
    key = json.dumps(params, sort_keys=True)
    if key not in _EVALUATORS:
        _EVALUATORS[key] = Evaluator(CATALOG, params=dict(params))
    return _EVALUATORS[key]


def verdicts(obj: Obj, evaluator: Evaluator | None = None, type_: str | None = None) -> dict[str, str]:
    evaluator = evaluator or EVALUATOR
    findings = [f for f in evaluator.evaluate(Subject(obj, type=type_)) if f.control_id in POD_CONTROLS]
    by_control: dict[str, list[Finding]] = {}
    for f in findings:
        by_control.setdefault(f.control_id, []).append(f)
    assert set(by_control) == set(POD_CONTROLS), sorted(by_control)
    out = {}
    for cid, fs in by_control.items():
        statuses = {f.status for f in fs}
        assert statuses <= {"pass", "fail"}, (cid, [(f.status, f.detail) for f in fs])
        out[cid] = "fail" if "fail" in statuses else "pass"
    return out


def in_namespace(obj: Obj, namespace: str | None) -> dict[str, Any]:
    metadata = {k: v for k, v in obj["metadata"].items() if k != "namespace"}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {**obj, "metadata": metadata}


def at_level(obj: Obj, level: str, version: str | None = None, catalog: Catalog | None = None) -> dict[str, str]:
    """The POD controls' verdicts in a namespace of the level; ``version``: params.podSecurityVersion
    (None: not given, which is the newest)."""
    params = PARAMS if version is None else {**PARAMS, "podSecurityVersion": version}
    evaluator = evaluator_for(params) if catalog is None else Evaluator(catalog, params=params)
    return verdicts(in_namespace(obj, LEVEL_NAMESPACE[level]), evaluator)


def disagreements(obj: Obj, version: str = "latest", levels: tuple[str, ...] = ("privileged", "baseline", "restricted"),
                  evaluators: Mapping[str, Evaluator] | None = None) -> list[tuple[Any, ...]]:
    """Where the controls and the oracle differ for the object at the version: the whole verdict
    (every control passes iff the pod is allowed) and each control (fails iff one of its checks does)."""
    out: list[tuple[Any, ...]] = []
    for level in levels:
        if evaluators is not None:
            got = verdicts(in_namespace(obj, LEVEL_NAMESPACE[level]), evaluators[version])
        else:
            got = at_level(obj, level, None if version == "latest" else version)
        want = oracle(obj, level, version)
        if all(v == "pass" for v in got.values()) != (not any(want.values())):
            out.append((version, level, "allowed", got, want))
        out.extend((version, level, cid, got[cid], want[cid]) for cid in POD_CONTROLS
                   if (got[cid] == "fail") != bool(want[cid]))
    return out


def assert_agrees(obj: Obj, version: str = "latest") -> None:
    assert not disagreements(obj, version)


# --------------------------------------------------------------------------------------------
# Random pods and pod templates
# --------------------------------------------------------------------------------------------

ABSENT = object()


def _one_of(*values: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from(values)


Field = tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]  # (safe, risky)

# Every field the generator sets: (safe: values a hardened pod uses, risky: values that may be
# forbidden at some level, or that relax a check). A hardened pod takes the safe values except for
# a few deviations drawn from risky; any other pod draws every field from either.
SECCOMP_SAFE = _one_of({"type": "RuntimeDefault"}, {"type": "Localhost", "localhostProfile": "profiles/app.json"})
SECCOMP_RISKY = _one_of({"type": "Unconfined"}, {"type": "Bogus"}, {})
APPARMOR: Field = (
    _one_of(ABSENT, {"type": "RuntimeDefault"}, {"type": "Localhost", "localhostProfile": "k8s-app"}),
    _one_of({"type": "Unconfined"}, {}),
)
SELINUX: Field = (
    st.one_of(
        _one_of(ABSENT, {}),
        st.fixed_dictionaries({}, optional={"type": st.sampled_from(sorted(SELINUX_TYPES)),
                                            "user": _one_of(""), "role": _one_of(""), "level": _one_of("s0:c1,c2")}),
    ),
    st.one_of(
        st.fixed_dictionaries({"type": _one_of("spc_t", "unconfined_t", "container_logreader_t")},
                              optional={"level": _one_of("s0")}),
        st.fixed_dictionaries({"user": _one_of("system_u", "unconfined_u")}, optional={"type": _one_of("container_t")}),
        st.fixed_dictionaries({"role": _one_of("system_r", "object_r")}, optional={"type": _one_of("container_t")}),
    ),
)
WINDOWS_OPTIONS: Field = (
    _one_of(ABSENT, {"hostProcess": False}, {"runAsUserName": "ContainerUser"}),
    _one_of({"hostProcess": True, "runAsUserName": "NT AUTHORITY\\SYSTEM"}),
)
CAPS = ["NET_BIND_SERVICE", "CHOWN", "KILL", "SETUID", "NET_RAW", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "ALL"]
CAPABILITIES: Field = (
    _one_of({"drop": ["ALL"]}, {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}, {"drop": ["NET_RAW", "ALL"]}),
    st.one_of(
        _one_of(ABSENT, {}, {"add": []}),
        st.lists(st.sampled_from(["NET_RAW", "CHOWN", "all"]), max_size=2, unique=True).map(lambda d: {"drop": d}),
        st.lists(st.sampled_from(CAPS), min_size=1, max_size=2, unique=True).map(lambda a: {"add": a}),
        st.lists(st.sampled_from(CAPS), min_size=1, max_size=2, unique=True).map(lambda a: {"drop": ["ALL"], "add": a}),
    ),
)


def _handler(host: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    def build(kind: str, h: Any) -> dict[str, Any]:
        if kind == "exec":
            return {"exec": {"command": ["true"]}}
        body: dict[str, Any] = {"port": 8080}
        if kind == "httpGet":
            body["path"] = "/healthz"
        if h is not ABSENT:
            body["host"] = h
        return {kind: body}

    return st.builds(build, _one_of("httpGet", "tcpSocket", "exec"), host)


HANDLER: Field = (
    st.one_of(_one_of(ABSENT), _handler(_one_of(ABSENT, ""))),
    st.builds(lambda kind, h: {kind: {"port": 8080, "host": h}}, _one_of("httpGet", "tcpSocket"),
              _one_of("10.0.0.1", "169.254.169.254", "metadata.google.internal")),
)
LIFECYCLE: Field = (
    st.one_of(_one_of(ABSENT), st.fixed_dictionaries({}, optional={"postStart": HANDLER[0], "preStop": HANDLER[0]})),
    st.one_of(
        st.fixed_dictionaries({"postStart": HANDLER[1]}, optional={"preStop": HANDLER[0]}),
        st.fixed_dictionaries({"preStop": HANDLER[1]}, optional={"postStart": HANDLER[0]}),
    ),
)
PORTS: Field = (
    _one_of(ABSENT, [{"containerPort": 8080}], [{"containerPort": 8080, "hostPort": 0, "protocol": "TCP"}]),
    st.lists(
        st.builds(lambda p, h: {"containerPort": p} | ({} if h is ABSENT else {"hostPort": h}),
                  st.integers(1, 65535), st.one_of(_one_of(ABSENT, 0), st.integers(1, 65535))),
        min_size=1, max_size=2,
    ).filter(lambda ports: any(p.get("hostPort") for p in ports)),
)

CONTAINER_SC_FIELDS: dict[str, Field] = {
    "privileged": (_one_of(ABSENT, False), _one_of(True)),
    "allowPrivilegeEscalation": (_one_of(False), _one_of(ABSENT, True)),
    "runAsNonRoot": (_one_of(ABSENT, True), _one_of(False)),
    "runAsUser": (_one_of(ABSENT, 1000, 65532), _one_of(0)),
    "capabilities": CAPABILITIES,
    "seccompProfile": (st.one_of(_one_of(ABSENT), SECCOMP_SAFE), SECCOMP_RISKY),
    "appArmorProfile": APPARMOR,
    "procMount": (_one_of(ABSENT, "Default"), _one_of("Unmasked")),
    "windowsOptions": WINDOWS_OPTIONS,
    "seLinuxOptions": SELINUX,
    "readOnlyRootFilesystem": (_one_of(ABSENT, True), _one_of(False)),  # not a Pod Security Standard
}
CONTAINER_FIELDS: dict[str, Field] = {
    "securityContext": (_one_of("present"), _one_of(ABSENT)),
    "ports": PORTS,
    "livenessProbe": HANDLER,
    "readinessProbe": HANDLER,
    "startupProbe": HANDLER,
    "lifecycle": LIFECYCLE,
}

UNSAFE_SYSCTLS = ["kernel.msgmax", "net.core.somaxconn", "net.ipv4.ip_forward", "kernel.sem", "vm.swappiness",
                  "net.ipv4.tcp_keepalive", "net.ipv4.tcp_rmem_max"]


def _sysctl(names: list[str]) -> st.SearchStrategy[Any]:
    return st.sampled_from(names).map(lambda n: {"name": n, "value": "1"})


SYSCTLS: Field = (
    st.one_of(_one_of(ABSENT, []), st.lists(_sysctl(sorted(SAFE_SYSCTLS)), min_size=1, max_size=3)),
    st.tuples(st.lists(_sysctl(sorted(SAFE_SYSCTLS)), max_size=2), _sysctl(UNSAFE_SYSCTLS)).map(
        lambda t: [*t[0], t[1]]
    ),
)
POD_SC_FIELDS: dict[str, Field] = {
    "runAsNonRoot": (_one_of(True), _one_of(ABSENT, False)),
    "runAsUser": (_one_of(ABSENT, 1000), _one_of(0)),
    "runAsGroup": (_one_of(ABSENT, 3000), _one_of(0)),  # not a Pod Security Standard
    "fsGroup": (_one_of(ABSENT, 2000), _one_of(0)),  # not a Pod Security Standard
    "seccompProfile": (SECCOMP_SAFE, st.one_of(_one_of(ABSENT), SECCOMP_RISKY)),
    "appArmorProfile": APPARMOR,
    "seLinuxOptions": SELINUX,
    "sysctls": SYSCTLS,
    "windowsOptions": WINDOWS_OPTIONS,
}

# Every volume source of core/v1 Volume, each with a minimal body.
VOLUME_SOURCES: dict[str, Any] = {
    "configMap": {"name": "cfg"},
    "csi": {"driver": "secrets-store.csi.k8s.io", "readOnly": True},
    "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]},
    "emptyDir": {},
    "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"],
                                                   "resources": {"requests": {"storage": "1Gi"}}}}},
    "image": {"reference": "registry.example.com/data:1.0", "pullPolicy": "IfNotPresent"},
    "persistentVolumeClaim": {"claimName": "data"},
    "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]},
    "secret": {"secretName": "tls"},
    "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"},
    "awsElasticBlockStore": {"volumeID": "vol-0123"},
    "azureDisk": {"diskName": "d", "diskURI": "uri"},
    "azureFile": {"secretName": "s", "shareName": "share"},
    "cephfs": {"monitors": ["10.0.0.1:6789"]},
    "cinder": {"volumeID": "v"},
    "fc": {"wwids": ["w"]},
    "flexVolume": {"driver": "example/lvm"},
    "flocker": {"datasetName": "d"},
    "gcePersistentDisk": {"pdName": "pd"},
    "gitRepo": {"repository": "https://example.com/repo.git"},
    "glusterfs": {"endpoints": "e", "path": "p"},
    "iscsi": {"targetPortal": "10.0.0.1:3260", "iqn": "iqn.2001-04.com.example:storage", "lun": 0},
    "nfs": {"server": "nfs.example.com", "path": "/exports"},
    "photonPersistentDisk": {"pdID": "p"},
    "portworxVolume": {"volumeID": "v"},
    "quobyte": {"registry": "r", "volume": "v"},
    "rbd": {"monitors": ["10.0.0.1"], "image": "img"},
    "scaleIO": {"gateway": "g", "system": "s", "secretRef": {"name": "s"}},
    "storageos": {"volumeName": "v"},
    "vsphereVolume": {"volumePath": "[ds] vol.vmdk"},
}
OTHER_SOURCES = sorted(set(VOLUME_SOURCES) - set(RESTRICTED_VOLUME_SOURCES))


def _volume(sources: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(sources).map(lambda s: {"name": f"v-{s.lower()}", s: VOLUME_SOURCES[s]})


VOLUMES: Field = (
    st.lists(_volume(sorted(RESTRICTED_VOLUME_SOURCES)), max_size=3, unique_by=lambda v: v["name"]).map(
        lambda vs: vs or ABSENT
    ),
    st.tuples(
        st.lists(_volume(sorted(RESTRICTED_VOLUME_SOURCES)), max_size=2, unique_by=lambda v: v["name"]),
        st.one_of(_volume(["hostPath"]), _volume(OTHER_SOURCES)),
    ).map(lambda t: [*t[0], t[1]]),
)
POD_FIELDS: dict[str, Field] = {
    "hostPID": (_one_of(ABSENT, False), _one_of(True)),
    "hostIPC": (_one_of(ABSENT, False), _one_of(True)),
    "hostNetwork": (_one_of(ABSENT, False), _one_of(True)),
    "hostUsers": (_one_of(ABSENT, True, False), _one_of(False)),  # false relaxes some checks
    "os": (_one_of(ABSENT, {"name": "linux"}), _one_of({"name": "windows"})),  # windows relaxes some checks
    "volumes": VOLUMES,
    "securityContext": (_one_of("present"), _one_of(ABSENT)),
}
APPARMOR_KEY = APPARMOR_ANNOTATION_PREFIX + "app"
ANNOTATIONS: Field = (
    _one_of(
        ABSENT, {}, {"team": "shop"}, {APPARMOR_KEY: "runtime/default"}, {APPARMOR_KEY: "localhost/k8s-app"},
        {APPARMOR_KEY: ""},
        # near misses: not the annotation's prefix
        {"container.apparmor.security.beta.kubernetes.io": "unconfined"},
        {"apparmor.security.beta.kubernetes.io/app": "unconfined"},
    ),
    _one_of({APPARMOR_KEY: "unconfined"}, {APPARMOR_ANNOTATION_PREFIX + "sidecar": "docker-default", "team": "x"}),
)

# What a deviation of a hardened pod can hit, by the control whose checks read the field (os and
# hostUsers relax several checks; the decoys are read by none). A deviation picks a family, then
# a field of it, so every control's fields get their share of the examples.
DEVIATION_FAMILIES: dict[str, list[tuple[str, str]]] = {
    "POD-01": [("c.sc", "privileged")],
    "POD-02": [("pod", "hostPID"), ("pod", "hostIPC")],
    "POD-03": [("pod", "hostNetwork"), ("c", "ports")],
    "POD-04": [("c.sc", "allowPrivilegeEscalation"), ("c", "securityContext"), ("pod", "os")],
    "POD-05": [("c.sc", "runAsNonRoot"), ("c.sc", "runAsUser"), ("pod.sc", "runAsNonRoot"), ("pod.sc", "runAsUser"),
               ("pod", "securityContext"), ("pod", "hostUsers")],
    "POD-06": [("c.sc", "capabilities"), ("pod", "os")],
    "POD-07": [("c.sc", "seccompProfile"), ("pod.sc", "seccompProfile"), ("pod", "os")],
    "POD-08": [("pod", "volumes")],
    "POD-09": [("pod.sc", "sysctls"), ("c.sc", "procMount"), ("pod", "hostUsers"), ("c.sc", "windowsOptions"),
               ("pod.sc", "windowsOptions"), ("c.sc", "appArmorProfile"), ("pod.sc", "appArmorProfile"),
               ("annotations", "annotations"), ("c.sc", "seLinuxOptions"), ("pod.sc", "seLinuxOptions"),
               ("c", "livenessProbe"), ("c", "readinessProbe"), ("c", "startupProbe"), ("c", "lifecycle")],
    "decoys": [("c.sc", "readOnlyRootFilesystem"), ("pod.sc", "runAsGroup"), ("pod.sc", "fsGroup")],
}
DEVIATION = st.sampled_from(sorted(DEVIATION_FAMILIES)).flatmap(lambda fam: st.sampled_from(DEVIATION_FAMILIES[fam]))


def test_deviations_can_reach_every_generated_field() -> None:
    reachable = {key for keys in DEVIATION_FAMILIES.values() for key in keys}
    every = (
        {("pod", f) for f in POD_FIELDS} | {("pod.sc", f) for f in POD_SC_FIELDS} | {("annotations", "annotations")}
        | {("c", f) for f in CONTAINER_FIELDS} | {("c.sc", f) for f in CONTAINER_SC_FIELDS}
    )
    assert reachable == every


def _drop_absent(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _clean(v) for k, v in d.items() if v is not ABSENT}


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return _drop_absent(value)
    if isinstance(value, list):
        return [_clean(v) for v in value if v is not ABSENT]
    return value


@st.composite
def pod_template_specs(draw: st.DrawFn) -> tuple[Any, dict[str, Any]]:
    """(pod annotations or ABSENT, pod spec). Most pods start hardened and deviate a little."""
    hardened = draw(st.integers(0, 3)) > 0
    n_init, n_main, n_eph = draw(st.integers(0, 2)), draw(st.integers(1, 2)), draw(st.integers(0, 1))
    n = n_init + n_main + n_eph
    deviations: set[tuple[str, str, int]] = set()
    if hardened:
        for _ in range(draw(st.integers(0, 3))):
            scope, field = draw(DEVIATION)
            index = draw(st.integers(0, n - 1)) if scope.startswith("c") else -1
            deviations.add((scope, field, index))

    def pick(scope: str, field: str, table: Mapping[str, Field], index: int = -1) -> Any:
        safe, risky = table[field]
        if hardened:
            return draw(risky if (scope, field, index) in deviations else safe)
        return draw(risky if draw(st.integers(0, 3)) == 0 else safe)  # noisy: a quarter of the fields

    containers: list[dict[str, Any]] = []
    for i in range(n):
        c: dict[str, Any] = {"name": f"c{i}", "image": "registry.example.com/app:1.0"}
        for field in CONTAINER_FIELDS:
            value = pick("c", field, CONTAINER_FIELDS, i)
            if field == "securityContext" and value == "present":
                value = {f: pick("c.sc", f, CONTAINER_SC_FIELDS, i) for f in CONTAINER_SC_FIELDS}
            c[field] = value
        containers.append(_drop_absent(c))
    for i, c in enumerate(containers[n_init + n_main :]):
        c.pop("ports", None)  # ephemeral containers may not declare ports
        c["name"] = f"debug{i}"
        c["targetContainerName"] = containers[n_init]["name"]

    spec: dict[str, Any] = {f: pick("pod", f, POD_FIELDS) for f in POD_FIELDS}
    if spec["securityContext"] == "present":
        spec["securityContext"] = {f: pick("pod.sc", f, POD_SC_FIELDS) for f in POD_SC_FIELDS}
    spec = _drop_absent(spec)
    spec["containers"] = containers[n_init : n_init + n_main]
    if n_init:
        spec["initContainers"] = containers[:n_init]
    if n_eph:
        spec["ephemeralContainers"] = containers[n_init + n_main :]
    return pick("annotations", "annotations", {"annotations": ANNOTATIONS}), spec


WORKLOAD_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
API_VERSIONS = {"Pod": "v1", "Job": "batch/v1", "CronJob": "batch/v1"}


def workload(kind: str, spec: dict[str, Any], annotations: Any = ABSENT, outer_annotations: Any = ABSENT,
             namespace: str | None = "ns-restricted") -> dict[str, Any]:
    """A manifest of the kind with the pod spec at the kind's template path."""
    metadata: dict[str, Any] = {"name": "w"}
    if namespace is not None:
        metadata["namespace"] = namespace
    if kind == "Pod":
        if annotations is not ABSENT:
            metadata["annotations"] = annotations
        return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    if outer_annotations is not ABSENT:
        metadata["annotations"] = outer_annotations  # not the pod's: PodSecurity reads the template's
    template: dict[str, Any] = {"spec": {**spec, "restartPolicy": "OnFailure"} if kind in ("Job", "CronJob") else spec}
    labels = {"app": "w"}
    template_meta: dict[str, Any] = {}
    if kind not in ("Job", "CronJob"):
        template_meta["labels"] = labels
    if annotations is not ABSENT:
        template_meta["annotations"] = annotations
    if template_meta:
        template["metadata"] = template_meta
    body: dict[str, Any]
    if kind == "CronJob":
        body = {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        body = {"template": template}
    else:
        body = {"selector": {"matchLabels": labels}, "template": template}
        if kind == "StatefulSet":
            body["serviceName"] = "w"
    return {"apiVersion": API_VERSIONS.get(kind, "apps/v1"), "kind": kind, "metadata": metadata, "spec": body}


@st.composite
def workloads(draw: st.DrawFn) -> dict[str, Any]:
    annotations, spec = draw(pod_template_specs())
    kind = draw(st.sampled_from(WORKLOAD_KINDS))
    outer = draw(_one_of(ABSENT, {APPARMOR_KEY: "unconfined"}))  # the workload's own: not judged
    return workload(kind, spec, annotations, outer)


PROFILE = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_STATS: dict[str, int] = {"examples": 0}
_OUTCOMES: dict[str, set[bool]] = {"baseline": set(), "restricted": set()}


#: the policy versions the tests judge at: every version the catalog models, and latest
VERSIONS = (*(f"v1.{m}" for m in range(25, NEWEST + 1)), "latest")


@PROFILE
@given(workloads(), st.sampled_from(VERSIONS))
def test_controls_agree_with_pod_security_admission(obj: dict[str, Any], version: str) -> None:
    _STATS["examples"] += 1
    assert_agrees(obj, version)
    for level in _OUTCOMES:
        _OUTCOMES[level].add(not any(oracle(obj, level).values()))


def test_the_generator_reached_both_verdicts_at_both_levels() -> None:
    """The property test is not vacuous: pods were allowed and denied at each level."""
    if not _STATS["examples"]:
        pytest.skip("runs after the property test")
    assert {"baseline": {True, False}, "restricted": {True, False}} == _OUTCOMES


# --------------------------------------------------------------------------------------------
# Explicit regression cases
# --------------------------------------------------------------------------------------------


def container(name: str = "app", **sc: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": "registry.example.com/app:1.0"}
    if sc:
        c["securityContext"] = sc
    return c


RESTRICTED_SC: dict[str, Any] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
RESTRICTED_POD_SC: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def with_caps(**capabilities: list[str]) -> dict[str, Any]:
    return container(**{**RESTRICTED_SC, "capabilities": capabilities})


def restricted_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"securityContext": dict(RESTRICTED_POD_SC), "containers": [container(**RESTRICTED_SC)]}
    spec.update(overrides)
    return spec


def check(obj: Obj, level: str, control: str, expected: str) -> None:
    got = at_level(obj, level)
    assert got[control] == expected, (level, control, got)
    assert_agrees(obj)


def test_a_hardened_pod_passes_everything_at_restricted() -> None:
    for kind in WORKLOAD_KINDS:
        obj = workload(kind, restricted_spec())
        assert set(at_level(obj, "restricted").values()) == {"pass"}, kind
        assert_agrees(obj)


def test_container_seccomp_does_not_excuse_a_pod_unconfined() -> None:
    # Upstream: an Unconfined pod-level profile is itself a bad setter (baseline and restricted),
    # even when every container sets RuntimeDefault.
    spec = restricted_spec(
        securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "Unconfined"}},
        containers=[container(**RESTRICTED_SC, seccompProfile={"type": "RuntimeDefault"})],
    )
    for level in ("baseline", "restricted"):
        check(workload("Pod", spec), level, "POD-07", "fail")
    check(workload("Pod", spec), "privileged", "POD-07", "pass")


def test_container_seccomp_overrides_an_unset_pod_at_restricted() -> None:
    spec = restricted_spec(
        securityContext={"runAsNonRoot": True},
        containers=[container(**RESTRICTED_SC, seccompProfile={"type": "Localhost", "localhostProfile": "p.json"})],
        initContainers=[container("init", **RESTRICTED_SC)],
    )
    check(workload("Deployment", spec), "restricted", "POD-07", "fail")  # the init container has none
    spec["initContainers"] = [container("init", **RESTRICTED_SC, seccompProfile={"type": "RuntimeDefault"})]
    check(workload("Deployment", spec), "restricted", "POD-07", "pass")
    # an Unconfined container under a RuntimeDefault pod
    spec = restricted_spec(containers=[container(**RESTRICTED_SC, seccompProfile={"type": "Unconfined"})])
    check(workload("Deployment", spec), "baseline", "POD-07", "fail")
    check(workload("Deployment", spec), "restricted", "POD-07", "fail")
    # no profile anywhere: fine at baseline, not at restricted
    spec = restricted_spec(securityContext={"runAsNonRoot": True})
    check(workload("Deployment", spec), "baseline", "POD-07", "pass")
    check(workload("Deployment", spec), "restricted", "POD-07", "fail")


def test_run_as_non_root_at_pod_level_with_one_container_false() -> None:
    spec = restricted_spec(containers=[container(**RESTRICTED_SC), container("b", **RESTRICTED_SC, runAsNonRoot=False)])
    check(workload("StatefulSet", spec), "restricted", "POD-05", "fail")
    check(workload("StatefulSet", spec), "baseline", "POD-05", "pass")
    # pod unset: every container must say true
    spec = restricted_spec(
        securityContext={"seccompProfile": {"type": "RuntimeDefault"}},
        containers=[container(**RESTRICTED_SC, runAsNonRoot=True), container("b", **RESTRICTED_SC)],
    )
    check(workload("Pod", spec), "restricted", "POD-05", "fail")
    spec["containers"][1]["securityContext"]["runAsNonRoot"] = True
    check(workload("Pod", spec), "restricted", "POD-05", "pass")
    # runAsUser 0 anywhere, even with runAsNonRoot true
    spec["initContainers"] = [container("init", **RESTRICTED_SC, runAsNonRoot=True, runAsUser=0)]
    check(workload("Pod", spec), "restricted", "POD-05", "fail")
    # user-namespace pods are exempt (1.35+)
    spec["hostUsers"] = False
    check(workload("Pod", spec), "restricted", "POD-05", "pass")


def test_capabilities_per_level() -> None:
    nbs = restricted_spec(containers=[with_caps(drop=["ALL"], add=["NET_BIND_SERVICE"])])
    check(workload("Deployment", nbs), "restricted", "POD-06", "pass")
    chown = restricted_spec(containers=[with_caps(drop=["ALL"], add=["CHOWN"])])
    check(workload("Deployment", chown), "restricted", "POD-06", "fail")
    check(workload("Deployment", chown), "baseline", "POD-06", "pass")
    sys_admin = restricted_spec(containers=[container(capabilities={"add": ["SYS_ADMIN"]})])
    check(workload("DaemonSet", sys_admin), "baseline", "POD-06", "fail")
    check(workload("Job", restricted_spec(containers=[with_caps(drop=["NET_RAW"])])), "restricted", "POD-06", "fail")
    check(workload("Job", restricted_spec(containers=[with_caps(drop=["all"])])), "restricted", "POD-06", "fail")
    no_drop = restricted_spec(containers=[container(allowPrivilegeEscalation=False)])
    check(workload("DaemonSet", no_drop), "baseline", "POD-06", "pass")
    check(workload("DaemonSet", no_drop), "restricted", "POD-06", "fail")


def test_ephemeral_container_privileged() -> None:
    spec = restricted_spec(ephemeralContainers=[{**container("debug", privileged=True), "targetContainerName": "app"}])
    for level, expected in (("privileged", "pass"), ("baseline", "fail"), ("restricted", "fail")):
        check(workload("Pod", spec), level, "POD-01", expected)


@pytest.mark.parametrize(
    ("name", "safe"),
    [(name, True) for name in sorted(SAFE_SYSCTLS)]  # incl. tcp_slow_start_after_idle, tcp_notsent_lowat (v1.37)
    + [(name, False) for name in [*UNSAFE_SYSCTLS, "kernel.shm_rmid_forced.x", ""]],
)
def test_sysctls_in_and_out_of_the_safe_set(name: str, safe: bool) -> None:
    spec = restricted_spec(securityContext={**RESTRICTED_POD_SC, "sysctls": [{"name": name, "value": "1"}]})
    for level in ("baseline", "restricted"):
        check(workload("Job", spec), level, "POD-09", "pass" if safe else "fail")


@pytest.mark.parametrize(
    "cap", [*sorted(BASELINE_CAPABILITIES), "NET_RAW", "SYS_ADMIN", "ALL", "BPF", "net_bind_service"]
)
def test_each_capability_per_level(cap: str) -> None:
    spec = restricted_spec(containers=[with_caps(drop=["ALL"], add=[cap])])
    obj = workload("ReplicaSet", spec)
    check(obj, "baseline", "POD-06", "pass" if cap in BASELINE_CAPABILITIES else "fail")
    check(obj, "restricted", "POD-06", "pass" if cap == "NET_BIND_SERVICE" else "fail")


def test_cronjob_template_path() -> None:
    spec = restricted_spec(hostPID=True)
    obj = workload("CronJob", spec)
    assert obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["hostPID"] is True
    check(obj, "baseline", "POD-02", "fail")
    # the CronJob's own annotations are not the pod's; the template's are
    obj = workload("CronJob", restricted_spec(), outer_annotations={APPARMOR_KEY: "unconfined"})
    check(obj, "restricted", "POD-09", "pass")
    obj = workload("CronJob", restricted_spec(), annotations={APPARMOR_KEY: "unconfined"})
    check(obj, "baseline", "POD-09", "fail")


def test_windows_pods_skip_what_upstream_skips() -> None:
    # No allowPrivilegeEscalation, capabilities or seccomp: exempt on Windows at restricted ...
    spec = {"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": True}, "containers": [container()]}
    got = at_level(workload("Pod", spec), "restricted")
    assert got["POD-04"] == got["POD-06"] == got["POD-07"] == "pass"
    assert_agrees(workload("Pod", spec))
    # ... but runAsNonRoot is not exempt, and HostProcess is forbidden
    spec = {"os": {"name": "windows"}, "containers": [container(windowsOptions={"hostProcess": True})]}
    check(workload("Pod", spec), "restricted", "POD-05", "fail")
    check(workload("Pod", spec), "baseline", "POD-09", "fail")


def test_proc_mount_in_user_namespaces() -> None:
    spec = restricted_spec(hostUsers=False, containers=[container(**RESTRICTED_SC, procMount="Unmasked")])
    check(workload("Pod", spec), "baseline", "POD-09", "pass")  # baseline 1.35 relaxation
    check(workload("Pod", spec), "restricted", "POD-09", "fail")  # procMount_restricted
    spec["hostUsers"] = True
    check(workload("Pod", spec), "baseline", "POD-09", "fail")


def test_apparmor_field_and_annotation() -> None:
    for sc in ({"appArmorProfile": {"type": "Unconfined"}},):
        spec = restricted_spec(securityContext={**RESTRICTED_POD_SC, **sc})
        check(workload("ReplicaSet", spec), "baseline", "POD-09", "fail")
        spec = restricted_spec(initContainers=[container("init", **RESTRICTED_SC, **sc)])
        check(workload("ReplicaSet", spec), "baseline", "POD-09", "fail")
    for value, expected in (("unconfined", "fail"), ("runtime/default", "pass"), ("localhost/x", "pass"), ("", "pass")):
        obj = workload("Pod", restricted_spec(), annotations={APPARMOR_KEY: value})
        check(obj, "baseline", "POD-09", expected)


@pytest.mark.parametrize(
    "opts",
    [{"type": t} for t in sorted(SELINUX_TYPES)]  # container_engine_t: policy v1.31
    + [{"type": "spc_t"}, {"type": "unconfined_t"}, {"user": "system_u"}, {"role": "system_r"},
       {"user": ""}, {"role": ""}, {"level": "s0:c1,c2"}, {"type": "container_t", "user": "u"}],
    ids=str,
)
@pytest.mark.parametrize("where", ["pod", "container", "init", "ephemeral"])
def test_selinux_options(opts: dict[str, str], where: str) -> None:
    ok = opts.get("type", "") in SELINUX_TYPES and not opts.get("user") and not opts.get("role")
    if where == "pod":
        spec = restricted_spec(securityContext={**RESTRICTED_POD_SC, "seLinuxOptions": opts})
    else:
        c = container("x", **RESTRICTED_SC, seLinuxOptions=opts)
        key = {"container": "containers", "init": "initContainers", "ephemeral": "ephemeralContainers"}[where]
        spec = restricted_spec(**{key: [c] if where != "container" else [container(**RESTRICTED_SC), c]})
    for level in ("baseline", "restricted"):
        check(workload("Job", spec), level, "POD-09", "pass" if ok else "fail")


@pytest.mark.parametrize("handler", ["livenessProbe", "readinessProbe", "startupProbe", "postStart", "preStop"])
@pytest.mark.parametrize("kind", ["httpGet", "tcpSocket"])
@pytest.mark.parametrize("host", ["", "169.254.169.254"])
def test_probe_and_lifecycle_hosts(handler: str, kind: str, host: str) -> None:
    body = {kind: {"port": 80, "host": host}}
    c = container("init", **RESTRICTED_SC)
    if handler in ("postStart", "preStop"):
        c["lifecycle"] = {handler: body}
    else:
        c[handler] = body
    spec = restricted_spec(initContainers=[c])
    for level in ("baseline", "restricted"):
        check(workload("Deployment", spec), level, "POD-09", "fail" if host else "pass")


def test_volumes_per_level() -> None:
    for source in sorted(VOLUME_SOURCES):
        spec = restricted_spec(volumes=[{"name": "v", source: VOLUME_SOURCES[source]}])
        obj = workload("StatefulSet", spec)
        check(obj, "baseline", "POD-08", "fail" if source == "hostPath" else "pass")
        check(obj, "restricted", "POD-08", "pass" if source in RESTRICTED_VOLUME_SOURCES else "fail")


def test_host_namespaces_and_ports() -> None:
    check(workload("Pod", restricted_spec(hostIPC=True)), "baseline", "POD-02", "fail")
    check(workload("Pod", restricted_spec(hostNetwork=True)), "baseline", "POD-03", "fail")
    init = {**container("init", **RESTRICTED_SC), "ports": [{"containerPort": 53, "hostPort": 53}]}
    spec = restricted_spec(initContainers=[init])
    check(workload("Pod", spec), "baseline", "POD-03", "fail")
    check(workload("Pod", spec), "privileged", "POD-03", "pass")


# --------------------------------------------------------------------------------------------
# The level: namespaceLevels[ns], else defaultPodSecurityLevel, else restricted
# --------------------------------------------------------------------------------------------


def test_level_comes_from_the_namespace_then_the_default() -> None:
    obj = workload("Deployment", restricted_spec(containers=[with_caps(drop=["ALL"], add=["CHOWN"])]))
    # an unlisted namespace and a namespace-less manifest take the default
    for evaluator_default, expected in (("restricted", "fail"), ("baseline", "pass"), ("privileged", "pass")):
        evaluator = Evaluator(CATALOG, params={"namespaceLevels": {"legacy": "baseline"},
                                               "defaultPodSecurityLevel": evaluator_default})
        assert verdicts(in_namespace(obj, "shop"), evaluator)["POD-06"] == expected
        assert verdicts(in_namespace(obj, None), evaluator)["POD-06"] == expected
        assert verdicts(in_namespace(obj, "legacy"), evaluator)["POD-06"] == "pass"
    # no params at all: restricted
    assert verdicts(in_namespace(obj, "shop"), Evaluator(CATALOG, params={}))["POD-06"] == "fail"


# --------------------------------------------------------------------------------------------
# The controls as data: examples, portability, speed
# --------------------------------------------------------------------------------------------


def _pod_examples() -> list[Any]:
    return [
        pytest.param(c, e, id=f"{c.id}-{e.expect}-{e.path.stem}")
        for c in CATALOG if c.id in POD_CONTROLS for e in c.examples()
    ]


@pytest.mark.parametrize(("control", "example"), _pod_examples())
def test_examples_agree_with_the_oracle(control: Control, example: Example) -> None:
    params = {**PARAMS, **example.params}
    evaluator = evaluator_for(params)
    obj = example.object
    if example.expect == "unknown":  # a preview-unknown value the check reads: never pass or fail
        findings = [f for f in evaluator.evaluate(Subject(obj, type=example.type)) if f.control_id == control.id]
        assert findings and all(f.status == "unknown" and f.unknown for f in findings), example.path
        return
    got = verdicts(obj, evaluator, example.type)
    assert got[control.id] == example.expect, (example.path, got)
    ns = obj["metadata"].get("namespace")
    level = params["namespaceLevels"].get(ns, params["defaultPodSecurityLevel"])
    want = oracle(obj, level, params.get("podSecurityVersion", "latest"))
    assert bool(want[control.id]) == (example.expect == "fail"), (example.path, level, want)


@pytest.mark.parametrize(("control", "example"), _pod_examples())
def test_examples_are_valid_kubernetes_objects(control: Control, example: Example) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    kubernetes_validate.validate(dict(example.object), "1.33", strict=True)


def test_pod_controls_cover_every_workload_kind_in_examples() -> None:
    kinds = {e.object["kind"] for c in CATALOG if c.id in POD_CONTROLS for e in c.examples()}
    assert kinds == set(WORKLOAD_KINDS)


@pytest.mark.parametrize("control_id", POD_CONTROLS)
def test_expressions_stay_portable_to_kubernetes_cel(control_id: str) -> None:
    control = CATALOG[control_id]
    for target in control.applicable_targets():
        assert [k.kind for k in target.kinds] == list(WORKLOAD_KINDS)
        texts = [target.expression, *(v.expression for v in target.variables)]
        for text in texts:
            for construct in ("cel.bind", ".?", "orValue", "optional.", "json", "dyn(", "type("):
                assert construct not in text, (control_id, construct)
        names = {v.name for v in target.variables}
        assert "podSecurityLevel" in names and "podSpec" in names


# --------------------------------------------------------------------------------------------
# The differential test: a generated corpus at every policy version, against the oracle
# --------------------------------------------------------------------------------------------

Mutation = tuple[str, Callable[[dict[str, Any], dict[str, Any]], None]]


def _set(*path: str, value: Any) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    """Set ``value`` at ``path`` (from the pod spec; ``@meta`` first: the pod metadata; ``@c0``,
    ``@init``, ``@eph``: a container); ``ABSENT`` removes the key."""

    def apply(meta: dict[str, Any], spec: dict[str, Any]) -> None:
        node: dict[str, Any]
        head, *rest = path
        if head == "@meta":
            node = meta
        elif head in ("@c0", "@init", "@eph"):
            key = {"@c0": "containers", "@init": "initContainers", "@eph": "ephemeralContainers"}[head]
            if key not in spec:
                spec[key] = [container("init" if head == "@init" else "debug", **RESTRICTED_SC)]
                if head == "@eph":
                    spec[key][0]["targetContainerName"] = "app"
            node = spec[key][0]
        else:
            node, rest = spec, list(path)
        for key in rest[:-1]:
            node = node.setdefault(key, {})
        if value is ABSENT:
            node.pop(rest[-1], None)
        else:
            node[rest[-1]] = json.loads(json.dumps(value))

    return apply


def _handler_host(handler: str, kind: str, host: str) -> Any:
    body = {kind: {"port": 8080, "host": host}}
    return ("lifecycle", {handler: body}) if handler in ("postStart", "preStop") else (handler, body)


def corpus_mutations() -> list[Mutation]:
    """Every field the standards read, each set to values that matter (and some that do not)."""
    out: list[Mutation] = []
    for field in ("hostPID", "hostIPC", "hostNetwork"):
        out.append((f"{field}=true", _set(field, value=True)))
    out += [("hostUsers=false", _set("hostUsers", value=False)), ("hostUsers=true", _set("hostUsers", value=True)),
            ("os=windows", _set("os", value={"name": "windows"})), ("os=linux", _set("os", value={"name": "linux"})),
            ("pod.sc absent", _set("securityContext", value=ABSENT))]
    pod_sc: list[tuple[str, Any]] = [
        ("runAsNonRoot", False), ("runAsNonRoot", ABSENT), ("runAsUser", 0), ("runAsUser", 1000),
        ("seccompProfile", {"type": "Unconfined"}), ("seccompProfile", {}), ("seccompProfile", ABSENT),
        ("seccompProfile", {"type": "Localhost", "localhostProfile": "p.json"}),
        ("appArmorProfile", {"type": "Unconfined"}), ("appArmorProfile", {"type": "RuntimeDefault"}),
        ("windowsOptions", {"hostProcess": True}),
        *(("seLinuxOptions", {"type": t}) for t in (*sorted(SELINUX_TYPES_1_31), "spc_t")),
        ("seLinuxOptions", {"user": "system_u"}), ("seLinuxOptions", {"role": "system_r"}),
        *(("sysctls", [{"name": n, "value": "1"}]) for n in (*sorted(SYSCTLS_1_37), "kernel.msgmax")),
    ]
    out += [(f"pod.sc.{f}={json.dumps(v) if v is not ABSENT else 'absent'}", _set("securityContext", f, value=v))
            for f, v in pod_sc]
    container_sc: list[tuple[str, Any]] = [
        ("privileged", True), ("privileged", False), ("allowPrivilegeEscalation", True),
        ("allowPrivilegeEscalation", ABSENT), ("runAsNonRoot", False), ("runAsNonRoot", True), ("runAsUser", 0),
        ("capabilities", {"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
        ("capabilities", {"drop": ["ALL"], "add": ["CHOWN"]}),
        ("capabilities", {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}), ("capabilities", {}),
        ("capabilities", ABSENT), ("seccompProfile", {"type": "Unconfined"}),
        ("seccompProfile", {"type": "RuntimeDefault"}), ("appArmorProfile", {"type": "Unconfined"}),
        ("procMount", "Unmasked"), ("procMount", "Default"), ("windowsOptions", {"hostProcess": True}),
        ("seLinuxOptions", {"type": "container_engine_t"}), ("seLinuxOptions", {"type": "spc_t"}),
        ("seLinuxOptions", {"user": "u"}),
    ]
    for where in ("@c0", "@init", "@eph"):
        out += [(f"{where}.sc.{f}={json.dumps(v) if v is not ABSENT else 'absent'}",
                 _set(where, "securityContext", f, value=v)) for f, v in container_sc]
        out.append((f"{where}.sc absent", _set(where, "securityContext", value=ABSENT)))
        for handler in ("livenessProbe", "readinessProbe", "startupProbe", "postStart", "preStop"):
            for kind in ("httpGet", "tcpSocket"):
                for host in ("10.0.0.1", ""):
                    key, value = _handler_host(handler, kind, host)
                    out.append((f"{where}.{handler}.{kind}.host={host!r}", _set(where, key, value=value)))
    out += [("@c0.hostPort=8080", _set("@c0", "ports", value=[{"containerPort": 8080, "hostPort": 8080}])),
            ("@init.hostPort=0", _set("@init", "ports", value=[{"containerPort": 53, "hostPort": 0}]))]
    out += [(f"volume {src}", _set("volumes", value=[{"name": "v", src: VOLUME_SOURCES[src]}]))
            for src in sorted(VOLUME_SOURCES)]
    out += [(f"annotation apparmor={v!r}", _set("@meta", "annotations", value={APPARMOR_KEY: v}))
            for v in ("unconfined", "runtime/default", "localhost/p", "")]
    return out


#: mutations whose effect depends on others (exemptions, overrides, pod vs container level)
INTERACTING = ("hostUsers=false", "os=windows", "pod.sc.runAsNonRoot", "pod.sc.seccompProfile", "pod.sc absent",
               "@c0.sc.procMount", "@c0.sc.runAsUser", "@c0.sc.runAsNonRoot", "@c0.sc.seccompProfile",
               "@c0.sc.capabilities", "@c0.sc.allowPrivilegeEscalation", "@c0.sc absent",
               "pod.sc.sysctls=[{\"name\": \"net.ipv4.tcp_slow_start", "@c0.livenessProbe.httpGet.host='10")


def pod_corpus(
    mutations: list[Mutation] | None = None, combos: int = 250, seed: int = 12
) -> list[tuple[str, dict[str, Any]]]:
    """(description, Pod): each mutation alone on a hardened and on a bare pod; every pair of the
    interacting ones; and ``combos`` seeded draws of two to four mutations on a hardened pod."""
    import random

    mutations = mutations if mutations is not None else corpus_mutations()
    bases = {"hardened": lambda: restricted_spec(), "bare": lambda: {"containers": [container()]}}

    def build(base: str, chosen: list[Mutation]) -> tuple[str, dict[str, Any]]:
        spec, meta = bases[base](), {}
        for _, apply in chosen:
            apply(meta, spec)
        obj = workload("Pod", spec, annotations=meta.get("annotations", ABSENT))
        return f"{base}: " + " + ".join(name for name, _ in chosen), obj

    out = [build(base, [m]) for base in bases for m in mutations]
    interacting = [m for m in mutations if m[0].startswith(INTERACTING)]
    out += [build("hardened", [a, b]) for i, a in enumerate(interacting) for b in interacting[i + 1:]]
    rng = random.Random(seed)
    out += [build("hardened", rng.sample(mutations, rng.randint(2, 4))) for _ in range(combos)]
    return out


CORPUS = pod_corpus()
#: the differential's versions: the four the issue names, the boundaries either side of every change
DIFF_VERSIONS = ("v1.25", "v1.26", "v1.27", "v1.28", "v1.29", "v1.30", "v1.31", "v1.32", "v1.33", "v1.34", "v1.35",
                 "v1.36", "v1.37", "latest")


def corpus_disagreements(catalog: Catalog, versions: tuple[str, ...] = DIFF_VERSIONS,
                         corpus: list[tuple[str, dict[str, Any]]] = CORPUS) -> list[tuple[Any, ...]]:
    evaluators = {v: Evaluator(catalog, params=PARAMS if v == "latest" else {**PARAMS, "podSecurityVersion": v})
                  for v in versions}
    out = []
    for name, obj in corpus:
        for version in versions:
            out += [(name, *d) for d in disagreements(obj, version, ("baseline", "restricted"), evaluators)]
    return out


def test_the_corpus_reads_every_field_the_standards_read() -> None:
    names = [name for name, _ in CORPUS]
    assert len(CORPUS) > 700 and len(set(names)) > 600
    # both verdicts at both levels at the versions the issue names, and the version-dependent pods
    for version in ("v1.30", "v1.33", "v1.35", "latest"):
        for level in ("baseline", "restricted"):
            allowed = {not any(oracle(obj, level, version).values()) for _, obj in CORPUS}
            assert allowed == {True, False}, (version, level)
    def differs(obj: dict[str, Any]) -> bool:
        return len({json.dumps(oracle(obj, lvl, v), sort_keys=True) for v in DIFF_VERSIONS
                    for lvl in ("baseline",)}) > 1 or len(
            {json.dumps(oracle(obj, "restricted", v), sort_keys=True) for v in DIFF_VERSIONS}) > 1
    version_dependent = [name for name, obj in CORPUS if differs(obj)]
    assert len(version_dependent) > 40, version_dependent


def test_controls_equal_the_oracle_at_every_policy_version() -> None:
    """The differential: every corpus pod, at baseline and restricted, at v1.25..v1.37 and latest."""
    found = corpus_disagreements(CATALOG)
    assert not found, found[:10]


def test_the_version_pin_reaches_the_verdict() -> None:
    """Known answers either side of each boundary, through params.podSecurityVersion."""
    def pod(**spec: Any) -> dict[str, Any]:
        return workload("Pod", restricted_spec(**spec))
    userns = pod(hostUsers=False, securityContext={**RESTRICTED_POD_SC, "runAsUser": 0},
                 containers=[container(**RESTRICTED_SC, procMount="Unmasked", runAsNonRoot=False)])
    assert at_level(userns, "baseline", "v1.34")["POD-09"] == "fail"
    assert at_level(userns, "baseline", "v1.35")["POD-09"] == "pass"
    assert at_level(userns, "restricted", "v1.34")["POD-05"] == "fail"
    assert at_level(userns, "restricted", "v1.35")["POD-05"] == "pass"
    assert at_level(userns, "restricted", "v1.35")["POD-09"] == "fail"  # procMount_restricted
    lowat = [{"name": "net.ipv4.tcp_notsent_lowat", "value": "1"}]
    sysctl = pod(securityContext={**RESTRICTED_POD_SC, "sysctls": lowat})
    assert [at_level(sysctl, "baseline", v)["POD-09"] for v in ("v1.33", "v1.36", "v1.37", "latest")] == [
        "fail", "fail", "pass", "pass"]
    liveness = {"httpGet": {"port": 80, "host": "10.0.0.1"}}
    probe = pod(containers=[{**container(**RESTRICTED_SC), "livenessProbe": liveness}])
    assert [at_level(probe, "baseline", v)["POD-09"] for v in ("v1.30", "v1.33", "v1.34", "latest")] == [
        "pass", "pass", "fail", "fail"]
    engine = pod(securityContext={**RESTRICTED_POD_SC, "seLinuxOptions": {"type": "container_engine_t"}})
    assert [at_level(engine, "baseline", v)["POD-09"] for v in ("v1.30", "v1.31")] == ["fail", "pass"]
    # a pin newer than the table's newest is the newest, as upstream clamps it
    assert at_level(sysctl, "baseline", "v1.40")["POD-09"] == "pass"


@pytest.mark.parametrize(
    ("entry", "planted"),
    [
        ('pssUserNamespaceRelaxed: "v1.35"', 'pssUserNamespaceRelaxed: "v1.34"'),
        ('pssProbeHostChecked: "v1.34"', 'pssProbeHostChecked: "v1.33"'),
        ('"v1.37": [net.ipv4.tcp_slow_start_after_idle', '"v1.36": [net.ipv4.tcp_slow_start_after_idle'),
        ('"v1.31": [container_engine_t]', '"v1.30": [container_engine_t]'),
    ],
    ids=["user-namespace-1.34", "probe-host-1.33", "sysctls-1.36", "selinux-1.30"],
)
def test_a_planted_version_boundary_is_caught(tmp_path: Any, entry: str, planted: str) -> None:
    """The differential is not vacuous: moving one boundary of the version table by one minor makes
    it fail (only at the versions the move touches: run there, to stay cheap)."""
    import shutil

    from baseline.catalog import CONTROLS_DIR

    folder = tmp_path / "controls"
    shutil.copytree(CONTROLS_DIR, folder)
    library = folder / "_library.yaml"
    text = library.read_text(encoding="utf-8")
    assert text.count(entry) == 1
    library.write_text(text.replace(entry, planted), encoding="utf-8")
    planted_catalog = load_catalog(folder)
    moved = planted.split('"')[1]
    found = corpus_disagreements(planted_catalog, versions=(moved,))
    assert found, f"moving {entry!r} to {moved} went unnoticed"
    assert not corpus_disagreements(CATALOG, versions=(moved,))


# --------------------------------------------------------------------------------------------
# The pin from the intent: resolved once, and the same in the evaluator and every admission engine
# --------------------------------------------------------------------------------------------

_INTENT_DATA: dict[str, Any] = {
    "baselineVersion": "1.0.0",
    "cluster": {"name": "prod", "cloud": "eks", "owner": "platform",
                "eks": {"region": "eu-west-1", "subnetIds": ["subnet-a", "subnet-b"]}},
}


def _intent(version: str, cluster_version: str | None = None) -> Any:
    from baseline.intent import Intent

    data = json.loads(json.dumps(_INTENT_DATA))
    data["podSecurity"] = {"version": version}
    if cluster_version:
        data["cluster"]["kubernetesVersion"] = cluster_version
    return Intent.model_validate(data)


@pytest.mark.parametrize(
    ("version", "cluster", "resolved"),
    [("v1.30", None, "v1.30"), ("v1.35", "1.33", "v1.35"), ("latest", "1.33", "v1.33"), ("latest", None, "v1.37"),
     ("latest", "1.39", "v1.37"), ("v1.40", None, "v1.37")],
)
def test_the_intent_pin_resolves_as_upstream_does(version: str, cluster: str | None, resolved: str) -> None:
    from baseline.evaluator import intent_params, pod_security_version

    intent = _intent(version, cluster)
    assert pod_security_version(intent, CATALOG) == resolved
    assert intent_params(intent, CATALOG)["podSecurityVersion"] == resolved


def test_a_pin_older_than_the_table_is_refused_naming_the_field() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as err:
        _intent("v1.24")
    assert "podSecurity.version" in str(err.value).replace("\n", " ") or "version" in str(err.value)
    assert "v1.25" in str(err.value)


@pytest.mark.parametrize("engine", ["vap", "kyverno", "gatekeeper"])
def test_the_pin_reaches_every_admission_engine(engine: str) -> None:
    """Each engine's POD policies carry the resolved version and the version table's variables, and
    judge with them what the evaluator judges (the rendered CEL, run here, at either side of v1.35)."""
    from baseline.cel import compile_check
    from providers.admission import render_admission

    pod = workload("Pod", restricted_spec(hostUsers=False, securityContext={**RESTRICTED_POD_SC, "runAsUser": 0}))
    for version, expected in (("v1.34", False), ("v1.35", True)):
        manifests = render_admission(_intent(version), CATALOG, engine)
        name = "fleet-baseline-pod-05-run-as-non-root"
        if engine == "gatekeeper":
            template = next(m for m in manifests if m["kind"] == "ConstraintTemplate"
                            and m["metadata"]["labels"]["fleet-baseline.io/control"] == "POD-05")
            constraint = next(m for m in manifests if m["kind"] == template["spec"]["crd"]["spec"]["names"]["kind"])
            source = template["spec"]["targets"][0]["code"][0]["source"]
            variables = [(v["name"], v["expression"]) for v in source["variables"]]
            params = constraint["spec"]["parameters"]
            validation = source["validations"][0]["expression"]
            check = compile_check(validation, variables)
            verdict, _ = check.run({"object": pod, "variables": {"params": params}})
        else:
            policy = next(m for m in manifests if m["metadata"]["name"] == name and m["kind"] != VAP_BINDING)
            variables = [(v["name"], v["expression"]) for v in policy["spec"]["variables"]]
            assert variables[0][0] == "params" and f'"podSecurityVersion": dyn("{version}")' in variables[0][1]
            check = compile_check(policy["spec"]["validations"][0]["expression"], variables)
            verdict, _ = check.run({"object": pod, "variables": {}})
        names = [n for n, _ in variables]
        assert "podSecurityMinor" in names and "pssUserNamespaceRelaxed" in names
        assert verdict is expected, (engine, version)


VAP_BINDING = "ValidatingAdmissionPolicyBinding"
