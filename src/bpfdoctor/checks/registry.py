"""Metadata of the code checks (``KC*`` object x target, ``OB*`` object alone): the same
fields a data rule has.

Checks that need code (object x target) cannot be TOML patterns, but they get the same
identity as rules: a stable code, a category from CONTRACT.md, a severity, a title, an
explanation and fixes. SARIF rule metadata and ``bpfdoctor rules show KC003`` read this table.
Codes are never reused.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpfdoctor.model import Category, Severity

# Upstream documentation each category of check points to (real pages, not ours).
KERNEL_BPF_DOCS = "https://docs.kernel.org/bpf/"
CATEGORY_REFERENCES: dict[Category, tuple[str, ...]] = {
    Category.CORE_RELO: ("https://nakryiko.com/posts/bpf-core-reference-guide/",),
    Category.SECTION_UNKNOWN: ("https://docs.kernel.org/bpf/libbpf/program_types.html",),
    Category.LOADER_UNSUPPORTED: ("https://docs.kernel.org/bpf/libbpf/program_types.html",),
    Category.HELPER_UNAVAILABLE: ("https://man7.org/linux/man-pages/man7/bpf-helpers.7.html",),
    Category.GPL_ONLY: ("https://docs.kernel.org/bpf/bpf_licensing.html",),
    Category.KFUNC: ("https://docs.kernel.org/bpf/kfuncs.html",),
    Category.VMLINUX_BTF_MISSING: ("https://docs.kernel.org/bpf/btf.html",),
    Category.MODULE_BTF_MISSING: ("https://docs.kernel.org/bpf/btf.html",),
    Category.BTF_REJECTED: ("https://docs.kernel.org/bpf/btf.html",),
}


@dataclass(frozen=True, slots=True)
class CheckInfo:
    code: str
    name: str
    category: Category
    severity: Severity
    title: str
    explanation: str

    @property
    def references(self) -> tuple[str, ...]:
        return CATEGORY_REFERENCES.get(self.category, (KERNEL_BPF_DOCS,))

    @property
    def doc_anchor(self) -> str:
        """Where the generated reference describes it: docs/checks.md#<code>."""
        return f"docs/checks.md#{self.code.lower()}"


def _c(code: str, name: str, cat: Category, sev: Severity, title: str, expl: str) -> CheckInfo:
    return CheckInfo(code, name, cat, sev, title, expl)


E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
C = Category

CHECKS: dict[str, CheckInfo] = {
    c.code: c
    for c in (
        _c("KC001", "prog-type-unsupported", C.PROG_TYPE_UNSUPPORTED, E,
           "Program type not supported by the target kernel",
           "BPF_PROG_LOAD with a program type the kernel does not know fails with EINVAL "
           "before the verifier runs."),
        _c("KC002", "attach-type-unsupported", C.PROG_TYPE_UNSUPPORTED, E,
           "Expected attach type not supported by the target kernel",
           "The section name implies an expected attach type that the target kernel does not "
           "know; the load fails with EINVAL."),
        _c("KC003", "helper-unavailable", C.HELPER_UNAVAILABLE, E,
           "Helper not available on the target kernel",
           "The helper does not exist on the target kernel; the verifier answers "
           "'invalid func unknown#N' or 'unknown func bpf_x#N'."),
        _c("KC004", "helper-not-for-prog-type", C.HELPER_UNAVAILABLE, E,
           "Helper not allowed for this program type",
           "Each program type has its own set of helpers (the kernel's *_func_proto tables); "
           "the verifier answers 'program of this type cannot use helper bpf_x#N'."),
        _c("KC005", "helper-denied", C.PERMISSION, E,
           "Helper withheld on the target (lockdown or missing capability)",
           "Under kernel lockdown, or without CAP_BPF/CAP_PERFMON, the kernel hides some "
           "helpers: the verifier then reports them as unknown although the kernel has them."),
        _c("KC006", "kfunc-non-gpl", C.GPL_ONLY, E,
           "kfunc called from a program without a GPL-compatible license",
           "The verifier refuses kfunc calls from programs whose license is not "
           "GPL-compatible: 'cannot call kernel function from non-GPL compatible program'."),
        _c("KC007", "kfunc-missing", C.KFUNC, E,
           "kfunc not present in the target kernel",
           "libbpf resolves each kfunc by name in vmlinux (and module) BTF; a missing one "
           "fails the load ('extern (func ksym) 'x': not found in kernel or module BTFs') "
           "unless the extern is __weak."),
        _c("KC008", "ksym-missing", C.KFUNC, E,
           "ksym extern not present in the target kernel",
           "A __ksym variable extern must be found in kernel BTF (typed) or kallsyms; "
           "otherwise libbpf fails the load unless it is __weak."),
        _c("KC009", "map-type-unsupported", C.MAP_UNSUPPORTED, E,
           "Map type not supported by the target kernel",
           "BPF_MAP_CREATE with a map type the kernel does not know fails with EINVAL."),
        _c("KC010", "map-flag-unsupported", C.MAP_UNSUPPORTED, E,
           "Map flag not supported by the target kernel",
           "BPF_MAP_CREATE with a flag the kernel does not know fails with EINVAL."),
        _c("KC011", "isa-unsupported", C.ISA_UNSUPPORTED, E,
           "Instruction set level newer than the target kernel supports",
           "The object was built with an -mcpu level whose instructions the target verifier "
           "does not know ('unknown opcode', 'BPF_STX uses reserved fields')."),
        _c("KC012", "btf-kind-rejected", C.BTF_REJECTED, E,
           "BTF kind the target kernel rejects, and the loader does not sanitize it",
           "Kernels reject BTF containing kinds newer than themselves ('Invalid argument' from "
           "BTF_LOAD). libbpf rewrites such kinds before loading; loaders without libbpf do "
           "not."),
        _c("KC013", "btf-kind-sanitized", C.BTF_REJECTED, INFO,
           "BTF kind the target kernel lacks; the loader will sanitize it",
           "libbpf replaces BTF kinds the kernel lacks (e.g. DECL_TAG, TYPE_TAG, ENUM64, "
           "FLOAT) with compatible ones before loading, so this only loses debug fidelity."),
        _c("KC014", "global-data-unsupported", C.MAP_UNSUPPORTED, E,
           "Global data (.bss/.data/.rodata) not supported by the target kernel",
           "Global variables need array maps referenced with BPF_PSEUDO_MAP_VALUE (5.2) and, "
           "for libbpf's mmap-ed skeletons, BPF_F_MMAPABLE (5.5)."),
        _c("KC015", "bpf2bpf-calls-unsupported", C.ISA_UNSUPPORTED, E,
           "bpf-to-bpf function calls not supported by the target kernel",
           "Calls between BPF functions need Linux 4.16 (and 5.10 to mix with tail calls)."),
        _c("KC016", "core-relo-unresolved", C.CORE_RELO, E,
           "CO-RE relocation cannot be resolved against the target kernel's BTF",
           "libbpf matches each CO-RE relocation against kernel BTF; when no candidate has the "
           "field or type, the instruction is poisoned (call to 0xbad2310) and the verifier "
           "rejects the program when that path is reachable."),
        _c("KC017", "vmlinux-btf-required", C.VMLINUX_BTF_MISSING, E,
           "The object needs kernel BTF, and the target has none",
           "CO-RE relocations, fentry/fexit/lsm/tp_btf attach and kfuncs need the kernel's BTF "
           "(CONFIG_DEBUG_INFO_BTF, /sys/kernel/btf/vmlinux)."),
        _c("KC018", "btf-attach-target-missing", C.ATTACH_FAILED, E,
           "Attach target not found in the target kernel's BTF",
           "fentry/fexit/fmod_ret/lsm/tp_btf/iter programs name a kernel function or hook that "
           "libbpf looks up in BTF; static or inlined functions have no BTF entry "
           "('failed to find kernel BTF type ID of ...')."),
        _c("KC019", "kprobe-target-missing", C.ATTACH_FAILED, E,
           "kprobe target function not found on the target kernel",
           "A kprobe can only attach to a function the kernel lists (available_filter_functions "
           "or kallsyms); inlined functions have none, and compiler-renamed ones carry a "
           "suffix (.isra.0, .constprop.0, .llvm.<hash>)."),
        _c("KC020", "module-btf-missing", C.MODULE_BTF_MISSING, E,
           "The attach target is in a kernel module whose BTF is missing",
           "For module functions libbpf needs /sys/kernel/btf/<module> "
           "(CONFIG_DEBUG_INFO_BTF_MODULES)."),
        _c("KC021", "kprobes-not-configured", C.ATTACH_FAILED, E,
           "kprobes are not available on the target kernel",
           "kprobe/kretprobe/kprobe.multi programs load, but cannot attach when the kernel is "
           "built without CONFIG_KPROBES (or CONFIG_FPROBE for kprobe.multi)."),
        _c("KC022", "tracepoint-missing", C.ATTACH_FAILED, E,
           "Tracepoint not found on the target kernel",
           "tp/ and tracepoint/ programs attach to events under tracefs events/<cat>/<name>."),
        _c("KC023", "kconfig-extern-missing", C.LOADER_UNSUPPORTED, E,
           "Non-weak __kconfig extern the target kernel's config does not define",
           "libbpf fills .kconfig externs from the kernel config and fails the load for a "
           "non-weak extern with no value ('extern (kcfg) 'CONFIG_X': value not found')."),
        _c("KC024", "tracing-unavailable", C.TRACING_UNAVAILABLE, W,
           "bpf_printk needs tracing, which the target lacks",
           "bpf_trace_printk writes to the ftrace ring buffer: it needs CONFIG_BPF_EVENTS/"
           "CONFIG_TRACING, and tracefs mounted to read the output."),
        _c("KC025", "prog-type-denied", C.PERMISSION, E,
           "Loading this program type is denied on the target",
           "The kernel has the program type, but loading it is refused here (missing "
           "capability, lockdown, an LSM, or unprivileged_bpf_disabled)."),
        _c("KC026", "no-bpf-privilege", C.PERMISSION, E,
           "The target process lacks the capabilities to load BPF",
           "Loading programs needs CAP_BPF (5.8+) or CAP_SYS_ADMIN, plus CAP_PERFMON for "
           "tracing and CAP_NET_ADMIN for networking program types."),
        _c("KC027", "pinned-map-mismatch", C.PINNED_MAP_MISMATCH, E,
           "A map pinned in bpffs differs from the object's definition",
           "Loaders reuse a pinned map only when type, key/value size, max_entries and flags "
           "all match; otherwise they fail ('couldn't reuse pinned map', 'Map specification "
           "differs', 'map spec is incompatible with existing map')."),
        _c("KC028", "token-unsupported", C.TOKEN_CREATE, INFO,
           "BPF token not supported on the target; the loader's attempt is harmless",
           "libbpf >= 1.3 tries BPF_TOKEN_CREATE on the default bpffs; on kernels without "
           "token support (< 6.9) or without delegation it prints 'failed (-22) to create BPF "
           "token' and carries on without one."),
        _c("KC029", "legacy-maps-rejected", C.LOADER_UNSUPPORTED, E,
           "Legacy 'maps' section rejected by this loader",
           "libbpf 1.0 dropped struct bpf_map_def in SEC(\"maps\"): 'legacy map definitions in "
           "'maps' section are not supported by libbpf v1.0+'."),
        _c("KC030", "btf-maps-unrelocated", C.LOADER_UNSUPPORTED, E,
           "BTF-defined maps with a loader that does not understand them",
           "iproute2 without libbpf only knows struct bpf_elf_map in SEC(\"maps\"): BTF-defined "
           "maps in .maps are not created and their references stay 0, so the verifier says "
           "'R1 type=scalar expected=map_ptr'."),
        _c("KC031", "pinning-unsupported", C.LOADER_UNSUPPORTED, E,
           "Map pinning value this loader does not support",
           "libbpf supports only LIBBPF_PIN_NONE (0) and LIBBPF_PIN_BY_NAME (1); iproute2's "
           "PIN_OBJECT_NS (1) and PIN_GLOBAL_NS (2) mean other things."),
        _c("KC032", "loader-cannot-load-objects", C.LOADER_UNSUPPORTED, W,
           "This loader does not load precompiled BPF objects",
           "bcc compiles C source at run time; a compiled .o is loaded with libbpf, bpftool, "
           "iproute2 or cilium/ebpf instead."),
        _c("KC033", "program-feature-unsupported", C.PROG_TYPE_UNSUPPORTED, E,
           "Program feature not supported by the target kernel",
           "Sleepable programs, XDP fragments (xdp.frags) and similar program flags need a "
           "newer kernel."),
        _c("KC034", "loops-unsupported", C.LOOP_COMPLEXITY, E,
           "Loops (back-edges) on a kernel without bounded loop support",
           "Before Linux 5.3 the verifier rejects any backward jump ('back-edge from insn X "
           "to Y'); loops must be fully unrolled."),
        _c("KC035", "program-too-large", C.LOOP_COMPLEXITY, E,
           "Program larger than the target kernel's instruction limit",
           "Before Linux 5.2 a program may have at most 4096 instructions "
           "('BPF program is too large')."),
        _c("KC036", "memlock-limit", C.MEMLOCK, W,
           "RLIMIT_MEMLOCK limits BPF memory on the target kernel",
           "Before 5.11 BPF maps and programs are charged to RLIMIT_MEMLOCK; a low limit makes "
           "map and program creation fail with EPERM."),
        _c("KC037", "legacy-maps-libbpf-old", C.LOADER_UNSUPPORTED, W,
           "Legacy 'maps' section: deprecated and gone in libbpf 1.0",
           "This libbpf still accepts struct bpf_map_def in SEC(\"maps\"), but newer ones "
           "refuse the object."),
        _c("KC038", "endianness-mismatch", C.TOOLCHAIN, E,
           "Object built for the other byte order than the target",
           "clang -target bpfeb produces big-endian objects and -target bpfel (or bpf on a "
           "little-endian host) little-endian ones; libbpf refuses an object whose byte order "
           "differs from the host's ('endianness mismatch')."),
        _c("KC039", "loader-too-old", C.LOADER_UNSUPPORTED, E,
           "The object uses something this loader version cannot parse",
           "Newer BPF features need newer loaders: e.g. __ulong() map attributes (ENUM64 in "
           "the map definition, libbpf 1.3+), arena maps (libbpf 1.4+), section names such as "
           "tcx/ or uprobe.multi/ (libbpf 1.3+)."),
        _c("KC040", "map-flag-invalid", C.MAP_UNSUPPORTED, E,
           "Map flag not valid for this map type",
           "Each map type accepts its own flags: BPF_F_MMAPABLE only for arrays (and arena), "
           "BPF_F_NO_PREALLOC only for hash-like maps, tries and storage maps."),
        _c("KC041", "freplace-needs-target", C.ATTACH_FAILED, W,
           "freplace program needs its target program at load time",
           "An extension (freplace/) program is verified against the program it replaces: the "
           "loader must pass that program's fd (bpf_program__set_attach_target). Loading the "
           "object alone, as `bpftool prog loadall` does, fails with 'attach program FD is not "
           "set'."),
        _c("KC042", "section-unknown-to-loader", C.SECTION_UNKNOWN, E,
           "Section name unknown to this loader version",
           "Older libbpf releases do not know newer SEC() prefixes and cannot guess the program "
           "type ('failed to guess program type from ELF section')."),
    )
}


# Findings of the object alone (bpfdoctor.inventory), whatever the target.
OBJECT_CHECKS: dict[str, CheckInfo] = {
    c.code: c
    for c in (
        _c("OB001", "section-unknown", C.SECTION_UNKNOWN, E,
           "libbpf cannot tell the program type from the section name",
           "libbpf maps SEC() names to program types with its section table; a name it does "
           "not know fails the open ('missing BPF prog type, check ELF section name')."),
        _c("OB002", "legacy-maps-section", C.LOADER_UNSUPPORTED, W,
           "Legacy 'maps' section",
           "struct bpf_map_def in SEC(\"maps\") is the pre-BTF map format: libbpf 1.0 and "
           "later refuse it; iproute2 still reads its own struct bpf_elf_map."),
        _c("OB003", "static-program", C.LOADER_UNSUPPORTED, E,
           "Entry program declared static",
           "libbpf 1.0+ only loads global functions in program sections as programs "
           "('program is static and not supported')."),
        _c("OB004", "invalid-instruction", C.ISA_UNSUPPORTED, E,
           "Instruction no kernel accepts",
           "An opcode or field combination that no verifier knows; the object is corrupt or "
           "built by a broken toolchain."),
        _c("OB005", "bad-relocation", C.LOADER_UNSUPPORTED, E,
           "Relocation a loader cannot apply",
           "A relocation against a symbol or section the loader does not handle fails the "
           "object at open or relocation time."),
        _c("OB006", "bad-map-definition", C.MAP_UNSUPPORTED, E,
           "Map definition a loader rejects",
           "The map definition is incomplete or malformed (missing max_entries, key or value "
           "size where the map type needs them)."),
        _c("OB007", "no-license", C.GPL_ONLY, INFO,
           "No license section",
           "Without SEC(\"license\") the program is not GPL-compatible: GPL-only helpers and "
           "kfuncs will be refused."),
        _c("OB008", "gpl-only-helper", C.GPL_ONLY, E,
           "GPL-only helpers from a non-GPL program",
           "The verifier refuses GPL-only helpers in programs whose license is not "
           "GPL-compatible: 'cannot call GPL-restricted function from non-GPL compatible "
           "program'."),
    )
}

# Findings of `check --load` that no log rule explains (bpfdoctor.loadcheck). Their category
# is chosen per finding from what the loader saw; the one here is the usual one.
LOAD_CHECKS: dict[str, CheckInfo] = {
    c.code: c
    for c in (
        _c("LO001", "loader-refused", C.LOADER_UNSUPPORTED, E,
           "The loader refused the program before the kernel saw it",
           "bpfdoctor's loader (doing what libbpf does) could not prepare the program: a "
           "relocation, extern, attach target or BTF step failed. The message names the step."),
        _c("LO002", "kernel-refused-unexplained", C.LOADER_UNSUPPORTED, E,
           "The kernel refused the program and no rule recognises the log",
           "The load failed with an errno and a verifier log that matches no rule of the "
           "catalogue; the category is guessed from the errno, with low confidence. The log "
           "tail is attached: please report it so a rule can be written."),
        _c("LO003", "object-not-loadable", C.PERMISSION, E,
           "The object could not be loaded at all here",
           "Nothing of the object could be loaded (missing privileges, byte order, no "
           "bpf()): the message says why."),
    )
}

ALL_CHECKS: dict[str, CheckInfo] = {**OBJECT_CHECKS, **CHECKS, **LOAD_CHECKS}


def info(code: str) -> CheckInfo:
    return ALL_CHECKS[code]
