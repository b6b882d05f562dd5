"""Which tool printed a log, decided from the whole input by counting cheap markers.

A pasted log is usually a loader's output wrapping the kernel verifier's text, so the loader's
own markers win over the verifier's: libbpf wraps the log in ``-- BEGIN PROG LOAD LOG --``,
bpftool adds ``Error: ...``, cilium/ebpf writes ``load program: ... (N line(s) omitted)``, etc.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

DIALECTS = (
    "kernel",
    "libbpf",
    "bpftool",
    "iproute2",
    "cilium-ebpf",
    "bcc",
    "aya",
    "bpftrace",
    "build",
    "unknown",
)

# (dialect, substring). Checked only on lines that are not verifier instruction/state lines.
_MARKERS: tuple[tuple[str, str], ...] = (
    ("libbpf", "libbpf: "),
    ("libbpf", "-- BEGIN PROG LOAD LOG --"),
    ("libbpf", "-- BEGIN DUMP LOG ---"),
    ("libbpf", "libxdp: "),
    ("bpftool", "Error: "),
    ("bpftool", "bpftool"),
    ("iproute2", "Prog section '"),
    ("iproute2", "Verifier analysis:"),
    ("iproute2", "BTF debug data section"),
    ("iproute2", "Map specification differs"),
    ("iproute2", "ELF ancillary data"),
    ("iproute2", "struct bpf_elf_map"),
    ("iproute2", "use 'verb' option"),
    ("iproute2", "tc filter "),
    ("iproute2", "ip link set"),
    ("cilium-ebpf", "line(s) omitted)"),
    ("cilium-ebpf", ": load program: "),
    ("cilium-ebpf", "map create: "),
    ("cilium-ebpf", "rlimit.RemoveMemlock"),
    ("cilium-ebpf", "map spec is incompatible"),
    ("cilium-ebpf", "loading objects: "),
    ("cilium-ebpf", "load BTF for kmod"),
    ("cilium-ebpf", "Verifier error: "),
    ("bcc", "Traceback (most recent call last)"),
    ("bcc", "bpf: Failed to load program"),
    ("bcc", "Failed to load BPF program"),
    ("bcc", "HINT: "),
    ("bcc", "/bcc/"),
    ("bcc", "bpf_load_program("),
    ("aya", "aya"),
    ("aya", "BPF_PROG_LOAD syscall failed"),
    ("aya", "ProgramError"),
    ("bpftrace", "bpftrace"),
    ("bpftrace", "Attaching "),
    ("build", "clang"),
    ("build", "fatal error: "),
    ("build", "undefined reference to"),
    ("build", "make: ***"),
    ("build", "/usr/bin/ld"),
    ("build", "warning: implicit declaration"),
    ("build", "error: unknown target"),
)

# When markers of several loaders appear, the one higher in this list names the log:
# wrappers before the libraries they wrap (bpftool prints libbpf lines, cilium prints a
# kernel log, bcc prints a kernel log and a traceback).
_PRECEDENCE = ("cilium-ebpf", "bcc", "aya", "bpftrace", "iproute2", "bpftool", "libbpf", "build")


@dataclass(slots=True)
class DialectVotes:
    """Marker counts gathered while streaming (mutable accumulator, one per log)."""

    votes: Counter[str] = field(default_factory=Counter)
    kernel_lines: int = 0
    # markers still worth looking for: one seen twice is retired (decide() needs no more),
    # which keeps a loader's debug log of a million "libbpf: " lines cheap
    active: list[tuple[str, str]] = field(default_factory=lambda: list(_MARKERS))
    counts: Counter[str] = field(default_factory=Counter)

    def observe(self, line: str) -> None:
        retire = None
        for entry in self.active:
            if entry[1] in line:
                self.votes[entry[0]] += 1
                self.counts[entry[1]] += 1
                if self.counts[entry[1]] >= 2:
                    retire = (retire or []) + [entry]
        if retire:
            self.active = [e for e in self.active if e not in retire]

    def decide(self, extra_kernel_lines: int = 0) -> str:
        # bpftool's own "Error: " alone is weak evidence (other tools print it too): it only
        # names bpftool together with libbpf lines or the word bpftool.
        votes = dict(self.votes)
        if "bpftool" in votes and votes.get("libbpf", 0) == 0 and self.votes["bpftool"] < 2:
            del votes["bpftool"]
        for dialect in _PRECEDENCE:
            if votes.get(dialect):
                if dialect == "build" and (self.kernel_lines or extra_kernel_lines):
                    continue
                return dialect
        if self.kernel_lines or extra_kernel_lines:
            return "kernel"
        return "unknown"
