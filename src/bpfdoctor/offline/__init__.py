"""Kernel profiles for kernels that are not running here (pure: only the files you name).

- :mod:`~bpfdoctor.offline.synth`: features from a kernel's BTF, its kconfig, and the
  knowledge base's version table (``version_profile`` for ``kernel:X.Y``).
- :mod:`~bpfdoctor.offline.fromkernel`: ``profile from-kernel``: config + vmlinuz/vmlinux/BTF
  + System.map or kallsyms + module BTF -> profile.json and its artifacts.
- :mod:`~bpfdoctor.offline.bzimage`, :mod:`~bpfdoctor.offline.elfimage`,
  :mod:`~bpfdoctor.offline.kallsyms`, :mod:`~bpfdoctor.offline.sysmap`,
  :mod:`~bpfdoctor.offline.modules`: one file format each.

Nothing here reads /proc, /sys or /boot of the machine it runs on.
"""
