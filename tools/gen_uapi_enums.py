#!/usr/bin/env python3
"""Generate src/bpfdoctor/knowledge/uapi_enums.json from a kernel's BTF.

The UAPI enums (bpf_func_id, bpf_prog_type, bpf_map_type, bpf_attach_type, bpf_link_type,
bpf_cmd, and the anonymous enum holding the map flags) are read from BTF dumped as JSON by
``bpftool -j btf dump file /sys/kernel/btf/vmlinux``. This is the same list as
include/uapi/linux/bpf.h of that kernel (``__BPF_FUNC_MAPPER`` expands to enum bpf_func_id).

Usage: tools/gen_uapi_enums.py [BTF_FILE]   (default /sys/kernel/btf/vmlinux)
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src/bpfdoctor/knowledge/uapi_enums.json"
NAMED = {
    "bpf_func_id": "BPF_FUNC_",
    "bpf_prog_type": "BPF_PROG_TYPE_",
    "bpf_map_type": "BPF_MAP_TYPE_",
    "bpf_attach_type": "",
    "bpf_link_type": "BPF_LINK_TYPE_",
    "bpf_cmd": "",
}


def main() -> int:
    btf = sys.argv[1] if len(sys.argv) > 1 else "/sys/kernel/btf/vmlinux"
    dump = json.loads(
        subprocess.run(
            ["bpftool", "-j", "btf", "dump", "file", btf], check=True, capture_output=True
        ).stdout
    )
    out: dict[str, object] = {
        "_source": f"enums of {btf} (kernel {platform.release()}), via tools/gen_uapi_enums.py",
    }
    for t in dump["types"]:
        if t["kind"] not in ("ENUM", "ENUM64"):
            continue
        names = [v["name"] for v in t["values"]]
        if t["name"] in NAMED:
            out[t["name"]] = {v["name"]: v["val"] for v in t["values"] if not v["name"].startswith("__")}
        elif "BPF_F_NO_PREALLOC" in names:
            out["map_flags"] = {v["name"]: v["val"] for v in t["values"]}
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
