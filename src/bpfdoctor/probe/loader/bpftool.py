"""``check --load --loader bpftool``: the same load through the system's bpftool (libbpf).

Runs ``bpftool -d prog loadall OBJ DIR`` inside a private mount namespace
(``unshare --mount --propagation private``) with its own bpffs mounted on a temporary
directory (and on /sys/fs/bpf, where libbpf pins ``pinning=by_name`` maps): the pins libbpf makes are visible to nobody else and vanish, with the programs and
maps they hold, when the namespace ends, even if bpftool is killed. Its output is split per
program: libbpf loads programs in ELF order and stops at the first failure, so programs before
the failing one loaded, the failing one gets its own verifier log, and later ones were never
tried (they get no verdict).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile

from bpfdoctor.elf.object import BpfObject
from bpfdoctor.errors import ProbeError
from bpfdoctor.probe.loader.load import ObjectLoad, ProgramAttempt, selected_programs

TIMEOUT = 600
_SCRIPT = """
mount -t bpf bpf "$1" || exit 97
# libbpf pins maps with pinning=by_name under /sys/fs/bpf: give it an empty bpffs there too,
# private to this namespace, so pinned maps are created fresh (as our own loader does).
[ -d /sys/fs/bpf ] && mount -t bpf bpf /sys/fs/bpf
shift
"$@"
rc=$?
echo "@@pins:"
ls "$PINS" 2>/dev/null
exit $rc
"""
_FAILED = re.compile(r"prog '([^']+)': failed to load: (-?\d+)")
_ERRNO = re.compile(r"(?:: |error |err |ret |errno=|\()-(\d+)\b")


def available() -> bool:
    return shutil.which("bpftool") is not None and shutil.which("unshare") is not None


def run_loadall(path: str, extra: tuple[str, ...] = ()) -> tuple[int, str, list[str]]:
    """``bpftool -d prog loadall`` in a throwaway mount namespace: (exit code, output, pins)."""
    if not available():
        raise ProbeError("--loader bpftool: bpftool (and unshare) are not installed")
    with tempfile.TemporaryDirectory(prefix="bpfdoctor-bpffs-") as tmp:
        pins = f"{tmp}/pins"
        argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", _SCRIPT,
                "sh", tmp, *extra, "bpftool", "-d", "prog", "loadall", path, pins]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                                  timeout=TIMEOUT, env={"PINS": pins, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        except subprocess.TimeoutExpired:
            raise ProbeError(f"--loader bpftool: bpftool did not finish in {TIMEOUT} s") from None
    if proc.returncode == 97:
        raise ProbeError(f"--loader bpftool: cannot mount a private bpffs: {proc.stderr.strip()}")
    out, _, listing = proc.stdout.partition("@@pins:")
    return proc.returncode, out + proc.stderr, listing.split()


def _program_log(output: str, name: str) -> str:
    start = output.find(f"prog '{name}': -- BEGIN PROG LOAD LOG --")
    if start < 0:
        return ""
    body = output[output.index("\n", start) + 1:]
    end = body.find("-- END PROG LOAD LOG --")
    text = body[:end] if end >= 0 else body
    return "\n".join(line for line in text.splitlines() if not line.startswith("libbpf: "))


def _errno(code: str) -> str:
    import errno

    n = abs(int(code))
    return "ENOTSUPP" if n == 524 else errno.errorcode.get(n, f"E{n}")


def split_output(obj: BpfObject, rc: int, output: str, names: tuple[str, ...] = ()) -> ObjectLoad:
    """bpftool's output -> per-program attempts (see the module docstring for the rules)."""
    progs = selected_programs(obj, names)
    steps = ("bpftool -d prog loadall in a private mount namespace",)
    if rc == 0:
        return ObjectLoad(obj.name, steps,
                          tuple(ProgramAttempt(p.name, p.section, True) for p in progs))
    failed = _FAILED.findall(output)
    if not failed:
        codes = _ERRNO.findall(output)
        errno = _errno(codes[-1]) if codes else None
        from bpfdoctor.explain import explain_text

        found = explain_text(output, "bpftool").diagnoses
        category = found[0].category.value if found else "loader-unsupported"
        message = found[0].message if found else (output.strip().splitlines() or ["bpftool failed"])[-1]
        return ObjectLoad(obj.name, steps, (), category, errno, f"bpftool: {message}")
    name, code = failed[-1]
    out: list[ProgramAttempt] = []
    for p in progs:
        if p.name == name:
            out.append(ProgramAttempt(p.name, p.section, False, _errno(code),
                                      _program_log(output, name) or output))
            break
        out.append(ProgramAttempt(p.name, p.section, True))
    return ObjectLoad(obj.name, (*steps, "libbpf stops at the first failing program: later "
                                 "programs were not tried"), tuple(out))


def load_with_bpftool(obj: BpfObject, names: tuple[str, ...] = ()) -> ObjectLoad:
    rc, output, _pins = run_loadall(obj.name)
    return split_output(obj, rc, output, names)
