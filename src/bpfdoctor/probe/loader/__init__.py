"""A loader of our own on bpf(2) for ``check --load`` (no libbpf): BTF, maps, relocations,
one BPF_PROG_LOAD per program, every fd closed on the way out. See :mod:`.load`."""
