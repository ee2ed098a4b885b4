"""One way to write a number everywhere (issue 17, item 16).

"10G" tokens on an axis beside "36.5B" on the KPI; "740k" beside "740K"; "4.19M" for a 4Mi
batch; token counts as ``1.258291e+07`` in the CSV; ``lr_peak=0.005999999999999999`` in the
config diff.
"""

from __future__ import annotations

import csv
import io

import simulator as sim
from layouts import ids
from layouts import training as ltr
from layouts.figures import comparison as fcmp
from layouts.figures.training import ChartOptions
from simulator import compare
from views import config_form as cf
from views import configuration as vc
from views import training as vt
from views import training_export as te
from views.training_charts import full_render


def _run(steps: int = 300) -> sim.RunState:
    return sim.pause(sim.advance(sim.start(sim.new_run(sim.preset("vicuna-7b"))), steps))


def test_count_axes_write_billions_as_b_like_the_kpis() -> None:
    fig = full_render(_run(), ChartOptions("tokens", 0.6, False)).figures["loss"]
    assert fig["layout"]["xaxis"]["exponentformat"] == "B"
    assert fig["layout"]["yaxis"]["exponentformat"] == "B"
    for key in ("tokens", "gpu_hours", "cost"):
        assert fcmp._X_FORMAT[key]["exponentformat"] == "B"


def test_the_csv_writes_token_counts_as_whole_numbers() -> None:
    state = _run()
    rows = list(csv.DictReader(io.StringIO(te.metrics_csv(state))))
    batch = state.config.global_batch_tokens
    assert [r["tokens"] for r in rows[:2]] == [str(batch), str(2 * batch)]
    assert rows[-1]["tokens"] == str(state.step * batch)


def test_the_diff_writes_a_live_lr_change_as_a_number_not_a_float_repr() -> None:
    cfg = sim.preset("llama-2-7b")
    s = sim.advance(sim.start(sim.new_run(cfg)), 100)
    s = sim.apply_changes(s, {"lr_peak": cfg.lr_peak * 20})
    assert s.changes[-1][1]["lr_peak"] == 0.005999999999999999  # what the float holds
    flat = compare.flatten_config(s)
    assert flat["mid-run changes"] == "@100: lr_peak=0.006"


def test_batches_read_as_the_form_writes_them() -> None:
    assert cf.format_tokens(740_000) == "740k"
    assert cf.format_tokens(4 * 2**20) == "4Mi"
    labels = str(ltr.layout())
    assert "'label': '4Mi'" in labels and "'label': '4.19M'" not in labels
    model, values = cf.config_to_form(sim.preset("llama-2-7b"))
    hint = vc.estimate(model, values, None, "http://x/").hints
    assert any("= 4,194,304 tokens" in h for h in hint)
    r = vt.adjust(_run().to_dict(), "", str(8 * 2**20), "")
    assert "global_batch_tokens = 8Mi" in r.notice.text
    assert ids.TR_ADJ_BATCH  # the select those labels belong to
