"""
Hardware
--------

Host facts from the machine's identification string, which the kernel prints
once per boot (``DMI: ...``) and again in every oops or warning (``Hardware
name: ...``). ``dmi_format_ids()`` builds it from SMBIOS as ``sys_vendor
product_name/board_name, BIOS bios_version bios_date`` (the board only where
the firmware names one) into 128 bytes. Vendor and product are joined by a
space and may hold spaces themselves, so they stay one fact. The firmware's
version is in the string, so a BIOS update between boots shows in the boots'
facts.
"""

from __future__ import annotations

import re

from kexec_lineage.model.wire import facts_problem

__all__ = ("facts_from_hardware_line",)

# ", BIOS " before the version, its space gone if the log lost trailing blanks.
_BIOS_RE = re.compile(r", BIOS(?: |\Z)")
# SMBIOS gives the release date as mm/dd/yy or mm/dd/yyyy.
_DATE_RE = re.compile(r"\d\d/\d\d/(?:\d\d){1,2}")
# The kernel's buffer holds 127 characters: a string that long may have lost its end.
_CUT_AT = 127


def facts_from_hardware_line(text: str) -> dict[str, str]:
    """``dmi.system``, ``dmi.board_name``, ``dmi.bios_version`` and ``dmi.bios_date``
    from the text after ``DMI:`` or ``Hardware name:``, each only where the string
    has it; nothing from what is not a DMI string (a devicetree ``... (DT)`` model)."""
    bios_at = _BIOS_RE.search(text)
    if bios_at is None and len(text) < _CUT_AT:
        return {}
    head = text if bios_at is None else text[: bios_at.start()]
    system, board_sep, board = head.partition("/")
    fields = [("dmi.system", system)]
    if board_sep:
        fields.append(("dmi.board_name", board))
    if bios_at is not None:
        bios = text[bios_at.end() :]
        version, _, date = bios.rpartition(" ")
        if _DATE_RE.fullmatch(date):
            fields += [("dmi.bios_version", version), ("dmi.bios_date", date)]
        else:
            fields.append(("dmi.bios_version", bios))
    if len(text) >= _CUT_AT:
        fields.pop()  # perhaps cut short
    facts = {key: value.strip() for key, value in fields}
    # Empty where the firmware left a field blank; odd text in a garbled log.
    return {k: v for k, v in facts.items() if v and facts_problem({k: v}) is None}
