"""The recipe guess: from a real run's settings and curves, a simulator config the user can
check field by field (found / derived / assumed, and from which key), always one the
simulator accepts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tracking_fixtures import LLAMA2_7B_CONFIG, lightning_csv, mlflow_file_store, trl_trainer_state
from tracking_samples import case_dir

from simulator.config import TrainingConfig
from tracking.readers import mlflow, tabular, textlog, trainer_state
from tracking.recipe import guess
from tracking.recipe.settings import ALIASES
from tracking.records import Guess, Read, Series


def _guess(read: Read) -> tuple[TrainingConfig, dict[str, Guess]]:
    cfg, guesses = guess(read.params, read.series)
    assert [g.field for g in guesses] == list(TrainingConfig.__dataclass_fields__)
    assert TrainingConfig.from_dict(cfg.to_dict()) == cfg  # the simulator accepts it
    return cfg, {g.field: g for g in guesses}


def _is(g: Guess, value: object, provenance: str, source_has: str) -> None:
    assert (g.value, g.provenance) == (value, provenance), g
    assert source_has in g.source, g


def test_hf_trainer_state_sample_steps_found_lr_derived_from_its_curve() -> None:
    cfg, g = _guess(
        trainer_state.read(case_dir("trainer-state-metamath-sft") / "trainer_state.json")
    )
    assert cfg.total_steps == 128
    _is(g["dataset_tokens"], cfg.dataset_tokens, "derived", "128 steps (trainer_state.max_steps)")
    _is(g["lr_peak"], 2e-5, "derived", "peak of the logged `learning_rate`")
    _is(g["epochs"], 1.0, "found", "trainer_state.num_train_epochs")
    _is(g["eval_interval"], 500, "found", "trainer_state.eval_steps")
    _is(g["model"], "llama-2-7b", "assumed", "no architecture")


def test_hf_run_with_llama2_config_matches_the_catalogue_model(tmp_path: Path) -> None:
    read = trainer_state.read(trl_trainer_state(tmp_path, config=LLAMA2_7B_CONFIG))
    cfg, g = _guess(read)
    assert cfg.model == "llama-2-7b" and cfg.custom_model is None
    _is(g["model"], "llama-2-7b", "derived", "model_config.hidden_size=4096")
    assert "also matches" in g["model"].source  # same shape as Vicuna 7B: said, not hidden
    # a fine-tune (a PEFT adapter beside it) starts from Llama 2's 2T pretraining tokens
    _is(g["base_tokens"], 2.0e12, "derived", "adapter_config.json (a PEFT adapter)")
    _is(g["seq_len"], 4096, "assumed", "the model's context length")


def test_the_model_name_breaks_a_tie_between_models_of_one_shape(tmp_path: Path) -> None:
    config = dict(LLAMA2_7B_CONFIG, _name_or_path="lmsys/vicuna-7b-v1.5")
    cfg, _ = _guess(trainer_state.read(trl_trainer_state(tmp_path, config=config)))
    assert cfg.model == "vicuna-7b"


def test_trl_token_counter_gives_tokens_per_step(tmp_path: Path) -> None:
    cfg, g = _guess(trainer_state.read(trl_trainer_state(tmp_path)))
    _is(g["global_batch_tokens"], 4096, "derived", "growth of the `num_tokens` counter")
    _is(g["warmup_steps"], 60, "derived", "step where the logged `learning_rate` peaks")
    assert cfg.total_steps == 180


def test_llamafactory_sample_names_its_base_model() -> None:
    read = tabular.read(case_dir("jsonl-llamafactory-mistral-translator") / "trainer_log.jsonl")
    cfg, g = _guess(read)
    _is(g["model"], "mistral-7b", "derived", "adapter_config.base_model_name_or_path")
    _is(g["dataset_tokens"], cfg.dataset_tokens, "derived", "8,660 steps (last `total_steps`")
    _is(g["schedule"], "cosine", "derived", "shape of the logged `learning_rate`")
    _is(g["lr_min"], 0.0, "derived", "last value of the logged `learning_rate`")


def test_lightning_sample_lr_from_hparams_steps_from_the_log() -> None:
    cfg, g = _guess(tabular.read(case_dir("csv-lightning-turngpt-gpt2") / "metrics.csv"))
    _is(g["lr_peak"], 6.25e-05, "found", "hparams.learning_rate")
    _is(g["dataset_tokens"], cfg.dataset_tokens, "derived", "2,499 steps (the last logged step")
    assert cfg.total_steps == 2499


def test_lightning_custom_model_fills_what_its_hparams_omit(tmp_path: Path) -> None:
    cfg, g = _guess(tabular.read(lightning_csv(tmp_path)))
    assert cfg.model == "custom"
    assert cfg.custom_model == {
        "n_layers": 12,
        "d_model": 768,
        "n_heads": 12,
        "n_kv_heads": 12,
        "ffn_dim": 3072,
        "vocab_size": 50258,
        "context_len": 128,
    }
    assert g["custom_model"].provenance == "derived"
    assert "n_heads assumed d_model/64 = 12" in g["custom_model"].source
    _is(g["seq_len"], 128, "found", "hparams.max_seq_len")
    _is(g["micro_batch_size"], 16, "found", "hparams.batch_size")
    _is(g["global_batch_tokens"], 16 * 128, "derived", "hparams.batch_size (16)")
    _is(g["epochs"], 10.0, "found", "hparams.num_epochs")


def test_mlflow_params_give_a_custom_model_and_hf_schedule(tmp_path: Path) -> None:
    cfg, g = _guess(mlflow.read(mlflow_file_store(tmp_path)))
    assert cfg.model == "custom" and cfg.custom_model is not None
    assert cfg.custom_model["d_model"] == 768 and cfg.custom_model["ffn_dim"] == 3072
    _is(g["lr_peak"], 5e-05, "found", "learning_rate")
    _is(g["schedule"], "linear", "found", "lr_scheduler_type='linear'")
    _is(g["lr_min"], 0.0, "derived", "decays to 0")
    _is(g["seq_len"], 512, "assumed", "the model's context length")
    _is(g["global_batch_tokens"], 4 * 512, "derived", "per_device_train_batch_size (4)")


def test_mlflow_sample_guess() -> None:
    run = "mlruns/106022762656854849/42a140cfad7b46f385e363c537affbab"
    cfg, g = _guess(mlflow.read(case_dir("mlflow-hf-distilbert-summary") / run))
    assert cfg.model == "custom"
    _is(g["optimizer"], "adamw", "found", "optim='adamw_torch'")
    _is(g["seed"], 42, "found", "seed")


def test_llmc_stdout_sample_recipe_comes_from_its_config_table() -> None:
    log = case_dir("text-llmc-stdout-750steps") / "gpt2_train.11672114.log"
    cfg, g = _guess(textlog.read(log))
    _is(g["gpu"], "a100-40gb", "found", "llmc.device")
    _is(g["global_batch_tokens"], 524288, "found", "llmc.total batch size")
    _is(g["seq_len"], 1024, "found", "llmc.sequence length T")
    _is(g["warmup_steps"], 700, "found", "llmc.warmup iterations")
    assert cfg.total_steps == 19560 and cfg.custom_model is not None
    assert cfg.custom_model["vocab_size"] == 50257


def test_out_of_bounds_values_are_clamped_and_said_so() -> None:
    params = {"args.learning_rate": "50", "args.max_seq_length": "64", "args.max_steps": "9e9"}
    cfg, guesses = guess(params, [])
    g = {x.field: x for x in guesses}
    assert cfg.lr_peak == 10.0 and "clamped to 10" in g["lr_peak"].source
    assert cfg.seq_len == 128 and "clamped to 128" in g["seq_len"].source
    assert cfg.total_steps <= 4_000_000


_VALUES = st.one_of(
    st.integers(-5, 10**7).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "null", "true", "cosine", "adamw_torch", "NVIDIA A100 40GB", "x"]),
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.builds(
            lambda prefix, name: prefix + name,
            st.sampled_from(["", "args.", "model_config.", "hparams.model.", "llmc."]),
            st.sampled_from(sorted({a for names in ALIASES.values() for a in names})),
        ),
        _VALUES,
        max_size=25,
    )
)
def test_any_settings_give_a_config_the_simulator_accepts(params: dict[str, str]) -> None:
    cfg, guesses = guess(params, [])
    assert TrainingConfig.from_dict(cfg.to_dict()) == cfg
    assert {g.provenance for g in guesses} <= {"found", "derived", "assumed"}


_CURVES = st.lists(
    st.tuples(
        st.sampled_from(["learning_rate", "train/lr", "num_tokens", "total_steps", "loss"]),
        st.lists(
            st.tuples(
                st.integers(-10, 10**7),
                st.floats(allow_nan=True, allow_infinity=True, width=64),
            ),
            min_size=1,
            max_size=30,
        ),
    ),
    max_size=5,
)


@settings(max_examples=100, deadline=None)
@given(_CURVES)
def test_any_curves_give_a_config_the_simulator_accepts(
    curves: list[tuple[str, list[tuple[int, float]]]],
) -> None:
    series = [
        Series(
            metric=name,
            step=np.array([p[0] for p in points], dtype=np.int64),
            value=np.array([p[1] for p in points], dtype=np.float64),
            time=np.full(len(points), np.nan),
        )
        for name, points in curves
    ]
    cfg, _ = guess({"args.per_device_train_batch_size": "8"}, series)
    assert TrainingConfig.from_dict(cfg.to_dict()) == cfg
