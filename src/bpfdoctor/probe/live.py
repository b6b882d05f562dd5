"""Live probes: ask the running kernel through bpf() what it accepts.

Each probe creates the smallest object that exercises one feature and closes it at once
(every fd sits in a ``with``); nothing is pinned or attached. Program-type setups mirror
libbpf ``probe_prog_load()`` (expected attach types, sleepable-only types) and go further for
``tracing`` and ``lsm``, which need a real ``attach_btf_id`` from vmlinux BTF to say more than
"EINVAL" (bpftool reports them unsupported for that reason).

Helper probes read every verifier wording for "this helper is not available here"
(kernel/bpf/verifier.c ``check_helper_call()``): ``invalid func``, ``unknown func``,
``program of this type cannot use helper``, plus the offload and sleepable variants. Any
other verifier complaint (``R1 type=ctx expected=...``) means the helper was accepted and the
probe's dummy arguments were refused, so the helper is available.
"""

from __future__ import annotations

import contextlib
import errno as E
import os
import struct
from collections.abc import Callable, Iterator
from typing import Any

from bpfdoctor import kfacts
from bpfdoctor.btf import BtfKind
from bpfdoctor.kernelprofile import Feature, release_tuple
from bpfdoctor.knowledge import uapi
from bpfdoctor.probe import asm
from bpfdoctor.probe import syscall as sc
from bpfdoctor.probe.btf_blobs import BLOBS
from bpfdoctor.probe.features import (
    DENIED,
    SUPPORTED,
    UNKNOWN,
    UNSUPPORTED,
    ProbeContext,
    _last_message,
    _verifier_ran,
    classify_failure,
    kb_helpers_of,
    with_min_kernel,
)

Progress = Callable[[int], None]

TRACING_PROG_TYPES = frozenset({
    "kprobe", "tracepoint", "perf_event", "raw_tracepoint", "raw_tracepoint_writable",
    "tracing", "lsm",
})
SLEEPABLE_OK = frozenset({"tracing", "lsm", "syscall", "struct_ops"})

# Helpers lockdown removes (security/lockdown reasons), with the level that removes them and
# the program types that would otherwise have them (None: every type, bpf_base_func_proto).
LOCKDOWN_HELPERS: dict[str, tuple[str, frozenset[str] | None]] = {
    "bpf_probe_write_user": ("integrity", TRACING_PROG_TYPES),
    "bpf_probe_read": ("confidentiality", TRACING_PROG_TYPES),
    "bpf_probe_read_str": ("confidentiality", TRACING_PROG_TYPES),
    "bpf_probe_read_kernel": ("confidentiality", None),
    "bpf_probe_read_kernel_str": ("confidentiality", None),
}
_LOCK_RANK = {"none": 0, "integrity": 1, "confidentiality": 2}

# Verifier wordings for "helper not available to this program" across kernel versions.
HELPER_UNAVAILABLE = (
    "invalid func ",  # id outside __BPF_FUNC_MAX_ID
    "unknown func ",  # get_func_proto() returned NULL (older kernels, also lockdown)
    "program of this type cannot use helper",  # 6.x wording of the same
    "helper call is not allowed in probe",  # offloaded programs
    "only read is supported",
)
HELPER_NEEDS_SLEEPABLE = ("helper call might sleep in a non-sleepable prog",
                          "sleepable helper")
HELPER_GPL = "cannot call GPL-restricted function"

# Items of the groups BTF cannot answer, so a run without bpf() still lists each one.
ITEM_NAMES: dict[str, tuple[str, ...]] = {
    "isa": ("v1", "v2", "v3", "v4"),
    "verifier": ("bounded_loops", "large_insn_limit"),
    "program_features": ("bpf_to_bpf_calls", "global_data", "sleepable", "func_info",
                         "map_freeze", "jit"),
    "map_flags": tuple(f[len("BPF_F_"):].lower() for f in uapi.map_flags()),
    "btf_kinds": tuple(BLOBS),
    "token": ("token_create",),
}

# Map type -> create parameters (key, value, max_entries, flags, extra kwargs) as libbpf's
# probe_map_create() sizes them.
_KV4 = (4, 4, 1, 0)


def _map_params(name: str) -> tuple[int, int, int, int]:
    special: dict[str, tuple[int, int, int, int]] = {
        "lpm_trie": (8, 8, 1, uapi.map_flags()["BPF_F_NO_PREALLOC"]),
        "cgroup_storage": (16, 8, 0, 0), "percpu_cgroup_storage": (16, 8, 0, 0),
        "queue": (0, 4, 1, 0), "stack": (0, 4, 1, 0), "bloom_filter": (0, 4, 1, 0),
        "ringbuf": (0, 0, os.sysconf("SC_PAGE_SIZE"), 0),
        "user_ringbuf": (0, 0, os.sysconf("SC_PAGE_SIZE"), 0),
        "arena": (0, 0, 1, uapi.map_flags()["BPF_F_MMAPABLE"]),
        "sk_storage": (4, 8, 0, 1), "inode_storage": (4, 8, 0, 1),
        "task_storage": (4, 8, 0, 1), "cgrp_storage": (4, 8, 0, 1),
    }
    if name in special:
        return special[name]
    if name in ("prog_array", "perf_event_array", "cgroup_array", "devmap", "devmap_hash",
                "cpumap", "xskmap", "sockmap", "sockhash", "reuseport_sockarray",
                "array_of_maps", "hash_of_maps"):
        return _KV4
    return (4, 8, 1, 0)


def _storage_btf() -> bytes:
    from bpfdoctor.btf import BtfBuilder

    b = BtfBuilder()
    b.add_int("int", 4, signed=True)
    b.add_int("long", 8, signed=True)
    return b.encode()


class LiveProber:
    """Runs the live probes of one capture; later groups reuse what earlier ones learnt."""

    def __init__(self, ctx: ProbeContext) -> None:
        self.ctx = ctx
        btf = ctx.btf
        self.prog_type_ids = (kfacts.enum_ids(btf, "prog_types") if btf else
                              {n: i for i, n in uapi.prog_types().items() if i})
        self.map_type_ids = (kfacts.enum_ids(btf, "map_types") if btf else
                             {n: i for i, n in uapi.map_types().items() if i})
        self.helper_ids = (kfacts.enum_ids(btf, "helpers") if btf else dict(uapi.helper_ids()))
        self.attach_ids = (kfacts.enum_ids(btf, "attach") if btf else
                           {n: i for i, n in uapi.attach_types().items()})
        self.setups: dict[str, dict[str, Any]] = {}  # loadable prog type -> prog_load kwargs
        self.prog_results: dict[str, Feature] = {}

    # -- program types ----------------------------------------------------------------------
    def _func_id(self, *names: str) -> int | None:
        if self.ctx.btf is None:
            return None
        for n in names:
            ids = self.ctx.btf.find(n, BtfKind.FUNC)
            if ids:
                return ids[0]
        return None

    def _typedef_id(self, *names: str) -> int | None:
        if self.ctx.btf is None:
            return None
        for n in names:
            ids = self.ctx.btf.find(n, BtfKind.TYPEDEF)
            if ids:
                return ids[0]
        return None

    def fentry(self) -> Feature:
        """An fentry load of its own: under lockdown it is refused while tp_btf loads."""
        fid = self._func_id("bpf_fentry_test1", "bpf_modify_return_test", "do_nanosleep")
        if fid is None:
            return Feature(UNKNOWN, "no kernel function in vmlinux BTF to attach fentry to",
                           "live")
        at = self.attach_ids
        res = sc.prog_load(self.prog_type_ids["tracing"], asm.return_zero(), log_size=4096,
                           expected_attach_type=at.get("trace_fentry", 24), attach_btf_id=fid)
        with contextlib.closing(res):
            if res.ok:
                return Feature(SUPPORTED, None, "live")
            f = classify_failure(self.ctx, res.errno, res.log, "an fentry (trampoline) program")
            if f.state is DENIED and self.prog_results.get("tracing", f).state is SUPPORTED:
                return Feature(DENIED, f"{f.reason}; tp_btf programs of the same type load, so "
                                       "it is the trampoline attach that is refused", "live")
            return f

    def prog_setup(self, name: str) -> dict[str, Any] | str:
        """prog_load kwargs for a minimal program of this type, or why there is none."""
        at = self.attach_ids
        if name == "kprobe":
            major, minor, patch = self.ctx_version()
            return {"kern_version": (major << 16) | (minor << 8) | min(patch, 255)}
        if name == "cgroup_sock_addr":
            return {"expected_attach_type": at.get("cgroup_inet4_connect", 10)}
        if name == "cgroup_sockopt":
            return {"expected_attach_type": at.get("cgroup_getsockopt", 21)}
        if name == "sk_lookup":
            return {"expected_attach_type": at.get("sk_lookup", 36)}
        if name == "netfilter":
            return {"expected_attach_type": at.get("netfilter", 45)}
        if name == "lirc_mode2":
            return {"expected_attach_type": at.get("lirc_mode2", 16)}
        if name == "syscall":
            return {"prog_flags": sc.BPF_F_SLEEPABLE}
        if name == "tracing":
            # tp_btf: the tracing type itself. Trampolines (fentry/fexit/fmod_ret) can be
            # refused where tp_btf and iter load (lockdown); fentry is probed apart.
            tid = self._typedef_id("btf_trace_sched_switch", "btf_trace_sys_enter",
                                   "btf_trace_sched_process_exec")
            if tid is None:
                return "needs a btf_trace_* tracepoint typedef in vmlinux BTF for tp_btf"
            return {"expected_attach_type": at.get("trace_raw_tp", 23), "attach_btf_id": tid}
        if name == "lsm":
            fid = self._func_id("bpf_lsm_file_open", "bpf_lsm_bpf")
            if fid is None:
                return "no bpf_lsm_* hook in vmlinux BTF (CONFIG_BPF_LSM off?)"
            return {"expected_attach_type": at.get("lsm_mac", 27), "attach_btf_id": fid}
        if name == "ext":
            return "freplace needs a target program loaded with BTF; not probed live"
        if name == "struct_ops":
            return {}
        return {}

    def ctx_version(self) -> tuple[int, int, int]:
        return release_tuple(self.ctx.release)

    def _load(self, name: str, insns: bytes, **extra: Any) -> sc.SyscallResult:
        kwargs = dict(self.setups.get(name) or {})
        kwargs.update(extra)
        return sc.prog_load(self.prog_type_ids[name], insns, log_size=8192, **kwargs)

    def prog_types(self, progress: Progress) -> dict[str, Feature]:
        out: dict[str, Feature] = {}
        for name, tid in self.prog_type_ids.items():
            setup = self.prog_setup(name)
            progress(1)
            if isinstance(setup, str):
                fact = kfacts.group_features(self.ctx.btf, self.ctx.config, "prog_types",
                                             setup).get(name) if self.ctx.btf else None
                out[name] = fact or Feature(UNKNOWN, setup, "live")
                continue
            res = sc.prog_load(tid, asm.return_zero(), log_size=4096, **setup)
            with contextlib.closing(res):
                if res.ok:
                    out[name] = Feature(SUPPORTED, None, "live")
                    self.setups[name] = setup
                elif name == "struct_ops" and res.errno == 524:
                    # libbpf's probe: ENOTSUPP without a struct_ops target means "known type"
                    out[name] = Feature(SUPPORTED, "known to the verifier (needs a struct_ops "
                                                   "map to load for real)", "live")
                else:
                    out[name] = self._prog_failure(name, res)
        self.prog_results = out
        return {n: with_min_kernel(f, "prog_type", n) for n, f in out.items()}

    def _prog_failure(self, name: str, res: sc.SyscallResult) -> Feature:
        f = classify_failure(self.ctx, res.errno, res.log, f"{_a(name)} program")
        if f.state is DENIED:
            btf_note = ""
            if self.ctx.btf is not None and name in self.prog_type_ids:
                btf_note = "; the kernel has the type (BTF)"
            return Feature(DENIED, (f.reason or "") + btf_note, "live")
        option = kfacts.PROG_TYPE_KCONFIG.get(name)
        if f.state is UNSUPPORTED and option and self.ctx.kconfig.enabled(option) is False:
            return Feature(UNSUPPORTED, f"{option} is not set ({f.reason})", "live")
        return f

    # -- map types and flags -----------------------------------------------------------------
    @contextlib.contextmanager
    def _inner_map(self) -> Iterator[int]:
        res = sc.map_create(2, 4, 4, 1)
        try:
            yield res.fd.fd if res.fd is not None else 0
        finally:
            res.close()

    def create_map(self, name: str, flags: int = 0, **kw: Any) -> sc.SyscallResult:
        key, value, max_entries, base_flags = _map_params(name)
        kw = dict(kw)
        if "value_size" in kw:
            value = kw.pop("value_size")
        tid = self.map_type_ids[name]
        if name in ("array_of_maps", "hash_of_maps"):
            with self._inner_map() as inner:
                return sc.map_create(tid, key, value, max_entries, base_flags | flags,
                                     inner_map_fd=inner, **kw)
        if name in ("sk_storage", "inode_storage", "task_storage", "cgrp_storage"):
            btf = sc.btf_load(_storage_btf(), log_level=0)
            with contextlib.closing(btf):
                if btf.fd is None:
                    return btf
                return sc.map_create(tid, key, value, max_entries, base_flags | flags,
                                     btf_fd=btf.fd.fd, btf_key_type_id=1, btf_value_type_id=2,
                                     **kw)
        if name == "struct_ops":
            return sc.map_create(tid, 4, 4, 1, flags, btf_vmlinux_value_type_id=1, **kw)
        return sc.map_create(tid, key, value, max_entries, base_flags | flags, **kw)

    def map_types(self, progress: Progress) -> dict[str, Feature]:
        out: dict[str, Feature] = {}
        for name in self.map_type_ids:
            progress(1)
            res = self.create_map(name)
            with contextlib.closing(res):
                if res.ok:
                    out[name] = Feature(SUPPORTED, None, "live")
                elif name == "struct_ops" and res.errno in (524, E.EINVAL, E.ENOENT):
                    fact = Feature(SUPPORTED, "from BTF: needs a kernel struct_ops type to "
                                              "create for real; not probed live", "btf")
                    out[name] = fact if self.ctx.btf else Feature(UNKNOWN, fact.reason, "live")
                else:
                    f = classify_failure(self.ctx, res.errno, res.log, f"{_a(name)} map")
                    option = kfacts.MAP_TYPE_KCONFIG.get(name)
                    if (f.state is UNSUPPORTED and option
                            and self.ctx.kconfig.enabled(option) is False):
                        f = Feature(UNSUPPORTED, f"{option} is not set ({f.reason})", "live")
                    out[name] = f
        return {n: with_min_kernel(f, "map_type", n) for n, f in out.items()}

    def map_flags(self, progress: Progress) -> dict[str, Feature]:
        flags = uapi.map_flags()
        tries: dict[str, tuple[str, dict[str, Any]]] = {
            "BPF_F_NO_PREALLOC": ("hash", {}), "BPF_F_NO_COMMON_LRU": ("lru_hash", {}),
            "BPF_F_NUMA_NODE": ("hash", {}), "BPF_F_RDONLY": ("array", {}),
            "BPF_F_WRONLY": ("array", {}), "BPF_F_STACK_BUILD_ID": ("stack_trace",
                                                                   {"value_size": 32}),
            "BPF_F_ZERO_SEED": ("hash", {}), "BPF_F_RDONLY_PROG": ("array", {}),
            "BPF_F_WRONLY_PROG": ("array", {}), "BPF_F_CLONE": ("sk_storage", {}),
            "BPF_F_MMAPABLE": ("array", {}), "BPF_F_PRESERVE_ELEMS": ("perf_event_array", {}),
            "BPF_F_INNER_MAP": ("array", {}), "BPF_F_SEGV_ON_FAULT": ("arena", {}),
            "BPF_F_NO_USER_CONV": ("arena", {}),
        }
        not_map_create = {
            "BPF_F_LINK": "a struct_ops map flag (needs a struct_ops type)",
            "BPF_F_PATH_FD": "a BPF_OBJ_PIN/GET flag, not a map flag",
            "BPF_F_VTYPE_BTF_OBJ_FD": "a struct_ops map flag for module BTF",
            "BPF_F_TOKEN_FD": "needs a BPF token (see the token group)",
        }
        out: dict[str, Feature] = {}
        for flag, bit in flags.items():
            progress(1)
            short = flag[len("BPF_F_"):].lower()
            if flag in not_map_create or flag not in tries:
                why = not_map_create.get(flag, "no probe for this flag")
                known = self.ctx.btf is not None and kfacts.has_string(self.ctx.btf, flag)
                out[short] = (Feature(SUPPORTED, f"from BTF: {flag} is defined; {why}", "btf")
                              if known else Feature(UNKNOWN, f"not probed: {why}", "live"))
                continue
            map_name, kw = tries[flag]
            if map_name not in self.map_type_ids:
                out[short] = Feature(UNSUPPORTED, f"map type {map_name} is not supported", "live")
                continue
            res = self.create_map(map_name, bit, **kw)
            with contextlib.closing(res):
                if res.ok:
                    out[short] = Feature(SUPPORTED, None, "live")
                else:
                    f = classify_failure(self.ctx, res.errno, res.log,
                                         f"{_a(map_name)} map with {flag}")
                    out[short] = Feature(f.state, f"{f.reason} (tried on {_a(map_name)} map)",
                                         "live")
        return {n: with_min_kernel(f, "map_flag", n) for n, f in out.items()}

    # -- helpers ---------------------------------------------------------------------------
    def classify_helper(self, prog: str, helper: str, res: sc.SyscallResult) -> Feature:
        if res.ok:
            return Feature(SUPPORTED)
        log = res.log
        if any(w in log for w in HELPER_UNAVAILABLE):
            lock = LOCKDOWN_HELPERS.get(helper)
            level = self.ctx.security.lockdown or "none"
            if lock and _LOCK_RANK.get(level, 0) >= _LOCK_RANK[lock[0]] and (
                    lock[1] is None or prog in lock[1]):
                return Feature(DENIED, f"lockdown ({level}) removes {helper} "
                                       f"(kernel_lockdown.7); the verifier says: "
                                       f"{_helper_line(log)}", "live")
            if helper == "bpf_override_return" and self.ctx.kconfig.enabled(
                    "CONFIG_BPF_KPROBE_OVERRIDE") is False:
                return Feature(UNSUPPORTED, "CONFIG_BPF_KPROBE_OVERRIDE is not set", "live")
            return Feature(UNSUPPORTED, _helper_line(log), "live")
        if any(w in log for w in HELPER_NEEDS_SLEEPABLE):
            if prog in SLEEPABLE_OK:
                return Feature(SUPPORTED, "only in sleepable programs", "live")
            return Feature(UNSUPPORTED, f"sleepable-only helper; {prog} programs cannot sleep",
                           "live")
        if HELPER_GPL in log:
            return Feature(SUPPORTED, "GPL-only", "live")
        if res.errno in (E.EPERM, E.EACCES) and not _verifier_ran(log):
            return Feature(DENIED, self.ctx.denial_reason(res.errno, f"{_a(prog)} program"),
                           "live")
        if _verifier_ran(log):
            return Feature(SUPPORTED)  # accepted the call; refused only the dummy arguments
        return classify_failure(self.ctx, res.errno, log, f"{_a(prog)} program")

    def helpers(self, progress: Progress) -> dict[str, Feature]:
        progs = [p for p in self.setups if p != "struct_ops"]
        per_helper: dict[str, dict[str, Feature]] = {h: {} for h in self.helper_ids}
        tail = asm.return_zero()
        for prog in progs:
            setup = self.setups[prog]
            loader = sc.PreparedLoad(self.prog_type_ids[prog], 3, log_size=8192, **setup)
            for helper, hid in self.helper_ids.items():
                res = loader.load(asm.call_helper(hid) + tail)
                if res.log_truncated:  # a longer log than expected: the general path grows it
                    res = self._load(prog, asm.call_helper(hid) + tail)
                with contextlib.closing(res):
                    per_helper[helper][prog] = self.classify_helper(prog, helper, res)
            progress(len(self.helper_ids))
        out: dict[str, Feature] = {}
        for helper, by in per_helper.items():
            states = [f.state for f in by.values()]
            if SUPPORTED in states:
                overall = Feature(SUPPORTED, None, "live", by_prog_type=by)
            elif DENIED in states:
                first = next(f for f in by.values() if f.state is DENIED)
                overall = Feature(DENIED, first.reason, "live", by_prog_type=by)
            else:
                overall = self._helper_elsewhere(helper, by)
            out[helper] = with_min_kernel(overall, "helper", helper)
        return out

    def _helper_elsewhere(self, helper: str, by: dict[str, Feature]) -> Feature:
        """No loadable program type may call ``helper``: say whether one we could not load
        might (then it is denied or unknown here, not unsupported)."""
        unprobed = {p: f for p, f in self.prog_results.items()
                    if p not in self.setups and p != "struct_ops"}
        owners = [p for p in unprobed if helper in (kb_helpers_of(p) or ())]
        denied = [p for p in owners if unprobed[p].state is DENIED]
        if denied:
            return Feature(DENIED, f"only {', '.join(denied)} programs may call it and loading "
                                   f"them is denied here ({unprobed[denied[0]].reason})",
                           "live", by_prog_type=by)
        if owners:
            p = owners[0]
            return Feature(unprobed[p].state, f"only {', '.join(owners)} programs may call it: "
                                              f"{p}: {unprobed[p].reason}", "live",
                           by_prog_type=by)
        reasons = {f.reason or "" for f in by.values()}
        if len(reasons) == 1 and next(iter(reasons)).startswith("CONFIG_"):
            return Feature(UNSUPPORTED, next(iter(reasons)), "live", by_prog_type=by)
        if unprobed and not by:
            return Feature(UNKNOWN, "no program type could be loaded to probe it", "live")
        blocked = [p for p, f in unprobed.items() if f.state is not UNSUPPORTED]
        if blocked:
            return Feature(UNKNOWN, f"no loadable program type may call it ({len(by)} tried); "
                                    f"not probed for {', '.join(blocked)}", "live",
                           by_prog_type=by)
        return Feature(UNSUPPORTED, f"no program type may call it ({len(by)} tried)", "live",
                       by_prog_type=by)

    # -- instruction set, verifier, program features ---------------------------------------
    def _base_prog(self) -> str | None:
        for p in ("socket_filter", "xdp", "sched_cls", "kprobe", "tracepoint"):
            if p in self.setups:
                return p
        return next(iter(self.setups), None)

    def _try(self, what: str, insns: bytes, **extra: Any) -> Feature:
        prog = self._base_prog()
        if prog is None:
            return self._no_base(what)
        res = self._load(prog, insns, **extra)
        with contextlib.closing(res):
            if res.ok:
                return Feature(SUPPORTED, None, "live")
            f = classify_failure(self.ctx, res.errno, res.log, what)
            if f.state is UNKNOWN and res.errno == E.EACCES and _verifier_ran(res.log):
                return Feature(UNSUPPORTED, _last_message(res.log), "live")
            return f

    def _no_base(self, what: str) -> Feature:
        denied = [f for f in self.prog_results.values() if f.state is DENIED]
        if denied:
            return Feature(DENIED, f"no program type may be loaded here ({denied[0].reason})",
                           "live")
        return Feature(UNKNOWN, f"no program type loads here, {what} not probed", "live")

    def isa(self, progress: Progress) -> dict[str, Feature]:
        r0 = 0
        v2 = asm.mov64_imm(r0, 0) + asm.jmp_imm(asm.JLT, r0, 1, 0) + asm.exit_insn()
        v3 = (asm.mov32_imm(r0, 0) + asm.jmp32_imm(asm.JLT, r0, 1, 0)
              + asm.mov64_imm(r0, 0) + asm.exit_insn())
        v4 = (asm.mov64_imm(r0, 1)
              + asm.insn(asm.ALU64 | asm.MOV | asm.X, r0, r0, off=8)  # movsx r0 = (s8)r0
              + asm.alu64_imm(asm.DIV, r0, 1, off=1)  # sdiv r0 /= 1
              + asm.insn(asm.ALU64 | asm.END, r0, imm=16)  # bswap16 r0
              + asm.insn(asm.JMP32 | asm.JA, imm=0)  # gotol +0
              + asm.mov64_imm(r0, 0) + asm.exit_insn())
        out = {}
        for name, insns in (("v1", asm.return_zero()), ("v2", v2), ("v3", v3), ("v4", v4)):
            progress(1)
            out[name] = with_min_kernel(self._try(f"ISA {name} instructions", insns), "isa",
                                        name)
        return out

    def verifier(self, progress: Progress) -> dict[str, Feature]:
        r0 = 0
        loop = (asm.mov64_imm(r0, 0) + asm.alu64_imm(asm.ADD, r0, 1)
                + asm.jmp_imm(asm.JLT, r0, 4, -2) + asm.exit_insn())
        big = asm.mov64_imm(r0, 0) * 4100 + asm.exit_insn()
        out = {
            "bounded_loops": self._try("a bounded loop", loop),
            "large_insn_limit": self._try("a 4101-instruction program", big),
        }
        progress(2)
        return {n: with_min_kernel(f, "verifier", n) for n, f in out.items()}

    def program_features(self, progress: Progress) -> dict[str, Feature]:
        out: dict[str, Feature] = {}
        # bpf-to-bpf call: main calls the subprogram at insn 2, which sets r0 and returns
        calls = asm.call_subprog(1) + asm.exit_insn() + asm.return_zero()
        out["bpf_to_bpf_calls"] = self._try("a bpf-to-bpf call", calls)
        progress(1)
        out["global_data"] = self._global_data()
        progress(1)
        out["sleepable"] = (Feature(SUPPORTED, None, "live") if "syscall" in self.setups
                            else self._sleepable_fallback())
        progress(1)
        out["func_info"] = self._func_info()
        out["map_freeze"] = self._map_freeze()
        out["jit"] = self._jit()
        progress(1)
        return {n: with_min_kernel(f, "program_feature", n) for n, f in out.items()}

    def _sleepable_fallback(self) -> Feature:
        f = self.prog_results.get("syscall")
        if f is None:
            return Feature(UNSUPPORTED, "no syscall program type (sleepable programs need 5.10+)",
                           "live")
        return Feature(f.state, f"syscall programs (always sleepable): {f.reason}", f.source)

    def _global_data(self) -> Feature:
        mmap = uapi.map_flags()["BPF_F_MMAPABLE"]
        for flags in (mmap, 0):
            res = sc.map_create(self.map_type_ids.get("array", 2), 4, 8, 1, flags,
                                name="probe.data")
            with contextlib.closing(res):
                if res.fd is None:
                    continue
                insns = (asm.ld_map_value(1, res.fd.fd, 0) + asm.ldx_mem(asm.DW, 0, 1, 0)
                         + asm.return_zero())
                f = self._try("global data (ld_imm64 map_value)", insns)
                if f.state is SUPPORTED and not flags:
                    return Feature(SUPPORTED, "array maps cannot be mmapable here (5.5+): "
                                              "libbpf falls back to non-mmapable .data", "live")
                return f
        res = sc.map_create(2, 4, 8, 1)
        with contextlib.closing(res):
            return classify_failure(self.ctx, res.errno, res.log, "an array map")

    def _map_freeze(self) -> Feature:
        """BPF_MAP_FREEZE (5.2): what libbpf uses to make .rodata read-only for the program."""
        res = sc.map_create(self.map_type_ids.get("array", 2), 4, 8, 1)
        with contextlib.closing(res):
            if res.fd is None:
                return classify_failure(self.ctx, res.errno, res.log, "an array map")
            err = sc.map_update_elem(res.fd.fd, bytes(4), bytes(8))
            if err:
                return classify_failure(self.ctx, err, "", "a map update")
            err = sc.map_freeze(res.fd.fd)
            if err == 0:
                return Feature(SUPPORTED, None, "live")
            return classify_failure(self.ctx, err, "", "BPF_MAP_FREEZE")

    def _jit(self) -> Feature:
        """Whether programs are JIT-compiled (bpf_prog_info.jited_prog_len of a tiny program);
        some features (bpf-to-bpf calls mixed with tail calls, kfuncs) need the JIT."""
        prog = self._base_prog()
        if prog is None:
            return self._no_base("the JIT")
        res = self._load(prog, asm.return_zero())
        with contextlib.closing(res):
            if res.fd is None:
                return classify_failure(self.ctx, res.errno, res.log, "a program")
            info, err = sc.obj_get_info(res.fd.fd)
            if err or len(info) < 24:
                return Feature(UNKNOWN, f"BPF_OBJ_GET_INFO_BY_FD: {sc.errno_name(err)}", "live")
            jited = int.from_bytes(info[16:20], "little")
            if jited:
                return Feature(SUPPORTED, None, "live")
            return Feature(UNSUPPORTED, "programs run in the interpreter "
                                        "(net.core.bpf_jit_enable=0 or no JIT for this arch)",
                           "live")

    def _func_info(self) -> Feature:
        btf = sc.btf_load(BLOBS["func"](), log_level=0)
        with contextlib.closing(btf):
            if btf.fd is None:
                return classify_failure(self.ctx, btf.errno, btf.log, "program BTF")
            # one bpf_func_info {insn_off, type_id}: FUNC [3] starts at insn 0
            rec = struct.pack("<II", 0, 3)
            return self._try("BTF func_info", asm.return_zero(), prog_btf_fd=btf.fd.fd,
                             func_info=rec, func_info_rec_size=8)

    # -- BTF kinds and kfuncs ---------------------------------------------------------------
    def btf_kinds(self, progress: Progress) -> dict[str, Feature]:
        out: dict[str, Feature] = {}
        for name, make in BLOBS.items():
            progress(1)
            res = sc.btf_load(make(), log_level=0)
            with contextlib.closing(res):
                if res.ok:
                    out[name] = Feature(SUPPORTED, None, "live")
                    continue
            again = sc.btf_load(make(), log_level=1, log_size=65536)
            with contextlib.closing(again):
                f = classify_failure(self.ctx, again.errno, again.log, f"BTF with {name}")
                if f.state is UNKNOWN and again.errno == E.EINVAL:
                    f = Feature(UNSUPPORTED, _last_message(again.log), "live")
                out[name] = f
        return {n: with_min_kernel(f, "btf_kind", n) for n, f in out.items()}

    def kfuncs(self, progress: Progress) -> dict[str, Feature]:
        btf = self.ctx.btf
        if btf is None:
            return {}
        kf = kfacts.kfunc_ids(btf)
        out = kfacts.kfuncs(btf)
        lock, unlock = kf.get("bpf_rcu_read_lock"), kf.get("bpf_rcu_read_unlock")
        if lock is not None and unlock is not None:
            insns = asm.call_kfunc(lock) + asm.call_kfunc(unlock) + asm.return_zero()
            f = self._try("a kfunc call", insns)
            if f.state is not SUPPORTED:
                reason = f"kfunc calls fail here: {f.reason}"
                for n in ("bpf_rcu_read_lock", "bpf_rcu_read_unlock"):
                    out[n] = Feature(f.state, reason, "live")
            else:
                for n in ("bpf_rcu_read_lock", "bpf_rcu_read_unlock"):
                    out[n] = Feature(SUPPORTED, None, "live")
        progress(2)
        return out

    # -- token ------------------------------------------------------------------------------
    def token(self, progress: Progress, bpffs: tuple[str, ...]) -> dict[str, Feature]:
        progress(1)
        out: dict[str, Feature] = {}
        cmds = kfacts.bpf_commands(self.ctx.btf) if self.ctx.btf else {}
        has_cmd = "TOKEN_CREATE" in cmds if cmds else None
        if has_cmd is False:
            out["token_create"] = Feature(UNSUPPORTED, "BPF_TOKEN_CREATE is not in this "
                                                       "kernel's enum bpf_cmd (needs 6.9+)", "btf")
            return out
        if not bpffs:
            out["token_create"] = Feature(
                DENIED, "no token delegation: no bpffs is mounted; a token needs a bpffs "
                        "mounted with delegate_cmds/maps/progs/attachs inside a user namespace",
                "host")
            return out
        results = []
        for path in bpffs:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            except OSError as exc:
                results.append(Feature(UNKNOWN, f"cannot open {path}: {exc.strerror}", "host"))
                continue
            try:
                res = sc.token_create(fd)
                with contextlib.closing(res):
                    results.append(self._token_state(path, res))
            finally:
                os.close(fd)
        best = next((r for r in results if r.state is SUPPORTED), results[0])
        out["token_create"] = best
        return out

    def _token_state(self, path: str, res: sc.SyscallResult) -> Feature:
        if res.ok:
            return Feature(SUPPORTED, f"token created from {path}", "live")
        err = res.errno
        if err == E.EOPNOTSUPP:
            return Feature(DENIED, f"EOPNOTSUPP from {path}: tokens cannot be created in the "
                                   "initial user namespace; they are for unprivileged "
                                   "containers (here use capabilities instead)", "live")
        if err == E.ENOENT:
            return Feature(DENIED, f"ENOENT: no token delegation: {path} was mounted without "
                                   "delegate_cmds/maps/progs/attachs", "live")
        if err == E.EINVAL:
            return Feature(DENIED, f"EINVAL: {path} is not the root of a bpffs, or it lacks "
                                   "delegation options", "live")
        if err == E.EPERM:
            return Feature(DENIED, f"EPERM: no CAP_BPF in the user namespace that owns {path}",
                           "live")
        return classify_failure(self.ctx, err, "", "a BPF token")


def lockdown_from_behaviour(kprobe_type: int = 2) -> str | None:
    """Lockdown level as the verifier shows it, for when securityfs and dmesg are closed:
    kprobe programs always have bpf_probe_write_user and bpf_probe_read_kernel unless lockdown
    (integrity, resp. confidentiality) removed them. None when kprobe programs do not load."""
    def refused(helper_id: int) -> bool | None:
        res = sc.prog_load(kprobe_type, asm.call_helper(helper_id) + asm.return_zero(),
                           log_size=4096)
        with contextlib.closing(res):
            if res.ok:
                return False
            if not _verifier_ran(res.log):
                return None
            return any(w in res.log for w in HELPER_UNAVAILABLE)
    base = sc.prog_load(kprobe_type, asm.return_zero(), log_level=0)
    with contextlib.closing(base):
        if not base.ok:
            return None
    read_kernel = refused(113)  # bpf_probe_read_kernel
    write_user = refused(36)  # bpf_probe_write_user
    if read_kernel is None or write_user is None:
        return None
    if read_kernel:
        return "confidentiality"
    return "integrity" if write_user else "none"


def _a(word: str) -> str:
    """'a kprobe', 'an lsm', 'an xdp' (by sound for the usual BPF names)."""
    return ("an " if word[:1] in "aeiou" or word.startswith(("lsm", "lwt", "lru", "xdp", "lpm"))
            else "a ") + word


def _helper_line(log: str) -> str:
    for line in log.splitlines():
        if any(w in line for w in HELPER_UNAVAILABLE):
            return line.strip()
    return _last_message(log)
