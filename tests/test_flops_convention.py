"""MFU counts a token's model FLOPs as PaLM, Megatron-LM, llm-foundry and torchtitan do.

6N + 12 * n_layers * seq_len * d_model (Chowdhery et al. 2022, PaLM appendix B). Each published
(tokens/s/GPU, MFU) pair below was measured by a tool that counts this way, so the simulator's
own MFU formula (tokens/s x FLOPs per token / peak, as ``dynamics`` computes the MFU it draws)
must turn the throughput back into the MFU the tool printed. Kaplan's 6 * n_layers * seq_len *
d_model misses each by 3-7%. Figures: docs/sources.md, "Compute".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from dash.development.base_component import Component

import simulator as sim
from layouts import ids
from layouts import training as training_layout
from simulator import throughput_data
from simulator.estimate import FLOPS_CONVENTION, flops_per_token, peak_flops
from views import configuration as cfg_view


def mfu_at(cfg: sim.TrainingConfig, tokens_per_second_per_gpu: float) -> float:
    return tokens_per_second_per_gpu * flops_per_token(cfg) / peak_flops(cfg)


def test_flops_per_token_counts_attention_as_palm_does() -> None:
    cfg = sim.preset("llama-2-7b")
    a = cfg.arch
    n = sim.param_count(a)
    assert flops_per_token(cfg) == 6 * n + 12 * a.n_layers * cfg.seq_len * a.d_model
    # The attention term grows with the sequence; the 6N term does not.
    long = sim.preset("llama-2-7b", seq_len=8192, global_batch_tokens=8 * 2**20)
    assert flops_per_token(long) - flops_per_token(cfg) == 12 * a.n_layers * 4096 * a.d_model


def _mpt(size: str, seq_len: int) -> sim.TrainingConfig:
    # The FLOPs per token depend on the parameters, layers, width and sequence only.
    return throughput_data.mpt(size, seq_len, micro_batch=1, batch=8, checkpointing=False)


# (config, tokens/s/GPU, MFU as printed, source)
PUBLISHED_PAIRS = [
    # torchtitan docs/performance.md, Llama 2 on 64 A100-80GB with FSDP2, sequence 4096.
    (lambda: sim.preset("llama-2-13b"), 2162, 0.611, "torchtitan Llama 2 13B, no AC"),
    (lambda: sim.preset("llama-2-13b"), 1914, 0.541, "torchtitan Llama 2 13B, selective AC"),
    (lambda: sim.preset("llama-2-70b"), 355, 0.508, "torchtitan Llama 2 70B, selective AC"),
    (lambda: sim.preset("llama-2-70b"), 353, 0.505, "torchtitan Llama 2 70B, full AC"),
    # MosaicML llm-foundry scripts/train/benchmarking/README.md, A100-80GB, 8 GPUs.
    (lambda: _mpt("7b", 4096), 3684, 0.5484, "llm-foundry MPT-7B seq 4096"),
    (lambda: _mpt("7b", 2048), 4641, 0.6423, "llm-foundry MPT-7B seq 2048"),
    (lambda: _mpt("13b", 2048), 2262, 0.5957, "llm-foundry MPT-13B seq 2048"),
]


@pytest.mark.parametrize(
    ("make", "tps", "published_mfu", "what"), PUBLISHED_PAIRS, ids=[p[3] for p in PUBLISHED_PAIRS]
)
def test_published_throughput_gives_the_published_mfu(
    make: Callable[[], sim.TrainingConfig], tps: float, published_mfu: float, what: str
) -> None:
    cfg = make()
    assert mfu_at(cfg, tps) == pytest.approx(published_mfu, rel=0.012), what


def test_a_run_reports_the_mfu_of_its_throughput_in_that_convention() -> None:
    """The MFU a run draws is tokens/s x (6N + 12 L s d) / (GPUs x peak), step by step."""
    cfg = sim.preset("llama-2-7b", dataset_tokens=2e10, warmup_steps=100)
    state = sim.advance(sim.start(sim.new_run(cfg)), 200)
    m = sim.metrics(state, 100, 200)
    expected = m["tokens_per_sec"] * flops_per_token(cfg) / (cfg.num_gpus * peak_flops(cfg))
    assert m["mfu"] == pytest.approx(expected, rel=1e-9)


def _walk(component: object) -> Iterator[Component]:
    if isinstance(component, Component):
        yield component
        yield from _walk(getattr(component, "children", None))
    elif isinstance(component, list | tuple):
        for child in component:
            yield from _walk(child)


def test_every_mfu_tooltip_states_the_convention() -> None:
    assert "12 × layers × sequence × d_model" in FLOPS_CONVENTION
    assert "PaLM" in FLOPS_CONVENTION
    # Configuration tab: the MFU tile's tooltip (and the override field's, the same text).
    cfg = sim.preset("llama-2-7b")
    (tile,) = [s for s in cfg_view.stats(cfg, sim.estimate(cfg)) if s.key == "mfu"]
    assert FLOPS_CONVENTION in tile.tip
    # Training tab: the MFU card's label has a "?" whose tooltip says it.
    tips = [
        c
        for c in _walk(training_layout.layout())
        if getattr(c, "id", None) == ids.tr_kpi_tip("mfu")
    ]
    assert len(tips) == 1
    assert FLOPS_CONVENTION in tips[0].to_plotly_json()["props"]["aria-label"]
