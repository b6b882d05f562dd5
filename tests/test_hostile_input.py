"""Adversarial end-to-end QA: every command, run as a real subprocess, fed hostile input.

The promise under test (project brief and CONTRACT.md): bad input gets exactly one line on
stderr and exit code 2, never a traceback, never a hang, never unbounded memory. Every run here
goes through ``python3 -m bpfdoctor`` with an address-space limit (RLIMIT_AS) and a wall-clock
timeout, so a hang or a memory blow-up fails the test instead of the machine.

The corruptions are built here from the committed fixture objects (no binary blobs in the
repository): truncations, section headers that point past the end, and targeted patches inside
``.BTF`` and ``.BTF.ext`` (huge vlen, reference loops, string offsets past the end, zero record
sizes...). A wider sweep of the same corruptions runs in-process, where thousands of cases cost
seconds, and asserts that only ``BpfDoctorError`` ever escapes.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bpfdoctor.check import run_check
from bpfdoctor.elf.object import BpfObject
from bpfdoctor.errors import BpfDoctorError

REPO = Path(__file__).resolve().parent.parent
ELF = REPO / "fixtures" / "elf"
VMLINUX = Path("/sys/kernel/btf/vmlinux")
MEMORY_LIMIT = 1536 << 20  # 1.5 GB of address space for every bpfdoctor run
TIMEOUT = 60  # seconds; a hang shows up as subprocess.TimeoutExpired, i.e. a failed test


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def bpfdoctor(
    *args: str | Path, stdin: bytes | None = None, cwd: Path | None = None,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """One run of the real CLI, memory- and time-bounded; stdin is closed unless given."""
    proc = subprocess.run(
        [sys.executable, "-m", "bpfdoctor", *map(str, args)],
        input=stdin if stdin is not None else b"",
        capture_output=True, timeout=timeout, preexec_fn=_limit_memory, cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


def assert_no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    for stream in (proc.stdout, proc.stderr):
        assert "Traceback" not in stream, stream[-2000:]
        assert "internal error" not in stream, stream[-2000:]


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, exactly one non-empty stderr line starting ``bpfdoctor: error:``, nothing
    mentioning a Python exception; returns the line."""
    assert_no_traceback(proc)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1, proc.stderr[-2000:]
    line = lines[0]
    assert line.startswith("bpfdoctor: error: "), line
    assert "Error:" not in line.split("bpfdoctor: error: ", 1)[1][:40], line  # no "KeyError: 3"
    for needle in needles:
        assert needle.lower() in line.lower(), line
    return line


# -- building hostile objects -------------------------------------------------------------

# Bytes of trailing data per BTF kind: (fixed, per vlen entry), from include/uapi/linux/btf.h.
_TRAIL = {1: (4, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 13: (0, 8), 14: (4, 0),
          15: (0, 12), 17: (4, 0), 19: (0, 12)}


def elf_sections(data: bytes) -> dict[str, tuple[int, int]]:
    """{name: (file offset, size)} of a little-endian ELF64 (our own minimal reader, so the
    test does not trust the code under test to find what it corrupts)."""
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    hdrs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names = hdrs[shstrndx][4]
    out = {}
    for h in hdrs:
        end = data.index(b"\0", names + h[0])
        out[data[names + h[0]:end].decode()] = (h[4], h[5])
    return out


def _patched(data: bytes, at: int, fmt: str, *values: int) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, at, *values)
    return bytes(b)


def btf_type_offsets(data: bytes, btf_off: int) -> list[tuple[int, int, int]]:
    """[(file offset of btf_type, kind, vlen)] in type-id order (id = index + 1)."""
    magic, _ver, _flags, hdr_len, type_off, type_len = struct.unpack_from("<HBBIII", data, btf_off)
    assert magic == 0xEB9F
    pos = btf_off + hdr_len + type_off
    end = pos + type_len
    out = []
    while pos < end:
        info = struct.unpack_from("<I", data, pos + 4)[0]
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        out.append((pos, kind, vlen))
        fixed, per = _TRAIL.get(kind, (0, 0))
        pos += 12 + fixed + per * vlen
    return out


def btf_mutants(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(label, object bytes): one corruption inside ``.BTF`` each."""
    off, _size = elf_sections(data)[".BTF"]
    hdr_len, _type_off, type_len, str_off, str_len = struct.unpack_from("<IIIII", data, off + 4)
    yield "hdr type_len huge", _patched(data, off + 12, "<I", 0xFFFFFFF0)
    yield "hdr str_off past end", _patched(data, off + 16, "<I", 0x7FFFFFF0)
    yield "hdr str_len huge", _patched(data, off + 20, "<I", 0xFFFFFFFF)
    yield "hdr hdr_len huge", _patched(data, off + 4, "<I", 0xFFFFFF00)
    yield "hdr hdr_len 4", _patched(data, off + 4, "<I", 4)
    yield "hdr type_len not a multiple of 4", _patched(data, off + 12, "<I", type_len - 3)
    yield "hdr version 2", _patched(data, off + 2, "<B", 2)
    yield "strings not NUL-terminated", _patched(data, off + hdr_len + str_off + str_len - 1,
                                                 "<B", 0x41)
    types = btf_type_offsets(data, off)
    for idx, (pos, kind, vlen) in enumerate(types):
        tid = idx + 1
        yield f"type {tid} name_off past end", _patched(data, pos, "<I", 0xFFFFFF00)
        yield f"type {tid} vlen 0xffff", _patched(data, pos + 4, "<I", (kind << 24) | 0xFFFF)
        yield f"type {tid} kind 31", _patched(data, pos + 4, "<I", (31 << 24) | vlen)
        yield f"type {tid} refers to itself", _patched(data, pos + 8, "<I", tid)
        yield f"type {tid} refers past the last id", _patched(data, pos + 8, "<I", 0x7FFFFFFF)
        if kind == 3:
            yield f"array {tid} of itself", _patched(data, pos + 12, "<I", tid)
            yield f"array {tid} nelems huge", _patched(data, pos + 20, "<I", 0xFFFFFFFF)
        if kind in (4, 5, 13, 15) and vlen:
            yield f"member 0 of {tid} has type {tid}", _patched(data, pos + 16, "<I", tid)
            yield f"member 0 of {tid} name past end", _patched(data, pos + 12, "<I", 0xFFFFFF00)
            if kind != 13:
                yield f"member 0 of {tid} offset huge", _patched(data, pos + 20, "<I", 0xFFFFFFFF)
    refs = [(i + 1, pos) for i, (pos, kind, _v) in enumerate(types) if kind in (2, 8, 9, 10, 11)]
    if len(refs) >= 2:
        (a, pa), (b, pb) = refs[:2]
        yield f"types {a} and {b} refer to each other", _patched(
            _patched(data, pa + 8, "<I", b), pb + 8, "<I", a)


def ext_mutants(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(label, object bytes): one corruption inside ``.BTF.ext`` each."""
    off, _size = elf_sections(data)[".BTF.ext"]
    hdr_len = struct.unpack_from("<I", data, off + 4)[0]
    fields = ["func_info", "line_info"] + (["core_relo"] if hdr_len >= 32 else [])
    yield "ext hdr_len huge", _patched(data, off + 4, "<I", 0xFFFFFF00)
    for i, name in enumerate(fields):
        yield f"ext {name}_off huge", _patched(data, off + 8 + 8 * i, "<I", 0xFFFFFFF0)
        yield f"ext {name}_len huge", _patched(data, off + 12 + 8 * i, "<I", 0xFFFFFFF0)
        sub_off, sub_len = struct.unpack_from("<II", data, off + 8 + 8 * i)
        if sub_len == 0:
            continue
        base = off + hdr_len + sub_off
        rec_size = struct.unpack_from("<I", data, base)[0]
        yield f"ext {name} rec_size 0", _patched(data, base, "<I", 0)
        yield f"ext {name} rec_size 1", _patched(data, base, "<I", 1)
        yield f"ext {name} rec_size huge", _patched(data, base, "<I", 0xFFFFFFF0)
        yield f"ext {name} sec_name_off past end", _patched(data, base + 4, "<I", 0xFFFFFF00)
        yield f"ext {name} num_info huge", _patched(data, base + 8, "<I", 0xFFFFFFFF)
        yield f"ext {name} num_info 0", _patched(data, base + 8, "<I", 0)
        yield f"ext {name} insn_off huge", _patched(data, base + 12, "<I", 0xFFFFFFF8)
        yield f"ext {name} insn_off unaligned", _patched(data, base + 12, "<I", 3)
        for word in range(1, rec_size // 4):
            yield (f"ext {name} record word {word} huge",
                   _patched(data, base + 12 + 4 * word, "<I", 0xFFFFFF00))


def truncated_keeping_headers(data: bytes, n: int) -> bytes:
    """The first ``n`` bytes with the section header table appended again: the headers parse,
    but the sections they describe run past the end of the file."""
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    table = data[shoff:shoff + shentsize * shnum]
    head = bytearray(data[:n])
    struct.pack_into("<Q", head, 0x28, n)
    return bytes(head) + table


def _must_be_handled(data: bytes, label: str) -> None:
    """In-process: building the whole report either works or raises BpfDoctorError."""
    try:
        result = run_check(BpfObject.from_bytes(data, label))
        json.dumps(result.to_json(), default=str)
        from bpfdoctor.report.inventory_text import render_many

        render_many([result], width=120, color=False)
    except BpfDoctorError:
        pass


@pytest.fixture(scope="module")
def hostile_dir() -> Iterator[Path]:
    """A world-readable scratch directory (tests below also run as uid 65534)."""
    d = Path(tempfile.mkdtemp(prefix="bpfdoctor-hostile-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


XDP = ELF / "xdp_lb.bpf.o"
CORE = ELF / "core_relos.bpf.o"  # has .BTF.ext with CO-RE relocations
MAPS = ELF / "cgroup_sock.bpf.o"  # BTF-defined maps: __type(key, T) descriptions


# -- check: the object argument -----------------------------------------------------------


def _object_cases(d: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, words the error line must contain)."""
    data = XDP.read_bytes()
    (d / "text.o").write_text("hello, this is not an object\n")
    (d / "empty.o").write_bytes(b"")
    (d / "nul.o").write_bytes(b"\0" * 4096)
    (d / "elf32.o").write_bytes(b"\x7fELF\x01\x01\x01" + b"\0" * 57)
    (d / "elf_header_only.o").write_bytes(data[:64])
    (d / "adir").mkdir(exist_ok=True)
    fifo = d / "fifo.o"
    if not fifo.exists():
        os.mkfifo(fifo)
    return {
        "not-elf": (d / "text.o", "not an ELF"),
        "empty": (d / "empty.o", "empty"),
        "nul-bytes": (d / "nul.o", ""),
        "elf32": (d / "elf32.o", ""),
        "header-only": (d / "elf_header_only.o", ""),
        "x86_64": (Path("/bin/ls"), "x86_64"),
        "directory": (d / "adir", "directory"),
        "fifo": (fifo, "FIFO"),
        "dev-zero": (Path("/dev/zero"), "character device"),
        "dev-urandom": (Path("/dev/urandom"), "character device"),
        "missing": (d / "missing.o", "no such file"),
    }


@pytest.mark.parametrize("case", ["not-elf", "empty", "nul-bytes", "elf32", "header-only",
                                  "x86_64", "directory", "fifo", "dev-zero", "dev-urandom",
                                  "missing"])
def test_check_rejects_non_objects(hostile_dir: Path, case: str) -> None:
    path, needle = _object_cases(hostile_dir)[case]
    # text for half of them, json for the others: the error path must not depend on it
    fmt = "json" if case in ("not-elf", "nul-bytes", "x86_64", "fifo", "dev-zero") else "text"
    proc = bpfdoctor("check", path, "--format", fmt)
    assert_one_line_error(proc, needle, str(path))
    assert proc.stdout == ""


@pytest.mark.parametrize("what", ["object", "profile", "kernel-btf", "explain"])
def test_unreadable_file_without_dac_override(hostile_dir: Path, what: str) -> None:
    """chmod 000 does not stop root: drop CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH from the
    bounding set (setpriv), so the exec'd CLI is root without the power to read the file."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv")
    locked = hostile_dir / f"locked-{what}"
    source = {"object": XDP, "profile": REPO / "fixtures" / "profiles" /
              "live-6.18-lockdown.json", "kernel-btf": XDP, "explain": XDP}[what]
    if what == "explain":
        locked.write_text("R1 type=scalar expected=map_ptr\n")
    else:
        shutil.copyfile(source, locked)
    locked.chmod(0)
    argv = {"object": ["check", locked], "profile": ["check", XDP, "--profile", locked],
            "kernel-btf": ["check", XDP, "--kernel-btf", locked],
            "explain": ["explain", locked]}[what]
    proc = subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
         sys.executable, "-m", "bpfdoctor", *map(str, argv)],
        capture_output=True, text=True, timeout=TIMEOUT, preexec_fn=_limit_memory,
    )
    line = assert_one_line_error(proc, locked.name)
    assert "readable" in line or "permission denied" in line.lower(), line


def test_check_huge_sparse_object_is_refused(tmp_path: Path) -> None:
    """A valid ELF header on a 300 MB (sparse) file: refused by size, not read into memory."""
    obj = tmp_path / "huge.o"
    with obj.open("wb") as f:
        f.write(XDP.read_bytes())
        f.truncate(300 << 20)
    assert_one_line_error(bpfdoctor("check", obj), "too large")


@pytest.mark.parametrize("where", ["1", "20", "63", "1/2", "shoff", "end-1"])
def test_check_truncated_object(tmp_path: Path, where: str) -> None:
    data = CORE.read_bytes()
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    n = {"1/4": len(data) // 4, "1/2": len(data) // 2, "shoff": shoff,
         "end-1": len(data) - 1}.get(where) or int(where)
    obj = tmp_path / "cut.o"
    obj.write_bytes(data[:n])
    assert_one_line_error(bpfdoctor("check", obj, "--format", "json"), str(obj))


@pytest.mark.parametrize("section", [".text", "xdp", ".maps", ".BTF", ".BTF.ext", ".symtab"])
def test_check_section_past_end_of_file(tmp_path: Path, section: str) -> None:
    """Section headers intact, the file cut in the middle of ``section``."""
    data = XDP.read_bytes() if section == "xdp" else CORE.read_bytes()
    secs = elf_sections(data)
    if section not in secs:
        pytest.skip(f"fixture has no {section}")
    off, size = secs[section]
    obj = tmp_path / "cut.o"
    obj.write_bytes(truncated_keeping_headers(data, off + size // 2))
    assert_one_line_error(bpfdoctor("check", obj), str(obj))


def test_truncation_sweep_in_process() -> None:
    """Every cut of three fixtures, both plain and with the section headers kept: only
    BpfDoctorError escapes (thousands of cases; a subprocess each would take minutes)."""
    for fixture in (XDP, CORE, MAPS):
        data = fixture.read_bytes()
        step = max(1, len(data) // 300)
        for n in range(0, len(data), step):
            _must_be_handled(data[:n], f"{fixture.name}[:{n}]")
            if n >= 64:  # the ELF header itself must be there to point at the headers
                _must_be_handled(truncated_keeping_headers(data, n), f"{fixture.name}~{n}")


def _renamed(data: bytes, old: bytes, new: bytes) -> bytes:
    """Every occurrence of a string-table name replaced in place (same length, so every
    offset in the object stays valid)."""
    new = new + b"a" * (len(old) - len(new))
    assert len(new) == len(old) and old in data
    return data.replace(old, new)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_check_program_name_with_rich_markup(tmp_path: Path, fmt: str) -> None:
    """A program called ``[/bold][/]x`` was parsed as rich markup: MarkupError traceback."""
    obj = tmp_path / "markup.o"
    obj.write_bytes(_renamed(XDP.read_bytes(), b"xdp_load_balancer", b"[/bold][/]x[red]"))
    proc = bpfdoctor("check", obj, "--format", fmt)
    assert_no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    if fmt == "json":
        names = [p["name"] for p in json.loads(proc.stdout)["object"]["programs"]]
        assert "[/bold][/]x[red]a" in names
    else:
        assert "[/bold][/]x[red]a" in proc.stdout  # shown literally


def test_check_text_never_sends_terminal_controls(tmp_path: Path) -> None:
    """ESC/BEL/CR and bidi overrides in object names are shown escaped in the text report, so
    a crafted object cannot retitle or clear the terminal of whoever inspects it."""
    obj = tmp_path / "esc.o"
    evil = b"\x1b]0;pwn\x07\x1b[2J\r\xe2\x80\xae"
    obj.write_bytes(_renamed(XDP.read_bytes(), b"xdp_load_balancer", evil))
    proc = bpfdoctor("check", obj)
    assert_no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    for control in ("\x1b", "\x07", "\r", "\u202e"):
        assert control not in proc.stdout
    assert "\\x1b]0;pwn\\x07\\x1b[2J\\x0d\\u202e" in proc.stdout
    # JSON keeps the real bytes (escaped by the JSON encoder): machines get the truth
    doc = bpfdoctor("check", obj, "--format", "json")
    names = [p["name"] for p in json.loads(doc.stdout)["object"]["programs"]]
    assert any(n.startswith("\x1b]0;pwn") for n in names)


@pytest.mark.parametrize("command", ["probe", "profile"])
def test_profile_text_never_sends_terminal_controls(tmp_path: Path, command: str) -> None:
    """A profile saved elsewhere is untrusted text: its distro and reasons are shown escaped."""
    doc = json.loads((REPO / "fixtures" / "profiles" / "live-6.18-lockdown.json").read_text())
    doc["host"]["distro"] = "[/bold]\x1b]0;pwn\x07"
    group = next(iter(doc["features"].values()))
    item = next(iter(group.values()))
    item["state"], item["reason"] = "denied", "EPERM \x1b[2J\u202e"
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(doc))
    argv = ["probe", "--from", path, "-v"] if command == "probe" else ["profile", "show", path]
    proc = bpfdoctor(*argv)
    assert_no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout + proc.stderr
    assert "\x1b" not in text and "\u202e" not in text
    assert "[/bold]\\x1b]0;pwn\\x07" in text


# -- check: corrupt .BTF / .BTF.ext -------------------------------------------------------

BTF_CASES = ["hdr type_len huge", "hdr str_off past end", "hdr hdr_len huge",
             "strings not NUL-terminated", "type 1 vlen 0xffff", "type 2 kind 31",
             "type 5 refers to itself", "type 4 refers past the last id"]
EXT_CASES = ["ext hdr_len huge", "ext func_info rec_size 0", "ext line_info rec_size 0",
             "ext core_relo rec_size 0", "ext core_relo num_info huge",
             "ext core_relo record word 2 huge"]


@pytest.mark.parametrize("label", BTF_CASES)
def test_check_corrupt_btf(tmp_path: Path, label: str) -> None:
    mutants = dict(btf_mutants(MAPS.read_bytes()))
    obj = tmp_path / "bad_btf.o"
    obj.write_bytes(mutants[label])
    proc = bpfdoctor("check", obj, "--format", "json")
    assert_no_traceback(proc)
    if proc.returncode != 2:  # a corruption the reader may tolerate (an unused type's name)
        assert proc.returncode in (0, 1), proc.stderr
        assert json.loads(proc.stdout)["schema"] == "bpfdoctor.check/1"
    else:
        assert_one_line_error(proc)


@pytest.mark.parametrize("label", EXT_CASES)
def test_check_corrupt_btf_ext(tmp_path: Path, label: str) -> None:
    mutants = dict(ext_mutants(CORE.read_bytes()))
    obj = tmp_path / "bad_ext.o"
    obj.write_bytes(mutants[label])
    proc = bpfdoctor("check", obj, "--format", "json")
    assert_no_traceback(proc)
    if proc.returncode != 2:
        assert proc.returncode in (0, 1), proc.stderr
        assert json.loads(proc.stdout)["schema"] == "bpfdoctor.check/1"
    else:
        assert_one_line_error(proc)


def test_corrupt_btf_reference_loop_is_named() -> None:
    """A map key type that points back at itself was a RecursionError traceback; now the map
    is reported as broken, naming the loop, and the rest of the object is still inventoried."""
    mutants = dict(btf_mutants(MAPS.read_bytes()))
    result = run_check(BpfObject.from_bytes(mutants["type 5 refers to itself"], "loop.o"))
    messages = [f.message for f in result.findings]
    assert any("type [5]: reference loop" in m for m in messages), messages
    assert result.object_json["programs"]


def test_btf_corruption_sweep_in_process() -> None:
    """Every targeted .BTF/.BTF.ext corruption of two fixtures (CO-RE relocations, BTF maps),
    in-process."""
    for fixture in (CORE, MAPS):
        data = fixture.read_bytes()
        for label, mutant in [*btf_mutants(data), *ext_mutants(data)]:
            _must_be_handled(mutant, f"{fixture.name}: {label}")


@pytest.mark.parametrize("label", ["type 5 refers to itself", "type 1 vlen 0xffff",
                                   "ext core_relo record word 2 huge"])
def test_check_corrupt_object_against_kernel_btf(tmp_path: Path, label: str) -> None:
    """The target checks (CO-RE against vmlinux) see the corrupt object too."""
    if not VMLINUX.is_file():
        pytest.skip("no /sys/kernel/btf/vmlinux")
    source = CORE if label.startswith("ext") else MAPS
    mutants = dict([*btf_mutants(source.read_bytes()), *ext_mutants(source.read_bytes())])
    obj = tmp_path / "bad.o"
    obj.write_bytes(mutants[label])
    proc = bpfdoctor("check", obj, "--kernel-btf", VMLINUX, "--format", "json")
    assert_no_traceback(proc)
    assert proc.returncode in (0, 1, 2), proc.stderr
    if proc.returncode == 2:
        assert_one_line_error(proc)


# -- check: targets (--kernel-btf, --kconfig, --profile, -t) -------------------------------


def _btf_inputs(d: Path) -> dict[str, Path]:
    raw = VMLINUX.read_bytes() if VMLINUX.is_file() else b""
    (d / "garbage.btf").write_bytes(bytes(range(256)) * 64)
    (d / "magic_only.btf").write_bytes(b"\x9f\xeb\x01\x00")
    (d / "header_only.btf").write_bytes(raw[:24])
    (d / "vmlinux_100k.btf").write_bytes(raw[:100_000])
    (d / "vmlinux_half.btf").write_bytes(raw[: len(raw) // 2])
    (d / "vmlinux_minus1.btf").write_bytes(raw[:-1])
    fifo = d / "fifo.btf"
    if not fifo.exists():
        os.mkfifo(fifo)
    return {name: d / f"{name}.btf" for name in ("garbage", "magic_only", "header_only",
                                                  "vmlinux_100k", "vmlinux_half",
                                                  "vmlinux_minus1", "fifo")} | {
        "elf-without-BTF": Path("/bin/ls"), "directory": d, "dev-zero": Path("/dev/zero"),
        "missing": d / "missing.btf"}


@pytest.mark.parametrize("case", ["garbage", "magic_only", "header_only", "vmlinux_100k",
                                  "vmlinux_half", "vmlinux_minus1", "fifo", "elf-without-BTF",
                                  "directory", "dev-zero", "missing"])
def test_check_kernel_btf_bad(hostile_dir: Path, case: str) -> None:
    if case.startswith("vmlinux") and not VMLINUX.is_file():
        pytest.skip("no /sys/kernel/btf/vmlinux")
    path = _btf_inputs(hostile_dir)[case]
    assert_one_line_error(bpfdoctor("check", XDP, "--kernel-btf", path), str(path))


@pytest.mark.parametrize("case", ["fifo", "dev-zero", "directory", "binary", "missing"])
def test_check_kconfig_bad(hostile_dir: Path, case: str) -> None:
    if not VMLINUX.is_file():
        pytest.skip("no /sys/kernel/btf/vmlinux")
    fifo = hostile_dir / "config.fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    path = {"fifo": fifo, "dev-zero": Path("/dev/zero"), "directory": hostile_dir,
            "binary": Path("/bin/ls"), "missing": hostile_dir / "missing.config"}[case]
    proc = bpfdoctor("check", XDP, "--kernel-btf", VMLINUX, "--kconfig", path)
    assert_one_line_error(proc, str(path))


def _profile_inputs(d: Path) -> dict[str, Path]:
    files = {
        "invalid-json": b"{bad",
        "json-array": b"[1, 2, 3]",
        "json-string": b'"bpfdoctor.profile/1"',
        "foreign-schema": b'{"schema": "someone.else/3", "features": {}}',
        "schema-not-string": b'{"schema": 7}',
        "right-schema-wrong-shapes": (b'{"schema": "bpfdoctor.profile/1", "captured_at": 5, '
                                      b'"host": [], "features": "all"}'),
        "deeply-nested-array": b"[" * 200_000 + b"]" * 200_000,
        "deeply-nested-object": (b'{"schema": "bpfdoctor.profile/1", "features": '
                                 + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001),
        "empty": b"",
        "binary": bytes(range(256)) * 16,
        "invalid-utf8": b'{"schema": "bpfdoctor.profile/1\xff\xfe"}',
        "nul-bytes": b"\0" * 1000,
    }
    out = {}
    for name, content in files.items():
        (d / f"{name}.json").write_bytes(content)
        out[name] = d / f"{name}.json"
    fifo = d / "profile.fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    return out | {"fifo": fifo, "dev-zero": Path("/dev/zero"), "dev-urandom":
                  Path("/dev/urandom"), "directory": d, "missing": d / "missing.json"}


PROFILE_CASES = ["invalid-json", "json-array", "json-string", "foreign-schema",
                 "schema-not-string", "right-schema-wrong-shapes", "deeply-nested-array",
                 "deeply-nested-object", "empty", "binary", "invalid-utf8", "nul-bytes", "fifo",
                 "dev-zero", "dev-urandom", "directory", "missing"]


@pytest.mark.parametrize("case", PROFILE_CASES)
def test_check_profile_bad(hostile_dir: Path, case: str) -> None:
    path = _profile_inputs(hostile_dir)[case]
    assert_one_line_error(bpfdoctor("check", XDP, "--profile", path), str(path))


@pytest.mark.parametrize("case", ["invalid-json", "json-array", "foreign-schema",
                                  "deeply-nested-object", "binary", "fifo", "dev-zero",
                                  "directory"])
def test_probe_from_bad(hostile_dir: Path, case: str) -> None:
    path = _profile_inputs(hostile_dir)[case]
    assert_one_line_error(bpfdoctor("probe", "--from", path, "--format", "json"), str(path))


def test_check_profile_100mb(tmp_path: Path) -> None:
    """A 100 MB JSON document that claims to be a profile: refused or parsed within 1.5 GB."""
    big = tmp_path / "big.json"
    with big.open("w") as f:
        f.write('{"schema": "bpfdoctor.profile/1", "host": {"kernel_release": "6.1.0"}, '
                '"features": {"helpers": {')
        entry = '"h%d": {"state": "supported", "reason": "' + "x" * 100 + '"}'
        f.write(",".join(entry % i for i in range(700_000)))
        f.write("}}}")
    assert big.stat().st_size > 100_000_000
    assert_one_line_error(bpfdoctor("check", XDP, "--profile", big), str(big))
    assert_one_line_error(bpfdoctor("probe", "--from", big), str(big))


@pytest.mark.parametrize("spec", ["btf:/dev/zero", "profile:/dev/urandom", "zzz:1", "kernel:",
                                  "kernel:99999999999999999999.1", "btf:", "live,name=", ""])
def test_check_bad_target_spec(spec: str) -> None:
    assert_one_line_error(bpfdoctor("check", XDP, "-t", spec))


# -- explain ------------------------------------------------------------------------------


def _assert_explained(proc: subprocess.CompletedProcess[str], fmt: str) -> None:
    """Ran to the end: 0 or 1 (CONTRACT.md), and a JSON document when asked for one."""
    assert_no_traceback(proc)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    if fmt == "json":
        assert json.loads(proc.stdout)["schema"] == "bpfdoctor.explain/1"


@pytest.mark.parametrize("case", ["binary", "nul-bytes", "elf", "fifo", "dev-zero",
                                  "dev-urandom", "directory", "missing"])
def test_explain_rejects_non_logs(hostile_dir: Path, case: str) -> None:
    fifo = hostile_dir / "log.fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    (hostile_dir / "binary.log").write_bytes(bytes(range(256)) * 64)
    (hostile_dir / "nul.log").write_bytes(b"\0" * 100_000)
    path = {"binary": hostile_dir / "binary.log", "nul-bytes": hostile_dir / "nul.log",
            "elf": XDP, "fifo": fifo, "dev-zero": Path("/dev/zero"),
            "dev-urandom": Path("/dev/urandom"), "directory": hostile_dir,
            "missing": hostile_dir / "missing.log"}[case]
    assert_one_line_error(bpfdoctor("explain", path), str(path))


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_explain_invalid_utf8_still_explains(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / "latin1.log"
    log.write_bytes(b"libbpf: prog 'caf\xe9': \xff\xfe\n"
                    b"0: (85) call bpf_map_lookup_elem#1\n"
                    b"R1 type=scalar expected=map_ptr\n")
    proc = bpfdoctor("explain", log, "--format", fmt)
    _assert_explained(proc, fmt)
    assert proc.returncode == 1  # the map_ptr signature survives the bad bytes around it


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_explain_10mb_single_line(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / "one_line.log"
    log.write_bytes(b"R1 type=scalar expected=map_ptr " * (10 * (1 << 20) // 32))
    _assert_explained(bpfdoctor("explain", log, "--format", fmt), fmt)


@pytest.mark.parametrize("payload", [b"\0" * 10, bytes(range(256)) * 100, b"\xff\xfe" * 500])
def test_explain_stdin_binary(payload: bytes) -> None:
    proc = bpfdoctor("explain", "-", stdin=payload)
    if b"\0" in payload:
        assert_one_line_error(proc, "binary")
    else:
        _assert_explained(proc, "text")


def test_explain_fifo_and_devices_name_their_kind(hostile_dir: Path) -> None:
    """QA issue 3: ``explain FIFO`` hung in open(), ``explain /dev/urandom`` hung now and then
    (no NUL in its first KiB, then a stream that never ends). Both are refused by kind."""
    fifo = hostile_dir / "kind.fifo"
    os.mkfifo(fifo)
    try:
        assert_one_line_error(bpfdoctor("explain", fifo, timeout=20), "FIFO")
        assert stat.S_ISFIFO(fifo.stat().st_mode)
    finally:
        fifo.unlink()
    for _ in range(3):  # the old hang depended on the first KiB; a few draws, each must end
        assert_one_line_error(bpfdoctor("explain", "/dev/urandom", timeout=20),
                              "character device")


def test_explain_stdin_random_stream_ends_with_binary_error() -> None:
    """``explain - < /dev/urandom``: NUL-free first KiB (so the first sniff passes), then
    random bytes without end; the control bytes of the first block end the run."""
    first = os.urandom(1 << 20).replace(b"\0", b"x")

    def feed() -> Iterator[bytes]:
        yield first
        for _ in range(256):  # 256 MiB at most: far more than a refusing run reads
            yield os.urandom(1 << 20)

    code, _rss, stderr = _maxrss_kb_of(
        [sys.executable, "-m", "bpfdoctor", "explain", "-"], feed(), TIMEOUT)
    assert code == 2, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("bpfdoctor: error: "), stderr[-2000:]
    assert "binary" in lines[0]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_explain_never_sends_terminal_controls(tmp_path: Path, fmt: str) -> None:
    """QA issue 3: an OSC title sequence and a bidi override in a program name and an
    evidence line reached the terminal through the text report."""
    log = tmp_path / "ctl.log"
    log.write_bytes(b"libbpf: prog 'x\x1b]0;pwn\x07': BPF program load failed\n"
                    b"0: (85) call bpf_map_lookup_elem#1\n"
                    b"R1 type=scalar expected=map_ptr \x1b[2J\xe2\x80\xae\n")
    proc = bpfdoctor("explain", log, "--format", fmt)
    _assert_explained(proc, fmt)
    for stream in (proc.stdout, proc.stderr):
        assert "\x1b" not in stream and "\x07" not in stream and "\u202e" not in stream
    if fmt == "json":
        assert "x\x1b]0;pwn\x07" in json.loads(proc.stdout)["diagnoses"][0]["program"]
    else:
        assert "x\\x1b]0;pwn\\x07" in proc.stdout + proc.stderr


def test_explain_empty_stdin_is_no_signature() -> None:
    proc = bpfdoctor("explain", "-", "--format", "json", stdin=b"")
    _assert_explained(proc, "json")
    assert json.loads(proc.stdout)["diagnoses"] == []


# Peak RSS must be measured from a small parent. Linux carries the RSS high-water mark of the
# mm a process had before exec() into its ru_maxrss (fs/exec.c exec_mmap ->
# setmax_mm_hiwater_rss), and a child forked from pytest starts as a copy of pytest: by the end
# of the suite that alone is ~500 MB, which is what "692 MB for a 1 GiB log" once measured.
# So a minimal interpreter forks and execs the command and reports its child's ru_maxrss.
_RSS_WRAPPER = """
import os, resource, sys
out, limit, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
pid = os.fork()
if pid == 0:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.execv(argv[0], argv)
_pid, status, usage = os.wait4(pid, 0)
with open(out, "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _maxrss_kb_of(argv: list[str], feed: Iterator[bytes], timeout: float) -> tuple[int, int, str]:
    """Run ``argv`` feeding ``feed`` to its stdin; (exit code, max RSS in KiB, stderr)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as rss:
        proc = subprocess.Popen(
            [sys.executable, "-S", "-c", _RSS_WRAPPER, rss.name, str(MEMORY_LIMIT), *argv],
            stdin=subprocess.PIPE, stdout=out, stderr=err, start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, 9))
        timer.start()
        try:
            assert proc.stdin is not None
            try:
                for chunk in feed:
                    proc.stdin.write(chunk)
            except BrokenPipeError:
                pass
            finally:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
            proc.wait()
        finally:
            timer.cancel()
        err.seek(0)
        text = rss.read().strip()
        return proc.returncode, int(text) if text else -1, err.read().decode("utf-8", "replace")


@pytest.mark.slow
def test_explain_1gb_log_streams_in_bounded_memory() -> None:
    """A 1 GiB verifier log through stdin (generated on the fly, never on disk): it is
    explained, with the error at the very end found, and RSS stays far below the input."""
    line = b"0: (b7) R1 = 0                        ; R1_w=0\n"
    block = line * (1 << 15)

    def feed() -> Iterator[bytes]:
        for _ in range((1 << 30) // len(block)):
            yield block
        yield b"R1 type=scalar expected=map_ptr\n"

    code, rss_kb, stderr = _maxrss_kb_of(
        [sys.executable, "-m", "bpfdoctor", "explain", "-", "--format", "json"], feed(), 600)
    assert code == 1, stderr[-2000:]  # a map_ptr failure was recognised at the end
    assert "Traceback" not in stderr
    assert 0 < rss_kb < 150 * 1024, f"max RSS {rss_kb} KiB for a 1 GiB log"


# -- rules, probe, profile, usage -----------------------------------------------------------


@pytest.mark.parametrize("code", ["XX999", "vf001x", "", "../../etc/passwd", "A" * 5000])
def test_rules_show_unknown(code: str) -> None:
    assert_one_line_error(bpfdoctor("rules", "show", code))


@pytest.mark.parametrize("argv", [
    ["check", XDP, "--bogus"], ["check"], ["check", XDP, "--format"],
    ["check", XDP, "--format", "yaml"], ["check", XDP, "--fail-on", "fatal"],
    ["check", XDP, "--kconfig", "/proc/version"], ["explain"], ["explain", "-", "--bogus"],
    ["probe", "--only", ","], ["probe", "--format", "yaml"], ["rules", "show"],
    ["nosuchcommand"], ["--bogus"], ["check", XDP, "--log-level", "abc"],
    ["check", XDP, "-o", "/nonexistent-dir/out.json", "--format", "json"],
])
def test_usage_errors_are_one_line(argv: list[str | Path]) -> None:
    assert_one_line_error(bpfdoctor(*argv))


def test_bare_command_shows_help() -> None:
    proc = bpfdoctor()
    assert_no_traceback(proc)
    assert "Usage:" in proc.stdout + proc.stderr
    assert proc.returncode in (0, 2)


def test_closed_stdout_pipe_is_quiet() -> None:
    """``bpfdoctor rules list | head -1``: no BrokenPipeError noise on stderr."""
    proc = subprocess.run(
        f"{sys.executable} -m bpfdoctor rules list | head -c 10 >/dev/null; "
        "exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", capture_output=True,
        text=True, timeout=TIMEOUT,
    )
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == ""


def test_debug_still_shows_traceback(hostile_dir: Path) -> None:
    """``--debug`` is the documented way to get the traceback of an error."""
    proc = bpfdoctor("--debug", "check", hostile_dir / "missing.o")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_fifo_inputs_are_never_opened(hostile_dir: Path) -> None:
    """Regression for the hangs: after every FIFO case above the FIFOs are still FIFOs and
    nothing waits on them (a run that blocked would have timed out)."""
    fifo = hostile_dir / "again.fifo"
    os.mkfifo(fifo)
    try:
        for argv in (["check", fifo], ["check", XDP, "--profile", fifo],
                     ["check", XDP, "-t", f"btf:{fifo}"], ["probe", "--from", fifo]):
            assert_one_line_error(bpfdoctor(*argv, timeout=20), "FIFO" if argv[0] == "check"
                                  and argv[1] == fifo else str(fifo))
        assert stat.S_ISFIFO(fifo.stat().st_mode)
    finally:
        fifo.unlink()


# == preflight, profile from-kernel, check --load (QA issues 5, 6, 7) =====================
# Kept as one block: another engineer edits the explain cases above.


def _fifo(d: Path, name: str) -> Path:
    path = d / name
    if not path.exists():
        os.mkfifo(path)
    return path


@pytest.mark.parametrize("case", ["target-profile-fifo", "target-profile-dev-zero",
                                  "target-btf-fifo", "config-fifo", "config-dev-zero",
                                  "object-fifo", "object-dev-zero"])
def test_preflight_special_files(hostile_dir: Path, case: str) -> None:
    """QA issue 5: ``-t profile:FIFO`` and ``-c FIFO`` hung, ``-c /dev/zero`` ran out of
    memory, and a FIFO or /dev/zero object was reported as "no such file"."""
    fifo = _fifo(hostile_dir, "preflight.fifo")
    argv, needle = {
        "target-profile-fifo": (["preflight", XDP, "-t", f"profile:{fifo}"], "FIFO"),
        "target-profile-dev-zero": (["preflight", XDP, "-t", "profile:/dev/zero"],
                                    "character device"),
        "target-btf-fifo": (["preflight", XDP, "-t", f"btf:{fifo}"], "FIFO"),
        "config-fifo": (["preflight", XDP, "-c", fifo], "FIFO"),
        "config-dev-zero": (["preflight", XDP, "-c", "/dev/zero"], "character device"),
        "object-fifo": (["preflight", fifo, "-t", "kernel:6.1"], "FIFO"),
        "object-dev-zero": (["preflight", "/dev/zero", "-t", "kernel:6.1"],
                            "character device"),
    }[case]
    line = assert_one_line_error(bpfdoctor(*argv, timeout=30), needle)
    assert "no such file" not in line
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_preflight_config_too_large(tmp_path: Path) -> None:
    """A multi-megabyte --config is refused by size, not parsed."""
    big = tmp_path / "bpfdoctor.toml"
    big.write_text("# padding\n" * 600_000)
    assert_one_line_error(bpfdoctor("preflight", XDP, "-c", big), str(big), "MiB")


def _profile_with_artifacts(d: Path, artifacts: dict[str, object]) -> Path:
    doc = json.loads((REPO / "fixtures" / "profiles" / "live-6.18-lockdown.json").read_text())
    doc["artifacts"] = artifacts
    path = d / "with_artifacts.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("key", ["functions", "tracepoints", "vmlinux_btf"])
@pytest.mark.parametrize("command", ["check", "preflight"])
def test_profile_artifact_fifo_is_refused(tmp_path: Path, key: str, command: str) -> None:
    """A from-kernel profile's artifacts are read with the same care as the profile: a FIFO
    named there is refused by kind instead of blocking the open."""
    fifo = _fifo(tmp_path, "artifact.fifo")
    profile = _profile_with_artifacts(tmp_path, {key: fifo.name})
    argv = (["check", XDP, "--profile", profile] if command == "check"
            else ["preflight", XDP, "-t", f"profile:{profile}"])
    assert_one_line_error(bpfdoctor(*argv, timeout=30), "FIFO", key)


def test_profile_artifact_gzip_bomb_is_capped(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A gzip function list is decompressed with a cap, not ``gzip.decompress`` of all of
    it (the cap is lowered here so the bomb stays small)."""
    import gzip

    from bpfdoctor import targetload
    from bpfdoctor.errors import InputError

    bomb = tmp_path / "functions.txt.gz"
    bomb.write_bytes(gzip.compress(b"a\n" * (1 << 20)))
    monkeypatch.setattr(targetload, "MAX_LIST_BYTES", 1 << 20)
    with pytest.raises(InputError, match="decompresses to more than"):
        targetload._read_lines(bomb)
    ok = tmp_path / "ok.txt.gz"
    ok.write_bytes(gzip.compress(b"vfs_read\ndo_sys_open\n"))
    assert targetload._read_lines(ok) == {"vfs_read", "do_sys_open"}


@pytest.mark.parametrize("case", ["vmlinuz-fifo", "system-map-fifo", "vmlinuz-dev-zero",
                                  "config-dev-urandom", "btf-directory"])
def test_profile_from_kernel_special_files(hostile_dir: Path, tmp_path: Path,
                                           case: str) -> None:
    """QA issue 6: FIFOs hung, /dev/zero and /dev/urandom exhausted memory."""
    if not VMLINUX.is_file() and case in ("system-map-fifo", "config-dev-urandom"):
        pytest.skip("no /sys/kernel/btf/vmlinux")
    fifo = _fifo(hostile_dir, "kernel.fifo")
    out = tmp_path / "out"
    opts, needle = {
        "vmlinuz-fifo": (["--vmlinuz", fifo], "FIFO"),
        "system-map-fifo": (["--btf", VMLINUX, "--system-map", fifo], "FIFO"),
        "vmlinuz-dev-zero": (["--vmlinuz", "/dev/zero"], "character device"),
        "config-dev-urandom": (["--btf", VMLINUX, "--config", "/dev/urandom"],
                               "character device"),
        "btf-directory": (["--btf", hostile_dir], "directory"),
    }[case]
    proc = bpfdoctor("profile", "from-kernel", "--out", out, *opts, timeout=30)
    assert_one_line_error(proc, needle)
    assert not (out / "profile.json").exists()


def test_profile_from_kernel_no_progress_before_error(tmp_path: Path) -> None:
    """Progress ("decompressing vmlinuz...") used to precede the error line; off a terminal
    nothing but the error is printed."""
    junk = tmp_path / "vmlinuz"
    junk.write_bytes(bytes(range(256)) * 4096)
    proc = bpfdoctor("profile", "from-kernel", "--out", tmp_path / "out", "--vmlinuz", junk)
    line = assert_one_line_error(proc, str(junk))
    assert "decompressing" not in line


def test_profile_from_kernel_progress_on_terminal_is_erased(tmp_path: Path) -> None:
    """On a terminal progress is shown on one line that is erased before the error, so what
    the user is left with is still one error line."""
    import pty

    junk = tmp_path / "vmlinuz"
    junk.write_bytes(bytes(range(256)) * 4096)
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bpfdoctor", "profile", "from-kernel", "--out",
             str(tmp_path / "out"), "--vmlinuz", str(junk)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, timeout=TIMEOUT,
            preexec_fn=_limit_memory, env={**os.environ, "NO_COLOR": "1"},
        )
        os.close(slave)
        slave = -1
        seen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert proc.returncode == 2
    text = seen.decode("utf-8", "replace")
    assert "decompressing vmlinuz" in text  # progress was shown...
    visible = text.split("\r\x1b[K")[-1].strip()  # ...and erased before the error
    assert visible.startswith("bpfdoctor: error: ") and "\n" not in visible, text
    assert "Traceback" not in text


@pytest.mark.kernel
@pytest.mark.parametrize("label", ["ext line_info_off huge", "ext line_info_len huge",
                                   "ext line_info rec_size huge"])
def test_check_load_corrupt_line_info(tmp_path: Path, label: str) -> None:
    """QA issue 7: ``check --load`` read line_info raw and died in ``struct.error``; now it
    reports the same BtfError as plain ``check``, naming the section."""
    obj = tmp_path / "bad_lines.o"
    obj.write_bytes(dict(ext_mutants(CORE.read_bytes()))[label])
    plain = assert_one_line_error(bpfdoctor("check", obj))
    loaded = assert_one_line_error(bpfdoctor("check", obj, "--load"), ".BTF.ext", "line_info")
    assert loaded == plain


def test_relocator_corrupt_btf_ext_sweep() -> None:
    """Every .BTF.ext corruption through the loader's relocator (pure: no map fds, no
    kernel BTF): only BpfDoctorError escapes, never struct.error or IndexError."""
    from bpfdoctor.probe.loader.relocate import Externals, Relocator

    ext = Externals(map_fds={}, kconfig_offsets={}, vmlinux=lambda: None,
                    kallsyms=lambda name: None)
    refused = 0
    for label, mutant in ext_mutants(CORE.read_bytes()):
        try:
            Relocator(BpfObject.from_bytes(mutant, label), ext, with_btf=True)
        except BpfDoctorError:
            refused += 1
    assert refused > 10  # the line_info cases at least are refused, not read past the end


@pytest.mark.parametrize("case", ["dev-zero", "regular-file", "under-a-file"])
def test_check_load_keep_logs_not_a_directory(tmp_path: Path, case: str) -> None:
    """QA issue 7: ``--keep-logs /dev/zero`` was "FileExistsError: [Errno 17]". Refused
    before anything is loaded, so no kernel is needed to see it."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    path, needle = {"dev-zero": (Path("/dev/zero"), "is not a directory"),
                    "regular-file": (afile, "is not a directory"),
                    "under-a-file": (afile / "logs", "cannot create")}[case]
    proc = bpfdoctor("check", XDP, "--load", "--keep-logs", path)
    assert_one_line_error(proc, "--keep-logs", str(path), needle)


@pytest.mark.parametrize("case", ["invalid-utf8", "programs-not-a-list", "deeply-nested",
                                  "fifo", "dev-zero"])
def test_check_load_compare_bad(hostile_dir: Path, tmp_path: Path, case: str) -> None:
    """``--compare`` is read before anything is loaded: bad bytes, a wrong shape, deep
    nesting, a FIFO or /dev/zero are one line each (were UnicodeDecodeError/TypeError)."""
    contents = {"invalid-utf8": b"\xff\xfe{", "programs-not-a-list":
                b'{"object": {"programs": 5}}',
                "deeply-nested": b"[" * 100_000 + b"]" * 100_000}
    if case in contents:
        path = tmp_path / f"{case}.json"
        path.write_bytes(contents[case])
    else:
        path = _fifo(hostile_dir, "compare.fifo") if case == "fifo" else Path("/dev/zero")
    proc = bpfdoctor("check", XDP, "--load", "--compare", path, timeout=30)
    assert_one_line_error(proc, "--compare", str(path))


@pytest.mark.parametrize("command", ["check", "from-kernel"])
def test_kconfig_gzip_bomb_is_capped(tmp_path: Path, command: str) -> None:
    """A config.gz that inflates past the 16 MiB config cap is refused while inflating (a
    small bomb within 1.5 GB would otherwise be gigabytes)."""
    import gzip

    if not VMLINUX.is_file():
        pytest.skip("no /sys/kernel/btf/vmlinux")
    bomb = tmp_path / "config.gz"
    bomb.write_bytes(gzip.compress(b"# padding\n" * (2 << 20)))  # 20 MiB inflated
    argv = (["check", XDP, "--kernel-btf", VMLINUX, "--kconfig", bomb] if command == "check"
            else ["profile", "from-kernel", "--out", tmp_path / "out", "--btf", VMLINUX,
                  "--config", bomb])
    assert_one_line_error(bpfdoctor(*argv), str(bomb), "decompresses to more than")


def test_profile_from_kernel_vmlinuz_gzip_bomb(tmp_path: Path) -> None:
    """A 300 MB-inflating gzip stream given as --vmlinuz: scanning judges each candidate by
    its first bytes (not an ELF: skipped) instead of inflating it whole, so it is refused as
    "not a kernel image" in small memory (it used to inflate to ~1 GB RSS, or run out)."""
    import zlib

    bomb = tmp_path / "vmlinuz"
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (1 << 24)
    bomb.write_bytes(b"".join(comp.compress(zeros) for _ in range(18)) + comp.flush())
    code, rss_kb, stderr = _maxrss_kb_of(
        [sys.executable, "-m", "bpfdoctor", "profile", "from-kernel", "--out",
         str(tmp_path / "out"), "--vmlinuz", str(bomb)], iter(()), TIMEOUT)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, stderr[-2000:]
    assert "not a kernel image" in lines[0], lines[0]
    assert rss_kb < 200 * 1024, f"max RSS {rss_kb} KiB"
