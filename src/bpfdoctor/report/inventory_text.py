"""The human inventory of ``bpfdoctor check``: rich tables rendered into a string.

Works from ``CheckResult.object_json`` (the CONTRACT block), so what people read and what CI
parses can never disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from io import StringIO
from typing import Any

from rich.table import Table
from rich.text import Text

from bpfdoctor.model import CheckResult, Finding
from bpfdoctor.report.textsafe import SafeConsole, printable

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _join(items: Iterable[Any], empty: str = "-") -> str:
    out = ", ".join(str(i) for i in items)
    return out or empty


def _lines(items: Iterable[Any]) -> str:
    return "\n".join(str(i) for i in items) or "-"


def _opt(value: Any) -> str:
    return "-" if value is None else str(value)


def _header(obj: dict[str, Any], result: CheckResult) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    isa = obj.get("isa", "?")
    if obj.get("isa_reason"):
        where = obj.get("isa_insn") or {}
        isa += f"  ({obj['isa_reason']}; {where.get('section')} insn {where.get('insn')})"
    btf = obj.get("btf", {})
    if btf.get("present"):
        btf_text = f"{btf.get('types', 0)} types: {_join(btf.get('kinds', []))}"
        btf_text += "; .BTF.ext present" if btf.get("ext") else "; no .BTF.ext"
    else:
        btf_text = "absent (compile with -g for BTF)"
    rows = [
        ("object", obj.get("path", "")),
        ("sha256", obj.get("sha256", "")[:16] + "…"),
        ("license", _opt(obj.get("license"))),
        ("ISA", isa),
        ("endianness", obj.get("endianness", "?")),
        ("BTF", btf_text),
        ("DWARF", "yes" if obj.get("has_dwarf") else "no"),
        ("CO-RE relocations", str(obj.get("core_relocations", 0))),
        ("target", result.target.kind + (f" {result.target.kernel}" if result.target.kernel else "")),
        ("verdict", result.verdict),
    ]
    if obj.get("kversion") is not None:
        rows.insert(5, ("kversion", f"{obj['kversion']:#x}"))
    for key, value in rows:
        grid.add_row(key, value)
    return grid


def _programs(obj: dict[str, Any]) -> Table:
    t = Table(title="Programs", title_justify="left", show_lines=False)
    for col in ("name", "section", "type", "attach", "insns", "helpers", "kfuncs", "maps"):
        t.add_column(col, overflow="fold")
    for p in obj.get("programs", []):
        attach = _join(x for x in (p.get("attach_type"), p.get("attach_target")) if x)
        ptype = p.get("type", "?")
        if p.get("sleepable"):
            ptype += " (sleepable)"
        name = p["name"] + (" [static]" if p.get("static") else "")
        insns = str(p.get("insns"))
        if p.get("total_insns", p.get("insns")) != p.get("insns"):
            insns += f" (+subprogs {p['total_insns']})"
        type_text = Text(printable(ptype), style="red" if ptype == "unknown" else "")
        t.add_row(name, p.get("section", ""), type_text, attach, insns,
                  _lines(p.get("helpers", [])), _lines(p.get("kfuncs", [])), _lines(p.get("maps", [])))
    return t


def _subprograms(obj: dict[str, Any]) -> Table | None:
    subs = obj.get("subprograms", [])
    if not subs:
        return None
    t = Table(title="Subprograms (.text)", title_justify="left")
    for col in ("name", "insns", "linkage"):
        t.add_column(col)
    for s in subs:
        t.add_row(s["name"], str(s["insns"]), "static" if s.get("static") else "global")
    return t


def _maps(obj: dict[str, Any], origins: tuple[str, ...], title: str) -> Table | None:
    maps = [m for m in obj.get("maps", []) if m.get("origin") in origins]
    if not maps:
        return None
    t = Table(title=title, title_justify="left")
    for col in ("name", "type", "key", "value", "max", "flags", "pinning", "notes"):
        t.add_column(col, overflow="fold")
    for m in maps:
        key = _opt(m.get("key_size")) + (f" {m['key_type']}" if m.get("key_type") else "")
        value = _opt(m.get("value_size")) + (f" {m['value_type']}" if m.get("value_type") else "")
        notes: list[str] = []
        if m.get("inner"):
            inner = m["inner"]
            notes.append(f"inner {inner['type']} {inner.get('key_size')}/{inner.get('value_size')}")
        if m.get("members"):
            notes.append(_join(f".{k}={v}" for k, v in m["members"].items()))
        if m.get("values"):
            notes.append("values " + _join(f"[{k}]={v}" for k, v in m["values"].items()))
        if m.get("frozen"):
            notes.append("frozen")
        if m.get("record_size"):
            notes.append(f"legacy {m['record_size']}-byte def")
        if m.get("numa_node") is not None:
            notes.append(f"numa {m['numa_node']}")
        if m.get("map_extra") is not None:
            notes.append(f"map_extra {m['map_extra']}")
        t.add_row(m["name"], m["type"], key, value, _opt(m.get("max_entries")),
                  _join(f.removeprefix("BPF_F_") for f in m.get("flags", [])),
                  _opt(m.get("pinning")), "; ".join(notes) or "-")
    return t


def _externs(obj: dict[str, Any]) -> Table | None:
    ext = obj.get("externs", [])
    if not ext:
        return None
    t = Table(title="Externs", title_justify="left")
    for col in ("name", "kind", "type", "weak"):
        t.add_column(col)
    for e in ext:
        t.add_row(e["name"], e["kind"], _opt(e.get("type")), "yes" if e.get("weak") else "no")
    return t


def _core(obj: dict[str, Any], limit: int = 40) -> Table | None:
    core = obj.get("core", [])
    if not core:
        return None
    counts = Counter(c.get("kind", "?") for c in core)
    title = f"CO-RE relocations ({len(core)}: " + _join(f"{k} {n}" for k, n in counts.items()) + ")"
    t = Table(title=title, title_justify="left")
    for col in ("section", "insn", "kind", "spec"):
        t.add_column(col, overflow="fold")
    for c in core[:limit]:
        t.add_row(c.get("section", ""), str(c.get("insn")), c.get("kind", ""), _opt(c.get("spec")))
    if len(core) > limit:
        t.add_row("…", "", "", f"{len(core) - limit} more (see --format json)")
    return t


def _requirements(obj: dict[str, Any]) -> Table:
    t = Table(title="Requirements", title_justify="left")
    for col in ("kind", "name", "min kernel"):
        t.add_column(col, overflow="fold")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for r in obj.get("requirements", []):
        by_kind.setdefault(r["kind"], []).append(r)
    for kind, reqs in by_kind.items():
        for r in reqs:
            t.add_row(kind, r["name"], _opt(r.get("min_kernel")))
    return t


def _needs(f: Finding, result: CheckResult) -> str:
    """The requirement next to what the target has, and where that fact came from."""
    ev = dict(f.evidence)
    parts = []
    need = ev.get("min_kernel") or ev.get("needs")
    if need:
        parts.append(f"needs {need}" + ("+" if str(need)[:1].isdigit() else ""))
    if result.target.kind != "none":
        parts.append(f"target {result.target.kernel or result.target.name or result.target.kind}")
    if f.source:
        parts.append(f"facts: {f.source}")
    return "\n".join(parts) or "-"


def _findings(result: CheckResult) -> Table | None:
    """Findings grouped by program (object-wide ones first), errors first in each group."""
    if not result.findings:
        return None
    t = Table(title="Findings", title_justify="left")
    for col in ("severity", "rule", "category", "program", "message", "requirement vs target"):
        t.add_column(col, overflow="fold")
    rank = {"error": 0, "warning": 1, "info": 2}
    ordered = sorted(
        enumerate(result.findings),
        key=lambda item: (item[1].program is not None, item[1].program or "",
                          rank.get(item[1].severity.value, 3), item[0]),
    )
    current: object = object()
    for _, f in ordered:
        if f.program != current and current is not object:
            t.add_section()
        current = f.program
        sev = f.severity.value
        text = f.message
        loc = f.location
        if loc is not None and loc.source_file and loc.source_line:
            text += f"\nat {loc.source_file}:{loc.source_line}"
            if loc.source_text:
                text += f": {loc.source_text}"
        if f.fixes:
            text += "\n→ " + f.fixes[0]
        t.add_row(Text(sev, style=_SEVERITY_STYLE.get(sev, "")), f.rule, f.category.value,
                  _opt(f.program), text, _needs(f, result))
    return t


def render(result: CheckResult, width: int = 120, color: bool = False) -> str:
    """The whole inventory and findings of one result as text."""
    buf = StringIO()
    console = SafeConsole(
        file=buf, width=width, force_terminal=color, color_system="standard" if color else None,
        no_color=not color, highlight=False, soft_wrap=False, markup=False,
    )
    obj = result.object_json
    console.print(_header(obj, result))
    checked = result.target.kind != "none"
    if checked:  # against a kernel, the answer comes first; the inventory follows
        findings = _findings(result)
        console.print()
        if findings is None:
            console.print(f"No problems found against {result.target.name or result.target.kind}.")
        else:
            console.print(findings)
    parts: list[Table | None] = [
        _programs(obj),
        _subprograms(obj),
        _maps(obj, ("btf", "legacy", "struct_ops"), "Maps"),
        _maps(obj, ("data", "kconfig"), "Global data"),
        _externs(obj),
        _core(obj),
        _requirements(obj),
        None if checked else _findings(result),
    ]
    for part in parts:
        if part is not None:
            console.print()
            console.print(part)
    return buf.getvalue()


def render_many(results: Iterable[CheckResult], width: int = 120, color: bool = False) -> str:
    return "\n".join(render(r, width, color) for r in results)
