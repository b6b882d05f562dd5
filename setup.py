"""Build hook: ship the top-level rules/ catalogue inside the package as bpfdoctor/rules_data.

The rules live at the repository root (one TOML file per rule, next to their test cases) so that
contributors find them; a plain ``pip install .`` must still carry them, so build_py copies them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithRules(build_py):
    def run(self) -> None:
        super().run()
        src = Path(__file__).resolve().parent / "rules"
        dest = Path(self.build_lib) / "bpfdoctor" / "rules_data"
        if src.is_dir():
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildWithRules})
