"""explain core, renderers and CLI: root cause selection, context, outcome, dialects, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bpfdoctor.cli import app
from bpfdoctor.errors import InputError
from bpfdoctor.explain import explain_file, explain_text
from bpfdoctor.logs.reader import MAX_LINE
from bpfdoctor.report.explain_json import render as render_json
from bpfdoctor.report.explain_text import NO_SIGNATURE
from bpfdoctor.report.explain_text import render as render_text
from bpfdoctor.rules.loader import load_catalogue

# Real: kernel 6.18 on the build machine, `r1 = 0 ll` then bpf_map_lookup_elem, bpftool -d.
SEED = """\
libbpf: map 'counts': created successfully, fd=4
libbpf: prog 'unreloc': BPF program load failed: Permission denied
libbpf: prog 'unreloc': -- BEGIN PROG LOAD LOG --
func#0 @0
Live regs before insn:
      0: 0......... (b7) r0 = 0
      1: 0......... (18) r1 = 0x0
0: R1=ctx() R10=fp0
; asm volatile("r0 = 0 ...") @ unrel.bpf.c:8
0: (b7) r0 = 0                        ; R0=0
1: (18) r1 = 0x0                      ; R1=0
3: (bf) r2 = r10                      ; R2=fp0 R10=fp0
4: (07) r2 += -4                      ; R2=fp-4
5: (63) *(u32 *)(r10 -4) = r0
mark_precise: frame0: last_idx 5 first_idx 0 subseq_idx -1
mark_precise: frame0: regs=r0 stack= before 1: (18) r1 = 0x0
6: R0=0 R10=fp0 fp-8=0000????
6: (85) call bpf_map_lookup_elem#1
R1 type=scalar expected=map_ptr
verification time 42 usec
stack depth 8
processed 6 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
-- END PROG LOAD LOG --
libbpf: prog 'unreloc': failed to load: -13
libbpf: failed to load object 'unrel.bpf.o'
Error: failed to load object file
Warning: bpftool is now running in libbpf strict mode and has more stringent requirements about BPF programs.
"""

LOADED = """\
0: R1=ctx() R10=fp0
0: (b7) r0 = 2                        ; R0=2
1: (95) exit
verification time 11 usec
stack depth 0
processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
"""


def test_seed_unrelocated_map_is_explained_with_context() -> None:
    result = explain_text(SEED, "seed.log")
    assert result.outcome == "failed"
    assert result.dialect == "bpftool"
    d = result.diagnoses[0]
    assert d.rule == "VF001"
    assert d.category.value == "map-ptr-scalar"
    assert dict(d.captures)["cause"] == "unrelocated-map"
    assert d.confidence.value == "high"
    assert d.program == "unreloc"
    assert d.insn == 6
    assert d.source_line is not None and "unrel.bpf.c:8" in d.source_line
    assert d.register_state is not None and "R1=0" in d.register_state
    texts = [e.text for e in d.evidence]
    assert "R1 type=scalar expected=map_ptr" in texts
    assert any("(18) r1 = 0x0" in t for t in texts)
    assert "relocat" in d.message and "bpf_map_lookup_elem" in d.message
    assert any("BTF-defined" in f or "libbpf" in f for f in d.fixes)
    assert result.stats.insns_processed == 6 and result.stats.stack_depth == "8"
    assert result.stats.verification_time_usec == 42


def test_old_kernel_spelling_inv() -> None:
    log = "0: (18) r1 = 0x0\n2: (85) call bpf_map_update_elem#2\nR1 type=inv expected=map_ptr\n"
    d = explain_text(log).diagnoses[0]
    assert d.rule == "VF001" and dict(d.captures)["type"] == "inv"


def test_primary_is_the_final_error_not_an_earlier_one() -> None:
    # two programs in one bpftool loadall run: the first one's error is earlier in the log
    log = (
        "0: (bf) r0 = r2\nR2 !read_ok\n"
        "processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n"
        "0: (b7) r1 = 5\n1: (61) r1 = *(u32 *)(r1 +0)\nR1 invalid mem access 'scalar'\n"
        "processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n"
    )
    result = explain_text(log)
    assert [d.rule for d in result.diagnoses] == ["VF005", "VF006"]
    assert result.diagnoses[0].insn == 1


def test_loader_wrapper_does_not_outrank_verifier_error() -> None:
    log = (
        "libbpf: load bpf program failed: Permission denied\n"
        "6: (71) r1 = *(u8 *)(r2 +0)\n"
        "invalid access to packet, off=12 size=1, R2(id=0,off=12,r=12)\n"
        "R2 offset is outside of the packet\n"
        "libbpf: failed to load object 'xdp_prog_kern.o'\n"
    )
    d = explain_text(log).diagnoses[0]
    assert d.rule == "VF009"
    caps = dict(d.captures)
    assert (caps["off"], caps["size"], caps["reg"]) == ("12", "1", "2")


@pytest.mark.parametrize("number", ["195896080", "2001000003", "2002000001"])
def test_libbpf_poison_values_are_not_unknown_helpers(number: str) -> None:
    result = explain_text(f"5: (85) call unknown#{number}\ninvalid func unknown#{number}\n")
    assert all(d.rule != "VF025" for d in result.diagnoses)


def test_helper_id_named_from_uapi() -> None:
    d = explain_text("129: (85) call unknown#177\ninvalid func unknown#177\n").diagnoses[0]
    assert d.rule == "VF025"
    assert "bpf_trace_vprintk" in d.message and "3 arguments" in " ".join(d.fixes)


def test_lockdown_is_not_reported_as_missing_helper() -> None:
    log = (
        "6: (85) call bpf_probe_read_kernel#113\n"
        "program of this type cannot use helper bpf_probe_read_kernel#113\n"
    )
    result = explain_text(log)
    d = result.diagnoses[0]
    # VF027 (helper-unavailable) and the environment rule EN005 (permission) both know this
    # line; whichever ranks first, the explanation is lockdown and the line is explained once
    assert d.rule in {"VF027", "EN005"}
    assert "lockdown" in d.message.lower()
    assert "missing" not in d.title.lower()
    assert len([x for x in result.diagnoses if x.rule in {"VF027", "EN005", "VF026"}]) == 1


def test_noise_lines_are_never_a_diagnosis() -> None:
    log = (
        "libbpf: elf: skipping unrecognized data section(7) .comment\n"
        "Warning: bpftool is now running in libbpf strict mode and has more stringent requirements\n"
    )
    result = explain_text(log)
    assert result.diagnoses == ()


def test_successful_load_is_outcome_loaded() -> None:
    result = explain_text(LOADED)
    assert result.outcome == "loaded"
    assert result.diagnoses == ()
    assert result.stats.insns_processed == 2


def test_truncated_level2_log_says_so_instead_of_guessing() -> None:
    lines = [f"{i}: (07) r2 += -4                      ; R2=fp-4" for i in range(200)]
    result = explain_text("\n".join(lines[:150]))
    assert result.diagnoses[0].rule == "LG004"
    assert result.diagnoses[0].category.value == "log-truncated"
    assert any("bpftool -d" in f or "log" in f for f in result.diagnoses[0].fixes)


def test_enospc_is_log_truncated() -> None:
    result = explain_text("libbpf: prog 'big': failed to load: -28\n")
    assert result.diagnoses[0].category.value == "log-truncated"


@pytest.mark.parametrize(
    ("text", "dialect"),
    [
        ("0: (b7) r0 = 0\n1: (95) exit\nR0 !read_ok\n", "kernel"),
        ("libbpf: prog 'x': failed to load: -13\n", "libbpf"),
        ("libbpf: failed to load object 'x.o'\nError: failed to load object file\n", "bpftool"),
        ("Prog section 'xdp' rejected: Permission denied (13)!\nVerifier analysis:\n", "iproute2"),
        ("program x: load program: permission denied: R1 !read_ok (3 line(s) omitted)\n", "cilium-ebpf"),
        ("Traceback (most recent call last):\nException: Failed to load BPF program b'x': Invalid argument\n", "bcc"),
        ("Error: the BPF_PROG_LOAD syscall failed. Verifier output: R1 !read_ok\n", "aya"),
        ("stdin:1:1-20: ERROR: bpftrace error\n", "bpftrace"),
        ("prog.bpf.c:3:10: fatal error: 'vmlinux.h' file not found\n", "build"),
        ("hello world\n", "unknown"),
    ],
)
def test_dialect_detection(text: str, dialect: str) -> None:
    assert explain_text(text).dialect == dialect


def test_empty_input(tmp_path: Path) -> None:
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    result = explain_file(path)
    assert (result.outcome, result.diagnoses, result.lines) == ("unknown", (), 0)
    assert NO_SIGNATURE in render_text(result)


def test_binary_file_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "x.bpf.o"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 100)
    with pytest.raises(InputError, match="binary"):
        explain_file(path)
    out = subprocess.run([sys.executable, "-m", "bpfdoctor", "explain", str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "binary" in out.stderr and "Traceback" not in out.stderr


def test_missing_file_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["explain", str(tmp_path / "nope.log")])
    assert result.exit_code == 2 or isinstance(result.exception, InputError)


def test_invalid_utf8_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "bad.log"
    path.write_bytes(b"\xff\xfe junk \xc3\x28\r\n2: (61) r1 = *(u32 *)(r1 +0)\r\nR1 invalid mem access 'scalar'\r\n")
    result = explain_file(path)
    assert result.diagnoses[0].rule == "VF005"
    assert result.diagnoses[0].insn == 2


def test_very_long_line_is_capped_and_scanning_continues(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    with path.open("wb") as f:
        f.write(b"R1=" * (4 * 1024 * 1024))  # a 12 MB line
        f.write(b"\n2: (61) r1 = *(u32 *)(r1 +0)\nR1 invalid mem access 'inv'\n")
    result = explain_file(path)
    assert result.long_lines == 1
    assert result.lines == 3
    assert result.diagnoses[0].rule == "VF005"
    assert all(len(e.text) <= MAX_LINE for e in result.diagnoses[0].evidence)


def test_json_is_the_contract(tmp_path: Path) -> None:
    doc = json.loads(render_json(explain_text(SEED, "seed.log")))
    assert doc["schema"] == "bpfdoctor.explain/1"
    assert doc["source"] == "seed.log"
    assert doc["dialect"] in {"kernel", "libbpf", "bpftool", "iproute2", "cilium-ebpf", "bcc",
                              "aya", "bpftrace", "build", "unknown"}
    assert doc["outcome"] in {"failed", "loaded", "unknown"}
    d = doc["diagnoses"][0]
    for key, kind in [("rule", str), ("category", str), ("severity", str), ("confidence", str),
                      ("title", str), ("message", str), ("program", str), ("insn", int),
                      ("source_line", str), ("evidence", list), ("fixes", list),
                      ("references", list)]:
        assert isinstance(d[key], kind), key
    assert set(d["evidence"][0]) == {"line", "text"}
    assert d["severity"] in {"error", "warning", "info"}
    assert d["confidence"] in {"high", "medium", "low"}


def test_text_has_fixed_headings() -> None:
    text = render_text(explain_text(SEED, "seed.log"), load_catalogue())
    for heading in ("Cause:", "Source:", "Registers:", "Evidence:", "What it means",
                    "Why the kernel (or loader) rejects it", "How to fix"):
        assert heading in text
    assert "R1 type=scalar expected=map_ptr" in text


def test_cli_exit_codes_and_stdin(tmp_path: Path) -> None:
    runner = CliRunner()
    failed = runner.invoke(app, ["explain", "-", "--format", "json"], input=SEED)
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["diagnoses"][0]["rule"] == "VF001"
    loaded = runner.invoke(app, ["explain", "-"], input=LOADED)
    assert loaded.exit_code == 0
    unknown = runner.invoke(app, ["explain", "-"], input="nothing to see\n")
    assert unknown.exit_code == 0
    assert "no known signature" in unknown.stdout
    bad = runner.invoke(app, ["explain", "-", "--format", "yaml"], input=SEED)
    assert bad.exit_code != 0


def test_cli_output_file(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    res = CliRunner().invoke(app, ["explain", "-", "-f", "json", "-o", str(out)], input=SEED)
    assert res.exit_code == 1
    assert json.loads(out.read_text())["outcome"] == "failed"


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=400))
def test_arbitrary_text_never_crashes(text: str) -> None:
    controls = sum(1 for c in text if (c < " " and c not in "\t\n\v\f\r\x1b") or c == "\x7f")
    if controls > 64:  # the reader's "binary data" refusal: a clean InputError, nothing else
        with pytest.raises(InputError, match="binary data"):
            explain_text(text)
        return
    result = explain_text(text)
    assert result.outcome in {"failed", "loaded", "unknown"}
    json.loads(render_json(result))
    render_text(result)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([
    "R1 type=scalar expected=map_ptr", "0: (18) r1 = 0x0", "R2 !read_ok", "libbpf: x",
    "processed 1 insns (limit 1000000)", "invalid func unknown#177", "; x = 1; @ a.c:3",
    "(3 line(s) omitted)", "R0=ctx() R1_w=inv(id=0)", "", "frame1: R1=fp0",
]), max_size=30))
def test_shuffled_verifier_lines_never_crash(lines: list[str]) -> None:
    result = explain_text("\n".join(lines))
    if result.diagnoses:
        assert result.outcome == "failed" or result.diagnoses[0].severity.value != "error"


def test_evidence_in_context_and_program_named_after_the_log() -> None:
    log = (Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "real"
           / "005-libbpf-xdp-tutorial-eth-bounds.log")
    if not log.is_file():
        pytest.skip("corpus not present")
    result = explain_file(log)
    d = result.diagnoses[0]
    assert d.program == "xdp_packet_parser"  # libbpf names it only after the log
    assert d.insn == 6
    assert d.register_state is not None and "R2=pkt(id=0,off=12,r=12,imm=0)" in d.register_state
    context = [ev.text for ev in result.contexts[0]]
    assert context[-1] == "R2 offset is outside of the packet"
    assert any("(2d) if r2 > r3 goto pc+7" in t for t in context)
    text = render_text(result, load_catalogue())
    assert ">      12 | invalid access to packet" in text


def test_old_spelling_register_state_of_named_register() -> None:
    log = (
        "from 3 to 5: R0=map_value_or_null(id=1,off=0,ks=4,vs=8,imm=0) R1_w=inv(id=0) R10=fp0\n"
        "5: (79) r1 = *(u64 *)(r0 +0)\n"
        "R0 invalid mem access 'map_value_or_null'\n"
    )
    d = explain_text(log).diagnoses[0]
    assert d.rule == "VF002"
    assert d.register_state is not None and d.register_state.startswith("R0=map_value_or_null")


def test_structured_reason_block_is_read_like_any_line() -> None:
    log = "Verification failed:\n  Reason: R1 invalid mem access 'scalar'\n  Suggestion: check it\n"
    result = explain_text(log)
    assert result.diagnoses[0].rule == "VF005"
    assert result.dialect == "kernel"


# -- QA issue 3: placeholders, terminal controls, non-regular inputs -------------------------

_LEFT_OVER = __import__("re").compile(r"\{\w+\}")


def test_no_template_keeps_a_placeholder_without_captures() -> None:
    """Every message, title and fix of every rule and cause, filled with no captures at all
    (a log that lacks the line a capture comes from), reads as text, not ``{helper_name}``."""
    from bpfdoctor.rules.matcher import fill

    checked = 0
    for rule in load_catalogue().rules:
        templates = [rule.message, rule.title, *rule.fixes]
        for cause in rule.causes:
            templates += [cause.message or "", cause.title or "", *cause.fixes]
        for template in templates:
            out = fill(template, {})
            assert not _LEFT_OVER.search(out), (rule.code, template, out)
            checked += bool(_LEFT_OVER.search(template))
    assert checked > 100  # the sweep did meet templates with placeholders


def test_fill_keeps_given_values_and_neutral_words_for_missing_ones() -> None:
    from bpfdoctor.rules.matcher import fill

    assert fill("R{reg} to {helper_name}", {"reg": "1", "helper_name": "bpf_x"}) == "R1 to bpf_x"
    assert fill("R{reg} to {helper_name}", {}) == "R? to the helper"
    assert fill("empty '{what}'", {"what": ""}) == "empty ''"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_map_ptr_without_call_line_has_no_placeholder(fmt: str) -> None:
    """QA: a log that is only the R1 line showed a literal ``{helper_name}``."""
    result = explain_text("R1 type=scalar expected=map_ptr\n", "x.log", load_catalogue())
    assert result.diagnoses[0].rule == "VF001"
    out = render_json(result) if fmt == "json" else render_text(result, load_catalogue())
    assert "{" + "helper_name}" not in out
    assert "the helper needs a map pointer" in out


def test_text_report_escapes_terminal_controls_from_the_log() -> None:
    log = ("libbpf: prog 'x\x1b]0;pwn\x07y': BPF program load failed: Permission denied\n"
           "0: (85) call bpf_map_lookup_elem#1\n"
           "R1 type=scalar expected=map_ptr \x1b[2J\u202eevil\r\n")
    result = explain_text(log, "ctl\x1b[31m.log", load_catalogue())
    for color in (False, True):
        out = render_text(result, load_catalogue(), color=color)
        assert "\x07" not in out and "\u202e" not in out and "\x1b]0;pwn" not in out
        assert "x\\x1b]0;pwn\\x07y" in out  # the name is shown, escaped
        assert "\\u202eevil" in out
        if not color:
            assert "\x1b" not in out


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="FIFO"):
        explain_file(fifo, load_catalogue())


def test_binary_block_later_in_a_stream_is_refused() -> None:
    """A log whose text turns into binary after the first block (stdin from a device, a
    corrupted capture) ends with InputError instead of being scanned forever."""
    import io

    from bpfdoctor.logs.reader import ReadStats, iter_blocks

    data = b"0: (b7) r0 = 0\n" * 100_000 + bytes(range(256)) * 8192
    with pytest.raises(InputError, match="binary data"):
        for _ in iter_blocks(io.BytesIO(data), ReadStats(), "x"):
            pass


def test_a_few_control_bytes_in_a_log_are_tolerated() -> None:
    log = "libbpf: \x01\x02 odd bytes\n0: (85) call bpf_map_lookup_elem#1\n" \
          "R1 type=scalar expected=map_ptr\n"
    assert explain_text(log, "x", load_catalogue()).diagnoses[0].rule == "VF001"
