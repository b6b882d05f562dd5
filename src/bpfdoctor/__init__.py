"""bpfdoctor: why an eBPF object will not load, and what to change."""

__version__ = "0.1.0"
