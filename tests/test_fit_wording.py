"""Fit advice names parallelism correctly, and a sequence longer than the model's context is
flagged on the sequence length (issue 17, item 15).

The advice said "split layers over 2 GPUs (tensor parallel)": splitting the layers is
pipeline parallelism, tensor parallelism splits each layer's matrices. 131,072-token
sequences on a 4,096-token model were not flagged on the field; the error landed on the
micro-batch, already at its minimum.
"""

from __future__ import annotations

import pytest

import simulator as sim
from views import config_form as cf
from views import configuration as vc


def test_tensor_parallel_advice_says_it_splits_the_matrices() -> None:
    cfg = sim.preset("llama-2-7b", zero_stage=0)  # the Configuration tab's "does not fit"
    texts = [a.text for a in sim.fit_advice(cfg)]
    tp = [t for t in texts if "tensor parallel" in t]
    assert tp, texts
    assert all("weight matrices" in t and "split layers" not in t for t in tp), tp
    assert "pipeline" in cf.FIELDS["tensor_parallel"].tip


def test_a_sequence_longer_than_the_context_is_flagged_on_its_field() -> None:
    model, values = cf.config_to_form(sim.preset("llama-2-7b"))
    values["seq_len"] = "131072"
    r = cf.form_to_config(model, values)
    assert r.config is None
    assert set(r.errors) == {"seq_len"}  # not the micro-batch
    assert "at most the model's context, 4,096 tokens" in r.errors["seq_len"]
    view = vc.estimate(model, values, None, "http://x/")
    assert view.invalid[list(cf.FIELDS).index("seq_len")] is True
    assert not view.invalid[list(cf.FIELDS).index("micro_batch_size")]
    values["seq_len"] = "4096"
    assert cf.form_to_config(model, values).config is not None
    assert "the model's context: 4,096" in vc.hints(*_cfg_est(model, values))["seq_len"]


def _cfg_est(model: str, values: dict) -> tuple[sim.TrainingConfig, sim.Estimate]:
    cfg = cf.form_to_config(model, values).config
    assert cfg is not None
    return cfg, sim.estimate(cfg)


def test_a_custom_model_takes_sequences_up_to_its_own_context() -> None:
    base = sim.preset("llama-2-7b")
    cfg = base.with_changes({"model": cf.CUSTOM, "custom_model": sim.custom_shape(base.arch)})
    model, values = cf.config_to_form(cfg)
    values["seq_len"] = "8192"
    r = cf.form_to_config(model, values)
    assert "seq_len" in r.errors and "raise the architecture's Context" in r.errors["seq_len"]
    values["arch.context_len"] = "8192"
    values["num_gpus"] = "512"  # 4Mi / 8,192 = 512 sequences: one per GPU
    assert cf.form_to_config(model, values).config is not None


def test_a_batch_too_small_for_the_gpus_does_not_ask_to_lower_a_micro_batch_of_one() -> None:
    model, values = cf.config_to_form(sim.preset("llama-2-7b"))  # micro-batch 1
    values["num_gpus"] = "2048"  # 4Mi / 4,096 = 1,024 sequences for 2,048 GPUs
    r = cf.form_to_config(model, values)
    assert "use fewer GPUs or raise the batch" in r.errors["micro_batch_size"]
    assert "lower the micro-batch" not in r.errors["micro_batch_size"]


@pytest.mark.parametrize("name", sorted(sim.PRESETS))
def test_every_preset_shape_can_become_a_custom_model(name: str) -> None:
    """Custom starts from the current preset's shape; catalogue shapes carry more fields than a
    custom model may set (Gemma 2's head_dim), and copying them whole was refused."""
    base = sim.preset(name)
    cfg = base.with_changes({"model": cf.CUSTOM, "custom_model": sim.custom_shape(base.arch)})
    assert cfg.arch.d_model == base.arch.d_model and cfg.arch.n_layers == base.arch.n_layers
