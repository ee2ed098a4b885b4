"""The run state: determinism, slices, round trips, size, tampering, transitions, live changes."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simulator as sim
from simulator import dynamics
from simulator.run import FINAL_TAIL, MAX_STATE_BYTES

ROOT = Path(__file__).resolve().parents[1]
# 4,769 steps at an LR 2.4x over the stability threshold: short, with a few loss spikes.
SPIKY = {"dataset_tokens": 2.0e10, "warmup_steps": 100, "lr_peak": 1e-3, "lr_min": 1e-4}
SHORT = {"dataset_tokens": 2.0e10, "warmup_steps": 100}


def as_json(s: sim.RunState) -> str:
    """The run Store's JSON as the browser holds it (compact separators)."""
    return json.dumps(s.to_dict(), separators=(",", ":"))


def same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    """Bit-for-bit equality of two metric dicts (NaN equals NaN)."""
    assert set(a) == set(b) == set(sim.METRIC_KEYS)
    for key in sim.METRIC_KEYS:
        x, y = np.asarray(a[key]), np.asarray(b[key])
        if x.dtype != y.dtype or x.shape != y.shape:
            return False
        if x.dtype.kind == "f":
            if not np.array_equal(x.view(np.uint64), y.view(np.uint64)):
                return False
        elif not np.array_equal(x, y):
            return False
    return True


def sliced(m: dict[str, np.ndarray], a: int, b: int) -> dict[str, np.ndarray]:
    return {k: v[a:b] for k, v in m.items()}


def run_to(cfg: sim.TrainingConfig, steps: int) -> sim.RunState:
    return sim.advance(sim.start(sim.new_run(cfg)), steps)


def with_changes() -> sim.RunState:
    """A finished run with three mid-run changes: LR up, batch up, LR down."""
    s = run_to(sim.preset("llama-2-7b", **SPIKY), 1000)
    s = sim.apply_changes(s, {"lr_peak": 1.3e-3})
    s = sim.advance(s, 1000)
    s = sim.apply_changes(s, {"global_batch_tokens": 2**23})
    s = sim.advance(s, 500)
    s = sim.apply_changes(s, {"lr_peak": 4e-4, "grad_clip": 0.5})
    return sim.advance(s, 10_000)


@pytest.fixture(scope="module")
def spiky() -> tuple[sim.RunState, dict[str, np.ndarray]]:
    state = sim.predicted_run(sim.preset("llama-2-7b", **SPIKY))
    return state, sim.metrics(state, 0, state.step)


@pytest.fixture(scope="module")
def changed() -> tuple[sim.RunState, dict[str, np.ndarray]]:
    state = with_changes()
    return state, sim.metrics(state, 0, state.step)


# ------------------------------------------------------------------------ determinism
def test_same_config_and_seed_are_bit_identical() -> None:
    cfg = sim.preset("llama-2-7b", **SPIKY)
    a, b = sim.predicted_run(cfg), sim.predicted_run(sim.TrainingConfig.from_dict(cfg.to_dict()))
    assert same(sim.metrics(a, 0, a.step), sim.metrics(b, 0, b.step))


def test_a_different_seed_gives_different_noise_but_the_same_trend() -> None:
    cfg = sim.preset("llama-2-7b", **SHORT)
    a = sim.metrics(sim.predicted_run(cfg), 0, 4000)
    b = sim.metrics(sim.predicted_run(cfg.with_changes({"seed": 1})), 0, 4000)
    assert not np.array_equal(a["train_loss"], b["train_loss"])
    assert not np.array_equal(a["grad_norm"], b["grad_norm"])
    assert np.array_equal(a["lr"], b["lr"])
    assert abs(float(np.mean(a["train_loss"][-500:]) - np.mean(b["train_loss"][-500:]))) < 0.01


def test_metrics_are_identical_in_a_fresh_interpreter() -> None:
    code = (
        "import hashlib, simulator as sim\n"
        f"s = sim.predicted_run(sim.preset('llama-2-7b', **{SPIKY!r}))\n"
        "m = sim.metrics(s, 1000, 3000)\n"
        "print(hashlib.sha256(b''.join(m[k].tobytes() for k in sim.METRIC_KEYS)).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    s = sim.predicted_run(sim.preset("llama-2-7b", **SPIKY))
    m = sim.metrics(s, 1000, 3000)
    here = hashlib.sha256(b"".join(m[k].tobytes() for k in sim.METRIC_KEYS)).hexdigest()
    assert out.stdout.strip() == here


# ---------------------------------------------------------------------------- slices
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_slice_equals_the_slice_of_the_whole_run(
    spiky: tuple[sim.RunState, dict[str, np.ndarray]], data: st.DataObject
) -> None:
    state, full = spiky
    n = state.step
    a = data.draw(st.integers(0, n - 1), label="a")
    b = data.draw(st.integers(a + 1, min(n, a + 3000)), label="b")
    assert same(sim.metrics(state, a, b), sliced(full, a, b))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_slices_agree_across_mid_run_changes(
    changed: tuple[sim.RunState, dict[str, np.ndarray]], data: st.DataObject
) -> None:
    state, full = changed
    n = state.step
    a = data.draw(st.integers(0, n - 1), label="a")
    b = data.draw(st.integers(a + 1, n), label="b")
    assert same(sim.metrics(state, a, b), sliced(full, a, b))


def test_slices_around_every_spike_and_change_agree(
    spiky: tuple[sim.RunState, dict[str, np.ndarray]],
    changed: tuple[sim.RunState, dict[str, np.ndarray]],
) -> None:
    # Hypothesis samples; this pins the edges: ranges starting and ending next to each event.
    for state, full in (spiky, changed):
        marks = [e[0] for e in run_to(state.config, 10_000).events] + [c[0] for c in state.changes]
        for mark in marks:
            for a in range(max(0, mark - 4), mark + 4):
                for b in (a + 1, a + 3, mark + 5):
                    if a < b <= state.step:
                        assert same(sim.metrics(state, a, b), sliced(full, a, b)), (a, b)


def test_advance_in_chunks_equals_one_whole_run(
    spiky: tuple[sim.RunState, dict[str, np.ndarray]],
) -> None:
    _, full = spiky
    s = sim.start(sim.new_run(sim.preset("llama-2-7b", **SPIKY)))
    parts = []
    for k in (1, 2, 97, 1000, 3, 1700, 10_000):
        s, m = sim.advance_with_metrics(s, k)
        parts.append(m)
    assert s.status == "finished"
    joined = {k: np.concatenate([p[k] for p in parts]) for k in sim.METRIC_KEYS}
    assert same(joined, full)


@pytest.mark.parametrize("seed", [911, 1759, 1883])
def test_the_event_log_does_not_depend_on_the_tick_size(seed: int) -> None:
    # These seeds spike before warmup ends: in one 2,900-step tick the log once said warmup
    # then spike, in 100-step ticks spike then warmup (the load script caught it).
    start = sim.start(sim.new_run(sim.preset("llama-2-7b", seed=seed)))
    ticked = start
    for _ in range(29):
        ticked = sim.advance(ticked, 100)
    whole = sim.advance(start, 2900)
    assert [e[1] for e in whole.events].count("spike") >= 1
    assert ticked.to_dict() == whole.to_dict()
    steps = [e[0] for e in whole.events]
    assert steps == sorted(steps), whole.events


def test_divergence_is_the_last_event_logged() -> None:
    # Seed 8 at 30x the peak LR spikes in the ramp to NaN, one step after it diverged.
    cfg = sim.preset("llama-2-7b", seed=8)
    state = sim.start(sim.new_run(sim.preset("llama-2-7b", seed=8, lr_peak=30 * cfg.lr_peak)))
    state = sim.advance(state, 5000)
    assert state.status == "diverged"
    assert state.events[-1][1] == "diverged", state.events[-3:]


def test_a_running_run_predicts_the_rest_exactly(
    spiky: tuple[sim.RunState, dict[str, np.ndarray]],
) -> None:
    state, full = spiky
    running = run_to(state.config, 1234)
    assert same(sim.metrics(running, 0, state.step), full)
    assert same(sim.metrics(running), sliced(full, 0, 1234))


def test_iter_metrics_covers_the_range_in_chunks(
    spiky: tuple[sim.RunState, dict[str, np.ndarray]],
) -> None:
    state, full = spiky
    chunks = list(sim.iter_metrics(state, 10, 4000, chunk=777))
    assert len(chunks) == math.ceil(3990 / 777)
    assert same(
        {k: np.concatenate([c[k] for c in chunks]) for k in sim.METRIC_KEYS}, sliced(full, 10, 4000)
    )


def test_metrics_ranges_are_clipped_and_bounded() -> None:
    s = sim.predicted_run(sim.preset("llama-2-7b", **SHORT))
    assert sim.metrics(s, 10, 5)["train_loss"].size == 0
    assert sim.metrics(s, s.step - 3, s.step + 100)["step"].tolist() == [
        s.step - 2,
        s.step - 1,
        s.step,
    ]
    big = sim.new_run(
        sim.preset("llama-2-7b", global_batch_tokens=2**20, num_gpus=256, dataset_tokens=4e12)
    )
    with pytest.raises(ValueError, match="iter_metrics"):
        sim.metrics(big, 0, big.total_steps)  # 3.8M steps: one call may not do that much


# ------------------------------------------------------------------------ round trips
def test_config_round_trips_through_json() -> None:
    for slug in sim.PRESETS:
        cfg = sim.preset(slug)
        again = sim.TrainingConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
        assert again == cfg
    custom = sim.TrainingConfig.from_dict(
        {
            "model": "custom",
            "custom_model": {
                "n_layers": 12,
                "d_model": 768,
                "n_heads": 12,
                "n_kv_heads": 12,
                "ffn_dim": 2048,
                "vocab_size": 32000,
                "context_len": 2048,
            },
            "num_gpus": 8,
            "seq_len": 2048,
            "global_batch_tokens": 2**19,
            "dataset_tokens": 1e10,
            "optimizer": "lion",
            "lr_peak": 1e-4,
            "lr_min": 1e-5,
        }
    )
    assert sim.TrainingConfig.from_dict(json.loads(json.dumps(custom.to_dict()))) == custom
    assert 100e6 < sim.estimate(custom).params < 200e6


def test_state_round_trips_through_json(changed: tuple[sim.RunState, Any]) -> None:
    state, _ = changed
    for s in (
        state,
        sim.new_run(state.config),
        run_to(state.config, 10),
        sim.pause(run_to(state.config, 10)),
    ):
        again = sim.RunState.from_dict(json.loads(as_json(s)))
        assert again == s
        assert again.to_dict() == s.to_dict()
    diverged = run_to(
        sim.preset(
            "llama-2-7b", lr_peak=1e-2, lr_min=1e-3, **{"dataset_tokens": 2e10, "warmup_steps": 100}
        ),
        10_000,
    )
    assert sim.RunState.from_dict(json.loads(as_json(diverged))) == diverged


def _many_changes(settings: Callable[[int], dict[str, float]]) -> sim.RunState:
    s = run_to(sim.preset("llama-2-7b", dataset_tokens=2e11, warmup_steps=100), 100)
    for i in range(sim.MAX_CHANGES):
        s = sim.advance(sim.apply_changes(s, settings(i + 1)), 1000)
    return s


def test_state_stays_under_4kb_with_32_changes_and_a_full_event_list() -> None:
    # Float arithmetic gives the longest JSON numbers (0.00030300000000000005).
    s = _many_changes(lambda i: {"lr_peak": 3e-4 * (1.0 + 0.01 * i)})
    assert len(s.changes) == sim.MAX_CHANGES
    assert len(s.events) == 32  # full: the newest 32 kept
    size = len(as_json(s).encode())
    assert size < 4096, size
    with pytest.raises(sim.ConfigError, match="32"):
        sim.apply_changes(s, {"lr_peak": 1e-4})


def test_state_with_32_multi_setting_changes_stays_within_the_accepted_bound() -> None:
    # Three settings per change, 32 times: over the 4 KB goal (see the simulator report),
    # but well inside what from_dict accepts, and it round-trips.
    s = _many_changes(
        lambda i: {
            "lr_peak": 3e-4 * (1.0 + 0.01 * i),
            "grad_clip": 1.0 + 0.001 * i,
            "price_per_gpu_hour": 2.0 + 0.0123 * i,
        }
    )
    text = as_json(s)
    assert len(text.encode()) < MAX_STATE_BYTES // 2
    assert sim.RunState.from_dict(json.loads(text)) == s


def test_state_size_does_not_grow_with_run_length() -> None:
    short = run_to(sim.preset("llama-2-7b", **SHORT), 4000)
    long = run_to(sim.preset("llama-2-7b"), 10**6)
    long = sim.advance(long, 10**6)
    assert len(as_json(long)) < 2048 and abs(len(as_json(long)) - len(as_json(short))) < 400


# --------------------------------------------------------------------------- tampering
def _valid_state_dict() -> dict[str, Any]:
    s = run_to(sim.preset("llama-2-7b", **SHORT), 500)
    s = sim.apply_changes(s, {"lr_peak": 2e-4})
    return sim.advance(s, 100).to_dict()


_VALID = _valid_state_dict()


def valid_state_dict() -> dict[str, Any]:
    return copy.deepcopy(_VALID)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(d: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = d
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


TAMPERED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    # wrong types
    ("step as string", _set("step", "600"), "step"),
    ("seed as float", _set("seed", 1.5), "seed"),
    ("status as number", _set("status", 3), "status"),
    ("changes as object", _set("changes", {}), "changes"),
    ("events as string", _set("events", "x"), "events"),
    ("config as list", _set("config", []), "config"),
    ("name as number", _set("name", 5), "name"),
    ("change not a pair", _set("changes/0", [500]), "change"),
    ("event value a list", _set("events/0/2", [1]), "event value"),
    ("config number as string", _set("config/lr_peak", "3e-4"), "lr_peak"),
    # bools are not numbers
    ("step as bool", _set("step", True), "step"),
    ("seed as bool", _set("seed", False), "seed"),
    ("version as bool", _set("version", True), "version"),
    ("change step as bool", _set("changes/0/0", True), "change step"),
    ("event step as bool", _set("events/0/0", True), "event step"),
    ("config int as bool", _set("config/num_gpus", True), "num_gpus"),
    ("change value as bool", _set("changes/0/1", {"num_gpus": True}), "num_gpus"),
    # out of range
    ("negative step", _set("step", -1), "step"),
    ("seed too large", _set("seed", 2**32), "seed"),
    ("lr too large", _set("config/lr_peak", 100.0), "lr_peak"),
    ("changed lr too large", _set("changes/0/1", {"lr_peak": 1e9}), "lr_peak"),
    ("diverged_at past step", _set("diverged_at", 10**6), "diverged_at"),
    # unknown keys
    ("extra top-level key", lambda d: d.update(admin=True), "keys"),
    ("missing key", lambda d: d.pop("seed"), "keys"),
    ("unknown config key", _set("config/evil", 1), "evil"),
    ("unknown change key", _set("changes/0/1", {"rm_rf": 1}), "rm_rf"),
    ("unknown event kind", _set("events/0/1", "explode"), "event"),
    ("unknown status", _set("status", "hacked"), "status"),
    # wrong version
    ("version 2", _set("version", 2), "version"),
    ("version as string", _set("version", "1"), "version"),
    # NaN and infinities
    ("NaN in config", _set("config/lr_peak", float("nan")), "lr_peak"),
    ("inf in config", _set("config/dataset_tokens", float("inf")), "dataset_tokens"),
    ("NaN in change", _set("changes/0/1", {"lr_peak": float("nan")}), "lr_peak"),
    ("NaN event value", _set("events/0/2", float("nan")), "event value"),
    # oversized
    (
        "33 changes",
        lambda d: d.update(changes=[[i + 1, {"lr_peak": 1e-4}] for i in range(33)]),
        "changes",
    ),
    ("33 events", lambda d: d.update(events=[[0, "eval", 1.0]] * 33), "events"),
    ("long name", _set("name", "x" * 81), "name"),
    ("long event text", _set("events/0/2", "x" * 81), "event text"),
    ("huge change object", _set("changes/0/1", {f"k{i}": 1 for i in range(100)}), "change"),
    # absurd steps
    ("step past the end", _set("step", 10**9), "step"),
    ("step beyond bound", _set("step", 10**12), "step"),
    ("change after the current step", _set("changes/0/0", 601), "change"),
    (
        "changes out of order",
        lambda d: d.update(changes=[[500, {"lr_peak": 2e-4}], [400, {"lr_peak": 1e-4}]]),
        "order",
    ),
    ("change at step 0", _set("changes/0/0", 0), "change step"),
    ("idle with a step", _set("status", "idle"), "idle"),
    ("finished before the end", _set("status", "finished"), "finished"),
    ("diverged without a step", _set("status", "diverged"), "diverged_at"),
    # immutable fields cannot change mid-run
    ("model changed mid-run", _set("changes/0/1", {"model": "llama-2-70b"}), "model"),
    ("seq_len changed mid-run", _set("changes/0/1", {"seq_len": 2048}), "seq_len"),
    ("schedule changed mid-run", _set("changes/0/1", {"schedule": "wsd"}), "schedule"),
    ("seed changed mid-run", _set("changes/0/1", {"seed": 7}), "seed"),
    # a config that would make later calls unbounded
    (
        "absurd run length",
        lambda d: d["config"].update(num_gpus=1, global_batch_tokens=4096, dataset_tokens=1e14),
        "dataset_tokens",
    ),
]


@pytest.mark.parametrize(("label", "edit", "field"), TAMPERED, ids=[t[0] for t in TAMPERED])
def test_tampered_states_are_rejected_naming_the_field(
    label: str, edit: Callable[[dict[str, Any]], None], field: str
) -> None:
    d = copy.deepcopy(valid_state_dict())
    sim.RunState.from_dict(copy.deepcopy(d))  # the untampered state is fine
    edit(d)
    with pytest.raises(sim.StateError, match=field):
        sim.RunState.from_dict(d)


@pytest.mark.parametrize("junk", [None, [], "state", 42, True, {"version": 1}])
def test_non_states_are_rejected(junk: Any) -> None:
    with pytest.raises(sim.StateError):
        sim.RunState.from_dict(junk)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"lr_peak": True}, "lr_peak"),
        ({"lr_peak": float("nan")}, "lr_peak"),
        ({"num_gpus": 0}, "num_gpus"),
        ({"nonsense": 1}, "nonsense"),
        ({"global_batch_tokens": 5000}, "global_batch_tokens"),
        ({"model": "llama-2-70b"}, "model"),
        ({"lr_min": 1.0}, "lr_min"),
    ],
)
def test_bad_mid_run_changes_raise_config_errors_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    s = run_to(sim.preset("llama-2-7b", **SHORT), 10)
    with pytest.raises(sim.ConfigError) as info:
        sim.apply_changes(s, changes)
    assert info.value.field == field
    assert field in str(info.value)


def test_a_change_that_does_not_fit_memory_is_refused() -> None:
    s = run_to(sim.preset("llama-2-7b", num_gpus=8, zero_stage=3, **SHORT), 10)
    with pytest.raises(sim.ConfigError, match="memory"):
        sim.apply_changes(s, {"zero_stage": 0})


def test_a_recipe_that_does_not_fit_stops_at_start_with_an_oom_event() -> None:
    s = sim.start(
        sim.new_run(
            sim.preset(
                "llama-2-7b",
                num_gpus=1,
                zero_stage=0,
                global_batch_tokens=2**18,
                dataset_tokens=1e9,
                warmup_steps=10,
            )
        )
    )
    assert s.status == "stopped" and s.events[-1][1] == "oom"


def test_tiny_lr_floor_with_inverse_sqrt_does_not_crash() -> None:
    # Regression: (peak / lr_min) ** 2 raised OverflowError (a 500) for a legal lr_min.
    cfg = sim.preset("llama-2-7b", schedule="inverse-sqrt", lr_min=1e-200, **SHORT)
    m = sim.metrics(sim.predicted_run(cfg), 0, 4000)
    assert np.all(np.isfinite(m["train_loss"]))


# ----------------------------------------------------------------------- state machine
def states_by_status() -> dict[str, sim.RunState]:
    cfg = sim.preset("llama-2-7b", **SHORT)
    running = run_to(cfg, 10)
    diverged = run_to(sim.preset("llama-2-7b", lr_peak=1e-2, lr_min=1e-3, **SHORT), 10_000)
    return {
        "idle": sim.new_run(cfg),
        "running": running,
        "paused": sim.pause(running),
        "stopped": sim.stop(running),
        "finished": run_to(cfg, 10_000),
        "diverged": diverged,
    }


TRANSITIONS: dict[str, tuple[Callable[[sim.RunState], sim.RunState], dict[str, str]]] = {
    "start": (sim.start, {"idle": "running"}),
    "pause": (sim.pause, {"running": "paused"}),
    "resume": (sim.resume, {"paused": "running"}),
    "stop": (sim.stop, {"running": "stopped", "paused": "stopped"}),
    "change": (
        lambda s: sim.apply_changes(s, {"lr_peak": 1e-4}),
        {"idle": "idle", "running": "running", "paused": "paused"},
    ),
}


@pytest.mark.parametrize("action", TRANSITIONS)
@pytest.mark.parametrize("status", sim.STATUSES)
def test_each_transition_in_each_status(action: str, status: str) -> None:
    state = states_by_status()[status]
    assert state.status == status
    fn, allowed = TRANSITIONS[action]
    if status in allowed:
        new = fn(state)
        assert new.status == allowed[status]
        assert new != state
        assert state.status == status  # pure: the old value is untouched
    else:
        with pytest.raises(sim.TransitionError, match=status):
            fn(state)


@pytest.mark.parametrize("status", sim.STATUSES)
def test_reset_from_any_status_gives_a_fresh_idle_run(status: str) -> None:
    state = states_by_status()[status]
    fresh = sim.reset(state)
    assert (fresh.status, fresh.step, fresh.changes, fresh.events) == ("idle", 0, (), ())
    assert fresh.config == state.config and fresh.seed == state.seed


@pytest.mark.parametrize("status", sim.STATUSES)
def test_advance_only_moves_a_running_run(status: str) -> None:
    state = states_by_status()[status]
    moved = sim.advance(state, 5)
    if status == "running":
        assert moved.step == state.step + 5
    else:
        assert moved is state


def test_advance_rejects_bad_step_counts() -> None:
    s = run_to(sim.preset("llama-2-7b", **SHORT), 1)
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="steps"):
            sim.advance(s, bad)  # type: ignore[arg-type]
    assert sim.advance(s, 0) is s


# ------------------------------------------------------------------ live changes / end
def test_lr_change_shows_as_a_kink_at_that_step() -> None:
    s = run_to(sim.preset("llama-2-7b", **SHORT), 2000)
    before = sim.metrics(sim.advance(s, 100), 1995, 2005)["lr"]
    s2 = sim.advance(sim.apply_changes(s, {"lr_peak": 6e-4}), 100)
    after = sim.metrics(s2, 1995, 2005)["lr"]
    assert np.array_equal(before[:5], after[:5])  # history is untouched
    # Jumps at the change step: the new peak on the same (token-fraction) cosine to lr_min.
    lo, peak = s.config.lr_min, s.config.lr_peak
    assert (after[5] - lo) / (before[5] - lo) == pytest.approx((6e-4 - lo) / (peak - lo))
    assert after[5] > 1.8 * after[4]
    assert any(e[1] == "change" and e[0] == 2000 for e in s2.events)


def test_batch_change_changes_total_steps_and_tokens_per_step() -> None:
    cfg = sim.preset("llama-2-7b", **SHORT)
    s = run_to(cfg, 1000)
    total = s.total_steps
    s2 = sim.advance(sim.apply_changes(s, {"global_batch_tokens": 2**23}), 10)
    assert s2.total_steps == 1000 + math.ceil((cfg.total_tokens - 1000 * 2**22) / 2**23)
    assert s2.total_steps < total
    tok = sim.metrics(s2, 998, 1003)["tokens"]
    assert np.diff(tok).tolist() == [2**22, 2**23, 2**23, 2**23]
    # The token budget (not the step count) is what the schedule follows: it still ends at
    # lr_min with all the tokens seen.
    end = sim.advance(s2, 10**6)
    m = sim.metrics(end, end.step - 1, end.step)
    assert m["tokens"][0] >= cfg.total_tokens
    assert m["lr"][0] == pytest.approx(cfg.lr_min, rel=1e-3)


def test_raising_the_lr_mid_run_rewarms_the_loss_and_brings_spikes() -> None:
    cfg = sim.preset("llama-2-7b", dataset_tokens=8e11, warmup_steps=2000)
    s = run_to(cfg, 50_000)
    base = sim.metrics(s, 50_000, 70_000)
    hot = sim.apply_changes(s, {"lr_peak": 6e-4})
    hot_m = sim.metrics(hot, 50_000, 70_000)
    rise = float(np.mean(hot_m["train_loss"][2000:]) - np.mean(base["train_loss"][2000:]))
    assert 0.02 < rise < 0.3  # a little worse, not a blow-up

    def spikes(state: sim.RunState) -> int:
        comp = dynamics.compute(
            state.timeline, state.seed, 50_000, 90_000, diverged_at=None, scan_from=90_000
        )
        return len(comp.spikes)

    hotter = sim.apply_changes(s, {"lr_peak": 8e-4})
    counts = [spikes(x) for x in (s, hot, hotter)]
    assert counts[0] < counts[1] < counts[2]
    assert counts[2] > 5 * max(1, counts[0])


def test_a_batch_increase_mid_run_lowers_the_noise() -> None:
    s = run_to(sim.preset("llama-2-7b", dataset_tokens=2e11, warmup_steps=100), 5000)
    s2 = sim.apply_changes(s, {"global_batch_tokens": 2**24})
    m = sim.metrics(s2, 3000, 7000)["train_loss"]
    before, after = np.std(np.diff(m[:2000])), np.std(np.diff(m[2000:]))
    assert after < 0.6 * before


def test_advance_stops_at_the_last_step_with_a_finished_event() -> None:
    cfg = sim.preset("llama-2-7b", **SHORT)
    s = run_to(cfg, cfg.total_steps - 7)
    s, m = sim.advance_with_metrics(s, 1000)
    assert (s.status, s.step) == ("finished", cfg.total_steps)
    assert m["step"].size == 7 and m["step"][-1] == cfg.total_steps
    last = s.events[-1]
    assert last[:2] == (cfg.total_steps, "finished")
    # The final train loss is the mean of the last 100 steps (run.final_mean), not the last
    # step's; this tick had only 7 of them.
    tail = sim.metrics(s, cfg.total_steps - FINAL_TAIL, cfg.total_steps)["train_loss"]
    assert last[2] == pytest.approx(float(np.mean(tail)), abs=1e-4)
    assert sim.advance(s, 10) is s


def test_events_are_bounded_and_name_what_happened(
    spiky: tuple[sim.RunState, Any],
) -> None:
    s = sim.start(sim.new_run(spiky[0].config))
    kinds: set[str] = set()
    for _ in range(60):
        s = sim.advance(s, 97)
        kinds |= {e[1] for e in s.events}
        assert len(s.events) <= 32
        # Only the newest few evals and checkpoints are kept (sim.EVENT_CAPS).
        assert sum(e[1] == "eval" for e in s.events) <= 3
        assert sum(e[1] == "checkpoint" for e in s.events) <= 3
    assert {"start", "warmup", "eval", "checkpoint", "spike", "finished"} <= kinds
    steps = [e[0] for e in s.events]
    assert all(0 <= x <= s.total_steps for x in steps)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=100),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_edit_of_a_state_is_either_valid_or_a_state_error(data: st.DataObject) -> None:
    d = copy.deepcopy(_VALID)
    target = data.draw(
        st.sampled_from(
            ["step", "seed", "status", "changes", "events", "diverged_at", "name", "version"]
            + [f"config/{k}" for k in d["config"]]
            + ["changes/0/0", "changes/0/1", "events/0/0", "events/0/1", "events/0/2"]
        ),
        label="target",
    )
    _set(target, data.draw(json_values, label="value"))(d)
    try:
        state = sim.RunState.from_dict(d)
    except sim.StateError:
        return
    # Accepted: then it is a coherent state that serves metrics within its bounds.
    assert sim.RunState.from_dict(state.to_dict()) == state
    m = sim.metrics(state, max(0, state.step - 50), state.step)
    assert m["step"].size <= 50


def test_slices_of_a_diverged_run_agree() -> None:
    s = run_to(sim.preset("llama-2-7b", lr_peak=1e-2, lr_min=1e-3, **SHORT), 10_000)
    assert s.status == "diverged" and s.diverged_at is not None
    full = sim.metrics(s, 0, s.step)
    for a in range(0, s.step):
        for b in (a + 1, a + 7, s.step):
            if b <= s.step:
                assert same(sim.metrics(s, a, b), sliced(full, a, b)), (a, b)
    # Asking past the end of a diverged run returns the NaN tail, never a recovery.
    after = sim.metrics(s, 0, s.total_steps)["train_loss"]
    assert np.all(np.isnan(after[s.diverged_at + 30 :]))


def test_warmup_event_marks_the_step_where_the_lr_reaches_its_peak() -> None:
    cfg = sim.preset("llama-2-7b", dataset_tokens=2e11, warmup_steps=2000)
    plain = sim.advance(sim.start(sim.new_run(cfg)), 3000)
    assert [e[0] for e in plain.events if e[1] == "warmup"] == [2000]
    # Twice the batch from step 1000: the warmup's tokens are done 500 steps early.
    s = sim.apply_changes(
        sim.advance(sim.start(sim.new_run(cfg)), 1000), {"global_batch_tokens": 2**23}
    )
    for chunk in (499, 1, 1000):
        s = sim.advance(s, chunk)
    (warm,) = [e for e in s.events if e[1] == "warmup"]
    lr = sim.metrics(s, 1495, 1505)["lr"]
    assert warm[0] == 1500
    assert warm[2] == pytest.approx(cfg.lr_peak, rel=1e-6) == pytest.approx(float(lr[4]), rel=1e-9)
    assert lr[3] < cfg.lr_peak
