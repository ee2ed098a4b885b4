"""`python -m simulator`: the table a user reads in a terminal, JSON for scripts, clean errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import simulator as sim
from simulator import fmt
from simulator.__main__ import main, parse_quantity

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_estimate_prints_a_readable_table() -> None:
    out = cli("estimate", "llama-2-7b", "--gpus", "256", "--gpu", "h100-sxm")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("Llama 2 7B on 256 x H100 SXM")
    for label in (
        "parameters",
        "tokens",
        "steps",
        "tokens/s",
        "MFU",
        "wall time",
        "GPU-hours",
        "cost",
        "energy",
        "CO2",
        "weights",
        "gradients",
        "optimizer",
        "activations",
        "tokens per parameter",
        "optimal for this compute",
    ):
        assert label in text, label
    est = sim.estimate(sim.preset("llama-2-7b", num_gpus=256, gpu="h100-sxm"))
    # Numbers read as on the Configuration tab's tiles (simulator.fmt): "72.9k", "11 d 20 h".
    value = {line[:24].strip(): line[24:40].strip() for line in text.splitlines()}
    assert value["GPU-hours"] == fmt.si(est.gpu_hours)
    assert value["wall time"] == fmt.duration(est.wall_seconds)
    assert value["step time"] == fmt.seconds(est.step_seconds)
    assert value["cost"] == fmt.money(est.cost_usd)
    assert f"{est.steps:,}" in text
    assert "capacity 80 GB" in text and "fits" in text
    assert out.stderr == ""


def test_estimate_prints_the_refit_split_at_chinchillas_scale() -> None:
    """Llama 2 70B (2T tokens, 29 per parameter): the printed approach-3 fit said 96 per
    parameter (37.9B on 3.64T) beside "rule of thumb 20"; the Epoch AI refit says about 18."""
    out = cli("estimate", "llama-2-70b")
    assert out.returncode == 0, out.stderr
    est = sim.estimate(sim.preset("llama-2-70b"))
    scaling = out.stdout[out.stdout.index("Scaling") :]
    assert "Epoch AI refit" in scaling and "approach-3" not in scaling
    assert f"at this compute {est.optimal_tokens_per_param:.1f}" in scaling
    assert 15 < est.optimal_tokens_per_param < 22
    assert fmt.si(est.optimal_params) in scaling


@pytest.mark.parametrize("slug", ["vicuna-7b", "codellama-7b"])
def test_estimate_says_chinchilla_advice_does_not_apply_to_a_fine_tune(slug: str) -> None:
    out = cli("estimate", slug)
    assert out.returncode == 0, out.stderr
    scaling = out.stdout[out.stdout.index("Scaling") :]
    assert "does not apply" in scaling and "fine-tune" in scaling
    assert "optimal for this compute" not in scaling and "at this compute" not in scaling


def test_estimate_json_is_the_estimate() -> None:
    out = cli("estimate", "vicuna-7b", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    cfg = sim.TrainingConfig.from_dict(data["config"])
    assert cfg == sim.preset("vicuna-7b")
    est = sim.estimate(cfg)
    assert data["estimate"]["gpu_hours"] == pytest.approx(est.gpu_hours)
    assert data["estimate"]["fits"] is True
    assert set(data["estimate"]["memory"]) == set(est.memory)
    assert data["fit_advice"] == []


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["estimate", "llama-9b"], "model"),
        (["estimate", "llama-2-7b", "--gpus", "0"], "num_gpus"),
        (["estimate", "llama-2-7b", "--gpu", "tpu-v9"], "gpu"),
        (["estimate", "llama-2-7b", "--tokens", "lots"], "dataset_tokens"),
        (["estimate", "llama-2-7b", "--set", "lr_peak=nan"], "lr_peak"),
    ],
)
def test_bad_input_prints_the_config_error_and_exits_2(args: list[str], field: str) -> None:
    out = cli(*args)
    assert out.returncode == 2
    assert out.stderr.startswith(f"error: {field}:")
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_presets_lists_every_preset() -> None:
    out = cli("presets")
    assert out.returncode == 0, out.stderr
    for slug in sim.PRESETS:
        assert slug in out.stdout
    assert "2,048 x A100 80GB" in out.stdout  # LLaMA 65B's published hardware


# The remaining cases call main() in-process: same code path, without 1 s per interpreter.
def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_flags_change_the_recipe(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(
        capsys,
        "estimate",
        "llama-2-7b",
        "--json",
        "--tokens",
        "1T",
        "--batch",
        "2Mi",
        "--seq-len",
        "2048",
        "--precision",
        "bf16",
        "--zero",
        "3",
        "--no-checkpointing",
        "--price",
        "1.5",
        "--gpus",
        "512",
        "--set",
        "lr_peak=1e-4",
        "--set",
        "schedule=wsd",
        "--set",
        "weight_decay=0.05",
    )
    assert code == 0
    cfg = json.loads(out)["config"]
    assert cfg["dataset_tokens"] == 1e12
    assert cfg["global_batch_tokens"] == 2 * 2**20
    assert cfg["seq_len"] == 2048 and cfg["zero_stage"] == 3
    assert cfg["activation_checkpointing"] is False  # the Llama 2 preset checkpoints
    assert cfg["price_per_gpu_hour"] == 1.5 and cfg["num_gpus"] == 512
    assert cfg["lr_peak"] == 1e-4 and cfg["schedule"] == "wsd"
    assert cfg["weight_decay"] == 0.05
    est = json.loads(out)["estimate"]
    assert est["cost_usd"] == pytest.approx(est["gpu_hours"] * 1.5)


def test_a_recipe_that_does_not_fit_gets_advice(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(
        capsys,
        "estimate",
        "llama-2-7b",
        "--gpus",
        "8",
        "--zero",
        "0",
        "--set",
        "micro_batch_size=4",
    )
    assert code == 0
    assert "DOES NOT FIT" in out and "Fit advice" in out
    assert "ZeRO" in out or "checkpointing" in out


def test_config_file_is_read_and_validated(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = tmp_path / "cfg.json"
    good.write_text(json.dumps(sim.preset("mistral-7b").to_dict()))
    code, out, _ = run_main(capsys, "estimate", "--config", str(good), "--gpus", "256")
    assert code == 0 and out.startswith("Mistral 7B v0.1 on 256 x H100 SXM")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**sim.preset("mistral-7b").to_dict(), "lr_peak": -1}))
    code, _, err = run_main(capsys, "estimate", "--config", str(bad))
    assert code == 2 and err.startswith("error: lr_peak:")
    huge = tmp_path / "huge.json"
    huge.write_text(" " * 100_000)
    code, _, err = run_main(capsys, "estimate", "--config", str(huge))
    assert code == 2 and "at most" in err
    code, _, err = run_main(capsys, "estimate", "--config", str(tmp_path / "missing.json"))
    assert code == 2 and "--config" in err
    code, _, err = run_main(capsys, "estimate")
    assert code == 2 and "error: model:" in err


def test_presets_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "presets", "--json")
    assert code == 0
    data = json.loads(out)
    assert list(data) == list(sim.PRESETS)
    assert sim.TrainingConfig.from_dict(data["llama-65b"]) == sim.preset("llama-65b")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2e12", 2e12),
        ("2T", 2e12),
        ("500B", 5e11),
        ("370M", 3.7e8),
        ("4Mi", 4 * 2**20),
        ("1k", 1e3),
    ],
)
def test_quantities_accept_suffixes(text: str, value: float) -> None:
    assert parse_quantity("dataset_tokens", text) == value


def test_usage_errors_exit_2() -> None:
    out = cli("estimate", "llama-2-7b", "--gpus", "many")
    assert out.returncode == 2 and "invalid int value" in out.stderr


def test_custom_architecture_from_its_layer_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    arch = {
        "n_layers": 12,
        "d_model": 768,
        "n_heads": 12,
        "n_kv_heads": 12,
        "ffn_dim": 2048,
        "vocab_size": 32000,
        "context_len": 2048,
    }
    sets = [x for k, v in arch.items() for x in ("--set", f"custom_model.{k}={v}")]
    code, out, _ = run_main(
        capsys, "estimate", "custom", *sets, "--gpus", "8", "--tokens", "10B", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["config"]["custom_model"] == arch
    assert data["estimate"]["params"] == sim.param_count(
        sim.TrainingConfig.from_dict(data["config"]).arch
    )
    code, _, err = run_main(capsys, "estimate", "custom", "--set", "custom_model.n_layers=12")
    assert code == 2 and err.startswith("error: custom_model:")
    code, _, err = run_main(capsys, "estimate", "llama-2-7b", "--set", "arch.n_layers=2")
    assert code == 2 and "nest" in err
