"""The text of an XFA form (LiveCycle), whose pages hold only a "please wait" placeholder."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from ingest.text import clean_text

# What viewers without XFA support show, whitespace collapsed.
XFA_PLACEHOLDER = (
    "If this message is not eventually replaced by the proper contents of the document"
)
_TEXT_TAGS = frozenset({"text", "exData", "speak", "toolTip"})


def xfa_text(reader: Any) -> str:
    """The form's static text (template) and its filled-in values (datasets), or ""."""
    template, datasets = _packets(reader)
    lines: list[str] = []
    if template is not None:
        lines.extend(_template_lines(template))
    if datasets is not None:
        lines.extend(_data_lines(datasets))
    return clean_text("\n".join(dict.fromkeys(line for line in lines if line)))


def _packets(reader: Any) -> tuple[ET.Element | None, ET.Element | None]:
    try:
        packets = reader.xfa or {}
        if not packets:  # XFA as one XDP stream rather than an array of packets
            packets = {"xdp": reader.root_object["/AcroForm"]["/XFA"].get_object().get_data()}
    except Exception:  # a broken form costs the form, not the file
        return None, None
    found: dict[str, ET.Element] = {}
    for data in packets.values():
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            continue
        for element in root.iter():
            name = _local(element.tag)
            if name in ("template", "datasets"):
                found.setdefault(name, element)
    return found.get("template"), found.get("datasets")


def _template_lines(template: ET.Element) -> list[str]:
    out = []
    for element in template.iter():
        if _local(element.tag) in _TEXT_TAGS:
            out.append(" ".join("".join(element.itertext()).split()))
    return out


def _data_lines(datasets: ET.Element) -> list[str]:
    out = []
    for element in datasets.iter():
        value = (element.text or "").strip()
        if value and not list(element):
            out.append(f"{_local(element.tag)}: {' '.join(value.split())}")
    return out


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1]
