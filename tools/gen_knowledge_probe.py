#!/usr/bin/env python3
"""Record which helpers each program type may call on the running kernel (needs root + bpf()).

Writes tools/knowledge_sources/helper_probe_<release>.json, a committed source excerpt that
tools/gen_knowledge.py reads. It is the kernel's own answer to "does ``get_func_proto()`` of
this program type return a proto for helper N", obtained the way the verifier exposes it:

- a tiny program ``r1..r5 = 0; call N; r0 = 0; exit`` is loaded for every (program type,
  expected attach type, attach target) variant and every helper id of UAPI;
- ``program of this type cannot use helper`` / ``invalid func`` / ``unknown func`` in the
  verifier log means the proto table has no entry (mirrors ``check_helper_call()`` in
  kernel/bpf/verifier.c, which checks the proto before GPL, ``allowed()``, sleepability and
  arguments, in that order);
- the same program with license ``Proprietary`` tells whether the proto is ``gpl_only``
  (``cannot call GPL-restricted function from non-GPL compatible program``);
- ``helper call is not allowed in probe`` (the proto's ``allowed()`` callback, e.g.
  bpf_d_path's attach-target allowlist) and ``helper call might sleep in a non-sleepable
  prog`` are recorded as restrictions, not as absence.

Each variant first loads a baseline program without a call; a variant whose baseline fails
(program type compiled out, attach target missing) is recorded with the error and skipped, so
"not allowed" never means "could not test". Every fd is closed; nothing is attached or pinned.

Usage: tools/gen_knowledge_probe.py [--btf /sys/kernel/btf/vmlinux]
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from bpfdoctor.knowledge import uapi  # noqa: E402

SYS_BPF = {"x86_64": 321, "aarch64": 280}[platform.machine()]
BPF_PROG_LOAD = 5
BPF_F_SLEEPABLE = 1 << 4
LOG_SIZE = 1 << 16

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _ProgLoadAttr(ctypes.Structure):
    """``union bpf_attr`` for BPF_PROG_LOAD, up to attach_prog_fd (include/uapi/linux/bpf.h)."""

    _fields_ = [
        ("prog_type", ctypes.c_uint32),
        ("insn_cnt", ctypes.c_uint32),
        ("insns", ctypes.c_uint64),
        ("license", ctypes.c_uint64),
        ("log_level", ctypes.c_uint32),
        ("log_size", ctypes.c_uint32),
        ("log_buf", ctypes.c_uint64),
        ("kern_version", ctypes.c_uint32),
        ("prog_flags", ctypes.c_uint32),
        ("prog_name", ctypes.c_char * 16),
        ("prog_ifindex", ctypes.c_uint32),
        ("expected_attach_type", ctypes.c_uint32),
        ("prog_btf_fd", ctypes.c_uint32),
        ("func_info_rec_size", ctypes.c_uint32),
        ("func_info", ctypes.c_uint64),
        ("func_info_cnt", ctypes.c_uint32),
        ("line_info_rec_size", ctypes.c_uint32),
        ("line_info", ctypes.c_uint64),
        ("line_info_cnt", ctypes.c_uint32),
        ("attach_btf_id", ctypes.c_uint32),
        ("attach_prog_fd", ctypes.c_uint32),
        ("_pad", ctypes.c_uint8 * 64),
    ]


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return (
        bytes([code, (src << 4) | dst])
        + off.to_bytes(2, "little", signed=True)
        + imm.to_bytes(4, "little", signed=True)
    )


def _program(helper_id: int | None, ret: int) -> bytes:
    mov_imm = 0xB7  # BPF_ALU64 | BPF_MOV | BPF_K
    body = b""
    if helper_id is not None:
        body = b"".join(_insn(mov_imm, dst=r) for r in range(1, 6)) + _insn(0x85, imm=helper_id)
    return body + _insn(mov_imm, dst=0, imm=ret) + _insn(0x95)


@dataclass(frozen=True, slots=True)
class Variant:
    prog_type: str
    attach_type: str | None = None
    target: str | None = None  # BTF name of the attach target (func, typedef or struct)
    member: str | None = None  # struct_ops member name -> expected_attach_type = index
    sleepable: bool = False
    ret: int = 0  # some hooks only accept 1 (recvmsg, getpeername: "At program exit ... R0")

    @property
    def key(self) -> str:
        parts = [self.prog_type, self.attach_type or "-", self.target or "-"]
        if self.member:
            parts.append(self.member)
        if self.sleepable:
            parts.append("sleepable")
        return "/".join(parts)


VARIANTS = [
    Variant("socket_filter"),
    Variant("kprobe"),
    Variant("sched_cls"),
    Variant("sched_act"),
    Variant("tracepoint"),
    Variant("xdp"),
    Variant("perf_event"),
    Variant("cgroup_skb", "cgroup_inet_ingress"),
    Variant("cgroup_sock", "cgroup_inet_sock_create"),
    Variant("cgroup_sock", "cgroup_inet4_post_bind"),
    Variant("lwt_in"),
    Variant("lwt_out"),
    Variant("lwt_xmit"),
    Variant("sock_ops"),
    Variant("sk_skb", "sk_skb_stream_verdict"),
    Variant("cgroup_device", "cgroup_device"),
    Variant("sk_msg", "sk_msg_verdict"),
    Variant("raw_tracepoint"),
    Variant("cgroup_sock_addr", "cgroup_inet4_bind"),
    Variant("cgroup_sock_addr", "cgroup_inet4_connect"),
    Variant("cgroup_sock_addr", "cgroup_udp4_sendmsg"),
    Variant("cgroup_sock_addr", "cgroup_udp4_recvmsg", ret=1),
    Variant("cgroup_sock_addr", "cgroup_inet4_getpeername", ret=1),
    Variant("cgroup_sock_addr", "cgroup_unix_connect"),
    Variant("lwt_seg6local"),
    Variant("lirc_mode2", "lirc_mode2"),
    Variant("sk_reuseport", "sk_reuseport_select"),
    Variant("sk_reuseport", "sk_reuseport_select_or_migrate"),
    Variant("flow_dissector", "flow_dissector"),
    Variant("cgroup_sysctl", "cgroup_sysctl"),
    Variant("raw_tracepoint_writable"),
    Variant("cgroup_sockopt", "cgroup_getsockopt"),
    Variant("cgroup_sockopt", "cgroup_setsockopt"),
    Variant("tracing", "trace_fentry", "bpf_fentry_test1"),
    Variant("tracing", "trace_fexit", "bpf_fentry_test1"),
    Variant("tracing", "modify_return", "bpf_modify_return_test"),
    Variant("tracing", "trace_fentry", "bpf_modify_return_test", sleepable=True),
    Variant("tracing", "trace_raw_tp", "btf_trace_sched_switch"),
    Variant("tracing", "trace_iter", "bpf_iter_task"),
    Variant("struct_ops", None, "tcp_congestion_ops", member="ssthresh"),
    Variant("lsm", "lsm_mac", "bpf_lsm_file_open"),
    Variant("lsm", "lsm_mac", "bpf_lsm_file_open", sleepable=True),
    Variant("lsm", "lsm_cgroup", "bpf_lsm_socket_bind"),
    Variant("sk_lookup", "sk_lookup"),
    Variant("syscall", sleepable=True),
    Variant("netfilter", "netfilter"),
]

NOT_ALLOWED = ("cannot use helper", "invalid func", "unknown func")
RESTRICTIONS = {
    "helper call is not allowed in probe": "allowed_callback",
    "might sleep in a non-sleepable prog": "sleepable_only",
}
GPL_MESSAGE = "cannot call GPL-restricted function"


class BtfIndex:
    """Name -> (id, type) for the attach targets, from ``bpftool -j btf dump``."""

    def __init__(self, path: str) -> None:
        out = subprocess.run(
            ["bpftool", "-j", "btf", "dump", "file", path], check=True, capture_output=True
        ).stdout
        self.by_name: dict[str, list[dict[str, Any]]] = {}
        wanted = {v.target for v in VARIANTS if v.target}
        for t in json.loads(out)["types"]:
            if t.get("name") in wanted:
                self.by_name.setdefault(str(t["name"]), []).append(t)

    def resolve(self, v: Variant) -> tuple[int, int] | str:
        """(attach_btf_id, expected_attach_type override or -1), or an error string."""
        if v.target is None:
            return 0, -1
        for t in self.by_name.get(v.target, []):
            if v.member is not None:
                if t["kind"] != "STRUCT":
                    continue
                names = [m["name"] for m in t["members"]]
                if v.member not in names:
                    return f"{v.target} has no member {v.member}"
                return int(t["id"]), names.index(v.member)
            if t["kind"] in ("FUNC", "TYPEDEF"):
                return int(t["id"]), -1
        return f"no BTF type {v.target}"


def _load(
    v: Variant, btf_id: int, eat: int, helper_id: int | None, license_: bytes
) -> tuple[int, str, str]:
    """Load once; return (errno or 0, log text)."""
    insns = _program(helper_id, v.ret)
    ibuf = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license_)
    log = ctypes.create_string_buffer(LOG_SIZE)
    attr = _ProgLoadAttr()
    attr.prog_type = {n: i for i, n in uapi.prog_types().items()}[v.prog_type]
    attr.insn_cnt = len(insns) // 8
    attr.insns = ctypes.addressof(ibuf)
    attr.license = ctypes.addressof(lic)
    attr.log_level = 1
    attr.log_size = LOG_SIZE
    attr.log_buf = ctypes.addressof(log)
    attr.prog_flags = BPF_F_SLEEPABLE if v.sleepable else 0
    if eat >= 0:
        attr.expected_attach_type = eat
    elif v.attach_type is not None:
        attr.expected_attach_type = {n: i for i, n in uapi.attach_types().items()}[v.attach_type]
    attr.attach_btf_id = btf_id
    fd = _libc.syscall(SYS_BPF, BPF_PROG_LOAD, ctypes.byref(attr), ctypes.sizeof(attr))
    err = ctypes.get_errno() if fd < 0 else 0
    if fd >= 0:
        os.close(fd)
    return err, log.value.decode(errors="replace"), os.strerror(err) if err else ""


def _classify(err: int, log: str) -> str:
    if err == 0:
        return "allowed"
    if any(m in log for m in NOT_ALLOWED):
        return "not_allowed"
    for msg, tag in RESTRICTIONS.items():
        if msg in log:
            return tag
    return "allowed"  # rejected later (arguments, context): the proto exists


CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 12, 21, 38, 39
# Program types whose load needs only CAP_BPF (+ CAP_NET_ADMIN for networking), so they can be
# probed without CAP_PERFMON/CAP_SYS_ADMIN to see bpf_base_func_proto()'s CAP_PERFMON tier.
REDUCED_CAP_VARIANTS = [Variant("socket_filter"), Variant("sched_cls"), Variant("xdp")]


def _drop_capabilities(drop: list[int]) -> None:
    """capset(2) this process's effective set minus ``drop`` (permitted set unchanged)."""

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    hdr = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    if _libc.syscall(125, ctypes.byref(hdr), data) != 0:  # capget
        raise OSError(ctypes.get_errno(), "capget")
    for cap in drop:
        data[cap // 32].effective &= ~(1 << (cap % 32))
    if _libc.syscall(126, ctypes.byref(hdr), data) != 0:  # capset
        raise OSError(ctypes.get_errno(), "capset")


def _reduced_capability_run() -> dict[str, list[str]]:
    """Child mode: helpers each REDUCED_CAP_VARIANTS type offers with CAP_BPF but no CAP_PERFMON."""
    _drop_capabilities([CAP_PERFMON, CAP_SYS_ADMIN])
    out: dict[str, list[str]] = {}
    for v in REDUCED_CAP_VARIANTS:
        err, _, msg = _load(v, 0, -1, None, b"GPL")
        if err:
            out[v.key] = [f"baseline failed: {msg}"]
            continue
        out[v.key] = [
            name
            for hid, name in sorted(uapi.helpers().items())
            if _classify(*_load(v, 0, -1, hid, b"GPL")[:2]) != "not_allowed"
        ]
    return out


def _perfmon_gated(full: dict[str, list[str]]) -> dict[str, list[str]]:
    """Helpers that vanish when CAP_PERFMON and CAP_SYS_ADMIN are dropped (run in a child)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--reduced-caps-child"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        return {"error": [proc.stderr.strip()[-300:]]}
    reduced: dict[str, list[str]] = json.loads(proc.stdout)
    return {k: sorted(set(full[k]) - set(reduced[k])) for k in reduced if k in full}


def main() -> int:
    if "--reduced-caps-child" in sys.argv:
        print(json.dumps(_reduced_capability_run()))
        return 0
    btf_path = (
        sys.argv[sys.argv.index("--btf") + 1] if "--btf" in sys.argv else "/sys/kernel/btf/vmlinux"
    )
    index = BtfIndex(btf_path)
    helpers = uapi.helpers()
    variants_out: list[dict[str, Any]] = []
    gpl_only: dict[str, dict[str, bool]] = {}
    for v in VARIANTS:
        res = index.resolve(v)
        entry: dict[str, Any] = {"variant": v.key}
        if isinstance(res, str):
            entry["skipped"] = res
            variants_out.append(entry)
            continue
        btf_id, eat = res
        err, log, msg = _load(v, btf_id, eat, None, b"GPL")
        if err:
            entry["skipped"] = f"baseline load failed: {msg}: {log.strip().splitlines()[-1:] or ''}"
            variants_out.append(entry)
            print(f"{v.key}: {entry['skipped']}", file=sys.stderr)
            continue
        non_gpl_ok = _load(v, btf_id, eat, None, b"Proprietary")[0] == 0
        allowed: list[str] = []
        restricted: dict[str, str] = {}
        for hid, name in sorted(helpers.items()):
            err, log, _ = _load(v, btf_id, eat, hid, b"GPL")
            state = _classify(err, log)
            if state == "not_allowed":
                continue
            allowed.append(name)
            if state != "allowed":
                restricted[name] = state
            if non_gpl_ok:
                _, log2, _ = _load(v, btf_id, eat, hid, b"Proprietary")
                gpl_only.setdefault(name, {})[v.key] = GPL_MESSAGE in log2
        entry["allowed"] = allowed
        if restricted:
            entry["restricted"] = restricted
        entry["non_gpl_loadable"] = non_gpl_ok
        variants_out.append(entry)
        print(f"{v.key}: {len(allowed)} helpers", file=sys.stderr)
    out = {
        "_source": "tools/gen_knowledge_probe.py: BPF_PROG_LOAD per (program type, attach) x helper",
        "kernel_release": platform.release(),
        "machine": platform.machine(),
        "euid": os.geteuid(),
        "variants": variants_out,
        "perfmon_gated": _perfmon_gated(
            {str(e["variant"]): list(e.get("allowed", [])) for e in variants_out}
        ),
        "gpl_only": sorted(n for n, g in gpl_only.items() if all(g.values())),
        "not_gpl_only": sorted(n for n, g in gpl_only.items() if not any(g.values())),
        # A helper can have several protos (one per program type family) that disagree.
        "gpl_only_in": {
            n: sorted(k for k, gpl in g.items() if gpl)
            for n, g in sorted(gpl_only.items())
            if any(g.values()) and not all(g.values())
        },
    }
    dest = (
        ROOT / "tools/knowledge_sources" / f"helper_probe_{platform.release().split('-')[0]}.json"
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=1, sort_keys=False) + "\n")
    print(f"wrote {dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
