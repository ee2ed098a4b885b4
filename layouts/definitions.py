"""What the reported run figures mean: one text per figure, shown wherever the figure is.

The Training tab's KPI cards and the Comparison tab's final-metrics headings show the same
figures computed the same way (``simulator.run.final_mean``; perplexity from the last
evaluation), so a run's train loss reads the same on both; these texts are their tooltips.
"""

from __future__ import annotations

from simulator.run import FINAL_TAIL

TRAIN_LOSS = (
    f"Train loss: the mean over the last {FINAL_TAIL} steps (one step's loss carries its "
    "batch's noise). The same figure as the Comparison tab's final train loss; NaN once a "
    "run diverged."
)
VAL_LOSS = "Validation loss at the last evaluation (evaluations run every few thousand steps)."
PERPLEXITY = (
    "Validation perplexity: exp(validation loss) at the last evaluation, as the Comparison "
    "tab reports it."
)
ACCURACY = (
    f"Next-token accuracy: the mean over the last {FINAL_TAIL} steps, as the Comparison tab "
    "reports it."
)
