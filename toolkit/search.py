"""Ranked, deterministic full-text search over the guidance items' titles, tags and text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from toolkit.errors import AnswerError
from toolkit.loader import default_content
from toolkit.model import AUDIENCES, PHASES, Content, GuidanceItem

TITLE_WEIGHT = 3.0
TAG_WEIGHT = 2.0
TEXT_WEIGHT = 1.0
TEXT_HITS_CAP = 3
"""Repeating a word in a long text should not outweigh a title hit."""
PARTIAL = 0.5
"""A word that only shares a stem with the query term counts half."""
ALL_TERMS_BONUS = 2.0
PHRASE_BONUS = 2.0
MIN_STEM = 4

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)


@dataclass(frozen=True, slots=True)
class SearchHit:
    item: GuidanceItem
    score: float


def words(text: str) -> list[str]:
    """Lower-case words of a text, keeping inner hyphens and apostrophes (pre-employment, driver's)."""
    return [w.replace("’", "'") for w in _WORD.findall(text.lower())]


def query_terms(query: str, stopwords: frozenset[str]) -> tuple[str, ...]:
    """Distinct query words in order, without stopwords."""
    return tuple(w for w in dict.fromkeys(words(query)) if w not in stopwords)


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _match(term: str, word: str) -> float:
    if term == word or _singular(term) == _singular(word):
        return 1.0
    short, long = (term, word) if len(term) <= len(word) else (word, term)
    return PARTIAL if len(short) >= MIN_STEM and long.startswith(short) else 0.0


def _best(term: str, candidates: list[str]) -> float:
    return max((_match(term, w) for w in candidates), default=0.0)


def score_item(item: GuidanceItem, terms: tuple[str, ...], phrase: str) -> float:
    """Weighted term matches in title, tags and text, plus bonuses for matching every term and the exact phrase."""
    title, text = words(item.title), words(item.text)
    tags = [w for tag in item.tags for w in words(tag)]
    total = 0.0
    matched = 0
    for term in terms:
        in_text = sorted((_match(term, w) for w in text), reverse=True)[:TEXT_HITS_CAP]
        term_score = TITLE_WEIGHT * _best(term, title) + TAG_WEIGHT * _best(term, tags) + TEXT_WEIGHT * sum(in_text)
        matched += term_score > 0
        total += term_score
    if total and len(terms) > 1 and matched == len(terms):
        total += ALL_TERMS_BONUS
    if total and " " in phrase and (phrase in item.title.lower() or phrase in item.text.lower()):
        total += PHRASE_BONUS
    return round(total, 6)


def _trim(query_words: list[str], stopwords: frozenset[str]) -> list[str]:
    """The query's words without leading and trailing stopwords ("what is the secure parking" -> secure parking)."""
    start, end = 0, len(query_words)
    while start < end and query_words[start] in stopwords:
        start += 1
    while end > start and query_words[end - 1] in stopwords:
        end -= 1
    return query_words[start:end]


def _check_filter(value: str | None, known: tuple[str, ...], field: str) -> None:
    if value is not None and value not in known:
        raise AnswerError(field, value, f"one of {', '.join(known)}")


def search(
    query: str,
    audience: str | None = None,
    phase: str | None = None,
    *,
    content: Content | None = None,
    limit: int | None = None,
) -> list[SearchHit]:
    """Items matching the query, best first; ties in content order.

    A query without words lists the filtered items in content order; one of stopwords only finds nothing.
    """
    _check_filter(audience, AUDIENCES, "audience")
    _check_filter(phase, PHASES, "phase")
    content = content or default_content()
    candidates = [
        (n, item) for n, item in enumerate(content.items.values())
        if (audience is None or item.audience == audience) and (phase is None or item.phase == phase)
    ]
    stopwords = frozenset(content.strings.lookup("search.stopwords"))  # type: ignore[arg-type]
    terms = query_terms(query, stopwords)
    if not words(query):
        hits = [SearchHit(item, 0.0) for _, item in candidates]
    elif not terms:
        hits = []
    else:
        phrase = " ".join(_trim(words(query), stopwords))
        scored = [(score_item(item, terms, phrase), n, item) for n, item in candidates]
        hits = [SearchHit(item, score) for score, n, item in sorted(scored, key=lambda s: (-s[0], s[1])) if score > 0]
    return hits[:limit] if limit is not None else hits
