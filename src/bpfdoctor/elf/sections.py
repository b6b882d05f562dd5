"""SEC() name -> program type, expected attach type, attach target and sleepability.

A data table mirroring libbpf's ``section_defs[]`` (libbpf.c) and its matcher
``sec_def_matches()``: a definition ending in ``+`` matches the exact name or ``name/extra``;
one ending in ``/`` needs ``name/extra``; anything else must match exactly. The first match in
table order wins, just as in ``find_sec_def()``. Names libbpf does not know are reported with
program type ``unknown`` rather than dropped, because "libbpf cannot guess the program type"
is itself one of the failures bpfdoctor explains.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Flag, auto


class SecFlag(Flag):
    """Mirrors libbpf's ``enum sec_def_flags`` (only the bits that change what we report)."""

    NONE = 0
    ATTACHABLE = auto()
    ATTACHABLE_OPT = auto()
    ATTACH_BTF = auto()
    SLEEPABLE = auto()
    XDP_FRAGS = auto()
    USDT = auto()


@dataclass(frozen=True, slots=True)
class SecDef:
    """One row of libbpf's ``section_defs[]``.

    ``attach_type`` is the libbpf attach type name (lowercase enum without ``BPF_``) or None
    where libbpf passes 0 without meaning a specific attach type.
    """

    prefix: str
    prog_type: str
    attach_type: str | None
    flags: SecFlag = SecFlag.NONE

    def matches(self, name: str) -> bool:
        """Mirrors libbpf ``sec_def_matches()``."""
        if self.prefix.endswith("/"):
            return name.startswith(self.prefix)
        if self.prefix.endswith("+"):
            base = self.prefix[:-1]
            return name == base or name.startswith(base + "/")
        return name == self.prefix

    @property
    def base(self) -> str:
        return self.prefix.rstrip("+")


_N = SecFlag.NONE
_A = SecFlag.ATTACHABLE
_AO = SecFlag.ATTACHABLE_OPT
_BTF = SecFlag.ATTACH_BTF
_S = SecFlag.SLEEPABLE
_FRAGS = SecFlag.XDP_FRAGS
_USDT = SecFlag.USDT

# Order matters: it is libbpf's order, and the first match wins.
SECTION_DEFS: tuple[SecDef, ...] = (
    SecDef("socket", "socket_filter", None),
    SecDef("sk_reuseport/migrate", "sk_reuseport", "sk_reuseport_select_or_migrate", _A),
    SecDef("sk_reuseport", "sk_reuseport", "sk_reuseport_select", _A),
    SecDef("kprobe+", "kprobe", None),
    SecDef("uprobe+", "kprobe", None),
    SecDef("uprobe.s+", "kprobe", None, _S),
    SecDef("kretprobe+", "kprobe", None),
    SecDef("uretprobe+", "kprobe", None),
    SecDef("uretprobe.s+", "kprobe", None, _S),
    SecDef("kprobe.multi+", "kprobe", "trace_kprobe_multi"),
    SecDef("kretprobe.multi+", "kprobe", "trace_kprobe_multi"),
    SecDef("kprobe.session+", "kprobe", "trace_kprobe_session"),
    SecDef("uprobe.multi+", "kprobe", "trace_uprobe_multi"),
    SecDef("uretprobe.multi+", "kprobe", "trace_uprobe_multi"),
    SecDef("uprobe.session+", "kprobe", "trace_uprobe_session"),
    SecDef("uprobe.multi.s+", "kprobe", "trace_uprobe_multi", _S),
    SecDef("uretprobe.multi.s+", "kprobe", "trace_uprobe_multi", _S),
    SecDef("uprobe.session.s+", "kprobe", "trace_uprobe_session", _S),
    SecDef("ksyscall+", "kprobe", None),
    SecDef("kretsyscall+", "kprobe", None),
    SecDef("usdt+", "kprobe", None, _USDT),
    SecDef("usdt.s+", "kprobe", None, _USDT | _S),
    SecDef("tc/ingress", "sched_cls", "tcx_ingress"),
    SecDef("tc/egress", "sched_cls", "tcx_egress"),
    SecDef("tcx/ingress", "sched_cls", "tcx_ingress"),
    SecDef("tcx/egress", "sched_cls", "tcx_egress"),
    SecDef("tc", "sched_cls", None),
    SecDef("classifier", "sched_cls", None),
    SecDef("action", "sched_act", None),
    SecDef("netkit/primary", "sched_cls", "netkit_primary"),
    SecDef("netkit/peer", "sched_cls", "netkit_peer"),
    SecDef("tracepoint+", "tracepoint", None),
    SecDef("tp+", "tracepoint", None),
    SecDef("raw_tracepoint+", "raw_tracepoint", None),
    SecDef("raw_tp+", "raw_tracepoint", None),
    SecDef("raw_tracepoint.w+", "raw_tracepoint_writable", None),
    SecDef("raw_tp.w+", "raw_tracepoint_writable", None),
    SecDef("tp_btf+", "tracing", "trace_raw_tp", _BTF),
    SecDef("fentry+", "tracing", "trace_fentry", _BTF),
    SecDef("fmod_ret+", "tracing", "modify_return", _BTF),
    SecDef("fexit+", "tracing", "trace_fexit", _BTF),
    SecDef("fentry.s+", "tracing", "trace_fentry", _BTF | _S),
    SecDef("fmod_ret.s+", "tracing", "modify_return", _BTF | _S),
    SecDef("fexit.s+", "tracing", "trace_fexit", _BTF | _S),
    SecDef("freplace+", "ext", None, _BTF),
    SecDef("lsm+", "lsm", "lsm_mac", _BTF),
    SecDef("lsm.s+", "lsm", "lsm_mac", _BTF | _S),
    SecDef("lsm_cgroup+", "lsm", "lsm_cgroup", _BTF),
    SecDef("iter+", "tracing", "trace_iter", _BTF),
    SecDef("iter.s+", "tracing", "trace_iter", _BTF | _S),
    SecDef("syscall", "syscall", None, _S),
    SecDef("xdp.frags/devmap", "xdp", "xdp_devmap", _FRAGS),
    SecDef("xdp/devmap", "xdp", "xdp_devmap", _A),
    SecDef("xdp.frags/cpumap", "xdp", "xdp_cpumap", _FRAGS),
    SecDef("xdp/cpumap", "xdp", "xdp_cpumap", _A),
    SecDef("xdp.frags", "xdp", "xdp", _FRAGS),
    SecDef("xdp", "xdp", "xdp", _AO),
    SecDef("perf_event", "perf_event", None),
    SecDef("lwt_in", "lwt_in", None),
    SecDef("lwt_out", "lwt_out", None),
    SecDef("lwt_xmit", "lwt_xmit", None),
    SecDef("lwt_seg6local", "lwt_seg6local", None),
    SecDef("sockops", "sock_ops", "cgroup_sock_ops", _AO),
    SecDef("sk_skb/stream_parser", "sk_skb", "sk_skb_stream_parser", _AO),
    SecDef("sk_skb/stream_verdict", "sk_skb", "sk_skb_stream_verdict", _AO),
    SecDef("sk_skb", "sk_skb", None),
    SecDef("sk_msg", "sk_msg", "sk_msg_verdict", _AO),
    SecDef("lirc_mode2", "lirc_mode2", "lirc_mode2", _AO),
    SecDef("flow_dissector", "flow_dissector", "flow_dissector", _AO),
    SecDef("cgroup_skb/ingress", "cgroup_skb", "cgroup_inet_ingress", _AO),
    SecDef("cgroup_skb/egress", "cgroup_skb", "cgroup_inet_egress", _AO),
    SecDef("cgroup/skb", "cgroup_skb", None),
    SecDef("cgroup/sock_create", "cgroup_sock", "cgroup_inet_sock_create", _A),
    SecDef("cgroup/sock_release", "cgroup_sock", "cgroup_inet_sock_release", _A),
    SecDef("cgroup/sock", "cgroup_sock", "cgroup_inet_sock_create", _AO),
    SecDef("cgroup/post_bind4", "cgroup_sock", "cgroup_inet4_post_bind", _A),
    SecDef("cgroup/post_bind6", "cgroup_sock", "cgroup_inet6_post_bind", _A),
    SecDef("cgroup/bind4", "cgroup_sock_addr", "cgroup_inet4_bind", _A),
    SecDef("cgroup/bind6", "cgroup_sock_addr", "cgroup_inet6_bind", _A),
    SecDef("cgroup/connect4", "cgroup_sock_addr", "cgroup_inet4_connect", _A),
    SecDef("cgroup/connect6", "cgroup_sock_addr", "cgroup_inet6_connect", _A),
    SecDef("cgroup/connect_unix", "cgroup_sock_addr", "cgroup_unix_connect", _A),
    SecDef("cgroup/sendmsg4", "cgroup_sock_addr", "cgroup_udp4_sendmsg", _A),
    SecDef("cgroup/sendmsg6", "cgroup_sock_addr", "cgroup_udp6_sendmsg", _A),
    SecDef("cgroup/sendmsg_unix", "cgroup_sock_addr", "cgroup_unix_sendmsg", _A),
    SecDef("cgroup/recvmsg4", "cgroup_sock_addr", "cgroup_udp4_recvmsg", _A),
    SecDef("cgroup/recvmsg6", "cgroup_sock_addr", "cgroup_udp6_recvmsg", _A),
    SecDef("cgroup/recvmsg_unix", "cgroup_sock_addr", "cgroup_unix_recvmsg", _A),
    SecDef("cgroup/getpeername4", "cgroup_sock_addr", "cgroup_inet4_getpeername", _A),
    SecDef("cgroup/getpeername6", "cgroup_sock_addr", "cgroup_inet6_getpeername", _A),
    SecDef("cgroup/getpeername_unix", "cgroup_sock_addr", "cgroup_unix_getpeername", _A),
    SecDef("cgroup/getsockname4", "cgroup_sock_addr", "cgroup_inet4_getsockname", _A),
    SecDef("cgroup/getsockname6", "cgroup_sock_addr", "cgroup_inet6_getsockname", _A),
    SecDef("cgroup/getsockname_unix", "cgroup_sock_addr", "cgroup_unix_getsockname", _A),
    SecDef("cgroup/sysctl", "cgroup_sysctl", "cgroup_sysctl", _A),
    SecDef("cgroup/getsockopt", "cgroup_sockopt", "cgroup_getsockopt", _A),
    SecDef("cgroup/setsockopt", "cgroup_sockopt", "cgroup_setsockopt", _A),
    SecDef("cgroup/dev", "cgroup_device", "cgroup_device", _AO),
    SecDef("struct_ops+", "struct_ops", None),
    SecDef("struct_ops.s+", "struct_ops", None, _S),
    SecDef("sk_lookup", "sk_lookup", "sk_lookup", _A),
    SecDef("netfilter", "netfilter", "netfilter", _N),
)

# Prefixes libbpf < 1.0 accepted without the "/" discipline (``kprobe_foo``, ``xdp_prog``) or
# that other loaders use (iproute2 ``classifier``/``action`` already in the table). Used only
# to phrase the finding for an unknown section, never to classify it.
LEGACY_HINTS: tuple[tuple[str, str], ...] = (
    ("xdp", "xdp"),
    ("kprobe", "kprobe/<function>"),
    ("kretprobe", "kretprobe/<function>"),
    ("tracepoint", "tracepoint/<category>/<name>"),
    ("tp", "tp/<category>/<name>"),
    ("raw_tracepoint", "raw_tracepoint/<name>"),
    ("socket", "socket"),
    ("cgroup", "cgroup/<hook>"),
    ("classifier", "tc"),
    ("tc", "tc"),
    ("lsm", "lsm/<hook>"),
    ("fentry", "fentry/<function>"),
    ("fexit", "fexit/<function>"),
)

# Attach targets: the part after "<prefix>/" names a function, a tracepoint, a binary:symbol...
_NO_TARGET_TYPES = frozenset({"sched_cls", "sched_act", "xdp", "sk_skb", "cgroup_sock_addr"})


@dataclass(frozen=True, slots=True)
class SectionInfo:
    """What a SEC() name means to libbpf."""

    name: str
    prog_type: str  # libbpf prog type name, or "unknown"
    attach_type: str | None
    attach_target: str | None
    sleepable: bool
    attach_btf: bool  # target resolved through kernel BTF (fentry, lsm, tp_btf, iter...)
    xdp_frags: bool
    known: bool
    prefix: str | None  # the matching libbpf definition, e.g. "kprobe+"
    autoload: bool = True  # SEC("?xdp"): libbpf creates the program but does not load it

    @property
    def suggestion(self) -> str | None:
        """A libbpf 1.0 spelling for an unknown name that looks like an old one."""
        if self.known:
            return None
        for start, spelling in LEGACY_HINTS:
            if self.name.startswith(start):
                return spelling
        return None


def find_sec_def(name: str) -> SecDef | None:
    """Mirrors libbpf ``find_sec_def()`` without custom handlers."""
    for sec_def in SECTION_DEFS:
        if sec_def.matches(name):
            return sec_def
    return None


def classify(name: str) -> SectionInfo:
    """Classify a program section name the way libbpf would.

    A leading ``?`` (``SEC("?xdp")``) means "do not autoload"; libbpf strips it before matching
    (``bpf_object__init_prog``), and so do we.
    """
    if name.startswith("?"):
        return replace(classify(name[1:]), name=name, autoload=False)
    sec_def = find_sec_def(name)
    if sec_def is None:
        return SectionInfo(
            name=name,
            prog_type="unknown",
            attach_type=None,
            attach_target=None,
            sleepable=False,
            attach_btf=False,
            xdp_frags=False,
            known=False,
            prefix=None,
        )
    target: str | None = None
    if sec_def.prefix.endswith(("+", "/")):
        base = sec_def.prefix.rstrip("+")
        if not base.endswith("/"):
            base += "/"
        rest = name[len(base):] if name.startswith(base) else ""
        if rest and sec_def.prog_type not in _NO_TARGET_TYPES:
            target = rest
    return SectionInfo(
        name=name,
        prog_type=sec_def.prog_type,
        attach_type=sec_def.attach_type,
        attach_target=target,
        sleepable=bool(sec_def.flags & SecFlag.SLEEPABLE),
        attach_btf=bool(sec_def.flags & SecFlag.ATTACH_BTF),
        xdp_frags=bool(sec_def.flags & SecFlag.XDP_FRAGS),
        known=True,
        prefix=sec_def.prefix,
    )
