"""Search ranks title hits above text hits, filters by audience and phase, and is deterministic."""

from __future__ import annotations

import itertools

import pytest

from toolkit.errors import AnswerError
from toolkit.model import Content, GuidanceItem
from toolkit.search import score_item, search, words


def _ids(query: str, **filters: str) -> list[str]:
    return [hit.item.id for hit in search(query, **filters)]


def test_title_match_outranks_a_text_only_match() -> None:
    title_hit = GuidanceItem("x-a-01", "driver", "driving", "Locked cab doors", "Nothing else to see. Really.", ("s",))
    text_hit = GuidanceItem("x-b-01", "driver", "driving", "Something else", "Keep cab doors locked. Always.", ("s",))
    assert score_item(title_hit, ("doors",), "doors") > score_item(text_hit, ("doors",), "doors") > 0


def test_engine_running_finds_the_engine_item_first() -> None:
    assert _ids("engine running")[0] == "drv-park-01"


def test_cash_payment_finds_the_payment_rule_first() -> None:
    assert _ids("cash payment")[0] == "rc-book-01"


def test_plural_and_stem_forms_match() -> None:
    assert "psa-prep-03" in _ids("barrier")[:2]
    assert "drv-park-03" in _ids("park")


def test_phrase_and_all_terms_bonuses_lift_the_exact_item() -> None:
    hits = search("forced stop")
    assert hits[0].item.phase == "forced_stops"
    assert hits[0].score > hits[-1].score


def test_filters_restrict_by_audience_and_phase(content: Content) -> None:
    hits = search("keys", audience="driver")
    assert hits and all(h.item.audience == "driver" for h in hits)
    only = search("", audience="driver", phase="forced_stops")
    expected = [i.id for i in content.items.values() if i.audience == "driver" and i.phase == "forced_stops"]
    assert [h.item.id for h in only] == expected


def test_ranking_is_deterministic_and_ties_keep_content_order(content: Content) -> None:
    first = [(h.item.id, h.score) for h in search("vehicle")]
    assert first == [(h.item.id, h.score) for h in search("vehicle")]
    order = {item_id: n for n, item_id in enumerate(content.items)}
    for a, b in itertools.pairwise(first):
        assert a[1] > b[1] or (a[1] == b[1] and order[a[0]] < order[b[0]])


def test_no_match_gives_no_hits_and_limit_cuts() -> None:
    assert search("zeppelin") == []
    assert len(search("vehicle", limit=3)) == 3


def test_stopwords_are_ignored_and_a_query_of_only_stopwords_finds_nothing() -> None:
    assert _ids("what is the secure parking") == _ids("secure parking")
    assert search("the") == []


def test_unknown_filters_are_refused_with_the_value() -> None:
    with pytest.raises(AnswerError, match="audience: got 'pilot'"):
        search("keys", audience="pilot")
    with pytest.raises(AnswerError, match="phase: got 'lunch'"):
        search("keys", phase="lunch")


def test_words_keep_hyphenated_and_possessive_words() -> None:
    assert words("Pre-employment checks, driver’s card!") == ["pre-employment", "checks", "driver's", "card"]
