"""Throughput against the published tables: 8-64 GPUs (llm-foundry, torchtitan) and at scale.

Every row, with its source, is in ``simulator.throughput_data`` (the plot in
benchmarks/plot_simulator.py draws the same rows); figures in docs/sources.md, "Throughput
calibration". Before issue 13 the small-cluster rows came out at 0.56-0.74 of the published
tokens/s (A100 MPT-7B seq 4096: 2,162 against 3,684; H100 MPT-7B MFU 26% against 40%).
"""

from __future__ import annotations

import pytest

import simulator as sim
from simulator import throughput_data as td
from simulator.estimate import (
    AT_SCALE_FACTOR,
    CHECKPOINTING_FACTOR,
    cluster_factor,
    flops_per_token,
    modelled_mfu,
    peak_flops,
)

ROWS = td.measured()


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.table}: {r.label}" for r in ROWS])
def test_each_published_throughput_is_reproduced(row: td.Measured) -> None:
    cfg = row.config
    ours = sim.estimate(cfg).tokens_per_second / cfg.num_gpus
    ratio = ours / row.tokens_per_second_per_gpu
    assert ratio == pytest.approx(1.0, abs=row.tolerance), (
        f"{row.label} ({row.source}): {ours:,.0f} tokens/s/GPU against "
        f"{row.tokens_per_second_per_gpu:,.0f} published"
    )
    if row.mfu is not None:
        assert modelled_mfu(cfg) / row.mfu == pytest.approx(1.0, abs=row.tolerance)


def test_the_tables_cover_what_the_model_must_fit() -> None:
    """8-64 GPUs on A100 and H100, with and without checkpointing, 125M to 70B, sequences to
    64K, and Meta's runs on 1-16K GPUs."""
    tables = {r.table for r in ROWS}
    assert tables == set(td.TABLES)
    small = [r for r in ROWS if r.table != td.META]
    assert {r.config.num_gpus for r in small} >= {8, 16, 64}
    assert {r.config.gpu for r in small} == {"a100-80gb", "h100-sxm"}
    assert {r.config.activation_checkpointing for r in small} == {False, True}
    assert max(r.config.num_gpus for r in ROWS) == 16_384
    assert all(r.tolerance <= 0.20 for r in ROWS if r.table != td.META)


def test_published_mfu_and_throughput_agree_in_our_flops_convention() -> None:
    """Each source printed both figures; our FLOPs count turns one into the other."""
    for row in ROWS:
        if row.mfu is None or row.table == td.META:
            continue
        cfg = row.config
        mfu = row.tokens_per_second_per_gpu * flops_per_token(cfg) / peak_flops(cfg)
        assert mfu == pytest.approx(row.mfu, rel=0.015), row.label


@pytest.mark.parametrize(
    ("slug", "gpus", "micro"),
    [("llama-2-7b", 8, 4), ("llama-2-13b", 64, 2), ("llama-2-70b", 2048, 1)],
)
def test_checkpointing_costs_what_measured_pairs_say(slug: str, gpus: int, micro: int) -> None:
    """Measured with/without pairs: 0.854 (llm-foundry MPT-7B, A100: 54.8% at seq 4096 against
    64.2% at 2048), 0.870 (its H100 rows: 40.4% against 46.4%), 0.885 (torchtitan Llama 2 13B,
    selective: 54.1% against 61.1%). Not the flat 6/8 the simulator charged before."""
    kw = dict(num_gpus=gpus, micro_batch_size=micro, zero_stage=3, tensor_parallel=1)
    kw["global_batch_tokens"] = gpus * micro * 4096
    kw["dataset_tokens"] = 1e11
    off = sim.estimate(sim.preset(slug, activation_checkpointing=False, **kw))
    on = sim.estimate(sim.preset(slug, activation_checkpointing=True, **kw))
    assert 0.85 <= on.tokens_per_second / off.tokens_per_second <= 0.885
    assert on.mfu / off.mfu == pytest.approx(CHECKPOINTING_FACTOR)


def test_mfu_is_flat_to_128_gpus_and_settles_at_scale() -> None:
    """llm-foundry's H100 MPT-13B runs at 4,792 tokens/s/GPU on 8 GPUs and 4,800 on 64; Meta's
    1-2K GPU runs and Llama 3's 16K sit in one band, 0.85 of the small-cluster level."""
    assert cluster_factor(8) == cluster_factor(64) == cluster_factor(128) == 1.0
    assert cluster_factor(256) > cluster_factor(512) > cluster_factor(1024)
    for gpus in (1024, 2048, 16_384, 65_536):
        assert cluster_factor(gpus) == pytest.approx(AT_SCALE_FACTOR)
    per_gpu = {
        g: sim.estimate(
            td.mpt(
                "13b",
                2048,
                gpu="h100-sxm",
                num_gpus=g,
                micro_batch=2,
                batch=2 * g,
                checkpointing=False,
            )
        ).tokens_per_second
        / g
        for g in (8, 64)
    }
    assert per_gpu[8] == pytest.approx(per_gpu[64], rel=0.01)


def test_the_meta_presets_checkpoint_selectively_as_llama_did() -> None:
    """LLaMA section 2.4 (Llama 2 keeps its setup): their GPU-hours include the recomputation,
    so the presets run with checkpointing on; the GPU-hours tests hold with it."""
    for slug in sim.PRESETS:
        if sim.MODELS[slug].family in ("llama", "llama-2"):
            assert sim.preset(slug).activation_checkpointing, slug
