"""Static knowledge about the BPF UAPI and kernel history (data files with provenance)."""
