#!/usr/bin/env python3
"""Build src/bpfdoctor/knowledge/knowledge.json from the committed excerpts in knowledge_sources/.

Pure and reproducible: it reads only tools/knowledge_sources/* and the UAPI enums
(src/bpfdoctor/knowledge/uapi_enums.json), never the network or the running kernel; the kernel
facts it uses were recorded by tools/gen_knowledge_probe.py into a committed JSON excerpt.

Method (details and every disagreement in docs/knowledge.md):

- helper versions: bcc docs/kernel-versions.md, corrected where it contradicts the order of
  helper ids (ids in ``enum bpf_func_id`` are append-only, so versions must not decrease with
  the id) or ebpf-docs, each correction settled by the upstream commit date. The id-order check
  runs on every build (for every append-only UAPI enum) and fails the build if a contradiction
  is left.
- second sources: cilium/ebpf feature-test tags and ebpf-docs' feature-versions.yaml; agreement
  raises confidence, disagreement is recorded in the entry.
- GPL-only: the kernel's own answer (``cannot call GPL-restricted function`` when loading with
  a non-GPL license on this 6.18 kernel); bcc's License column where the probe could not reach
  the helper, and a recorded disagreement where the two differ.
- helpers per program type: the probe (``get_func_proto()`` of every program type on 6.18),
  plus source-cited additions for what lockdown, kconfig or attach restrictions hid here.
- everything else: bcc tables where they exist, then hand-written rows with a confidence level.

Usage: tools/gen_knowledge.py [--sources DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "tools" / "knowledge_sources"
OUT = ROOT / "src" / "bpfdoctor" / "knowledge" / "knowledge.json"
UAPI = ROOT / "src" / "bpfdoctor" / "knowledge" / "uapi_enums.json"
PROBE_FILE = "helper_probe_6.18.44.json"
BCC = "bcc docs/kernel-versions.md"
BCC_TYPOS = {"skc_to_mctcp_sock": "skc_to_mptcp_sock"}
KINDS = (
    "helper", "prog_type", "map_type", "map_flag", "attach_type", "link_type",
    "btf_kind", "isa", "feature",
)  # fmt: skip


def _rows(path: Path) -> list[list[str]]:
    out = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            out.append(line.split("\t"))
    return out


def _uapi_names(uapi: dict[str, Any]) -> dict[str, list[str]]:
    """Names per kind exactly as bpfdoctor.knowledge.uapi spells them (duplicates kept once)."""

    def short(enum: str, prefix: str) -> list[str]:
        return sorted({k[len(prefix) :].lower() for k in uapi[enum]})

    return {
        "helper": sorted(
            "bpf_" + k[len("BPF_FUNC_") :] for k, v in uapi["bpf_func_id"].items() if v
        ),
        "prog_type": short("bpf_prog_type", "BPF_PROG_TYPE_"),
        "map_type": short("bpf_map_type", "BPF_MAP_TYPE_"),
        "attach_type": short("bpf_attach_type", "BPF_"),
        "link_type": short("bpf_link_type", "BPF_LINK_TYPE_"),
        "map_flag": sorted(uapi["map_flags"]),
    }


# include/uapi/linux/btf.h BTF_KIND_* values (append-only like every UAPI enum).
BTF_KINDS = (
    "UNKN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF", "VOLATILE",
    "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT", "DECL_TAG",
    "TYPE_TAG", "ENUM64",
)  # fmt: skip


def _enum_values(uapi: dict[str, Any]) -> dict[str, dict[str, int]]:
    """kind -> name -> UAPI value, for every kind whose values only ever grow."""

    def short(enum: str, prefix: str) -> dict[str, int]:
        return {k[len(prefix) :].lower(): v for k, v in uapi[enum].items() if "DEPRECATED" not in k}

    return {
        "prog_type": short("bpf_prog_type", "BPF_PROG_TYPE_"),
        "map_type": short("bpf_map_type", "BPF_MAP_TYPE_"),
        "attach_type": short("bpf_attach_type", "BPF_"),
        "link_type": short("bpf_link_type", "BPF_LINK_TYPE_"),
        "map_flag": dict(uapi["map_flags"]),
        "btf_kind": {k: i for i, k in enumerate(BTF_KINDS) if i},
    }


def _check_enum_order(entries: dict[str, Any], uapi: dict[str, Any]) -> list[str]:
    """UAPI enum values are append-only: a later value never predates an earlier one."""
    bad = []
    for kind, values in _enum_values(uapi).items():
        versions = {n: entries[kind][n]["min_kernel"] for n in values}
        bad += [f"{kind} {b}" for b in _check_id_order(versions, values)]
    return bad


def _helper_ids(uapi: dict[str, Any]) -> dict[str, int]:
    return {"bpf_" + k[len("BPF_FUNC_") :]: v for k, v in uapi["bpf_func_id"].items() if v}


def _commit_url(commit: str) -> str:
    return f"https://github.com/torvalds/linux/commit/{commit}" if commit else ""


def _bcc_tables(
    src: Path,
) -> tuple[dict[str, dict[str, dict[str, str]]], dict[str, tuple[str, str]]]:
    """bcc rows as kind -> name -> {version, license, commit}; plus feature rows by title."""
    tables: dict[str, dict[str, dict[str, str]]] = {"helper": {}, "prog_type": {}, "map_type": {}}
    features: dict[str, tuple[str, str]] = {}
    for kind, name, version, license_, commit in _rows(src / "bcc_kernel_versions.tsv"):
        row = {"version": version, "license": license_, "commit": commit}
        if kind == "helper":
            tables["helper"]["bpf_" + BCC_TYPOS.get(name, name)] = row
        elif kind == "prog_type":
            tables["prog_type"][name[len("BPF_PROG_TYPE_") :].lower()] = row
        elif kind == "map_type":
            tables["map_type"][name[len("BPF_MAP_TYPE_") :].lower()] = row
        else:
            features[name] = (version, commit)
    return tables, features


def _check_id_order(versions: dict[str, str], ids: dict[str, int]) -> list[str]:
    """Helpers whose version is lower than that of a helper with a smaller id."""
    bad = []
    highest = Version("0")
    holder = ""
    for name in sorted(versions, key=lambda n: ids[n]):
        v = Version(versions[name])
        if v < highest:
            bad.append(f"{name} (id {ids[name]}) {v} < {holder} {highest}")
        if v > highest:
            highest, holder = v, name
    return bad


def _helpers(src: Path, uapi: dict[str, Any], probe: dict[str, Any]) -> dict[str, dict[str, Any]]:
    tables, _ = _bcc_tables(src)
    bcc = tables["helper"]
    ids = _helper_ids(uapi)
    corrections = {
        "bpf_" + r[0]: {"version": r[1], "bcc": r[2], "evidence": r[3]}
        for r in _rows(src / "helper_version_corrections.tsv")
    }
    lockdown = {r[0]: (r[1], r[2], r[3]) for r in _rows(src / "lockdown.tsv")}
    caps = {r[0]: r[1] for r in _rows(src / "helpers_c_base_func_proto.tsv") if r[1] != "none"}
    perfmon: set[str] = set()
    for variant, names in probe.get("perfmon_gated", {}).items():
        if variant != "error":
            perfmon |= set(names)
    kernel_gpl = {r[0]: (r[1] == "true", r[2]) for r in _rows(src / "gpl_only_source.tsv")}
    mixed: dict[str, list[str]] = probe.get("gpl_only_in", {})
    probe_gpl = set(probe["gpl_only"]) | set(mixed)
    probe_not_gpl = set(probe["not_gpl_only"])
    out: dict[str, dict[str, Any]] = {}
    missing = [h for h in ids if h not in bcc]
    if missing:
        raise SystemExit(f"helpers missing from {BCC}: {missing}")
    for name in sorted(ids, key=lambda n: ids[n]):
        row = bcc[name]
        entry: dict[str, Any] = {
            "min_kernel": row["version"],
            "source": f"{BCC} ({row['commit']})",
            "commit": _commit_url(row["commit"]),
            "id": ids[name],
            "confidence": "high",
        }
        notes: list[str] = []
        disagreements: list[str] = []
        if name in corrections:
            c = corrections[name]
            if c["version"] != row["version"]:
                disagreements.append(f"bcc says {c['bcc']}; {c['evidence']}")
            entry["min_kernel"] = c["version"]
            entry["source"] += f"; corrected: {c['evidence']}"
        bcc_gpl = row["license"] == "GPL"
        if name in probe_gpl or name in probe_not_gpl:
            gpl = name in probe_gpl
            entry["gpl_source"] = (
                f"probe: BPF_PROG_LOAD with a non-GPL license on {probe['kernel_release']}"
            )
            if gpl != bcc_gpl:
                disagreements.append(
                    f"bcc License column says {'GPL' if bcc_gpl else 'not GPL-only'}; "
                    f"the {probe['kernel_release']} kernel says {'GPL-only' if gpl else 'not GPL-only'}"
                    " (gpl_only can change between releases; the kernel value is used)"
                )
        elif name in kernel_gpl:
            gpl, where = kernel_gpl[name]
            entry["gpl_source"] = f"{where} (kernel source; not reachable by the probe here)"
            if gpl != bcc_gpl:
                disagreements.append(f"bcc License column says {'GPL' if bcc_gpl else 'not GPL'}")
        else:
            gpl = bcc_gpl
            entry["gpl_source"] = f"{BCC} License column (not reachable by the probe here)"
        entry["gpl_only"] = gpl
        if name in mixed:
            notes.append(
                "GPL-only in some program types only (its proto differs per program type); "
                f"GPL-only in: {', '.join(sorted({k.split('/')[0] for k in mixed[name]}))}"
            )
        if name in lockdown:
            reason, mode, where = lockdown[name]
            entry["lockdown"] = mode
            notes.append(f"withheld under lockdown={mode} ({reason}; {where})")
        if name in perfmon:
            entry["capability"] = "CAP_PERFMON"
            notes.append(
                "networking/base program types offer it only with CAP_PERFMON or CAP_SYS_ADMIN "
                f"(probe without them on {probe['kernel_release']})"
            )
            if caps.get(name, "CAP_PERFMON") != "CAP_PERFMON":
                disagreements.append(
                    f"kernel/bpf/helpers.c (6.1x) gates it with {caps[name]}; "
                    f"{probe['kernel_release']} needs CAP_PERFMON"
                )
        elif name in caps:
            entry["capability"] = caps[name]
            notes.append(f"in bpf_base_func_proto only with {caps[name]} (kernel/bpf/helpers.c)")
        if notes:
            entry["notes"] = "; ".join(notes)
        if disagreements:
            entry["disagreement"] = "; ".join(disagreements)
        out[name] = entry
    bad = _check_id_order({n: e["min_kernel"] for n, e in out.items()}, ids)
    if bad:
        raise SystemExit("helper versions contradict the helper id order:\n  " + "\n  ".join(bad))
    return out


def _versioned(src: Path, names: dict[str, list[str]]) -> dict[str, dict[str, dict[str, Any]]]:
    """prog/map types from bcc, then hand rows for everything else; disagreements recorded."""
    tables, _ = _bcc_tables(src)
    helper_rows = tables["helper"]
    result: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS if k != "helper"}
    for kind in ("prog_type", "map_type"):
        for name, row in tables[kind].items():
            result[kind][name] = {
                "min_kernel": row["version"],
                "source": f"{BCC} ({row['commit']})",
                "commit": _commit_url(row["commit"]),
                "confidence": "high",
            }
    for kind, name, version, confidence, source, notes in _rows(src / "manual_versions.tsv"):
        entry: dict[str, Any] = {"min_kernel": version, "source": source, "confidence": confidence}
        if notes:
            entry["notes"] = notes
        if name in result[kind] and result[kind][name]["min_kernel"] != version:
            entry["disagreement"] = (
                f"{result[kind][name]['source']} says {result[kind][name]['min_kernel']}"
            )
        result[kind].setdefault(name, entry)
    # bcc's program type table and its own helper table cite the same commit for
    # BPF_PROG_TYPE_SYSCALL and bpf_sys_bpf with different versions; one commit is in one release.
    sys_bpf = helper_rows["bpf_sys_bpf"]
    syscall = result["prog_type"]["syscall"]
    if sys_bpf["commit"] in syscall["source"] and sys_bpf["version"] != syscall["min_kernel"]:
        syscall["disagreement"] = (
            f"bcc's program type table says {syscall['min_kernel']}, but its helper table dates the "
            f"same commit ({sys_bpf['commit']}, bpf_sys_bpf) {sys_bpf['version']}; the helper row is used"
        )
        syscall["min_kernel"] = sys_bpf["version"]
    # Aliases share their base type's version.
    for alias, base in (
        ("cgroup_storage_deprecated", "cgroup_storage"),
        ("percpu_cgroup_storage_deprecated", "percpu_cgroup_storage"),
    ):
        if base in result["map_type"]:
            result["map_type"][alias]["min_kernel"] = result["map_type"][base]["min_kernel"]
    for kind in ("prog_type", "map_type", "attach_type", "link_type", "map_flag"):
        missing = sorted(set(names[kind]) - set(result[kind]))
        if missing:
            raise SystemExit(f"no version for {kind}: {missing}")
    return result


def _prog_helpers(
    src: Path, probe: dict[str, Any], uapi_names: dict[str, list[str]]
) -> dict[str, Any]:
    """prog type -> helpers, per probed variant and in total, with what could not be probed."""
    out: dict[str, Any] = {}
    for v in probe["variants"]:
        prog_type = v["variant"].split("/")[0]
        slot = out.setdefault(
            prog_type,
            {"helpers": set(), "variants": {}, "skipped": {}, "restricted": {}, "added": {}},
        )
        if "skipped" in v:
            slot["skipped"][v["variant"]] = v["skipped"]
            continue
        slot["helpers"] |= set(v["allowed"])
        slot["variants"][v["variant"]] = sorted(v["allowed"])
        for helper, why in v.get("restricted", {}).items():
            slot["restricted"].setdefault(helper, why)
    probed = {v["variant"]: v.get("allowed", []) for v in probe["variants"]}
    for prog_type, helper, reason, source in _rows(src / "func_proto_additions.tsv"):
        slot = out.setdefault(
            prog_type,
            {"helpers": set(), "variants": {}, "skipped": {}, "restricted": {}, "added": {}},
        )
        if helper.startswith("@"):  # every helper of a probed variant (a func_proto fallback)
            for h in probed[helper[1:]]:
                if h not in slot["helpers"]:
                    slot["helpers"].add(h)
                    slot["added"][h] = f"{reason}: {source}"
            continue
        if helper not in uapi_names["helper"]:
            raise SystemExit(f"func_proto_additions: unknown helper {helper}")
        slot["helpers"].add(helper)
        slot["added"][helper] = f"{reason}: {source}"
    result: dict[str, Any] = {}
    for prog_type in uapi_names["prog_type"]:
        slot = out.get(prog_type)
        if prog_type == "unspec":
            continue
        if slot is None or not slot["helpers"]:
            result[prog_type] = {
                "helpers": None,
                "complete": False,
                "notes": "not probed and no source table: depends on the target program "
                "(ext programs use the func_proto of the program they replace)"
                if prog_type == "ext"
                else "not probed and no source table",
            }
            continue
        complete = not slot["skipped"] and not any(
            r.startswith("table") for r in slot["added"].values()
        )
        entry: dict[str, Any] = {
            "helpers": sorted(slot["helpers"]),
            "complete": complete,
            "probed_on": probe["kernel_release"] if slot["variants"] else None,
            "variants": slot["variants"],
        }
        if slot["skipped"]:
            entry["not_probed"] = slot["skipped"]
        if slot["added"]:
            entry["added_from_source"] = slot["added"]
        if slot["restricted"]:
            entry["restricted"] = slot["restricted"]
        if prog_type == "struct_ops":
            entry["notes"] = "varies with the struct_ops type; probed with tcp_congestion_ops"
        result[prog_type] = entry
    return result


def _cross_check(
    entries: dict[str, Any],
    rows: list[tuple[str, str, str, str]],
    notes: dict[tuple[str, str], str],
) -> None:
    """Another source's versions: agreement raises confidence, else a recorded disagreement.

    A hand-written (medium) row yields to the cited source; a row from a cited table keeps its
    value and records the other one (with the reason from disagreement_notes.tsv if any).
    """
    for kind, name, version, cite in rows:
        entry = entries[kind].get(name)
        if entry is None:
            raise SystemExit(f"{cite}: no {kind} {name} in the knowledge base")
        if entry["min_kernel"] == version:
            entry["source"] += f"; {cite}"
            entry["confidence"] = "high"
        elif entry.get("confidence") == "medium":
            entry["disagreement"] = f"hand-written row said {entry['min_kernel']}; {cite} is used"
            entry["min_kernel"] = version
            entry["source"] = cite
            entry["confidence"] = "high"
        else:
            note = f"{cite} says {version}"
            if (kind, name) in notes:
                note += f": {notes[kind, name]}"
            entry["disagreement"] = "; ".join(filter(None, [entry.get("disagreement"), note]))


def _second_sources(src: Path, entries: dict[str, Any]) -> None:
    notes = {(r[0], r[1]): r[2] for r in _rows(src / "disagreement_notes.tsv")}
    cilium = [
        (k, n, v, f"cilium/ebpf {where} ({v})")
        for k, n, v, where in _rows(src / "cilium_ebpf_versions.tsv")
    ]
    docs = [
        (k, n, v, f"ebpf-docs data/feature-versions.yaml ({v})")
        for k, n, v in _rows(src / "ebpf_docs_versions.tsv")
    ]
    _cross_check(entries, cilium + docs, notes)


def build(src: Path = SOURCES, uapi_path: Path = UAPI) -> dict[str, Any]:
    uapi = json.loads(uapi_path.read_text())
    probe = json.loads((src / PROBE_FILE).read_text())
    names = _uapi_names(uapi)
    entries: dict[str, Any] = {"helper": _helpers(src, uapi, probe)}
    entries.update(_versioned(src, names))
    _second_sources(src, entries)
    bad = _check_enum_order(entries, uapi)
    if bad:
        raise SystemExit("versions contradict the UAPI enum order:\n  " + "\n  ".join(bad))
    lockdown = {
        mode: sorted(r[0] for r in _rows(src / "lockdown.tsv") if r[2] == mode)
        for mode in ("integrity", "confidentiality")
    }
    return {
        "schema": "bpfdoctor.knowledge/1",
        "_source": "generated by tools/gen_knowledge.py from tools/knowledge_sources/; see docs/knowledge.md",
        "probe_kernel": probe["kernel_release"],
        "entries": {k: dict(sorted(entries[k].items())) for k in KINDS},
        "prog_type_helpers": _prog_helpers(src, probe, names),
        "lockdown_helpers": lockdown,
    }


DOCS = ROOT / "docs" / "knowledge.md"
TABLE_BEGIN = "<!-- feature-table:begin (tools/gen_knowledge.py --write-docs) -->"
TABLE_END = "<!-- feature-table:end -->"


def feature_table(data: dict[str, Any]) -> str:
    """The Markdown table of features that docs/knowledge.md carries between the markers."""
    rows = sorted(
        data["entries"]["feature"].items(), key=lambda kv: (Version(kv[1]["min_kernel"]), kv[0])
    )
    lines = ["| name | upstream | confidence |", "|---|---|---|"]
    lines += [f"| `{n}` | {e['min_kernel']} | {e['confidence']} |" for n, e in rows]
    return "\n".join(lines) + "\n"


def write_docs(data: dict[str, Any], path: Path = DOCS) -> None:
    text = path.read_text()
    head, rest = text.split(TABLE_BEGIN, 1)
    _, tail = rest.split(TABLE_END, 1)
    path.write_text(f"{head}{TABLE_BEGIN}\n{feature_table(data)}{TABLE_END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, default=SOURCES)
    parser.add_argument("--uapi", type=Path, default=UAPI)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--write-docs", action="store_true", help="refresh docs/knowledge.md")
    args = parser.parse_args(argv)
    data = build(args.sources, args.uapi)
    args.out.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    if args.write_docs:
        write_docs(data)
        print(f"wrote {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
