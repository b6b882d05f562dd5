"""Attach targets: functions, hooks and tracepoints named by section names, looked up in the
target's BTF, function list and tracepoint list; kprobe/uprobe support in its config."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator

from bpfdoctor.checks.context import CheckContext
from bpfdoctor.elf.object import Program
from bpfdoctor.model import Finding

# libbpf's arch_specific_syscall_pfx(): the syscall wrapper names per architecture.
SYSCALL_PREFIX = {"x86_64": "__x64_", "i686": "__ia32_", "aarch64": "__arm64_",
                  "s390x": "__s390x_", "riscv64": "__riscv_", "ppc64le": "", "loongarch64": ""}

# Suffixes compilers give to optimised copies of a function (kallsyms shows these names).
RENAME_MARKERS = (".isra.", ".constprop.", ".part.", ".cold", ".llvm.", ".lto_priv.")


def _btf_target(prog: Program) -> tuple[str, str] | None:
    """(BTF name to look up, what it is) for BTF-attached programs, mirroring libbpf's
    find_attach_btf_id() prefixes."""
    target = prog.info.attach_target
    if not target:
        return None
    name = target.split(":", 1)[1] if ":" in target else target
    ptype, atype = prog.info.prog_type, prog.info.attach_type or ""
    if ptype == "lsm":
        return f"bpf_lsm_{name}", f"LSM hook {name}"
    if atype == "trace_raw_tp" or prog.section.startswith("tp_btf/"):
        return f"btf_trace_{name}", f"BTF tracepoint {name}"
    if atype == "trace_iter" or prog.section.startswith("iter"):
        return f"bpf_iter_{name}", f"iterator {name}"
    if ptype == "tracing":
        return name, f"kernel function {name}"
    return None


def _renamed(functions: frozenset[str], name: str) -> list[str]:
    prefix = name + "."
    return sorted(f for f in functions if f.startswith(prefix)
                  and any(m in f for m in RENAME_MARKERS))[:5]


def btf_attach_targets(ctx: CheckContext) -> Iterator[Finding]:
    btf = ctx.target.btf
    for prog in ctx.programs:
        if not prog.info.attach_btf or prog.info.prog_type == "ext":
            continue
        want = _btf_target(prog)
        if want is None:
            continue
        name, what = want
        if btf is None:
            continue  # KC017 (no kernel BTF) or unknown: nothing to compare with
        if btf.find(name) or ctx.in_module_btf(name):
            continue
        mods = ctx.target.module_btf
        functions = ctx.target.functions
        in_kallsyms = functions is not None and name in functions
        renamed = _renamed(functions, name) if functions is not None else []
        module_hint = ":" in (prog.info.attach_target or "")
        no_mod_btf = mods is not None and not mods and \
            ctx.kconfig_off("DEBUG_INFO_BTF_MODULES") is not False
        if module_hint and no_mod_btf:
            mod = (prog.info.attach_target or "").split(":", 1)[0]
            yield ctx.finding(
                "KC020",
                f"'{prog.name}' attaches to {what} in module {mod}, and {ctx.kernel_label()} has "
                f"no module BTF (/sys/kernel/btf/{mod} missing; "
                f"CONFIG_DEBUG_INFO_BTF_MODULES={ctx.target.profile.kconfig_value('DEBUG_INFO_BTF_MODULES') or 'unknown'})",
                program=prog, source="btf",
                fixes=("Enable CONFIG_DEBUG_INFO_BTF_MODULES on the target (and pahole >= 1.19 "
                       "at kernel build time)",
                       "Or attach with a kprobe, which needs no BTF"),
                evidence={"target": prog.info.attach_target, "module": mod},
            )
            continue
        detail = ""
        if in_kallsyms:
            detail = (" The function exists in the kernel's symbol table but has no BTF entry: "
                      "it is static, inlined somewhere, or was dropped by pahole.")
        elif renamed:
            detail = f" The compiler renamed it on this kernel: {', '.join(renamed)}."
        yield ctx.finding(
            "KC018",
            f"'{prog.name}' (SEC(\"{prog.section}\")) attaches to {what}, which "
            f"{ctx.kernel_label()}'s BTF does not have ('{name}' not found).{detail}",
            program=prog, source="btf",
            fixes=(f"Pick a hook that exists on this kernel (search: bpftool btf dump file "
                   f"/sys/kernel/btf/vmlinux | grep {name})",
                   "Or use a kprobe on the function (works for static, non-inlined functions)",
                   "Or choose the hook per kernel at load time and disable this program with "
                   "bpf_program__set_autoload(prog, false)"),
            evidence={"btf_name": name, "in_kallsyms": in_kallsyms, "renamed": renamed},
        )


def kprobes(ctx: CheckContext) -> Iterator[Finding]:
    functions = ctx.target.functions
    kprobes_off = ctx.kconfig_off("KPROBES")
    for prog in ctx.programs:
        if prog.info.prog_type != "kprobe":
            continue
        sec = prog.section
        multi = sec.startswith(("kprobe.multi", "kretprobe.multi", "kprobe.session"))
        if sec.startswith(("uprobe", "uretprobe", "usdt")):
            off = ctx.kconfig_off("UPROBE_EVENTS")
            if off:
                yield ctx.finding(
                    "KC021",
                    f"'{prog.name}' is a uprobe/usdt program and {ctx.kernel_label()} is built "
                    "without CONFIG_UPROBE_EVENTS: it loads but cannot attach",
                    program=prog, source="kconfig",
                    fixes=("Enable CONFIG_UPROBES and CONFIG_UPROBE_EVENTS on the target",),
                    evidence={"CONFIG_UPROBE_EVENTS": ctx.target.profile.kconfig_value("UPROBE_EVENTS")},
                )
            continue
        if kprobes_off or (multi and ctx.kconfig_off("FPROBE")):
            opt = "FPROBE" if multi and not kprobes_off else "KPROBES"
            yield ctx.finding(
                "KC021",
                f"'{prog.name}' (SEC(\"{sec}\")) is a kprobe program and {ctx.kernel_label()} is "
                f"built without CONFIG_{opt}: it loads, but attaching fails ('failed to create "
                "kprobe ... perf event' / ENOENT or EOPNOTSUPP)",
                program=prog, source="kconfig",
                fixes=("Use fentry/fexit (BTF-based, no kprobes needed) where the target has BTF "
                       "and allows tracing programs",
                       f"Or run on a kernel built with CONFIG_{opt}=y"),
                evidence={f"CONFIG_{opt}": ctx.target.profile.kconfig_value(opt)},
            )
            continue
        target = prog.info.attach_target
        if not target or functions is None:
            continue
        if multi:
            pattern = target.split(":", 1)[-1]
            if any(ch in pattern for ch in "*?["):
                if not any(fnmatch.fnmatchcase(f, pattern) for f in functions):
                    yield _missing_kprobe(ctx, prog, pattern, [], pattern=True)
                continue
            target = pattern
        name = target.split("+", 1)[0]
        if sec.startswith(("ksyscall/", "kretsyscall/")):
            # libbpf attaches to the arch's syscall wrapper (__x64_sys_openat) when the kernel
            # has one (CONFIG_ARCH_HAS_SYSCALL_WRAPPER), else to sys_openat
            prefix = SYSCALL_PREFIX.get(ctx.target.profile.host.arch, "")
            names = [f"{prefix}sys_{name}", f"sys_{name}"] if prefix else [f"sys_{name}"]
            if any(n in functions for n in names):
                continue
            yield _missing_kprobe(ctx, prog, names[0], [])
            continue
        if name in functions:
            continue
        yield _missing_kprobe(ctx, prog, name, _renamed(functions, name))


def _missing_kprobe(ctx: CheckContext, prog: Program, name: str, renamed: list[str],
                    pattern: bool = False) -> Finding:
    what = f"no function matches '{name}'" if pattern else f"function '{name}' is not in its " \
        "function list"
    detail = ""
    if renamed:
        detail = (f"; the compiler renamed it on this kernel: {', '.join(renamed)} (attach to "
                  "that name, or use a pattern in kprobe.multi)")
    else:
        detail = "; it may be inlined, static and optimised out, in an unloaded module, or "\
                 "renamed in this kernel version"
    return ctx.finding(
        "KC019",
        f"'{prog.name}' (SEC(\"{prog.section}\")) targets {name}, but on {ctx.kernel_label()} "
        f"{what}{detail}",
        program=prog, source="functions",
        fixes=("Check the function exists: grep -w NAME /sys/kernel/tracing/"
               "available_filter_functions (or /proc/kallsyms)",
               "Attach to a caller that is not inlined, or to a tracepoint"),
        evidence={"function": name, "renamed": renamed},
    )


def tracepoints(ctx: CheckContext) -> Iterator[Finding]:
    tps = ctx.target.tracepoints
    for prog in ctx.programs:
        ptype = prog.info.prog_type
        if ptype not in ("tracepoint", "raw_tracepoint", "raw_tracepoint_writable"):
            continue
        target = prog.info.attach_target
        if not target:
            continue
        if ptype == "tracepoint" and ctx.kconfig_off("TRACEPOINTS"):
            yield ctx.finding(
                "KC022", f"'{prog.name}' needs tracepoints and {ctx.kernel_label()} is built "
                "without CONFIG_TRACEPOINTS",
                program=prog, source="kconfig", fixes=("Enable CONFIG_TRACEPOINTS",),
                evidence={"tracepoint": target},
            )
            continue
        if tps is None:
            continue
        if ptype == "tracepoint":
            found = target in tps
        else:
            found = any(t.endswith("/" + target) for t in tps) or target in tps
        if found:
            continue
        yield ctx.finding(
            "KC022",
            f"'{prog.name}' attaches to tracepoint {target}, which {ctx.kernel_label()} does not "
            "have",
            program=prog, source="tracefs",
            fixes=("List the target's tracepoints: ls /sys/kernel/tracing/events/<category>/",
                   "Pick the tracepoint by kernel version, or disable this program at load time"),
            evidence={"tracepoint": target},
        )
