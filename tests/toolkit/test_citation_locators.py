"""Every guidance citation says where in the issuer's own publication its claim stands (issue 23)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.toolkit.citation_audit import CitationRecord, citations, counts, has_locator, host_problem

LOCATOR_PENDING: dict[str, frozenset[str]] = {
    # Citations whose section names no numbered place and quotes no heading of the source, because the
    # source's text could not be read to find one (see `python -m tests.toolkit.citation_audit --list`).
    # The list may only shrink: a test fails when an entry gains a locator and is still listed.
    "dft-vaw-2019": frozenset({"drv-inc-02", "fm-drive-01", "fm-inc-01", "fm-inc-02", "fm-inc-03", "fm-park-02",
                               "fm-pickup-02", "fm-prep-01", "fm-prep-02", "fm-prep-03", "fm-prep-07", "fm-prep-08",
                               "psa-inc-02"}),
    "es-guardia-civil-062": frozenset({"drv-prep-05"}),
    "eu-swd-2019-140": frozenset({"psa-inc-01", "psa-inc-03", "psa-prep-16"}),
    "fbi-rental-2019": frozenset({"rc-book-01", "rc-book-03", "rc-book-04", "rc-book-05", "rc-book-11", "rc-hand-03",
                                  "rc-hand-04", "rc-hand-07", "rc-hand-09", "rc-inc-02"}),
    "rvss-2026": frozenset({"rc-book-02", "rc-book-09", "rc-book-10", "rc-book-13", "rc-hand-05", "rc-hand-06",
                            "rc-hand-08", "rc-ret-04"}),
    "tapa-tsr-2020": frozenset({"fm-prep-06"}),
}
AUTHORS_EDITIONS = frozenset({"roadsec-driver-2017"})
"""Sources cited in an author's edition because the issuing body's own text could not be read (see sources.yaml)."""


@pytest.fixture(scope="module")
def records() -> list[CitationRecord]:
    return list(citations())


def test_every_citation_has_a_locator_apart_from_the_listed_gaps(records: list[CitationRecord]) -> None:
    missing = {(r.source, r.item_id) for r in records if not r.has_locator}
    pending = {(source, item) for source, items in LOCATOR_PENDING.items() for item in items}
    assert missing - pending == set()
    assert pending - missing == set(), "these now have a locator: take them off LOCATOR_PENDING"


def test_a_checked_citation_names_its_place_and_a_date_that_has_passed(records: list[CitationRecord]) -> None:
    for record in records:
        if record.checked is not None:
            assert record.has_locator, (record.item_id, record.source)
            assert date.fromisoformat(record.checked) <= date.today(), (record.item_id, record.source)


def test_no_citation_is_to_a_mirror_a_vendor_or_news_beyond_attacks(records: list[CitationRecord]) -> None:
    assert [(r.item_id, r.source) for r in records if r.mirror_news_or_vendor] == []
    assert {r.source for r in records if r.not_issuers_site} <= AUTHORS_EDITIONS


def test_most_citations_were_checked_against_the_source(records: list[CitationRecord]) -> None:
    # Issue 23's readers sample items against their sources; 143 of 220 citations were found in the source's own
    # text on 2026-12-07. The share may grow, never fall back.
    tally = counts(records)
    assert tally["citations"] - tally["c_not_checked"] >= 143


@pytest.mark.parametrize(("section", "expected"), [
    ("Chapter 7 (forced stops): badges before opening the window", True),
    ("1.10.3.2.2 (e): procedures for reporting security incidents", True),
    ("Article 8a (certified safe and secure parking areas)", True),
    ("TSR E.8: re-hiring procedures", True),
    ("Scope and notes 1 and 2: trolley test", True),
    ("3. What is an 'effective system'", True),
    ("'Be secure': check that all security devices are working", True),
    ("'Operational requirement' and 'Operate'", True),
    ("Operate", False),
    ("What is 112", False),
    ("Report of 10 June 2017: the attempt to hire a 7.5-tonne lorry", False),
    ("Introduction (thefts from operators' premises)", False),
])
def test_a_locator_is_a_numbered_place_or_a_quoted_heading(section: str, expected: bool) -> None:
    assert has_locator(section) is expected


@pytest.mark.parametrize(("source_id", "url", "problem"), [
    ("iru-2006", "https://vdocuments.mx/iru-road-goods-transport-security-guidelines.html", "document mirror"),
    ("tsr-summary", "https://www.imbema.com/en/transport-and-logistics/tapa-tsr", "vendor"),
    ("geofence-se", "https://www.euronews.com/2018/05/31/sweden", "news site"),
    ("roadsec-driver-2017", "https://www.cross-border.org/wiki/section-b", "edition at"),
    ("attack-nice-2016", "https://www.urdupoint.com/en/world/factbox", None),
    ("dft-vaw-2019", "https://www.gov.uk/government/publications/x", None),
])
def test_the_audit_names_why_a_host_is_not_the_issuer(source_id: str, url: str, problem: str | None) -> None:
    found = host_problem(source_id, url)
    assert (found is None) if problem is None else found.startswith(problem)
