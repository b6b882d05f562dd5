"""``bpfdoctor rules list`` and ``bpfdoctor rules show CODE``: the catalogue, from its files."""

from __future__ import annotations

import typer

from bpfdoctor.commands.common import dump_json, write_output
from bpfdoctor.errors import InputError


def register(app: typer.Typer) -> None:
    rules_app = typer.Typer(help="List and show the diagnosis rules.", no_args_is_help=True)

    @rules_app.command("list")
    def list_rules(
        format: str = typer.Option("text", "--format", "-f", help="text or json."),
        category: str | None = typer.Option(None, "--category", help="Only this category."),
    ) -> None:
        """One line per rule: code, category, severity, title."""
        from bpfdoctor.rules.loader import load_catalogue

        rules = [r for r in load_catalogue().rules
                 if category is None or r.category.value == category]
        if format == "json":
            write_output(dump_json([
                {"code": r.code, "name": r.name, "category": r.category.value,
                 "severity": r.severity.value, "title": r.title} for r in rules
            ]), None)
            return
        if format != "text":
            raise InputError(f"--format: unknown format {format!r} (use text or json)")
        for r in rules:
            typer.echo(f"{r.code}  {r.category.value:<22} {r.severity.value:<7} {r.title}")

    @rules_app.command("show")
    def show(code: str = typer.Argument(..., help="Rule code, e.g. VF001.")) -> None:
        """The rule's documentation page (the same text as docs/rules/CODE.md)."""
        from bpfdoctor.rules.docs import rule_markdown
        from bpfdoctor.rules.loader import load_catalogue

        rule = load_catalogue().get(code)
        if rule is not None:
            typer.echo(rule_markdown(rule).rstrip("\n"))
            return
        from bpfdoctor.checks.registry import ALL_CHECKS

        check = ALL_CHECKS.get(code.upper())
        if check is None:
            raise InputError(f"no rule or check {code!r}; see `bpfdoctor rules list` and "
                             "docs/checks.md")
        typer.echo(f"# {check.code}: {check.title}\n\ncode check `{check.name}`, category "
                   f"`{check.category.value}`, default severity {check.severity.value}\n\n"
                   f"{check.explanation}\n\nReferences: {', '.join(check.references)}")

    app.add_typer(rules_app, name="rules")
