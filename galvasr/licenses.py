"""License URLs, as catalogs spell them, reduced to the few licenses galvasr keeps.

archive.org's ``licenseurl`` is free text in practice: http or https, with or
without ``www.`` and the trailing slash, a ``deed.xx`` or ``legalcode`` page
instead of the license itself, a ported version (``/by/3.0/us/``), or no URL
at all. :func:`normalize_license` maps every spelling of a free license onto
one of :data:`LICENSES` and everything else onto a reject reason, so the
decision is made in one place and a table of real spellings tests it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LICENSES: tuple[str, ...] = ("public-domain", "cc0", "cc-by", "cc-by-sa")
"""The licenses a released segment may carry, from least to most restrictive."""

CC_VERSIONS = frozenset({"1.0", "2.0", "2.1", "2.5", "3.0", "4.0"})
"""Creative Commons license versions (2.1 exists only as Japanese/Spanish ports)."""

_KEPT_CODES = {"by": "cc-by", "by-sa": "cc-by-sa"}

# Codes of the non-free CC licenses, including the 1.0 spellings (by-nd-nc,
# and the licenses without attribution) and the sampling licenses.
_NONFREE_CODES = {
    "by-nc": "cc-by-nc",
    "by-nd": "cc-by-nd",
    "by-nc-sa": "cc-by-nc-sa",
    "by-nc-nd": "cc-by-nc-nd",
    "by-nd-nc": "cc-by-nc-nd",
    "nc": "cc-by-nc",
    "nd": "cc-by-nd",
    "nc-sa": "cc-by-nc-sa",
    "nd-nc": "cc-by-nc-nd",
    "sa": "cc-sa",
    "sampling": "cc-sampling",
    "sampling+": "cc-sampling",
    "nc-sampling+": "cc-sampling",
    "devnations": "cc-devnations",
}

# An http or https URL, or one without a scheme ("creativecommons.org/licenses/by/3.0/"
# is given "//" first): its host and path, without query or fragment. Any other
# scheme (javascript:, ftp:, data:) names no license page.
_URL = re.compile(r"(?:https?:)?//(?P<host>[^/?#]*)(?P<path>[^?#]*)")
# Whole path components, so fullmatch: '$' would also match before a trailing newline.
_LANGUAGE_PAGE = re.compile(r"(?:deed|legalcode)(?:\.[a-z]{2,3}(?:[-_][a-z0-9]+)*)?(?:\.txt)?")
# Ports: "us", "de", "scotland", "igo", "es-ct"...
_JURISDICTION = re.compile(r"[a-z]{2,8}(?:-[a-z]{2})?")


@dataclass(frozen=True)
class License:
    """A license galvasr keeps: ``name`` is one of :data:`LICENSES`."""

    name: str


@dataclass(frozen=True)
class Rejection:
    """Why a license is not kept: ``reason`` is a ``license:*`` reject reason."""

    reason: str
    detail: str


def normalize_license(url: object) -> License | Rejection:
    """The license named by a catalog's ``licenseurl`` value, or why it is refused.

    Kept: Creative Commons BY and BY-SA (versions 1.0 to 4.0, ported or not),
    CC0, the Public Domain Mark, and CC's old public domain dedication.
    Refused, with reason ``license:<kind>``: the NC and ND licenses
    (``license:cc-by-nc``, ``license:cc-by-nd``, ``license:cc-by-nc-sa``,
    ``license:cc-by-nc-nd``), other CC licenses, ``license:missing`` (no
    value, or blank), ``license:all-rights-reserved``, ``license:unknown``
    (anything else, including a malformed or unversioned CC URL, and a URL
    whose scheme is neither http nor https).
    """
    if url is None:
        return Rejection("license:missing", "no licenseurl")
    if not isinstance(url, str):
        return Rejection("license:unknown", f"licenseurl is a {type(url).__name__}, not text")
    text = url.strip()
    if not text:
        return Rejection("license:missing", "blank licenseurl")
    lowered = text.lower()
    if "all rights reserved" in lowered or "rightsstatements.org/vocab/inc" in lowered:
        return Rejection("license:all-rights-reserved", f"licenseurl {text!r}")
    match = _URL.match(lowered if "//" in lowered else "//" + lowered)
    if match is None:
        return Rejection("license:unknown", f"not an http(s) URL: {text!r}")
    host = match["host"].split("@")[-1].split(":")[0].removeprefix("www.")
    if host != "creativecommons.org":
        return Rejection("license:unknown", f"not a Creative Commons URL: {text!r}")
    parts = [p for p in match["path"].split("/") if p]
    if parts and _LANGUAGE_PAGE.fullmatch(parts[-1]):
        parts.pop()
    return _creative_commons(parts, text)


def _creative_commons(parts: list[str], text: str) -> License | Rejection:
    """``parts``: the URL path below creativecommons.org, without a deed/legalcode page."""
    unknown = Rejection("license:unknown", f"unrecognized Creative Commons URL {text!r}")
    if parts == ["licenses", "publicdomain"]:
        return License("public-domain")
    if len(parts) < 2:
        return unknown
    kind, code, rest = parts[0], parts[1], parts[2:]
    if kind == "publicdomain":
        if code not in ("zero", "mark") or rest != ["1.0"]:
            return unknown
        return License("cc0" if code == "zero" else "public-domain")
    if kind != "licenses":
        return unknown
    if not rest or rest[0] not in CC_VERSIONS:
        return Rejection("license:unknown", f"no known license version in {text!r}")
    if len(rest) > 2 or (len(rest) == 2 and not _JURISDICTION.fullmatch(rest[1])):
        return unknown
    if code in _KEPT_CODES:
        return License(_KEPT_CODES[code])
    if code in _NONFREE_CODES:
        return Rejection(f"license:{_NONFREE_CODES[code]}", f"licenseurl {text!r}")
    return unknown
