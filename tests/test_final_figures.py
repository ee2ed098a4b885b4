"""One definition of a run's train loss, accuracy and perplexity on both tabs (issue 17,
item 8).

The Training tab reported the last step's loss (1.6881) and exp(train loss); the Comparison
tab the mean of the last 100 steps (1.7151) and exp(val loss). Both now report
``simulator.run.final_mean`` of the last ``FINAL_TAIL`` steps and exp(the last val loss),
and say so in the same tooltip.
"""

from __future__ import annotations

import math
from typing import Any

import simulator as sim
from layouts import comparison as lcmp
from layouts import definitions, ids
from layouts import training as ltr
from simulator import compare, fmt
from simulator.run import FINAL_TAIL
from views.training_status import kpis


def _paused(steps: int) -> sim.RunState:
    return sim.pause(sim.advance(sim.start(sim.new_run(sim.preset("vicuna-7b"))), steps))


def test_the_training_kpis_are_the_comparison_tabs_final_figures() -> None:
    state = _paused(1_500)  # past the first evaluation
    k = kpis(state, 100, 500)
    final = compare.analyse_state("s", "s", state, curve=False).final
    assert k["loss"] == f"{final.train_loss:.4f}"
    last = float(sim.metrics(state, state.step - 1, state.step)["train_loss"][0])
    assert k["loss"] != f"{last:.4f}"  # not the last step's noisy loss
    assert k["val"] == f"{final.val_loss:.4f}"
    assert k["ppl"] == fmt.si(final.perplexity)
    assert math.isclose(final.perplexity, math.exp(final.val_loss))
    assert k["acc"] == fmt.percent(final.accuracy, 2)


def test_a_finished_run_logs_the_same_final_train_loss() -> None:
    cfg = sim.preset("vicuna-7b")
    state = sim.advance(sim.start(sim.new_run(cfg)), 10**6)
    assert state.status == "finished"
    final = compare.analyse_state("s", "s", state, curve=False).final
    assert state.events[-1][2] == round(final.train_loss, 4)
    assert kpis(state, 100, 500)["loss"] == f"{final.train_loss:.4f}"


def test_a_diverged_run_has_no_final_train_loss_on_either_tab() -> None:
    cfg = sim.preset("llama-2-7b", lr_peak=5e-3, lr_min=5e-4)
    state = sim.advance(sim.start(sim.new_run(cfg)), 5_000)
    assert state.status == "diverged"
    assert kpis(state, 100, 500)["loss"] == "NaN"
    assert math.isnan(compare.analyse_state("s", "s", state, curve=False).final.train_loss)


def _find(component: Any, pred: Any) -> list[Any]:
    out, stack = [], [component]
    while stack:
        c = stack.pop()
        if pred(c):
            out.append(c)
        children = getattr(c, "children", None)
        stack.extend(children if isinstance(children, list) else [children] if children else [])
    return out


def test_both_tabs_show_the_same_definitions_as_tooltips() -> None:
    assert str(FINAL_TAIL) in definitions.TRAIN_LOSS
    tips = _find(ltr.layout(), lambda c: type(c).__name__ == "Tooltip")
    shown = {t.target: t.children for t in tips}
    assert shown[ids.tr_kpi_tip("loss")] == definitions.TRAIN_LOSS
    assert shown[ids.tr_kpi_tip("ppl")] == definitions.PERPLEXITY
    assert shown[ids.tr_kpi_tip("acc")] == definitions.ACCURACY
    table = _find(lcmp.layout(), lambda c: getattr(c, "id", None) == ids.CMP_METRICS_TABLE)[0]
    assert table.tooltip_header["train_loss"] == definitions.TRAIN_LOSS
    assert table.tooltip_header["perplexity"] == definitions.PERPLEXITY
    assert table.tooltip_header["accuracy"] == definitions.ACCURACY
