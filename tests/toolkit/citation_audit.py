"""Counts the guidance citations that fall short of issue 23: not at the issuer, no locator, or not checked.

Run ``python -m tests.toolkit.citation_audit`` for the counts, ``--list`` for every citation counted.

- (a) *mirror, news or vendor*: the cited source sits on a document-mirror site, a vendor's site or a news site
  (news is allowed only for facts about attacks, sources ``attack-*``);
- (a2) *not the issuer's own site*: the source is an author's, project's or trade edition of an issuing body's
  document (the issuer's own edition could not be cited), counted apart from (a);
- (b) *no locator*: the ``section`` names no numbered place (chapter, section, article, clause, point, annex,
  paragraph, recital, page, a numbered provision such as 1.10.3.2) and quotes no heading of the source in single
  quotes ('Be secure'), so a reader cannot find where in the source the claim stands;
- (c) *not checked*: the citation carries no ``checked`` date, the day its claim and section were found in the
  issuing body's own text.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from toolkit.loader import CONTENT_DIR, ITEMS_DIR, SOURCES_FILE, mirror_host

NEWS_HOSTS = ("itv.com", "cgtn.com", "cnn.com", "lidovky.cz", "tn.com.ar", "urdupoint.com", "euronews.com",
              "engadget.com", "hstoday.us", "mhlnews.com", "wikipedia.org", "bbc.co.uk", "theguardian.com",
              "independent.co.uk", "telegraphindia.com", "usatoday.com", "thenationalnews.com", "catalannews.com")
"""News and encyclopaedia sites: citable only for facts about attacks (source ids starting ``attack-``)."""
VENDOR_HOSTS = ("imbema.com", "level5fleet.com", "hvmhub.com", "mobilityits.eu", "ttmi-sg.com", "atic-ts.com",
                "efs.consulting", "obelis.net", "onstarguide.com", "nrgriverside.com", "elephantcarhire.net")
"""Vendors and members re-telling a standard or scheme: cite the standard's or scheme's issuer instead."""
REPUBLISHER_HOSTS = ("cross-border.org", "securipedia.eu", "vandrivertoolkit.co.uk", "arttic-driver.hivebrite.com")
"""Sites of authors, projects or trade press that publish an edition of an issuing body's document (a2)."""
NUMBERED_LOCATOR = re.compile(
    r"\b(chapters?|sections?|articles?|art\.|clauses?|points?|annex(es)?|paragraphs?|para\.|recitals?|pages?|p\.|"
    r"parts?|steps?|tables?|questions?|notes?)\s*\(?[0-9IVXLC]|\bTSR\s*[A-Z]?\.?[0-9]"
    r"|§\s*[0-9]|\b[0-9]+(\.[0-9]+)+\b(?![-\s]*(tonnes?|t|kg|km)\b)|^\s*[0-9]+\.\s",
    re.IGNORECASE)
"""A place in a document given by its number: 'Chapter 7', 'point 8', 'Article 8a', '1.10.3.2', '3. What is'."""
QUOTED_HEADING = re.compile(r"(^|[;,(]\s*|\band\s+|:\s*)'[^']{2,90}'")
"""A heading or title quoted as the source writes it, which a reader can find on an unnumbered page: 'Be secure'."""


@dataclass(frozen=True, slots=True)
class CitationRecord:
    """One citation of one item, with what the audit found wrong with it."""

    item_id: str
    source: str
    section: str
    checked: str | None
    host_problem: str | None
    has_locator: bool

    @property
    def unchecked(self) -> bool:
        return self.checked is None

    @property
    def mirror_news_or_vendor(self) -> bool:
        return self.host_problem is not None and not self.host_problem.startswith("edition")

    @property
    def not_issuers_site(self) -> bool:
        return self.host_problem is not None and self.host_problem.startswith("edition")


def host_problem(source_id: str, url: str) -> str | None:
    """Why a source's address is not the issuing body's own publication, or None when it is."""
    host = (urlsplit(url).hostname or "").lower()
    mirror = mirror_host(url)
    if mirror is not None:
        return f"document mirror {mirror}"
    if host.endswith(VENDOR_HOSTS):
        return f"vendor {host}"
    if host.endswith(REPUBLISHER_HOSTS):
        return f"edition at {host}"
    if host.endswith(NEWS_HOSTS) and not source_id.startswith("attack-"):
        return f"news site {host} for a fact not about an attack"
    return None


def citations(content_dir: Path = CONTENT_DIR) -> Iterator[CitationRecord]:
    """Every citation of every item file, in file order, read from the YAML itself (``checked`` included)."""
    sources = {s["id"]: s for s in yaml.safe_load((content_dir / SOURCES_FILE).read_text(encoding="utf-8"))["sources"]}
    for path in sorted((content_dir / ITEMS_DIR).glob("*.yaml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8"))["items"]:
            for cite in item["sources"]:
                section = " ".join(cite["section"].split())
                checked = cite.get("checked")
                yield CitationRecord(
                    item["id"], cite["source"], section, checked,
                    host_problem(cite["source"], sources[cite["source"]]["url"]), has_locator(section))


def has_locator(section: str) -> bool:
    """Whether a citation's section names a numbered place or quotes a heading of the source."""
    return bool(NUMBERED_LOCATOR.search(section) or QUOTED_HEADING.search(section))


def counts(records: list[CitationRecord]) -> dict[str, int]:
    return {"citations": len(records),
            "a_mirror_news_vendor": sum(r.mirror_news_or_vendor for r in records),
            "a2_not_issuers_site": sum(r.not_issuers_site for r in records),
            "b_no_locator": sum(not r.has_locator for r in records),
            "c_not_checked": sum(r.unchecked for r in records)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every citation counted under (a), (a2), (b) or (c)")
    parser.add_argument("--content", type=Path, default=CONTENT_DIR, help="a content directory (default: packaged)")
    args = parser.parse_args(argv)
    records = list(citations(args.content))
    if args.list:
        for r in records:
            flags = "".join(f for f, bad in (("a", r.mirror_news_or_vendor), ("A", r.not_issuers_site),
                                             ("b", not r.has_locator), ("c", r.unchecked)) if bad)
            if flags:
                print(f"{flags:3} {r.item_id:16} {r.source:28} {r.section}"
                      + (f"  [{r.host_problem}]" if r.host_problem else ""))
    print(" ".join(f"{k}={v}" for k, v in counts(records).items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
