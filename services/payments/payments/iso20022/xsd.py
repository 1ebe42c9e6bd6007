"""Reading bank files safely and checking them against the ISO 20022 schemas.

Every file that comes from a bank goes through `parse_document`: a hardened
parser (no DTD, no entities, no network) that turns anything unreadable into
`InvalidFile(reason)`. `validate` checks a whole message against its XSD when
`schemas_iso/` holds it, and its root and namespace otherwise.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from lxml import etree

SCHEMA_DIR = Path(__file__).parent.parent / "schemas_iso"
NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"

# The message's root element under <Document>: what a structural check needs
# when the XSD is not shipped.
ROOTS = {
    "pain.008.001.02": "CstmrDrctDbtInitn",
    "pain.001.001.03": "CstmrCdtTrfInitn",
    "pain.002.001.03": "CstmrPmtStsRpt",
    "camt.054.001.02": "BkToCstmrDbtCdtNtfctn",
    "camt.054.001.04": "BkToCstmrDbtCdtNtfctn",
    "camt.054.001.08": "BkToCstmrDbtCdtNtfctn",
}


class InvalidFile(Exception):
    """A bank file that cannot be read or is not the message expected."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def namespace(message: str) -> str:
    return NAMESPACE_PREFIX + message


def message_of(root: etree._Element) -> str | None:
    """``"camt.054.001.04"`` for a <Document> in that namespace, else None."""
    qname = etree.QName(root)
    if qname.localname != "Document" or not (qname.namespace or "").startswith(NAMESPACE_PREFIX):
        return None
    return qname.namespace[len(NAMESPACE_PREFIX):]


def _parser(**extra) -> etree.XMLParser:
    # Hostile files: no entity expansion (billion laughs), no DTD or network
    # fetch (XXE), no huge_tree (libxml2 keeps its depth and size limits).
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True,
                           remove_pis=True, **extra)


def refuse_doctype(tree: etree._ElementTree) -> None:
    # A bank file never needs a DOCTYPE; refusing it closes every entity trick.
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise InvalidFile("DOCTYPE declarations are not accepted in bank files")


def parse_document(source) -> etree._ElementTree:
    """Parse bytes, a path or a binary file object; `InvalidFile` if it is not XML."""
    try:
        if isinstance(source, (bytes, bytearray)):
            if not source.strip():
                raise InvalidFile("empty file")
            tree = etree.ElementTree(etree.fromstring(bytes(source), _parser()))
        else:
            if isinstance(source, (str, os.PathLike)) and os.path.getsize(source) == 0:
                raise InvalidFile("empty file")
            tree = etree.parse(source, _parser())
    except etree.XMLSyntaxError as error:
        raise InvalidFile(f"not well-formed XML: {error}") from None
    refuse_doctype(tree)
    return tree


def accepted_message(root: etree._Element, accepted: tuple[str, ...]) -> str:
    """The message name of the <Document> `root`; InvalidFile unless one of `accepted`."""
    message = message_of(root)
    if message not in accepted:
        raise InvalidFile(f"expected a {' or '.join(accepted)} <Document>, "
                          f"found <{etree.QName(root).localname}> in namespace "
                          f"{etree.QName(root).namespace or '(none)'}")
    return message


def parse_message(source, accepted: tuple[str, ...]) -> tuple[etree._Element, str]:
    """The <Document> root and its message name, which must be one of `accepted`."""
    tree = parse_document(source)
    root = tree.getroot()
    message = accepted_message(root, accepted)
    body = root.find(f"{{{namespace(message)}}}{ROOTS[message]}")
    if body is None:
        raise InvalidFile(f"{message} without its <{ROOTS[message]}> element")
    return root, message


def schema_path(message: str) -> Path:
    return SCHEMA_DIR / f"{message}.xsd"


def has_schema(message: str) -> bool:
    return schema_path(message).is_file()


@functools.cache
def schema(message: str) -> etree.XMLSchema:
    """The compiled XSD of `message`, loaded once per process."""
    if message not in ROOTS:
        raise ValueError(f"unknown ISO 20022 message {message!r}")
    path = schema_path(message)
    if not path.is_file():
        raise LookupError(f"no XSD shipped for {message} in {SCHEMA_DIR}")
    return etree.XMLSchema(etree.parse(str(path), _parser()))


def validate(tree_or_bytes, message: str) -> None:
    """Raise `InvalidFile(reason)` unless the document is a valid `message`.

    Takes an element, an element tree, bytes or a path. Against the XSD when
    shipped (see schemas_iso/README.md), by root and namespace otherwise."""
    if isinstance(tree_or_bytes, etree._ElementTree):
        tree = tree_or_bytes
    elif isinstance(tree_or_bytes, etree._Element):
        tree = tree_or_bytes.getroottree()
    else:
        tree = parse_document(tree_or_bytes)
    root = tree.getroot()
    found = message_of(root)
    if found != message:
        raise InvalidFile(f"expected a {message} document, found {found or etree.QName(root).text}")
    if not has_schema(message):
        if root.find(f"{{{namespace(message)}}}{ROOTS[message]}") is None:
            raise InvalidFile(f"{message} without its <{ROOTS[message]}> element")
        return
    xml_schema = schema(message)
    if not xml_schema.validate(tree):
        error = xml_schema.error_log.last_error
        raise InvalidFile(f"not a valid {message}: line {error.line}: {error.message}")


# The element a message repeats (one per debit or transfer): validate_file frees each as soon
# as it is validated, and Python sees only those, not each of their dozen children.
REPEATED = {"pain.008.001.02": "DrctDbtTxInf", "pain.001.001.03": "CdtTrfTxInf"}


def validate_file(path, message: str) -> None:
    """Validate a file on disk while parsing it, a repeated element at a time (flat memory)."""
    if not has_schema(message):
        validate(path, message)
        return
    repeated = REPEATED.get(message)
    try:
        for _, element in etree.iterparse(str(path), events=("end",), schema=schema(message),
                                          tag=f"{{{namespace(message)}}}{repeated}" if repeated else None,
                                          resolve_entities=False, no_network=True,
                                          load_dtd=False):
            # Drop what is validated: a 100 000-debit file never sits in memory.
            element.clear(keep_tail=True)
            while element.getprevious() is not None:
                del element.getparent()[0]
    except etree.XMLSyntaxError as error:
        raise InvalidFile(f"not a valid {message}: {error}") from None
