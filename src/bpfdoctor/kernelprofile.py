"""The kernel profile: every fact about a kernel that a later static check needs (pure).

``bpfdoctor probe`` captures it from the running host (``bpfdoctor.probe``); ``check --profile``
reads it back on another machine. This module never touches the host: it is the model, its
JSON form (CONTRACT.md ``bpfdoctor.profile/1``) and a strict reader, so a saved profile and a
live kernel look the same to every check.

Reading validates at the boundary and says where it broke (``features.prog_types.xdp.state:
'maybe' is not one of ...``); a malformed or foreign file raises :class:`ProbeError` with one
line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bpfdoctor.errors import InputError, ProbeError
from bpfdoctor.model import FeatureState

SCHEMA = "bpfdoctor.profile/1"
# A full probe is ~100 KB; kernel artifacts (BTF, symbol lists) live in files beside it.
MAX_PROFILE_BYTES = 64 << 20

# Feature groups under ``features`` (keys name things as libbpf/bpftool do).
GROUPS: tuple[str, ...] = (
    "prog_types", "map_types", "map_flags", "helpers", "attach", "link_types", "btf_kinds",
    "isa", "verifier", "program_features", "kfuncs", "token", "tracing",
)


# The expected attach type the live probe loads each program type with (probe.live
# LiveProber.prog_setup). Helper answers per program type hold for that attach type: some
# helpers depend on it (bpf_seq_printf only in iter, bpf_bind only in connect hooks).
PROBED_ATTACH_TYPES: dict[str, str] = {
    "tracing": "trace_raw_tp", "lsm": "lsm_mac", "cgroup_sock_addr": "cgroup_inet4_connect",
    "cgroup_sockopt": "cgroup_getsockopt", "sk_lookup": "sk_lookup", "netfilter": "netfilter",
    "lirc_mode2": "lirc_mode2",
}


@dataclass(frozen=True, slots=True)
class Feature:
    """State of one probed item, why it is not supported, and where the answer came from.

    ``source``: ``live`` (a bpf() probe), ``btf`` (vmlinux BTF only), ``kconfig``, ``host``
    (files under /proc, /sys) or ``version``. ``by_prog_type`` refines helpers per program type.
    """

    state: FeatureState
    reason: str | None = None
    source: str | None = None
    min_kernel: str | None = None
    by_prog_type: Mapping[str, Feature] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return self.state is FeatureState.SUPPORTED

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state.value}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.source is not None:
            out["source"] = self.source
        if self.min_kernel is not None:
            out["min_kernel"] = self.min_kernel
        if self.by_prog_type:
            out["by_prog_type"] = {k: v.to_json() for k, v in self.by_prog_type.items()}
        return out


@dataclass(frozen=True, slots=True)
class HostFacts:
    kernel_release: str
    kernel_version: str = ""
    arch: str = ""
    distro: str | None = None
    cmdline: Mapping[str, str] = field(default_factory=dict)  # BPF-relevant boot parameters
    euid: int | None = None

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        return release_tuple(self.kernel_release)


@dataclass(frozen=True, slots=True)
class SecurityFacts:
    lockdown: str | None = None  # none | integrity | confidentiality | None when unknown
    lockdown_source: str = "unknown"  # securityfs | dmesg | kconfig | behaviour | unknown
    lsms: tuple[str, ...] = ()
    lsms_source: str = "unknown"
    capabilities: tuple[str, ...] = ()  # effective capabilities by name (CAP_BPF ...)
    memlock_soft: int | None = None  # bytes; None means unlimited
    memlock_hard: int | None = None
    memcg_accounting: bool | None = None  # BPF memory charged to memcg (5.11+), not memlock

    def has_cap(self, name: str) -> bool:
        return name in self.capabilities


@dataclass(frozen=True, slots=True)
class BtfFacts:
    vmlinux_path: str = "/sys/kernel/btf/vmlinux"
    vmlinux_present: bool = False
    vmlinux_size: int | None = None
    vmlinux_parsable: bool | None = None
    vmlinux_error: str | None = None
    vmlinux_kinds: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    fallback_paths: Mapping[str, bool] = field(default_factory=dict)  # libbpf's search list


@dataclass(frozen=True, slots=True)
class BpffsMount:
    path: str
    options: tuple[str, ...] = ()
    delegate_cmds: str | None = None
    delegate_maps: str | None = None
    delegate_progs: str | None = None
    delegate_attachs: str | None = None

    @property
    def delegates(self) -> bool:
        return any((self.delegate_cmds, self.delegate_maps, self.delegate_progs,
                    self.delegate_attachs))


@dataclass(frozen=True, slots=True)
class FsFacts:
    bpffs: tuple[BpffsMount, ...] = ()
    tracefs: tuple[str, ...] = ()
    debugfs: tuple[str, ...] = ()
    available_filter_functions: Feature = field(
        default_factory=lambda: Feature(FeatureState.UNKNOWN, "not probed"))
    kprobe_events: Feature = field(
        default_factory=lambda: Feature(FeatureState.UNKNOWN, "not probed"))


@dataclass(frozen=True, slots=True)
class ProbeMeta:
    tool_version: str = ""
    groups: tuple[str, ...] = ()
    live: bool = False  # whether bpf() loads were possible
    duration_ms: float | None = None


@dataclass(frozen=True, slots=True)
class KernelProfile:
    """Everything known about one kernel. Features are ``group -> name -> Feature``."""

    captured_at: str
    host: HostFacts
    security: SecurityFacts = field(default_factory=SecurityFacts)
    kconfig: Mapping[str, str] = field(default_factory=dict)
    kconfig_source: str | None = None
    sysctls: Mapping[str, str | None] = field(default_factory=dict)
    btf: BtfFacts = field(default_factory=BtfFacts)
    filesystems: FsFacts = field(default_factory=FsFacts)
    features: Mapping[str, Mapping[str, Feature]] = field(default_factory=dict)
    probe: ProbeMeta = field(default_factory=ProbeMeta)

    # -- queries used by checks -------------------------------------------------------------
    def feature(self, group: str, name: str) -> Feature | None:
        return self.features.get(group, {}).get(name)

    def state(self, group: str, name: str) -> FeatureState:
        f = self.feature(group, name)
        return f.state if f is not None else FeatureState.UNKNOWN

    def helper_state(self, helper: str, prog_type: str) -> Feature | None:
        """Helper availability for one program type, else the helper's overall state."""
        f = self.feature("helpers", helper)
        if f is None:
            return None
        return f.by_prog_type.get(prog_type, f)

    def kconfig_value(self, option: str) -> str | None:
        if not option.startswith("CONFIG_"):
            option = "CONFIG_" + option
        return self.kconfig.get(option)

    @property
    def kfuncs(self) -> tuple[str, ...]:
        return tuple(self.features.get("kfuncs", {}))

    @property
    def kernel_version(self) -> tuple[int, int, int]:
        return self.host.version_tuple

    # -- JSON -------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        h, s, b, fs, p = self.host, self.security, self.btf, self.filesystems, self.probe
        return {
            "schema": SCHEMA,
            "captured_at": self.captured_at,
            "host": {
                "kernel_release": h.kernel_release,
                "kernel_version": h.kernel_version,
                "arch": h.arch,
                "distro": h.distro,
                "cmdline": dict(h.cmdline),
                "euid": h.euid,
            },
            "security": {
                "lockdown": s.lockdown,
                "lockdown_source": s.lockdown_source,
                "lsms": list(s.lsms),
                "lsms_source": s.lsms_source,
                "capabilities": list(s.capabilities),
                "memlock": {"soft": s.memlock_soft, "hard": s.memlock_hard},
                "memcg_accounting": s.memcg_accounting,
            },
            "kconfig": {"source": self.kconfig_source, "values": dict(self.kconfig)},
            "sysctls": dict(self.sysctls),
            "btf": {
                "vmlinux": {
                    "path": b.vmlinux_path,
                    "present": b.vmlinux_present,
                    "size": b.vmlinux_size,
                    "parsable": b.vmlinux_parsable,
                    "error": b.vmlinux_error,
                    "kinds": list(b.vmlinux_kinds),
                },
                "modules": list(b.modules),
                "fallback_paths": dict(b.fallback_paths),
            },
            "filesystems": {
                "bpffs": [
                    {"path": m.path, "options": list(m.options), "delegate_cmds": m.delegate_cmds,
                     "delegate_maps": m.delegate_maps, "delegate_progs": m.delegate_progs,
                     "delegate_attachs": m.delegate_attachs}
                    for m in fs.bpffs
                ],
                "tracefs": list(fs.tracefs),
                "debugfs": list(fs.debugfs),
                "available_filter_functions": fs.available_filter_functions.to_json(),
                "kprobe_events": fs.kprobe_events.to_json(),
            },
            "features": {g: {n: f.to_json() for n, f in items.items()}
                         for g, items in self.features.items()},
            "probe": {"tool_version": p.tool_version, "groups": list(p.groups), "live": p.live,
                      "duration_ms": p.duration_ms},
        }

    def dumps(self, *, indent: int | None = None) -> str:
        """Compact JSON by default: a full profile holds ~6000 helper answers, and the C
        encoder writes it 15x faster than the indenting one (pipe through ``jq .``)."""
        if indent is None:
            return json.dumps(self.to_json(), separators=(",", ":")) + "\n"
        return json.dumps(self.to_json(), indent=indent) + "\n"

    @classmethod
    def from_json(cls, doc: Any, origin: str = "profile") -> KernelProfile:
        return _Reader(origin).profile(doc)


def release_tuple(release: str) -> tuple[int, int, int]:
    """``6.18.44-fc-v1147`` -> (6, 18, 44); missing parts are 0."""
    m = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", release)
    if not m:
        return (0, 0, 0)
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))


# -- strict reader ---------------------------------------------------------------------------

_STATES = ", ".join(s.value for s in FeatureState)


class _Reader:
    """Validates a decoded JSON document field by field, naming the path that is wrong."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, what: str) -> ProbeError:
        return ProbeError(f"{self.origin}: {where}: {what}")

    def obj(self, v: Any, where: str) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise self.fail(where, f"expected an object, got {type(v).__name__}")
        return v

    def key(self, d: dict[str, Any], k: str, where: str) -> Any:
        if k not in d:
            raise self.fail(where, f"missing field {k!r}")
        return d[k]

    def str_(self, v: Any, where: str, *, optional: bool = False) -> str | None:
        if v is None and optional:
            return None
        if not isinstance(v, str):
            raise self.fail(where, f"expected a string, got {type(v).__name__}")
        return v

    def req_str(self, v: Any, where: str) -> str:
        s = self.str_(v, where)
        assert s is not None
        return s

    def int_(self, v: Any, where: str) -> int | None:
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(where, f"expected an integer or null, got {type(v).__name__}")
        return v

    def bool_(self, v: Any, where: str, *, optional: bool = True) -> bool | None:
        if v is None and optional:
            return None
        if not isinstance(v, bool):
            raise self.fail(where, f"expected true/false, got {type(v).__name__}")
        return v

    def strlist(self, v: Any, where: str) -> tuple[str, ...]:
        if not isinstance(v, list):
            raise self.fail(where, f"expected a list, got {type(v).__name__}")
        return tuple(self.req_str(x, f"{where}[{i}]") for i, x in enumerate(v))

    def strmap(self, v: Any, where: str, *, nullable: bool = False) -> dict[str, Any]:
        d = self.obj(v, where)
        for k, x in d.items():
            self.str_(x, f"{where}.{k}", optional=nullable)
        return d

    def feature(self, v: Any, where: str, depth: int = 0) -> Feature:
        d = self.obj(v, where)
        raw = self.key(d, "state", where)
        try:
            state = FeatureState(raw)
        except ValueError:
            raise self.fail(f"{where}.state", f"{raw!r} is not one of {_STATES}") from None
        by: dict[str, Feature] = {}
        if "by_prog_type" in d:
            if depth:
                raise self.fail(f"{where}.by_prog_type", "nested by_prog_type is not allowed")
            for k, x in self.obj(d["by_prog_type"], f"{where}.by_prog_type").items():
                by[k] = self.feature(x, f"{where}.by_prog_type.{k}", depth + 1)
        return Feature(
            state,
            self.str_(d.get("reason"), f"{where}.reason", optional=True),
            self.str_(d.get("source"), f"{where}.source", optional=True),
            self.str_(d.get("min_kernel"), f"{where}.min_kernel", optional=True),
            by,
        )

    def profile(self, doc: Any) -> KernelProfile:
        d = self.obj(doc, "document")
        schema = d.get("schema")
        if schema != SCHEMA:
            if isinstance(schema, str) and schema.startswith("bpfdoctor.profile/"):
                raise self.fail("schema", f"version {schema!r} is not supported (want {SCHEMA!r})")
            raise self.fail("schema", f"not a bpfdoctor kernel profile (schema {schema!r}, "
                                      f"want {SCHEMA!r})")
        captured = self.req_str(self.key(d, "captured_at", "document"), "captured_at")
        hd = self.obj(self.key(d, "host", "document"), "host")
        release = self.req_str(self.key(hd, "kernel_release", "host"), "host.kernel_release")
        if not re.match(r"\d+\.\d+", release):
            raise self.fail("host.kernel_release", f"{release!r} is not a kernel release")
        host = HostFacts(
            kernel_release=release,
            kernel_version=self.str_(hd.get("kernel_version", ""), "host.kernel_version") or "",
            arch=self.str_(hd.get("arch", ""), "host.arch") or "",
            distro=self.str_(hd.get("distro"), "host.distro", optional=True),
            cmdline=self.strmap(hd.get("cmdline", {}), "host.cmdline"),
            euid=self.int_(hd.get("euid"), "host.euid"),
        )
        sd = self.obj(d.get("security", {}), "security")
        mem = self.obj(sd.get("memlock", {}), "security.memlock")
        security = SecurityFacts(
            lockdown=self.str_(sd.get("lockdown"), "security.lockdown", optional=True),
            lockdown_source=self.str_(sd.get("lockdown_source", "unknown"),
                                      "security.lockdown_source") or "unknown",
            lsms=self.strlist(sd.get("lsms", []), "security.lsms"),
            lsms_source=self.str_(sd.get("lsms_source", "unknown"), "security.lsms_source")
            or "unknown",
            capabilities=self.strlist(sd.get("capabilities", []), "security.capabilities"),
            memlock_soft=self.int_(mem.get("soft"), "security.memlock.soft"),
            memlock_hard=self.int_(mem.get("hard"), "security.memlock.hard"),
            memcg_accounting=self.bool_(sd.get("memcg_accounting"), "security.memcg_accounting"),
        )
        kd = self.obj(d.get("kconfig", {}), "kconfig")
        kconfig = self.strmap(kd.get("values", {}), "kconfig.values")
        sysctls = self.strmap(d.get("sysctls", {}), "sysctls", nullable=True)
        bd = self.obj(d.get("btf", {}), "btf")
        vd = self.obj(bd.get("vmlinux", {}), "btf.vmlinux")
        fb = self.obj(bd.get("fallback_paths", {}), "btf.fallback_paths")
        for k, x in fb.items():
            self.bool_(x, f"btf.fallback_paths.{k}", optional=False)
        btf = BtfFacts(
            vmlinux_path=self.str_(vd.get("path", "/sys/kernel/btf/vmlinux"),
                                   "btf.vmlinux.path") or "",
            vmlinux_present=bool(self.bool_(vd.get("present", False), "btf.vmlinux.present",
                                            optional=False)),
            vmlinux_size=self.int_(vd.get("size"), "btf.vmlinux.size"),
            vmlinux_parsable=self.bool_(vd.get("parsable"), "btf.vmlinux.parsable"),
            vmlinux_error=self.str_(vd.get("error"), "btf.vmlinux.error", optional=True),
            vmlinux_kinds=self.strlist(vd.get("kinds", []), "btf.vmlinux.kinds"),
            modules=self.strlist(bd.get("modules", []), "btf.modules"),
            fallback_paths=fb,
        )
        fd = self.obj(d.get("filesystems", {}), "filesystems")
        mounts = []
        raw_mounts = fd.get("bpffs", [])
        if not isinstance(raw_mounts, list):
            raise self.fail("filesystems.bpffs", "expected a list")
        for i, m in enumerate(raw_mounts):
            w = f"filesystems.bpffs[{i}]"
            md = self.obj(m, w)
            mounts.append(BpffsMount(
                path=self.req_str(self.key(md, "path", w), f"{w}.path"),
                options=self.strlist(md.get("options", []), f"{w}.options"),
                delegate_cmds=self.str_(md.get("delegate_cmds"), f"{w}.delegate_cmds",
                                        optional=True),
                delegate_maps=self.str_(md.get("delegate_maps"), f"{w}.delegate_maps",
                                        optional=True),
                delegate_progs=self.str_(md.get("delegate_progs"), f"{w}.delegate_progs",
                                         optional=True),
                delegate_attachs=self.str_(md.get("delegate_attachs"), f"{w}.delegate_attachs",
                                           optional=True),
            ))
        unknown = Feature(FeatureState.UNKNOWN, "not recorded").to_json()
        fs = FsFacts(
            bpffs=tuple(mounts),
            tracefs=self.strlist(fd.get("tracefs", []), "filesystems.tracefs"),
            debugfs=self.strlist(fd.get("debugfs", []), "filesystems.debugfs"),
            available_filter_functions=self.feature(
                fd.get("available_filter_functions", unknown),
                "filesystems.available_filter_functions"),
            kprobe_events=self.feature(fd.get("kprobe_events", unknown),
                                       "filesystems.kprobe_events"),
        )
        features: dict[str, dict[str, Feature]] = {}
        for g, items in self.obj(self.key(d, "features", "document"), "features").items():
            features[g] = {n: self.feature(x, f"features.{g}.{n}")
                           for n, x in self.obj(items, f"features.{g}").items()}
        pd = self.obj(d.get("probe", {}), "probe")
        dur = pd.get("duration_ms")
        if dur is not None and (isinstance(dur, bool) or not isinstance(dur, int | float)):
            raise self.fail("probe.duration_ms", "expected a number")
        probe = ProbeMeta(
            tool_version=self.str_(pd.get("tool_version", ""), "probe.tool_version") or "",
            groups=self.strlist(pd.get("groups", []), "probe.groups"),
            live=bool(self.bool_(pd.get("live", False), "probe.live", optional=False)),
            duration_ms=float(dur) if dur is not None else None,
        )
        return KernelProfile(captured, host, security, kconfig,
                             self.str_(kd.get("source"), "kconfig.source", optional=True),
                             sysctls, btf, fs, features, probe)


def loads(text: str, origin: str = "profile") -> KernelProfile:
    """Parse profile JSON text; any defect is one ProbeError line naming ``origin``."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProbeError(f"{origin}: not JSON ({exc.msg} at line {exc.lineno} column "
                         f"{exc.colno})") from None
    except RecursionError:
        raise ProbeError(f"{origin}: JSON nested too deeply") from None
    return KernelProfile.from_json(doc, origin)


def load(path: str | Path) -> KernelProfile:
    """Read and validate a saved profile."""
    from bpfdoctor.fileio import read_capped

    p = Path(path)
    try:  # a FIFO would block the read forever and /dev/zero never ends: only regular files
        raw = read_capped(p, "profile", MAX_PROFILE_BYTES)
    except InputError as exc:
        raise ProbeError(str(exc)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProbeError(f"{p}: not a text file (a profile is JSON)") from None
    return loads(text, str(p))


def save(profile: KernelProfile, path: str | Path) -> None:
    p = Path(path)
    try:
        p.write_text(profile.dumps(), encoding="utf-8")
    except OSError as exc:
        raise ProbeError(f"cannot write profile {p}: {exc.strerror or exc}") from None
