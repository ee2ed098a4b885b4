"""Published benchmark scores, each with the paper table it comes from and its protocol.

Data only (no I/O), from docs/sources.md, "Published benchmark scores". Scores from different
sources were measured with different evaluation protocols (shots, prompts, maj@k, metric
versions): Llama 2 7B scores 44.4 on MMLU in the Mistral paper and 45.3 in its own paper.
So every score belongs to exactly one ``Source``, the Comparison tab charts one source at a
time, and every chart names its source and protocol. ``scores`` never merges two sources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Source:
    """One published table (or set of tables measured with one protocol)."""

    slug: str
    title: str
    citation: str
    protocol: str
    unit: str  # how to read the numbers, for axis titles


@dataclass(frozen=True)
class Score:
    """One published number."""

    source: str  # Source.slug
    model: str
    benchmark: str
    value: float
    table: str  # the table in the source paper the number is printed in
    unit: str = "%"


SOURCES: Mapping[str, Source] = MappingProxyType(
    {
        s.slug: s
        for s in (
            Source(
                "mistral-7b-table-2",
                "Mistral 7B paper, Table 2",
                "Jiang et al. 2023, Mistral 7B, arXiv 2310.06825, Table 2",
                "one protocol for all rows, re-evaluated by the Mistral authors; MMLU 5-shot, "
                "HumanEval 0-shot, MBPP 3-shot, MATH 4-shot maj@4, GSM8K 8-shot maj@8",
                "score (%)",
            ),
            Source(
                "llama-2-paper",
                "Llama 2 paper, Tables 3, 20, 21, 25",
                "Touvron et al. 2023, Llama 2, arXiv 2307.09288",
                "Meta's own protocol: MMLU 5-shot (Table 3); commonsense reasoning (Table 20); "
                "code pass@1 (Table 21); GSM8K and MATH (Table 25)",
                "score (%)",
            ),
            Source(
                "code-llama-table-2",
                "Code Llama paper, Table 2",
                "Rozière et al. 2023, Code Llama, arXiv 2308.12950, Table 2",
                "pass@1, greedy decoding; HumanEval 0-shot, MBPP 3-shot",
                "pass@1 (%)",
            ),
            Source(
                "lmsys-chat-2023-11",
                "LMSYS Chatbot Arena leaderboard, Nov 2023",
                "LMSYS Chatbot Arena leaderboard (Nov 2023)",
                "chat models: MT-Bench score (0-10, GPT-4 judge), MMLU (%), Arena Elo "
                "(pairwise human votes); three different scales",
                "mixed units",
            ),
        )
    }
)

_MISTRAL_BENCH = (
    "MMLU",
    "HellaSwag",
    "WinoGrande",
    "PIQA",
    "ARC-e",
    "ARC-c",
    "NQ",
    "TriviaQA",
    "HumanEval",
    "MBPP",
    "MATH",
    "GSM8K",
)
_MISTRAL_ROWS: dict[str, tuple[float, ...]] = {
    "Llama 2 7B": (44.4, 77.1, 69.5, 77.9, 68.7, 43.2, 24.7, 63.8, 11.6, 26.1, 3.9, 16.0),
    "Llama 2 13B": (55.6, 80.7, 72.9, 80.8, 75.2, 48.8, 29.0, 69.6, 18.9, 35.4, 6.0, 34.3),
    "Code Llama 7B": (36.9, 62.9, 62.3, 72.8, 59.4, 34.5, 11.0, 34.9, 31.1, 52.5, 5.2, 20.8),
    "Mistral 7B": (60.1, 81.3, 75.3, 83.0, 80.0, 55.5, 28.8, 69.9, 30.5, 47.5, 13.1, 52.2),
}

# Llama 2 paper: benchmark -> the table it is printed in.
_LLAMA2_TABLE = {
    "HellaSwag": "Table 20",
    "WinoGrande": "Table 20",
    "PIQA": "Table 20",
    "ARC-e": "Table 20",
    "ARC-c": "Table 20",
    "MMLU": "Table 3",
    "HumanEval": "Table 21",
    "MBPP": "Table 21",
    "GSM8K": "Table 25",
    "MATH": "Table 25",
}
_LLAMA2_ROWS: dict[str, tuple[float, ...]] = {
    "Llama 2 7B": (77.2, 69.2, 78.8, 75.2, 45.9, 45.3, 12.8, 20.8, 14.6, 2.5),
    "Llama 2 13B": (80.7, 72.8, 80.5, 77.3, 49.4, 54.8, 18.3, 30.6, 28.7, 3.9),
    "Llama 2 70B": (85.3, 80.2, 82.8, 80.2, 57.4, 68.9, 29.9, 45.0, 56.8, 13.5),
}

_CODE_LLAMA_ROWS: dict[str, tuple[float, ...]] = {
    "Code Llama 7B": (33.5, 41.4),
    "Code Llama 13B": (36.0, 47.0),
    "Code Llama 34B": (48.8, 55.0),
    "Code Llama - Python 7B": (38.4, 47.6),
    "Code Llama - Python 13B": (43.3, 49.0),
    "Code Llama - Python 34B": (53.7, 56.2),
    "Code Llama - Instruct 7B": (34.8, 44.4),
    "Code Llama - Instruct 13B": (42.7, 49.4),
    "Code Llama - Instruct 34B": (41.5, 57.0),
}

_LMSYS_ROWS: dict[str, tuple[float, ...]] = {
    "Vicuna-13B v1.5": (6.57, 55.8, 1031),
    "Vicuna-7B v1.5": (6.17, 49.8, 994),
    "Llama-2-13b-chat": (6.65, 53.6, 1021),
    "Llama-2-7b-chat": (6.27, 45.8, 1001),
    "Mistral-7B-Instruct-v0.1": (6.84, 55.4, 1008),
}
_LMSYS_UNITS = {"MT-Bench": "score (0-10)", "MMLU": "%", "Arena Elo": "Elo"}


def _build() -> tuple[Score, ...]:
    out: list[Score] = []
    for model, row in _MISTRAL_ROWS.items():
        for bench, v in zip(_MISTRAL_BENCH, row, strict=True):
            out.append(Score("mistral-7b-table-2", model, bench, v, "Table 2"))
    for model, row in _LLAMA2_ROWS.items():
        for bench, v in zip(_LLAMA2_TABLE, row, strict=True):
            out.append(Score("llama-2-paper", model, bench, v, _LLAMA2_TABLE[bench]))
    for model, row in _CODE_LLAMA_ROWS.items():
        for bench, v in zip(("HumanEval", "MBPP"), row, strict=True):
            out.append(Score("code-llama-table-2", model, bench, v, "Table 2"))
    for model, row in _LMSYS_ROWS.items():
        for bench, v in zip(_LMSYS_UNITS, row, strict=True):
            out.append(
                Score(
                    "lmsys-chat-2023-11", model, bench, float(v), "leaderboard", _LMSYS_UNITS[bench]
                )
            )
    return tuple(out)


SCORES: tuple[Score, ...] = _build()
DEFAULT_SOURCE = "mistral-7b-table-2"


def scores(source: str) -> tuple[Score, ...]:
    """Every score of one source, in table order.

    Raises:
        KeyError: unknown source.
    """
    if source not in SOURCES:
        raise KeyError(f"unknown benchmark source {source!r:.40}; one of {', '.join(SOURCES)}")
    return tuple(s for s in SCORES if s.source == source)


def models(source: str) -> list[str]:
    """Model names of a source, in table order."""
    return list(dict.fromkeys(s.model for s in scores(source)))


def benchmarks(source: str) -> list[str]:
    """Benchmark names of a source, in table order."""
    return list(dict.fromkeys(s.benchmark for s in scores(source)))


def units(source: str) -> dict[str, str]:
    """The unit of each benchmark of a source (all "%" except the LMSYS chat table)."""
    return {s.benchmark: s.unit for s in scores(source)}


def select(
    source: str, model_names: Sequence[str] | None = None, bench_names: Sequence[str] | None = None
) -> tuple[Score, ...]:
    """Scores of one source restricted to the given models and benchmarks (None = all).

    Unknown names are ignored, so a stale selection from the browser cannot raise.
    """
    ms = None if model_names is None else set(model_names)
    bs = None if bench_names is None else set(bench_names)
    return tuple(
        s
        for s in scores(source)
        if (ms is None or s.model in ms) and (bs is None or s.benchmark in bs)
    )
