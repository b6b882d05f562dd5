"""One small error tree. The CLI turns any BpfDoctorError into one line on stderr and exit 2."""

from __future__ import annotations


class BpfDoctorError(Exception):
    """Base of every error bpfdoctor raises on purpose (bad input, unusable host, bad rule)."""


class ObjectError(BpfDoctorError):
    """A BPF object file could not be read."""


class ElfError(ObjectError):
    """The file is not a usable BPF ELF object (truncated, wrong machine, bad section)."""


class BtfError(ObjectError):
    """BTF or BTF.ext data is malformed; the message names the section, offset or type id."""


class ProbeError(BpfDoctorError):
    """The kernel could not be inspected, or a saved profile is malformed."""


class RuleError(BpfDoctorError):
    """A rule file is malformed."""


class InputError(BpfDoctorError):
    """A log or configuration file given by the user cannot be used."""
