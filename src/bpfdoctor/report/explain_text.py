"""Human text for explain: cause in one line, evidence in context, C line, registers, fixes.

Rendered with rich into a string (the CLI decides where it goes); colour only when asked.
Everything taken from the log (source name, program, evidence, registers, C line, and messages
with captures filled in) is passed through ``textsafe.printable`` and, where it enters markup,
``rich.markup.escape``: a pasted log must not be able to send terminal controls or rich tags.
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from bpfdoctor.explain import ExplainResult
from bpfdoctor.logs.verifier import register_of
from bpfdoctor.model import Diagnosis, Evidence
from bpfdoctor.report.textsafe import SafeConsole, printable
from bpfdoctor.rules.schema import Catalogue

NO_SIGNATURE = "no known signature: bpfdoctor does not recognise a failure cause in this log"


def _esc(text: str) -> str:
    """Foreign text made safe to embed in rich markup."""
    return escape(printable(text))


def render(
    result: ExplainResult,
    catalogue: Catalogue | None = None,
    color: bool = False,
    width: int = 100,
    all_diagnoses: bool = True,
) -> str:
    out = io.StringIO()
    console = SafeConsole(file=out, force_terminal=color, no_color=not color, width=width,
                      highlight=False, soft_wrap=not color)
    console.print(
        f"[dim]{_esc(result.source)}: {result.lines} lines, dialect {result.dialect}, "
        f"outcome {result.outcome}[/dim]"
    )
    if not result.diagnoses:
        if result.outcome == "loaded":
            console.print("[green]The log shows a successful load.[/green]")
        else:
            console.print(NO_SIGNATURE)
        _stats(console, result)
        return out.getvalue()
    shown = result.diagnoses if all_diagnoses else result.diagnoses[:1]
    for i, diag in enumerate(shown):
        if i == 1:
            console.print("\n[bold]Also found[/bold] (secondary or contributing):")
        if i == 0:
            context = result.contexts[0] if result.contexts else ()
            _primary(console, diag, catalogue, context)
        else:
            console.print(
                f"  - [{diag.rule}] {_esc(diag.title)} ({diag.category.value}, "
                f"line {diag.evidence[0].line if diag.evidence else '?'})"
            )
    _stats(console, result)
    return out.getvalue()


def _primary(
    console: Console,
    diag: Diagnosis,
    catalogue: Catalogue | None,
    context: tuple[Evidence, ...] = (),
) -> None:
    console.print(
        f"[bold red]{diag.severity.value}[/bold red] [bold][{diag.rule}] "
        f"{_esc(diag.title)}[/bold]  [dim]({diag.category.value}, confidence "
        f"{diag.confidence.value})[/dim]"
    )
    console.print(f"\n[bold]Cause:[/bold] {_esc(diag.message)}")
    where = []
    if diag.program:
        where.append(f"program {diag.program}")
    if diag.insn is not None:
        where.append(f"instruction {diag.insn}")
    if where:
        console.print(f"[bold]Where:[/bold] {_esc(', '.join(where))}")
    if diag.source_line:
        console.print(f"[bold]Source:[/bold] [cyan]{_esc(diag.source_line)}[/cyan]")
    if diag.register_state:
        reg = dict(diag.captures).get("reg")
        focus = register_of(diag.register_state, reg) if reg else None
        line = Text("Registers: ", style="bold")
        line.append(printable(diag.register_state))
        if focus:
            line.highlight_words([printable(focus)], style="bold yellow")
        console.print(line)
    if diag.evidence:
        console.print("\n[bold]Evidence:[/bold]")
        marked = {ev.line for ev in diag.evidence}
        shown = {ev.line for ev in context}
        earlier = [ev for ev in diag.evidence if ev.line not in shown]
        for ev in earlier:
            console.print(Text(f"> {ev.line:>7} | ", style="bold") + Text(printable(ev.text), style="yellow"))
        if earlier and context:
            console.print(Text("  " + " " * 7 + " | ...", style="dim"))
        for ev in context:
            if ev.line in marked:
                console.print(Text(f"> {ev.line:>7} | ", style="bold")
                              + Text(printable(ev.text), style="bold yellow"))
            else:
                console.print(Text(f"  {ev.line:>7} | {printable(ev.text)}", style="dim"))
    rule = catalogue.get(diag.rule) if catalogue is not None else None
    if rule is not None:
        console.print("\n[bold]What it means[/bold]")
        console.print(_esc(rule.explanation.what.strip()))
        console.print("\n[bold]Why the kernel (or loader) rejects it[/bold]")
        console.print(_esc(rule.explanation.why.strip()))
    console.print("\n[bold]How to fix[/bold]")
    for fix in diag.fixes:
        console.print(f"  * {_esc(fix)}")
    if diag.references:
        console.print("\n[bold]References[/bold]")
        for ref in diag.references:
            console.print(f"  {_esc(ref)}")


def _stats(console: Console, result: ExplainResult) -> None:
    s = result.stats
    if s.insns_processed is None:
        return
    parts = [f"processed {s.insns_processed} insns"]
    if s.insn_limit:
        parts[0] += f" (limit {s.insn_limit})"
    if s.total_states is not None:
        parts.append(f"{s.total_states} states (peak {s.peak_states})")
    if s.stack_depth:
        parts.append(f"stack depth {s.stack_depth}")
    if s.verification_time_usec is not None:
        parts.append(f"verification {s.verification_time_usec} usec")
    console.print(f"\n[dim]Verifier: {_esc(', '.join(parts))}[/dim]")
