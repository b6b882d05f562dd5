"""SEC() names -> program type / attach type / target, as libbpf's section_defs[] decides."""

from __future__ import annotations

import pytest

from bpfdoctor.elf.sections import SECTION_DEFS, classify
from bpfdoctor.knowledge import uapi

# (section, prog type, attach type, attach target, sleepable)
CASES = [
    ("xdp", "xdp", "xdp", None, False),
    ("xdp.frags", "xdp", "xdp", None, False),
    ("xdp/devmap", "xdp", "xdp_devmap", None, False),
    ("xdp.frags/cpumap", "xdp", "xdp_cpumap", None, False),
    ("tc", "sched_cls", None, None, False),
    ("classifier", "sched_cls", None, None, False),
    ("action", "sched_act", None, None, False),
    ("tcx/ingress", "sched_cls", "tcx_ingress", None, False),
    ("tcx/egress", "sched_cls", "tcx_egress", None, False),
    ("tc/ingress", "sched_cls", "tcx_ingress", None, False),
    ("netkit/primary", "sched_cls", "netkit_primary", None, False),
    ("netkit/peer", "sched_cls", "netkit_peer", None, False),
    ("kprobe/do_unlinkat", "kprobe", None, "do_unlinkat", False),
    ("kretprobe/do_unlinkat", "kprobe", None, "do_unlinkat", False),
    ("kprobe", "kprobe", None, None, False),
    ("uprobe//bin/bash:readline", "kprobe", None, "/bin/bash:readline", False),
    ("uprobe.s/libc.so.6:malloc", "kprobe", None, "libc.so.6:malloc", True),
    ("uretprobe.s", "kprobe", None, None, True),
    ("usdt/libc.so.6:libc:setjmp", "kprobe", None, "libc.so.6:libc:setjmp", False),
    ("usdt.s", "kprobe", None, None, True),
    ("kprobe.multi/tcp_*", "kprobe", "trace_kprobe_multi", "tcp_*", False),
    ("kretprobe.multi/vfs_*", "kprobe", "trace_kprobe_multi", "vfs_*", False),
    ("kprobe.session/f", "kprobe", "trace_kprobe_session", "f", False),
    ("uprobe.multi/x:y*", "kprobe", "trace_uprobe_multi", "x:y*", False),
    ("uprobe.multi.s/x:y", "kprobe", "trace_uprobe_multi", "x:y", True),
    ("ksyscall/openat", "kprobe", None, "openat", False),
    ("kretsyscall/openat", "kprobe", None, "openat", False),
    ("tp/syscalls/sys_enter_openat", "tracepoint", None, "syscalls/sys_enter_openat", False),
    ("tracepoint/sched/sched_switch", "tracepoint", None, "sched/sched_switch", False),
    ("raw_tp/sys_enter", "raw_tracepoint", None, "sys_enter", False),
    ("raw_tracepoint.w/x", "raw_tracepoint_writable", None, "x", False),
    ("tp_btf/sched_switch", "tracing", "trace_raw_tp", "sched_switch", False),
    ("fentry/do_unlinkat", "tracing", "trace_fentry", "do_unlinkat", False),
    ("fentry.s/do_unlinkat", "tracing", "trace_fentry", "do_unlinkat", True),
    ("fexit/do_unlinkat", "tracing", "trace_fexit", "do_unlinkat", False),
    ("fmod_ret/security_x", "tracing", "modify_return", "security_x", False),
    ("freplace/handler", "ext", None, "handler", False),
    ("lsm/file_open", "lsm", "lsm_mac", "file_open", False),
    ("lsm.s/file_open", "lsm", "lsm_mac", "file_open", True),
    ("lsm_cgroup/socket_bind", "lsm", "lsm_cgroup", "socket_bind", False),
    ("iter/task", "tracing", "trace_iter", "task", False),
    ("iter.s/task_file", "tracing", "trace_iter", "task_file", True),
    ("struct_ops/cc_init", "struct_ops", None, "cc_init", False),
    ("struct_ops.s/x", "struct_ops", None, "x", True),
    ("syscall", "syscall", None, None, True),
    ("socket", "socket_filter", None, None, False),
    ("sk_reuseport/migrate", "sk_reuseport", "sk_reuseport_select_or_migrate", None, False),
    ("sk_reuseport", "sk_reuseport", "sk_reuseport_select", None, False),
    ("sockops", "sock_ops", "cgroup_sock_ops", None, False),
    ("sk_skb/stream_parser", "sk_skb", "sk_skb_stream_parser", None, False),
    ("sk_skb/stream_verdict", "sk_skb", "sk_skb_stream_verdict", None, False),
    ("sk_skb", "sk_skb", None, None, False),
    ("sk_msg", "sk_msg", "sk_msg_verdict", None, False),
    ("sk_lookup", "sk_lookup", "sk_lookup", None, False),
    ("cgroup_skb/ingress", "cgroup_skb", "cgroup_inet_ingress", None, False),
    ("cgroup_skb/egress", "cgroup_skb", "cgroup_inet_egress", None, False),
    ("cgroup/connect4", "cgroup_sock_addr", "cgroup_inet4_connect", None, False),
    ("cgroup/connect_unix", "cgroup_sock_addr", "cgroup_unix_connect", None, False),
    ("cgroup/sock_create", "cgroup_sock", "cgroup_inet_sock_create", None, False),
    ("cgroup/sock", "cgroup_sock", "cgroup_inet_sock_create", None, False),
    ("cgroup/dev", "cgroup_device", "cgroup_device", None, False),
    ("cgroup/sysctl", "cgroup_sysctl", "cgroup_sysctl", None, False),
    ("cgroup/getsockopt", "cgroup_sockopt", "cgroup_getsockopt", None, False),
    ("perf_event", "perf_event", None, None, False),
    ("lwt_xmit", "lwt_xmit", None, None, False),
    ("flow_dissector", "flow_dissector", "flow_dissector", None, False),
    ("lirc_mode2", "lirc_mode2", "lirc_mode2", None, False),
    ("netfilter", "netfilter", "netfilter", None, False),
]


@pytest.mark.parametrize(("name", "ptype", "atype", "target", "sleepable"), CASES,
                         ids=[c[0] for c in CASES])
def test_classify(name, ptype, atype, target, sleepable):
    info = classify(name)
    assert info.known
    assert (info.prog_type, info.attach_type, info.attach_target, info.sleepable) == (
        ptype, atype, target, sleepable
    )


@pytest.mark.parametrize(
    "name",
    ["xdp_prog", "kprobe_do_sys_open", "tc/foo", "xdp/foo", "tracepoint_x", "socket1", "prog", ".text",
     "fentry.x/foo", "cgroup/unknown_hook", "sk_msg/x"],
)
def test_unknown_names_are_kept_as_unknown(name):
    info = classify(name)
    assert not info.known
    assert info.prog_type == "unknown"


def test_unknown_names_get_a_libbpf_1_0_suggestion():
    assert classify("kprobe_do_sys_open").suggestion == "kprobe/<function>"
    assert classify("xdp_prog").suggestion == "xdp"
    assert classify("totally_custom").suggestion is None


def test_question_mark_means_no_autoload():
    info = classify("?kprobe/do_unlinkat")
    assert info.known and not info.autoload
    assert (info.prog_type, info.attach_target) == ("kprobe", "do_unlinkat")
    assert classify("xdp").autoload


def test_table_uses_real_uapi_names():
    prog_types = set(uapi.prog_types().values())
    attach_types = set(uapi.attach_types().values())
    for sec_def in SECTION_DEFS:
        assert sec_def.prog_type in prog_types, sec_def
        assert sec_def.attach_type is None or sec_def.attach_type in attach_types, sec_def


def test_first_match_wins_like_libbpf():
    # "tc/ingress" precedes "tc"; "sk_skb/stream_parser" precedes "sk_skb"
    assert classify("tc/ingress").attach_type == "tcx_ingress"
    assert classify("tc").attach_type is None
    # "uprobe.multi.s+" must not be swallowed by "uprobe+" or "uprobe.s+"
    assert classify("uprobe.multi.s/x").attach_type == "trace_uprobe_multi"
