"""The taxonomy of idiomatic empathic expressions and how training changes their use.

Two routes lead to a taxonomy of what supporters say (see ``docs/taxonomy.md``):

1. **Theme codes** from a classifier, in a cohort's optional ``themes.csv`` (one row per coded
   supporter message and theme: ``conversation_id, turn, theme, category``), checked by
   :func:`analysis.cohorts.optional.validate_themes`.
2. **Mined phrases** (:func:`mine_phrases`): every supporter message of an analysed conversation is
   scrubbed of contact details, normalised (lower case, straight quotes), split into sentences and
   tokenised by scikit-learn's :class:`~sklearn.feature_extraction.text.CountVectorizer` with the
   registered token pattern; n-grams of 2-6 words are counted once per message. Phrases used by at
   least ``k`` distinct participants are kept (and a phrase is dropped when a phrase one word longer
   nearly always contains it). For each judged dimension, each phrase is scored by the weighted
   log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi and Quinn 2008,
   :func:`monroe_log_odds`) between the messages of high- and low-scoring conversations; a phrase
   marks the dimension of its largest z-score.

For both routes, :func:`expression_change` estimates how training changed the share of supporter
messages using each expression, per trouble type: a difference-in-differences of proportions
(conversation 1 vs conversations 2-3, treated arms vs the reference arm) from the linear probability
model ``y ~ treated + post + treated:post`` with cluster-robust standard errors by participant,
computed in closed form for all expressions at once (:func:`did_of_proportions`), with
Benjamini-Hochberg FDR across expressions.

Every function is pure and deterministic. Phrases and theme labels leave this module only when at
least ``k`` participants used them, scrubbed (:mod:`analysis.cohorts.privacy`); message texts never do.

References
----------
Monroe, B. L., Colaresi, M. P., & Quinn, K. M. (2008). Fightin' words: Lexical feature selection
and evaluation for identifying the content of political conflict. *Political Analysis*, 16(4),
372-403.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from analysis.cohorts.optional import message_keys
from analysis.cohorts.privacy import opaque_id, scrub_text, shown_items
from analysis.constants import PRESCRIPTIVE_DIMENSIONS, ROLES
from analysis.errors import AnalysisError, require_implemented
from analysis.models.tidy import wald_coefficients
from analysis.runtime.lazy_imports import lazy_module

__all__ = [
    "PRUNING_CHUNK_MESSAGES", "DIMENSION_CATEGORY", "UNASSIGNED", "TREATED", "PERIODS", "PHRASE_SCORE_COLUMNS",
    "TAXONOMY_COLUMNS", "LEFT_OUT_COLUMNS", "SHARE_COLUMNS", "CHANGE_COLUMNS", "TextNormalisation", "SplitRule", "ChangeTest",
    "supporter_sample", "normalise_text", "phrase_matrix", "frequent_phrase_matrix", "participant_support", "nested_phrases",
    "same_message_duplicates", "informative_prior", "monroe_log_odds", "split_conversations", "dimension_direction",
    "MiningResults", "mine_phrases", "did_of_proportions", "ChangeResults", "expression_change", "top_changes",
    "phrase_change", "theme_change", "reference_ngrams", "phrase_recovery",
]

sparse = lazy_module("scipy.sparse")
stats = lazy_module("scipy.stats")
text_features = lazy_module("sklearn.feature_extraction.text")
multitest = lazy_module("statsmodels.stats.multitest")

# Supporter messages per counting pass of the phrase miner's pruning (bounds its memory at any cohort size).
PRUNING_CHUNK_MESSAGES = 100_000
# The category a mined phrase takes from the dimension it marks (the paper's categories; motivational
# expressions have no judged dimension of their own, so only theme codes can carry that category).
DIMENSION_CATEGORY: dict[str, str] = {
    "validating_emotions": "affective",
    "encouraging_elaboration": "cognitive",
    "demonstrating_understanding": "cognitive",
    "advice_giving": "misattuned",
    "self_oriented": "misattuned",
    "dismissing_emotions": "misattuned",
}
UNASSIGNED = "unassigned"
TREATED = "treated"
PERIODS: dict[int, str] = {0: "before", 1: "after"}
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
                         "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"'})
_CHUNK = 4096

PHRASE_SCORE_COLUMNS = [
    "phrase", "n_words", "dimension", "messages_high", "messages_low", "share_high", "share_low",
    "prior_alpha", "log_odds", "std_error", "z", "direction",
]
TAXONOMY_COLUMNS = [
    "phrase", "n_words", "dimension", "marks", "direction", "category", "z", "rank_in_dimension",
    "support_messages", "support_participants",
]
LEFT_OUT_COLUMNS = ["level", "record_id", "reason", "n_records"]
SHARE_COLUMNS = ["expression", "category", "trouble_type", "arm", "period", "n_messages", "messages_using", "share"]
CHANGE_COLUMNS = [
    "expression", "category", "trouble_type", "contrast", "n_messages", "n_participants",
    "messages_using_before_treated", "messages_using_after_treated",
    "messages_using_before_control", "messages_using_after_control",
    "share_before_treated", "share_after_treated", "share_before_control", "share_after_control",
    "estimate", "std_error", "statistic", "p_value", "q_value", "ci_low", "ci_high", "significant", "direction",
]


# --------------------------------------------------------------------------------------------------
# Registered settings


@dataclass(frozen=True)
class TextNormalisation:
    """How message texts are normalised and cut into words before n-grams are counted.

    Attributes
    ----------
    lowercase : bool
        Lower-case the text.
    straighten_quotes : bool
        Replace curly quotes and apostrophes by straight ones.
    sentence_pattern : str
        Regular expression of sentence boundaries; phrases never cross them.
    token_pattern : str
        Regular expression of a word (scikit-learn ``CountVectorizer`` ``token_pattern``); other
        characters are dropped.
    """

    lowercase: bool
    straighten_quotes: bool
    sentence_pattern: str
    token_pattern: str

    @classmethod
    def from_plan(cls, block: Mapping) -> TextNormalisation:
        """Build it from the plan's ``taxonomy.text`` block."""
        return cls(**{field.name: block[field.name] for field in fields(cls)})


@dataclass(frozen=True)
class SplitRule:
    """Which conversations count as high and which as low scoring on a dimension.

    Attributes
    ----------
    method : {"threshold", "median"}
        ``threshold``: high when the score is at least ``high_min``, low when it is at most
        ``low_max``; ``median``: high when the score is above the median, low otherwise.
    high_min, low_max : float, optional
        The thresholds of ``threshold``.
    """

    method: str
    high_min: float | None = None
    low_max: float | None = None

    @classmethod
    def from_plan(cls, block: Mapping) -> SplitRule:
        """Build it from the plan's ``taxonomy.mining.split`` block."""
        return cls(method=block["method"], high_min=block.get("high_min"), low_max=block.get("low_max"))

    def describe(self) -> dict:
        """The rule for the spec record: the method and the thresholds that were given."""
        return {name: value for name, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class ChangeTest:
    """How the change of expression use with training is tested (:func:`expression_change`).

    Attributes
    ----------
    alpha : float
        FDR level; the intervals have confidence ``1 - alpha``.
    fdr_method : str
        statsmodels ``multipletests`` method across the expressions of one trouble type and
        contrast (``fdr_bh`` or ``fdr_by``).
    per_arm : bool
        Also test each non-reference arm against the reference arm (the pooled treated arms
        always).
    top_n : int
        Significant rising and falling expressions kept per trouble type.
    test : {"lpm_cluster"}
        The test: the linear probability model ``y ~ treated * post`` per message, cluster-robust
        by participant (the only one implemented).
    """

    alpha: float
    fdr_method: str
    per_arm: bool
    top_n: int
    test: str = "lpm_cluster"

    @classmethod
    def from_plan(cls, block: Mapping) -> ChangeTest:
        """Build it from the plan's ``taxonomy.change`` block."""
        return cls(**{field.name: block[field.name] for field in fields(cls)})


# --------------------------------------------------------------------------------------------------
# The analysed messages


def supporter_sample(messages: pd.DataFrame, outcomes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Supporter messages of the analysed conversations, with each conversation's design and scores.

    Parameters
    ----------
    messages : pandas.DataFrame
        Validated messages (``conversation_id``, ``turn``, ``role``, ``text``).
    outcomes : pandas.DataFrame
        ``conversation_scores.csv``: one row per analysed conversation with
        ``participant_id``, ``arm``, ``post``, ``trouble_type`` and the scores.

    Returns
    -------
    sample : pandas.DataFrame
        One row per non-empty supporter message of an analysed conversation,
        sorted by conversation and turn: the message columns plus the
        outcome columns.
    left_out : pandas.DataFrame
        ``level, record_id, reason, n_records``: one row per conversation
        with messages that is not analysed (excluded upstream), with its
        number of supporter messages, and one row per empty supporter
        message of an analysed conversation.
    """
    supporter = messages[messages["role"] == ROLES[1]]
    analysed = supporter["conversation_id"].isin(outcomes["conversation_id"])
    dropped = supporter.loc[~analysed].groupby("conversation_id", sort=True).size()
    empty = analysed & (supporter["text"].fillna("").astype(str).str.strip() == "")
    left_out = pd.concat(
        [
            pd.DataFrame(
                {
                    "level": "conversation",
                    "record_id": dropped.index.astype(str),
                    "reason": "conversation not analysed (excluded upstream, see qc/exclusions.csv)",
                    "n_records": dropped.to_numpy(dtype=np.int64),
                },
                columns=LEFT_OUT_COLUMNS,
            ),
            pd.DataFrame(
                {
                    "level": "message",
                    "record_id": message_keys(supporter.loc[empty, "conversation_id"], supporter.loc[empty, "turn"]),
                    "reason": "empty supporter message",
                    "n_records": 1,
                },
                columns=LEFT_OUT_COLUMNS,
            ),
        ],
        ignore_index=True,
    )
    sample = supporter.loc[analysed & ~empty].merge(outcomes, on="conversation_id", how="left", validate="many_to_one")
    sample = sample.sort_values(["conversation_id", "turn"], kind="stable").reset_index(drop=True)
    return sample, left_out


def _sample_record(sample: pd.DataFrame) -> dict:
    """The spec record's description of a :func:`supporter_sample` (both routes' ``sample`` block starts so)."""
    return {
        "subset": "supporter messages of the analysed conversations",
        "n_messages": int(len(sample)),
        "n_conversations": int(sample["conversation_id"].nunique()),
        "n_participants": int(sample["participant_id"].nunique()),
    }


# --------------------------------------------------------------------------------------------------
# Route 2: phrases


def normalise_text(text: pd.Series, lowercase: bool = True, straighten_quotes: bool = True) -> pd.Series:
    """Scrub contact details, then straighten quotes and lower-case (missing text becomes empty).

    The registered token pattern later drops every character that is not part of a word, so
    punctuation needs no handling here.
    """
    normalised = scrub_text(pd.Series(text, dtype=object).fillna("").astype(str))
    if straighten_quotes:
        normalised = normalised.str.translate(_QUOTES)
    if lowercase:
        normalised = normalised.str.lower()
    return normalised


def phrase_matrix(
    texts: pd.Series,
    *,
    text: TextNormalisation,
    ngram_range: Sequence[int],
    vocabulary: Sequence[str] | None = None,
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Which n-gram phrases each text contains (counted once per text).

    Parameters
    ----------
    texts : pandas.Series of str
        Message texts (missing values count as empty).
    text : TextNormalisation
        The registered normalisation (``taxonomy.text``).
    ngram_range : (int, int)
        Shortest and longest phrase, in words.
    vocabulary : sequence of str, optional
        Count only these phrases (in this order); by default every phrase
        found.

    Returns
    -------
    matrix : scipy.sparse.csr_matrix of int8
        ``len(texts) x n_phrases``, 1 where the text contains the phrase.
    phrases : numpy.ndarray of str
        The phrases (words joined by single spaces), alphabetical unless a
        vocabulary was given.

    Notes
    -----
    Each text is normalised (:func:`normalise_text`), split into sentences
    at ``text.sentence_pattern`` and each sentence tokenised by
    :class:`~sklearn.feature_extraction.text.CountVectorizer` (``binary``,
    no lower-casing of its own); a phrase is found in a text when it is
    found in one of its sentences, so phrases never span a sentence boundary.
    """
    normalised = normalise_text(texts, text.lowercase, text.straighten_quotes)
    sentences = normalised.reset_index(drop=True).str.split(text.sentence_pattern, regex=True).explode()
    owner = sentences.index.to_numpy(dtype=np.int64)
    vectorizer = text_features.CountVectorizer(
        token_pattern=text.token_pattern,
        ngram_range=tuple(int(n) for n in ngram_range),
        lowercase=False,
        binary=True,
        dtype=np.int32,
        vocabulary=None if vocabulary is None else list(vocabulary),
    )
    try:
        by_sentence = vectorizer.fit_transform(sentences.fillna("").astype(str).tolist())
    except ValueError as error:
        if "empty vocabulary" not in str(error):
            raise
        return sparse.csr_matrix((len(texts), 0), dtype=np.int8), np.array([], dtype=object)
    to_text = sparse.csr_matrix(
        (np.ones(len(owner), dtype=np.int32), (owner, np.arange(len(owner)))), shape=(len(texts), len(owner))
    )
    matrix = (to_text @ by_sentence).tocsr()
    matrix.data = np.ones_like(matrix.data, dtype=np.int8)
    matrix = matrix.astype(np.int8)
    return matrix, vectorizer.get_feature_names_out().astype(object)


def frequent_phrase_matrix(
    texts: pd.Series,
    *,
    text: TextNormalisation,
    ngram_range: Sequence[int],
    min_messages: int,
    chunk_size: int = PRUNING_CHUNK_MESSAGES,
) -> tuple[sparse.csr_matrix, np.ndarray, int]:
    """:func:`phrase_matrix` restricted to the phrases found in at least ``min_messages`` texts.

    Up to ``chunk_size`` texts are tokenised in one pass and the matrix pruned. More texts are read
    in chunks twice: a first pass counts the texts each phrase is found in (each chunk's matrix is
    dropped once counted), a second counts only the phrases found often enough. The matrix of every
    distinct n-gram of all texts (millions at 100x the trial) is never built; the price is a second
    tokenising pass for cohorts of more than ``chunk_size`` texts.

    Parameters
    ----------
    texts : pandas.Series of str
        Message texts (missing values count as empty).
    text, ngram_range
        As for :func:`phrase_matrix`.
    min_messages : int
        Fewest texts a phrase must be found in.
    chunk_size : int
        Texts per tokenising pass (bounds the memory of the unpruned matrix).

    Returns
    -------
    matrix : scipy.sparse.csr_matrix of int8
        ``len(texts) x n_kept``, equal to the kept columns of
        ``phrase_matrix(texts, ...)``.
    phrases : numpy.ndarray of str
        The kept phrases, alphabetical (the order of :func:`phrase_matrix`).
    n_phrases : int
        Number of distinct phrases found in any text.
    """
    starts = range(0, len(texts), chunk_size)
    if len(starts) <= 1:
        # One chunk: count and prune the one matrix (no second pass needed).
        matrix, phrases = phrase_matrix(texts, text=text, ngram_range=ngram_range)
        frequent = matrix.getnnz(axis=0) >= min_messages
        return matrix[:, frequent].tocsr(), phrases[frequent], int(len(phrases))
    # First pass: messages per phrase, chunk by chunk; each chunk's matrix is dropped once counted.
    totals = pd.Series(dtype=np.int64)
    for start in starts:
        piece, phrases = phrase_matrix(texts.iloc[start:start + chunk_size], text=text, ngram_range=ngram_range)
        counts = pd.Series(piece.getnnz(axis=0).astype(np.int64), index=phrases)
        totals = counts if totals.empty else totals.add(counts, fill_value=0).astype(np.int64)
    kept = np.array(sorted(totals.index[totals.to_numpy() >= min_messages]), dtype=object)
    if len(kept) == 0:
        return sparse.csr_matrix((len(texts), 0), dtype=np.int8), kept, int(len(totals))
    # Second pass: only the frequent phrases are counted.
    matrix = sparse.vstack(
        [
            phrase_matrix(texts.iloc[start:start + chunk_size], text=text, ngram_range=ngram_range, vocabulary=kept)[0]
            for start in starts
        ],
        format="csr",
    ).astype(np.int8)
    return matrix, kept, int(len(totals))


def participant_support(matrix: sparse.csr_matrix, participants: pd.Series) -> np.ndarray:
    """Number of distinct participants whose texts (rows of ``matrix``) contain each phrase."""
    codes, uniques = pd.factorize(participants.to_numpy())
    owner = sparse.csr_matrix(
        (np.ones(len(codes), dtype=np.int32), (codes, np.arange(len(codes)))), shape=(len(uniques), len(codes))
    )
    per_participant = (owner @ matrix.astype(np.int32)).tocsc()
    per_participant.eliminate_zeros()
    return np.diff(per_participant.indptr).astype(np.int64)


def nested_phrases(phrases: Sequence[str], support: np.ndarray, share: float) -> np.ndarray:
    """Which phrases are (nearly) always part of a phrase one word longer.

    Parameters
    ----------
    phrases : sequence of str
        Phrases (words joined by single spaces).
    support : numpy.ndarray
        Messages using each phrase.
    share : float
        A phrase is nested when a phrase one word longer that starts or ends
        with it is used in at least ``share`` of its messages.

    Returns
    -------
    numpy.ndarray of bool
        True for nested (redundant) phrases.
    """
    table = pd.DataFrame({"phrase": pd.Series(phrases, dtype=object), "support": np.asarray(support)})
    words = table["phrase"].str.count(" ") + 1
    longer = table[words >= 2]
    parents = pd.concat(
        [
            pd.DataFrame({"child": longer["phrase"].str.rsplit(" ", n=1).str[0], "parent_support": longer["support"]}),
            pd.DataFrame({"child": longer["phrase"].str.split(" ", n=1).str[1], "parent_support": longer["support"]}),
        ],
        ignore_index=True,
    )
    best = parents.groupby("child")["parent_support"].max()
    parent_support = table["phrase"].map(best).to_numpy(dtype=float)
    return np.nan_to_num(parent_support, nan=-1.0) >= share * table["support"].to_numpy(dtype=float)


def same_message_duplicates(matrix: sparse.spmatrix, phrases: Sequence[str]) -> np.ndarray:
    """Which phrases occur in exactly the same messages as a longer (or alphabetically earlier) one.

    Overlapping n-grams of one recurring sentence (``"i am here for you whatever"``, ``"am here for
    you whatever you"``, ...) are one expression; of each set of phrases with identical message sets
    the longest, then alphabetically first, is kept.

    Returns
    -------
    numpy.ndarray of bool
        True for the phrases to drop.
    """
    columns = sparse.csc_matrix(matrix, dtype=np.float64)
    rows = np.arange(columns.shape[0], dtype=np.float64)
    # Two fixed irrational weightings of the rows: equal message sets give equal sums (same terms in
    # the same order); different sets practically never do.
    signature = np.column_stack(
        [
            np.asarray(columns.getnnz(axis=0)),
            columns.T @ np.modf(rows * 0.6180339887498949)[0],
            columns.T @ np.modf(rows * 0.4142135623730951 + 0.5)[0],
        ]
    )
    table = pd.DataFrame(signature, columns=["n", "a", "b"])
    table["words"] = pd.Series(phrases, dtype=object).str.count(" ").to_numpy()
    table["phrase"] = np.asarray(phrases, dtype=object)
    ordered = table.sort_values(["words", "phrase"], ascending=[False, True], kind="stable")
    keep = ~ordered.duplicated(["n", "a", "b"], keep="first")
    return ~keep.reindex(table.index).to_numpy()


def informative_prior(background: np.ndarray, scale: float) -> np.ndarray:
    """Informative Dirichlet prior ``alpha_w = scale * background_w`` (Monroe et al. 2008, sec. 3.5).

    ``background`` holds each phrase's count in the background corpus (here the messages of all
    analysed conversations), so the prior's mean is the background distribution of phrases and its
    total weight ``alpha_0 = scale * sum(background)``.
    """
    alpha = scale * np.asarray(background, dtype=float)
    if np.any(alpha <= 0):
        raise AnalysisError("every phrase needs a positive prior count; a phrase absent from the background was passed")
    return alpha


def monroe_log_odds(counts_a: np.ndarray, counts_b: np.ndarray, alpha: np.ndarray) -> pd.DataFrame:
    """Weighted log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008).

    Parameters
    ----------
    counts_a, counts_b : numpy.ndarray
        Counts ``y_w`` of each phrase in groups a and b (here: messages using
        the phrase in high- and low-scoring conversations).
    alpha : numpy.ndarray
        Prior counts ``alpha_w`` (:func:`informative_prior`).

    Returns
    -------
    pandas.DataFrame
        ``log_odds`` (delta_w, positive when the phrase is more typical of
        group a), ``variance`` and ``z`` = delta_w / sqrt(variance), one row
        per phrase.

    Notes
    -----
    With ``n_a = sum_w y_w^a`` and ``alpha_0 = sum_w alpha_w``:

    ``delta_w = log((y_w^a + alpha_w) / (n_a + alpha_0 - y_w^a - alpha_w))
    - log((y_w^b + alpha_w) / (n_b + alpha_0 - y_w^b - alpha_w))``,

    ``variance_w = 1 / (y_w^a + alpha_w) + 1 / (y_w^b + alpha_w)``
    (equations 16, 18 and 19 of Monroe et al.).
    """
    y_a = np.asarray(counts_a, dtype=float)
    y_b = np.asarray(counts_b, dtype=float)
    alpha = np.asarray(alpha, dtype=float)
    alpha_0 = alpha.sum()
    n_a, n_b = y_a.sum(), y_b.sum()
    delta = np.log((y_a + alpha) / (n_a + alpha_0 - y_a - alpha)) - np.log((y_b + alpha) / (n_b + alpha_0 - y_b - alpha))
    variance = 1.0 / (y_a + alpha) + 1.0 / (y_b + alpha)
    return pd.DataFrame({"log_odds": delta, "variance": variance, "z": delta / np.sqrt(variance)})


def split_conversations(scores: pd.Series, rule: SplitRule) -> pd.Series:
    """High (True) and low (False) scoring conversations on one dimension; others missing.

    ``rule.method`` is ``threshold`` (high: score >= ``high_min``, low: score <= ``low_max``)
    or ``median`` (high: score > median, low: score <= median).

    Parameters
    ----------
    scores : pandas.Series
        One score per conversation on the dimension (missing scores are neither high nor low).
    rule : SplitRule
        The registered split (``taxonomy.mining.split``).

    Returns
    -------
    pandas.Series of object
        With the index of ``scores``: True (high), False (low) or None (neither: a missing score,
        or between ``low_max`` and ``high_min``).

    Raises
    ------
    AnalysisError
        When ``rule.method`` is neither ``threshold`` nor ``median``.
    """
    if rule.method == "threshold":
        high, low = scores >= rule.high_min, scores <= rule.low_max
    elif rule.method == "median":
        median = scores.median()
        high, low = scores > median, scores <= median
    else:
        raise AnalysisError(f"taxonomy.mining.split.method {rule.method!r} is not one of threshold, median")
    return pd.Series(np.where(high, True, np.where(low, False, None)), index=scores.index, dtype=object)


def dimension_direction(dimension: str, z: np.ndarray) -> np.ndarray:
    """``prescriptive`` when the phrase goes with good scores (high prescriptive, low misattuned)."""
    good = np.asarray(z) > 0 if dimension in PRESCRIPTIVE_DIMENSIONS else np.asarray(z) < 0
    return np.where(good, "prescriptive", "misattuned")


@dataclass(frozen=True)
class MiningResults:
    """The mined taxonomy (columns: ``PHRASE_SCORE_COLUMNS``, ``TAXONOMY_COLUMNS``, ``LEFT_OUT_COLUMNS``).

    ``execution`` describes what was run, for the spec record.
    """

    phrase_scores: pd.DataFrame
    taxonomy: pd.DataFrame
    left_out: pd.DataFrame
    execution: dict


def mine_phrases(
    messages: pd.DataFrame,
    outcomes: pd.DataFrame,
    dimensions: Sequence[str],
    *,
    min_participants: int,
    text: TextNormalisation,
    ngram_range: Sequence[int],
    drop_nested_share: float | None,
    split: SplitRule,
    prior_scale: float,
    z_threshold: float,
    prior_type: str = "informative_dirichlet",
    prior_background: str = "analysed_messages",
) -> MiningResults:
    """Route 2: mine recurring supporter phrases and rank them by their association with each dimension.

    Parameters
    ----------
    messages : pandas.DataFrame
        Validated messages.
    outcomes : pandas.DataFrame
        ``conversation_scores.csv`` (analysed conversations, design and scores).
    dimensions : sequence of str
        Registered dimensions to score phrases on.
    min_participants : int
        k: a phrase is kept only when at least k distinct participants used it.
    text : TextNormalisation
        How messages are normalised and cut into words (``taxonomy.text``).
    ngram_range : (int, int)
        Shortest and longest phrase, in words.
    drop_nested_share : float or None
        Drop a phrase when a phrase one word longer containing it is used in at least this share
        of its messages, and keep only the longest of phrases used in exactly the same messages;
        None keeps every phrase.
    split : SplitRule
        High- and low-scoring conversations on each dimension (``taxonomy.mining.split``).
    prior_scale : float
        Prior counts ``alpha_w = prior_scale * (messages using phrase w)`` (:func:`informative_prior`).
    z_threshold : float
        A phrase marks the dimension of its largest z when that z is at least this.
    prior_type : {"informative_dirichlet"}
        The prior family (the only one implemented; echoed in the spec record).
    prior_background : {"analysed_messages"}
        The background counts: the analysed supporter messages (the only ones implemented).

    Returns
    -------
    MiningResults
        ``phrase_scores``: one row per kept phrase and dimension: phrase,
        n_words, dimension, messages_high / messages_low (messages using it
        in high / low scoring conversations), share_high / share_low (of
        the group's messages), prior_alpha, log_odds, std_error, z and
        direction (``prescriptive`` when the phrase goes with high
        prescriptive or low misattuned scores). ``taxonomy``: one row per
        kept phrase: the dimension of its largest z, whether it ``marks``
        that dimension (z >= the registered threshold), direction and
        category (``affective``, ``cognitive`` or ``misattuned`` from the
        dimension; ``unassigned`` when it marks none), z, its rank within
        the dimension, support_messages and support_participants.
        ``left_out``: conversations not analysed, empty messages,
        phrases used by fewer than k participants (count only) or nested in
        a longer phrase (count only), dimensions without both groups.

    Raises
    ------
    AnalysisError
        When no supporter message of an analysed conversation has words.
    ConfigError
        When ``prior_type`` or ``prior_background`` is not the one implemented.
    """
    require_implemented("taxonomy.mining.prior.type", prior_type, "informative_dirichlet")
    require_implemented("taxonomy.mining.prior.background", prior_background, "analysed_messages")
    k = int(min_participants)
    sample, left_out = supporter_sample(messages, outcomes)
    # A phrase k participants used is in at least k messages: pruning to those chunk by chunk keeps the
    # tokeniser's vocabulary of every distinct n-gram (millions at 100x the trial) from being built whole.
    matrix, phrases, n_found = frequent_phrase_matrix(sample["text"], text=text, ngram_range=ngram_range, min_messages=k)
    left = [left_out]
    if n_found == 0:
        raise AnalysisError("no supporter message of an analysed conversation contains a phrase of the registered length")

    participants = participant_support(matrix, sample["participant_id"])
    frequent = participants >= k
    left.append(_count_row("phrases", f"used by fewer than {k} participants (not shown)", n_found - int(frequent.sum())))
    matrix, phrases, participants = matrix[:, frequent], phrases[frequent], participants[frequent]
    support = np.asarray(matrix.sum(axis=0)).ravel().astype(np.int64)
    if drop_nested_share is not None and len(phrases):
        nested = nested_phrases(phrases, support, float(drop_nested_share))
        left.append(
            _count_row(
                "phrases",
                f"part of a phrase one word longer in at least {drop_nested_share} of its messages",
                int(nested.sum()),
            )
        )
        matrix, phrases, participants, support = matrix[:, ~nested], phrases[~nested], participants[~nested], support[~nested]
        same = same_message_duplicates(matrix, phrases)
        left.append(_count_row("phrases", "used in exactly the same messages as a longer phrase", int(same.sum())))
        matrix, phrases, participants, support = matrix[:, ~same], phrases[~same], participants[~same], support[~same]
    if len(phrases) == 0:
        raise AnalysisError(f"no phrase is used by at least {k} participants; nothing to rank")

    alpha = informative_prior(support, float(prior_scale))
    n_words = pd.Series(phrases, dtype=object).str.count(" ").to_numpy() + 1
    scores, groups = [], {}
    for dimension in dimensions:
        group = split_conversations(sample[dimension], split)
        high = (group == True).to_numpy()  # noqa: E712 (object column holding True, False and None)
        low = (group == False).to_numpy()  # noqa: E712
        groups[dimension] = {
            "high_conversations": int(sample.loc[high, "conversation_id"].nunique()),
            "low_conversations": int(sample.loc[low, "conversation_id"].nunique()),
            "high_messages": int(high.sum()),
            "low_messages": int(low.sum()),
        }
        if not high.any() or not low.any():
            left.append(
                pd.DataFrame(
                    {"level": ["dimension"], "record_id": [dimension],
                     "reason": ["no messages in the high or in the low scoring conversations"], "n_records": [1]}
                )
            )
            continue
        counts_high = np.asarray(matrix[high].sum(axis=0)).ravel()
        counts_low = np.asarray(matrix[low].sum(axis=0)).ravel()
        odds = monroe_log_odds(counts_high, counts_low, alpha)
        scores.append(
            pd.DataFrame(
                {
                    "phrase": phrases,
                    "n_words": n_words,
                    "dimension": dimension,
                    "messages_high": counts_high.astype(np.int64),
                    "messages_low": counts_low.astype(np.int64),
                    "share_high": counts_high / high.sum(),
                    "share_low": counts_low / low.sum(),
                    "prior_alpha": alpha,
                    "log_odds": odds["log_odds"].to_numpy(),
                    "std_error": np.sqrt(odds["variance"].to_numpy()),
                    "z": odds["z"].to_numpy(),
                    "direction": dimension_direction(dimension, odds["z"].to_numpy()),
                }
            )
        )
    if not scores:
        raise AnalysisError("no dimension has both high and low scoring conversations under the registered split")
    phrase_scores = pd.concat(scores, ignore_index=True)
    order = {dimension: rank for rank, dimension in enumerate(dimensions)}
    phrase_scores = phrase_scores.assign(_order=phrase_scores["dimension"].map(order), _neg=-phrase_scores["z"])
    phrase_scores = phrase_scores.sort_values(["_order", "_neg", "phrase"], kind="stable")
    phrase_scores = phrase_scores.drop(columns=["_order", "_neg"]).reset_index(drop=True)[PHRASE_SCORE_COLUMNS]

    taxonomy = _assign_dimensions(phrase_scores, float(z_threshold), order)
    taxonomy = taxonomy.merge(
        pd.DataFrame({"phrase": phrases, "support_messages": support, "support_participants": participants}),
        on="phrase", how="left", validate="one_to_one",
    )[TAXONOMY_COLUMNS]
    shown = shown_items(taxonomy, "support_participants", k)
    if len(shown) != len(taxonomy):
        raise AnalysisError("internal error: a phrase below the participant threshold reached the taxonomy")
    execution = {
        "estimator": "monroe_log_odds_informative_dirichlet",
        "outcomes": list(dimensions),
        "terms": [],
        "sample": {
            **_sample_record(sample),
            "n_phrases": int(len(phrases)),
            "n_phrases_marking_a_dimension": int(taxonomy["marks"].sum()),
        },
        "details": {
            "min_participants": k,
            "ngram_range": [int(n) for n in ngram_range],
            "text": asdict(text),
            "drop_nested_share": drop_nested_share,
            "split": split.describe(),
            "prior": {"type": prior_type, "background": prior_background, "scale": prior_scale, "alpha_0": float(alpha.sum())},
            "z_threshold": float(z_threshold),
            "groups": groups,
            "unit": "supporter message (phrase counted once per message)",
        },
    }
    return MiningResults(
        phrase_scores=phrase_scores,
        taxonomy=taxonomy,
        left_out=pd.concat(left, ignore_index=True)[LEFT_OUT_COLUMNS],
        execution=execution,
    )


def _count_row(level: str, reason: str, count: int) -> pd.DataFrame:
    """One left-out row that counts records not listed one by one (e.g. phrases not shown)."""
    return pd.DataFrame({"level": [level], "record_id": ["(not listed)"], "reason": [reason], "n_records": [count]})


def _assign_dimensions(phrase_scores: pd.DataFrame, z_threshold: float, order: Mapping[str, int]) -> pd.DataFrame:
    """One row per phrase: the dimension of its largest z and whether it marks it."""
    best = phrase_scores.sort_values(["phrase", "z"], ascending=[True, False], kind="stable")
    best = best.drop_duplicates("phrase", keep="first")
    marks = best["z"].to_numpy() >= z_threshold
    prescriptive = best["dimension"].isin(PRESCRIPTIVE_DIMENSIONS).to_numpy()
    table = pd.DataFrame(
        {
            "phrase": best["phrase"].to_numpy(),
            "n_words": best["n_words"].to_numpy(),
            "dimension": best["dimension"].to_numpy(),
            "marks": marks,
            "direction": np.where(marks, np.where(prescriptive, "prescriptive", "misattuned"), ""),
            "category": np.where(marks, best["dimension"].map(DIMENSION_CATEGORY).to_numpy(), UNASSIGNED),
            "z": best["z"].to_numpy(),
        }
    )
    table["_order"] = table["dimension"].map(order)
    table = table.sort_values(["marks", "_order", "z", "phrase"], ascending=[False, True, False, True], kind="stable")
    table["rank_in_dimension"] = table.groupby(["marks", "dimension"]).cumcount() + 1
    return table.drop(columns="_order").reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# Change with training


def did_of_proportions(
    indicators: sparse.csr_matrix, treated: np.ndarray, post: np.ndarray, clusters: np.ndarray
) -> pd.DataFrame:
    """Difference-in-differences of proportions for many binary outcomes at once, cluster-robust.

    For every column ``y`` of ``indicators`` this is the OLS fit of the linear
    probability model ``y ~ 1 + treated + post + treated:post`` and the
    cluster-robust (sandwich) standard error of the interaction, exactly as
    ``statsmodels`` ``OLS(...).fit(cov_type="cluster", cov_kwds={"groups": clusters})``
    computes them (small-sample factor ``G/(G-1) * (N-1)/(N-4)``), but in
    closed form for all columns together.

    Parameters
    ----------
    indicators : scipy.sparse matrix
        ``N x J`` 0/1 matrix (message uses expression).
    treated, post : numpy.ndarray of bool or 0/1
        Group and period of each row.
    clusters : numpy.ndarray
        Cluster (participant) of each row.

    Returns
    -------
    pandas.DataFrame
        One row per column: ``estimate`` (treated change minus control
        change of the share), ``std_error``, ``statistic`` (estimate / SE,
        missing when the SE is 0), ``p_value`` (two-sided, normal reference
        distribution as statsmodels uses for cluster-robust fits), the four
        cell counts ``using_<cell>`` and shares ``share_<cell>`` for cells
        ``control_before``, ``control_after``, ``treated_before`` and
        ``treated_after``, plus ``n_messages`` and ``n_participants``.

    Notes
    -----
    The model is saturated in the four cells, so the interaction is
    ``sum_m w_m y_m`` with ``w_m = s_c / n_c`` (``s_c`` = +1 for control
    before and treated after, -1 otherwise) and each cluster's score is
    ``sum_{m in g} w_m (y_m - mean_c(m))``; the variance is the corrected sum
    of squared cluster scores.

    Raises
    ------
    AnalysisError
        When one of the four cells has no rows or there is a single cluster.
    """
    treated = np.asarray(treated).astype(bool)
    post = np.asarray(post).astype(bool)
    cell = treated.astype(np.int64) * 2 + post.astype(np.int64)
    n = len(cell)
    n_cell = np.bincount(cell, minlength=4)
    if np.any(n_cell == 0):
        names = np.array(["control_before", "control_after", "treated_before", "treated_after"])
        raise AnalysisError(f"no messages in cell(s) {list(names[n_cell == 0])}; the change is not identified")
    codes, uniques = pd.factorize(np.asarray(clusters))
    n_clusters = len(uniques)
    if n_clusters < 2:
        raise AnalysisError("cluster-robust standard errors need at least two participants")
    y = sparse.csr_matrix(indicators, dtype=np.float64)
    rows = np.arange(n)
    to_cell = sparse.csr_matrix((np.ones(n), (cell, rows)), shape=(4, n))
    using = np.asarray((to_cell @ y).todense())
    means = using / n_cell[:, None]
    sign = np.array([1.0, -1.0, -1.0, 1.0])
    estimate = sign @ means
    weight = sign[cell] / n_cell[cell]
    to_cluster = sparse.csr_matrix((weight, (codes, rows)), shape=(n_clusters, n))
    cluster_cell = np.zeros((n_clusters, 4))
    np.add.at(cluster_cell, (codes, cell), weight)
    variance = np.empty(y.shape[1])
    for start in range(0, y.shape[1], _CHUNK):
        block = slice(start, start + _CHUNK)
        score = np.asarray((to_cluster @ y[:, block]).todense()) - cluster_cell @ means[:, block]
        variance[block] = (score**2).sum(axis=0)
    variance *= n_clusters / (n_clusters - 1.0) * (n - 1.0) / (n - 4.0)
    std_error = np.sqrt(variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.where(std_error > 0, estimate / std_error, np.nan)
    result = {"estimate": estimate, "std_error": std_error, "statistic": statistic,
              "p_value": 2.0 * stats.norm.sf(np.abs(statistic))}
    for index, name in enumerate(("control_before", "control_after", "treated_before", "treated_after")):
        result[f"using_{name}"] = using[index].astype(np.int64)
        result[f"share_{name}"] = means[index]
    result["n_messages"] = n
    result["n_participants"] = n_clusters
    return pd.DataFrame(result)


@dataclass(frozen=True)
class ChangeResults:
    """Change of expression use with training (columns: ``SHARE_COLUMNS``, ``CHANGE_COLUMNS``, top, left out)."""

    shares: pd.DataFrame
    change: pd.DataFrame
    top: pd.DataFrame
    left_out: pd.DataFrame
    execution: dict


def expression_change(
    indicators: sparse.csr_matrix,
    expressions: pd.DataFrame,
    sample: pd.DataFrame,
    arms: Sequence[str],
    reference_arm: str,
    *,
    alpha: float,
    fdr_method: str,
    per_arm: bool,
    top_n: int,
    test: str = "lpm_cluster",
) -> ChangeResults:
    """Share of supporter messages using each expression before and after training, and its DiD.

    Parameters
    ----------
    indicators : scipy.sparse matrix
        ``len(sample) x len(expressions)`` 0/1: message uses expression.
    expressions : pandas.DataFrame
        ``expression`` and ``category``, one row per column of ``indicators``
        (only expressions used by at least k participants: they are shown).
    sample : pandas.DataFrame
        The analysed supporter messages (:func:`supporter_sample`) with
        ``participant_id``, ``arm``, ``post`` and ``trouble_type``.
    arms, reference_arm : sequence of str, str
        Registered arms and the reference (control) arm.
    alpha : float
        FDR level; the intervals have confidence ``1 - alpha``.
    fdr_method : str
        statsmodels ``multipletests`` method across the expressions of one
        trouble type and contrast.
    per_arm : bool
        Also each non-reference arm against the reference arm.
    top_n : int
        Significant rising and falling expressions kept per trouble type.
    test : {"lpm_cluster"}
        The test (the only one implemented; echoed in the spec record).

    Returns
    -------
    ChangeResults
        ``shares``: per expression, trouble type, arm and period (before =
        conversation 1, after = the post conversations) the number of
        messages, the messages using the expression and the share.
        ``change``: per expression, trouble type and contrast (``treated`` =
        all non-reference arms pooled, then each arm when ``per_arm``) the
        DiD of the share (:func:`did_of_proportions`), with Benjamini-Hochberg
        q-values across the expressions of one trouble type and contrast
        (expressions without variation get no test), ``significant``
        (q < alpha) and ``direction`` (rising / falling / none).
        ``top``: per trouble type the ``top_n`` significant rising and
        falling expressions of the pooled contrast, largest change first.
        ``left_out``: families that could not be estimated and expressions
        with no variation in a family (counts).

    Raises
    ------
    ConfigError
        When ``test`` is not the one implemented.
    """
    require_implemented("taxonomy.change.test", test, "lpm_cluster")
    alpha = float(alpha)
    troubles = sorted(sample["trouble_type"].dropna().unique())
    treated_arms = [arm for arm in arms if arm != reference_arm]
    contrasts = [(TREATED, treated_arms)] + ([(arm, [arm]) for arm in treated_arms] if per_arm else [])
    shares = _shares(indicators, expressions, sample, arms, troubles)
    frames, left = [], []
    for trouble in troubles:
        for contrast, group in contrasts:
            rows = ((sample["trouble_type"] == trouble) & sample["arm"].isin([*group, reference_arm])).to_numpy()
            try:
                did = did_of_proportions(
                    indicators[rows], sample.loc[rows, "arm"].isin(group).to_numpy(),
                    sample.loc[rows, "post"].to_numpy() == 1, sample.loc[rows, "participant_id"].to_numpy(),
                )
            except AnalysisError as error:
                left.append(
                    pd.DataFrame({"level": ["family"], "record_id": [f"{trouble} / {contrast}"],
                                  "reason": [f"not estimable: {error}"], "n_records": [len(expressions)]})
                )
                continue
            testable = did["p_value"].notna().to_numpy()
            q_value = np.full(len(did), np.nan)
            if testable.any():
                q_value[testable] = multitest.multipletests(did.loc[testable, "p_value"], alpha=alpha, method=fdr_method)[1]
            if (~testable).any():
                left.append(
                    pd.DataFrame({"level": ["expressions"], "record_id": [f"{trouble} / {contrast}"],
                                  "reason": ["no variation in the trouble type and contrast: no test"],
                                  "n_records": [int((~testable).sum())]})
                )
            # the test is the helper's (did); only the interval comes from the Wald builder
            interval = wald_coefficients(expressions["expression"], did["estimate"], did["std_error"], alpha)
            significant = q_value < alpha
            frames.append(
                pd.DataFrame(
                    {
                        "expression": expressions["expression"].to_numpy(),
                        "category": expressions["category"].to_numpy(),
                        "trouble_type": trouble,
                        "contrast": contrast,
                        "n_messages": did["n_messages"].to_numpy(),
                        "n_participants": did["n_participants"].to_numpy(),
                        "messages_using_before_treated": did["using_treated_before"].to_numpy(),
                        "messages_using_after_treated": did["using_treated_after"].to_numpy(),
                        "messages_using_before_control": did["using_control_before"].to_numpy(),
                        "messages_using_after_control": did["using_control_after"].to_numpy(),
                        "share_before_treated": did["share_treated_before"].to_numpy(),
                        "share_after_treated": did["share_treated_after"].to_numpy(),
                        "share_before_control": did["share_control_before"].to_numpy(),
                        "share_after_control": did["share_control_after"].to_numpy(),
                        "estimate": did["estimate"].to_numpy(),
                        "std_error": did["std_error"].to_numpy(),
                        "statistic": did["statistic"].to_numpy(),
                        "p_value": did["p_value"].to_numpy(),
                        "q_value": q_value,
                        "ci_low": interval["ci_low"].to_numpy(),
                        "ci_high": interval["ci_high"].to_numpy(),
                        "significant": significant,
                        "direction": np.select(
                            [did["estimate"].to_numpy() > 0, did["estimate"].to_numpy() < 0], ["rising", "falling"], "none"
                        ),
                    }
                )
            )
    change = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CHANGE_COLUMNS)
    change = change[CHANGE_COLUMNS]
    top = top_changes(change, int(top_n))
    left_out = pd.concat(left, ignore_index=True) if left else pd.DataFrame(columns=LEFT_OUT_COLUMNS)
    execution = {
        "estimator": "ols_linear_probability_did",
        "outcomes": ["message uses expression"],
        "terms": ["intercept", "treated", "post", "treated:post"],
        "reference_arm": reference_arm,
        "covariance": {
            "type": "cluster",
            "cluster_by": "participant_id",
            "small_sample_correction": "G/(G-1)*(N-1)/(N-K), K=4 (statsmodels default)",
            "reference_distribution": "normal",
        },
        "alpha": alpha,
        "multiplicity": {"family": "expressions within trouble type and contrast", "method": fdr_method},
        "sample": {
            **_sample_record(sample),
            "n_expressions": int(len(expressions)),
            "trouble_types": troubles,
        },
        "details": {
            "contrasts": [name for name, _ in contrasts],
            "treated_arms": treated_arms,
            "test": test,
            "top_n": int(top_n),
            "unit": "supporter message; before = conversation 1, after = post conversations",
        },
    }
    return ChangeResults(shares=shares, change=change, top=top, left_out=left_out[LEFT_OUT_COLUMNS], execution=execution)


def _shares(
    indicators: sparse.csr_matrix, expressions: pd.DataFrame, sample: pd.DataFrame, arms: Sequence[str],
    troubles: Sequence[str],
) -> pd.DataFrame:
    """Messages and share using each expression per trouble type, arm and period (long table)."""
    cells = pd.MultiIndex.from_product([troubles, list(arms), [0, 1]], names=["trouble_type", "arm", "post"])
    position = pd.Series(np.arange(len(cells)), index=cells)
    keys = pd.MultiIndex.from_arrays([sample["trouble_type"], sample["arm"], sample["post"].astype(np.int64)])
    codes = position.reindex(keys).to_numpy()
    known = ~np.isnan(codes)
    to_cell = sparse.csr_matrix(
        (np.ones(int(known.sum())), (codes[known].astype(np.int64), np.flatnonzero(known))),
        shape=(len(cells), len(sample)),
    )
    using = np.asarray((to_cell @ sparse.csr_matrix(indicators, dtype=np.float64)).todense())
    n_messages = np.bincount(codes[known].astype(np.int64), minlength=len(cells))
    frame = cells.to_frame(index=False)
    n_expr = len(expressions)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(n_messages[:, None] > 0, using / n_messages[:, None], np.nan)
    table = pd.DataFrame(
        {
            "expression": np.tile(expressions["expression"].to_numpy(), len(cells)),
            "category": np.tile(expressions["category"].to_numpy(), len(cells)),
            "trouble_type": np.repeat(frame["trouble_type"].to_numpy(), n_expr),
            "arm": np.repeat(frame["arm"].to_numpy(), n_expr),
            "period": np.repeat(frame["post"].map(PERIODS).to_numpy(), n_expr),
            "n_messages": np.repeat(n_messages, n_expr),
            "messages_using": using.reshape(-1).astype(np.int64),
            "share": share.reshape(-1),
        }
    )
    return table[SHARE_COLUMNS]


def top_changes(change: pd.DataFrame, top_n: int) -> pd.DataFrame:
    """The ``top_n`` significant rising and falling expressions per trouble type (pooled contrast).

    Returns the rows of ``change`` for contrast ``treated`` with ``significant`` true, ranked within
    trouble type and direction by the size of the change (ties by expression), with a ``rank``
    column (1 = largest change).
    """
    pooled = change[(change["contrast"] == TREATED) & change["significant"].astype(bool)]
    pooled = pooled[pooled["direction"] != "none"].assign(_size=lambda frame: -frame["estimate"].abs())
    pooled = pooled.sort_values(["trouble_type", "direction", "_size", "expression"], kind="stable")
    pooled = pooled.assign(rank=pooled.groupby(["trouble_type", "direction"]).cumcount() + 1)
    top = pooled[pooled["rank"] <= top_n].drop(columns="_size")
    return top[["trouble_type", "direction", "rank", *[c for c in CHANGE_COLUMNS if c not in ("trouble_type", "direction")]]].reset_index(drop=True)


def phrase_change(
    messages: pd.DataFrame,
    outcomes: pd.DataFrame,
    taxonomy: pd.DataFrame,
    arms: Sequence[str],
    reference_arm: str,
    *,
    min_participants: int,
    text: TextNormalisation,
    ngram_range: Sequence[int],
    change: ChangeTest,
) -> ChangeResults:
    """Route 2: change with training of the mined phrases (every phrase of the taxonomy).

    The phrases are counted again in the analysed supporter messages with the registered
    normalisation (``text``, ``ngram_range``: as for :func:`mine_phrases`); only those used by at
    least ``min_participants`` participants are analysed, and their category is the one the
    taxonomy gave them (``unassigned`` when they mark no dimension). ``change`` is the registered
    test (:func:`expression_change`).

    Parameters
    ----------
    messages : pandas.DataFrame
        Validated messages (``conversation_id``, ``turn``, ``role``, ``text``).
    outcomes : pandas.DataFrame
        ``conversation_scores.csv``: one row per analysed conversation with ``participant_id``,
        ``arm``, ``post`` and ``trouble_type`` (:func:`supporter_sample`).
    taxonomy : pandas.DataFrame
        :attr:`MiningResults.taxonomy` (:data:`TAXONOMY_COLUMNS`), one row per phrase; phrases
        whose ``support_participants`` is at least ``min_participants`` are analysed.
    arms, reference_arm : sequence of str, str
        Registered arms and the reference (control) arm.
    min_participants : int
        k: the least number of participants a phrase's mined support must reach to be analysed.
    text : TextNormalisation
        The registered normalisation (``taxonomy.text``).
    ngram_range : (int, int)
        Shortest and longest phrase, in words.
    change : ChangeTest
        The registered test, passed field by field to :func:`expression_change`.

    Returns
    -------
    ChangeResults
        As :func:`expression_change` returns it (expressions: the phrases), with ``left_out``
        starting with the rows of :func:`supporter_sample` (conversations not analysed, empty
        supporter messages).

    Raises
    ------
    ConfigError
        When ``change.test`` is not the one implemented.
    """
    sample, left_out = supporter_sample(messages, outcomes)
    shown = shown_items(taxonomy, "support_participants", int(min_participants))
    indicators, _ = phrase_matrix(sample["text"], text=text, ngram_range=ngram_range, vocabulary=shown["phrase"])
    expressions = pd.DataFrame({"expression": shown["phrase"].to_numpy(), "category": shown["category"].to_numpy()})
    result = expression_change(indicators, expressions, sample, arms, reference_arm, **asdict(change))
    return _with_left_out(result, left_out)


def theme_change(
    themes: pd.DataFrame,
    messages: pd.DataFrame,
    outcomes: pd.DataFrame,
    arms: Sequence[str],
    reference_arm: str,
    *,
    min_participants: int,
    change: ChangeTest,
) -> ChangeResults:
    """Route 1: change with training of the coded themes.

    Theme codes on seeker messages or on messages of conversations that are not analysed are left
    out (listed); themes used by fewer than k = ``min_participants`` participants are analysed
    nowhere and listed by an opaque identifier only. ``change`` is the registered test
    (:func:`expression_change`).

    Parameters
    ----------
    themes : pandas.DataFrame
        Validated theme codes (``conversation_id``, ``turn``, ``theme``, ``category``), e.g. at one
        level of :func:`analysis.cohorts.optional.themes_at_level`; a theme's category is that of
        its first code among the analysed messages.
    messages : pandas.DataFrame
        Validated messages (``conversation_id``, ``turn``, ``role``, ``text``).
    outcomes : pandas.DataFrame
        ``conversation_scores.csv``: one row per analysed conversation with ``participant_id``,
        ``arm``, ``post`` and ``trouble_type`` (:func:`supporter_sample`).
    arms, reference_arm : sequence of str, str
        Registered arms and the reference (control) arm.
    min_participants : int
        k: the least number of distinct participants whose analysed messages carry a theme for it
        to be analysed and shown.
    change : ChangeTest
        The registered test, passed field by field to :func:`expression_change`.

    Returns
    -------
    ChangeResults
        As :func:`expression_change` returns it (expressions: the themes used by at least k
        participants), with ``left_out`` starting with the rows of :func:`supporter_sample`, then
        the theme codes left out (``level`` ``theme_code``, ``record_id`` the message key) and the
        themes below k (``level`` ``theme``, ``record_id`` an opaque identifier).

    Raises
    ------
    AnalysisError
        When no theme is used by at least k participants in the analysed supporter messages.
    ConfigError
        When ``change.test`` is not the one implemented.
    """
    sample, left_out = supporter_sample(messages, outcomes)
    k = int(min_participants)
    position = pd.Series(np.arange(len(sample)), index=message_keys(sample["conversation_id"], sample["turn"]))
    keys = message_keys(themes["conversation_id"], themes["turn"])
    row = position.reindex(keys).to_numpy()
    coded = ~np.isnan(row)
    roles = messages.set_index(message_keys(messages["conversation_id"], messages["turn"]))["role"]
    seeker = (roles.reindex(keys).to_numpy() == ROLES[0]) & ~coded
    left = [left_out]
    for mask, reason in ((seeker, "theme code on a seeker message"),
                         (~coded & ~seeker, "theme code on a supporter message that is not analysed "
                                             "(conversation excluded upstream, or empty text)")):
        if mask.any():
            left.append(pd.DataFrame({"level": "theme_code", "record_id": keys[mask].to_numpy(),
                                      "reason": reason, "n_records": 1}))
    used = themes.loc[coded]
    theme_codes, theme_names = pd.factorize(used["theme"], sort=True)
    indicators = sparse.csr_matrix(
        (np.ones(len(used)), (row[coded].astype(np.int64), theme_codes)), shape=(len(sample), len(theme_names))
    )
    indicators.data = np.ones_like(indicators.data)
    categories = used.drop_duplicates("theme").set_index("theme")["category"]
    participants = participant_support(indicators, sample["participant_id"])
    expressions = pd.DataFrame(
        {"expression": np.asarray(theme_names, dtype=object), "category": categories.reindex(theme_names).to_numpy(),
         "support_participants": participants}
    )
    shown = shown_items(expressions, "support_participants", k)
    hidden = expressions.loc[~expressions.index.isin(shown.index), "expression"]
    if len(hidden):
        left.append(pd.DataFrame({"level": "theme", "record_id": [opaque_id(name) for name in hidden],
                                  "reason": f"used by fewer than {k} participants (not shown)", "n_records": 1}))
    if shown.empty:
        raise AnalysisError(f"no theme is used by at least {k} participants in the analysed supporter messages")
    indicators = indicators.tocsc()[:, shown.index.to_numpy()].tocsr()
    result = expression_change(
        indicators, shown[["expression", "category"]].reset_index(drop=True), sample, arms, reference_arm,
        **asdict(change),
    )
    return _with_left_out(result, pd.concat(left, ignore_index=True))


def _with_left_out(result: ChangeResults, left_out: pd.DataFrame) -> ChangeResults:
    """``result`` with ``left_out`` rows (the message sample's) put before its own."""
    combined = pd.concat([left_out, result.left_out], ignore_index=True)[LEFT_OUT_COLUMNS]
    return ChangeResults(result.shares, result.change, result.top, combined, result.execution)


# --------------------------------------------------------------------------------------------------
# Recovery of a reference lexicon


def reference_ngrams(
    texts_by_dimension: Mapping[str, Sequence[str]], *, text: TextNormalisation, ngram_range: Sequence[int]
) -> dict[str, set[str]]:
    """The phrases (n-grams) of a reference lexicon per dimension, normalised like the messages.

    ``text`` and ``ngram_range`` are those of :func:`mine_phrases`. A phrase counts for a dimension
    only when no other dimension's texts contain it.

    Parameters
    ----------
    texts_by_dimension : mapping of str to sequence of str
        The reference lexicon: its texts (words or example phrases) per dimension.
    text : TextNormalisation
        The registered normalisation (``taxonomy.text``).
    ngram_range : (int, int)
        Shortest and longest phrase, in words.

    Returns
    -------
    dict of str to set of str
        Per dimension of ``texts_by_dimension``, the n-grams (words joined by single spaces, as
        :func:`phrase_matrix` gives them) found in its texts and in no other dimension's.
    """
    found = {}
    for dimension, texts in texts_by_dimension.items():
        _, phrases = phrase_matrix(pd.Series(list(texts), dtype=object), text=text, ngram_range=ngram_range)
        found[dimension] = set(phrases)
    return {
        dimension: phrases - set().union(*(other for name, other in found.items() if name != dimension))
        for dimension, phrases in found.items()
    }


def phrase_recovery(phrase_scores: pd.DataFrame, reference: Mapping[str, set[str]]) -> pd.DataFrame:
    """How well the miner ranks a reference lexicon's phrases on their own dimension.

    Parameters
    ----------
    phrase_scores : pandas.DataFrame
        :attr:`MiningResults.phrase_scores`.
    reference : mapping of str to set of str
        Phrases expected to mark each dimension (:func:`reference_ngrams`).

    Returns
    -------
    pandas.DataFrame
        Per dimension: ``n_reference`` (reference phrases among the mined
        ones), ``n_other``, ``auc`` (probability that a reference phrase has
        a larger z on the dimension than another mined phrase; 0.5 is
        chance), ``p_value`` (one-sided Mann-Whitney U test, scipy),
        ``r_precision`` (share of reference phrases among the
        ``n_reference`` phrases with the largest z) and ``chance_precision``
        (share of reference phrases among all mined phrases, the expected
        R-precision of a random ranking).
    """
    rows = []
    for dimension, phrases in reference.items():
        scores = phrase_scores[phrase_scores["dimension"] == dimension]
        if scores.empty:
            continue
        is_reference = scores["phrase"].isin(phrases).to_numpy()
        z = scores["z"].to_numpy()
        mine, other = z[is_reference], z[~is_reference]
        if len(mine) and len(other):
            test = stats.mannwhitneyu(mine, other, alternative="greater")
            auc, p_value = test.statistic / (len(mine) * len(other)), test.pvalue
        else:
            auc, p_value = np.nan, np.nan
        best = scores.sort_values(["z", "phrase"], ascending=[False, True], kind="stable").head(int(is_reference.sum()))
        rows.append(
            {
                "dimension": dimension,
                "n_reference": int(is_reference.sum()),
                "n_other": int((~is_reference).sum()),
                "auc": auc,
                "p_value": p_value,
                "r_precision": float(best["phrase"].isin(phrases).mean()) if len(best) else np.nan,
                "chance_precision": float(is_reference.mean()),
            }
        )
    return pd.DataFrame(rows)

