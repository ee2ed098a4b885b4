"""The Training tab's real-run actions: list runs, choose one (picker or URL), follow it.

Each takes what the browser sent plus the app's store and returns a frozen dataclass named
after the callback's outputs (``callbacks/real_tab.py``). Nothing is kept between requests:
the store is the state and ``TR_REAL_META`` says what the page holds, so any worker answers.

Choosing works both ways: picking a run writes ``?run=<id>`` into the address (a history
entry, so Back returns to the previous run), and an address with ``?run=`` (a colleague's
link, Back/Forward) picks the run. An id the store does not hold opens a notice naming it,
with the simulated run shown meanwhile.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from layouts.figures import real as fig
from layouts.figures.training import ChartOptions
from tracking.store import Store
from tracking.store.errors import StoreError
from views import real_charts as rc
from views import real_control as rctl
from views import real_events as rev
from views import real_predict as rp
from views import real_run as rr
from views.contract import KEEP, Edit, Notice

READ_FAILED = "The run store could not be read ({}); the page tries again on its own."


def _now(now: float | None) -> float:
    return time.time() if now is None else now


# ----------------------------------------------------------------------------- list
def run_options(store: Store, search: Any, value: Any, now: float | None = None) -> Any:
    """The picker's rows (``views.real_run.picker_options``); KEEP if the store is down
    (the list on the page stays as it was)."""
    try:
        runs = store.runs()
    except StoreError:
        return KEEP
    text = search if isinstance(search, str) else ""
    keep = value if isinstance(value, str) else ""

    def control(run_id: str) -> str | None:
        try:
            return store.control(run_id).state
        except (StoreError, LookupError):
            return None

    return rr.picker_options(runs, _now(now), text, keep, control)


# ----------------------------------------------------------------------------- choose
@dataclass(frozen=True)
class Chosen:
    """What choosing a run sends back."""

    picked: Any  # the picker's value
    search: Any  # the address's query string
    sim_hidden: bool
    real_hidden: bool
    charts: dict[str, Any]
    meta: Any
    kpis: dict[str, Any]
    title: Any
    notice: Any
    xaxis_options: Any
    xaxis: Any
    tick_disabled: bool
    other_options: Any
    other: Any
    events: Any
    forecast: Any  # the forecast panel's held state (None: compute it now)
    forecast_hidden: bool
    control_hidden: bool
    boxes: dict[str, Any]  # chart -> hidden (no metric of the run for it)
    pred: Any = KEEP  # views.real_predict.Prediction (the form and note), KEEP for none
    banner: Any = KEEP  # an open critical alert's line ("" for none)
    buttons: Any = KEEP  # views.real_control.Buttons
    badge: Any = None  # the top bar's {"name", "status"} (None: the simulated run's)
    events_at: Any = KEEP  # views.real_events.Held: what the events panel holds
    sim_paused: bool = False  # the simulated tick stops while a real run is shown


def _simulated(search: Any, picked: Any, notice: Any, from_url: bool) -> Chosen:
    return Chosen(
        picked=rr.SIMULATED if picked != rr.SIMULATED else KEEP,
        search=KEEP
        if from_url or rr.run_from_search(search) is None
        else rr.search_with(search, None),
        sim_hidden=False,
        real_hidden=True,
        charts=dict.fromkeys(fig.CHARTS, KEEP),
        meta=None,
        kpis=dict.fromkeys(rr.KPI_KEYS, KEEP),
        title=KEEP,
        notice=notice,
        xaxis_options=rr.xaxis_options(None),
        xaxis=KEEP,
        tick_disabled=True,
        other_options=KEEP,
        other=KEEP,
        events=KEEP,
        forecast=KEEP,
        forecast_hidden=True,
        control_hidden=True,
        boxes=dict.fromkeys(fig.CHARTS, KEEP),
        banner="",
    )


def choose(
    store: Store,
    trigger: Any,
    search: Any,
    picked: Any,
    opts: ChartOptions,
    other: Any,
    meta_raw: Any,
    now: float | None = None,
    mode: Any = "raw",
    edits: Any = None,
) -> Chosen:
    """The page loaded, the address changed (a link, Back/Forward), the picker changed, a
    chart option changed, or the prediction's mode or an assumed field changed: show the
    simulated run or open the chosen real run (with its band, events, control, badge)."""
    from_url = trigger in (None, "url")
    if from_url:
        run_id = rr.run_from_search(search)
        if run_id is None:
            return _simulated(search, picked, KEEP, True)
    elif isinstance(picked, str) and picked.startswith(rr.REAL_PREFIX):
        run_id = picked[len(rr.REAL_PREFIX) :]
    elif trigger == "picker" or picked in (None, rr.SIMULATED):
        return _simulated(search, picked, KEEP, False)
    else:
        return _simulated(search, picked, KEEP, False)
    if not rr.valid_run_id(run_id):
        shown = run_id[:80] + ("..." if len(run_id) > 80 else "")
        return _simulated(search, picked, _missing(shown, "is not a run id"), from_url)
    try:
        return _open(
            store,
            run_id,
            search,
            picked,
            opts,
            other,
            meta_raw,
            from_url,
            now,
            mode=mode,
            edits=edits,
        )
    except StoreError as exc:
        return _simulated(search, picked, Notice.of(READ_FAILED.format(exc), "danger"), True)


def _missing(run_id: str, why: str) -> Notice:
    return Notice.of(
        f"Run \u201c{run_id}\u201d {why}: it may have been deleted, or the link mistyped. "
        "Showing the simulated run; pick a stored run above.",
        "warning",
    )


def _open(
    store: Store,
    run_id: str,
    search: Any,
    picked: Any,
    opts: ChartOptions,
    other: Any,
    meta_raw: Any,
    from_url: bool,
    now: float | None,
    rate: int = 1,
    mode: Any = "raw",
    edits: Any = None,
    lead: Any = None,
) -> Chosen:
    """Open ``run_id``. ``lead`` (a rebase of a run already shown): the band traces the
    page holds per chart stay as they are (placeholders here, see ``_behind_kept``), so a
    rebase neither recomputes the prediction nor forgets the user's mode and edits."""
    params = store.params(run_id)
    recipe = rr.recipe_of(params)
    asked = opts.xaxis
    coerced = opts.xaxis == "tokens" and not recipe.tokens_per_step
    if coerced:  # an axis this run cannot give: steps, and the radio says so
        opts = ChartOptions("step", opts.smoothing, opts.log)
    old = rc.RealMeta.from_dict(meta_raw)
    if old is not None and old.run == run_id and rate == 1:
        rate = max(1, old.last - min(old.edges.values(), default=old.last))
    if store.run(run_id) is None:
        return _simulated(search, picked, _missing(run_id, "is not in the run store"), from_url)
    pred: Any = KEEP
    if lead is None:
        pred = rp.predict(
            store, run_id, mode, rp.parse_edits(edits, run_id), opts.xaxis, recipe.tokens_per_step
        )
        behind = {"loss": pred.traces}
    else:
        behind = {c: [{"type": "scatter", "x": [], "y": []}] * n for c, n in lead.items()}
    opened = rc.open_run(
        store,
        run_id,
        opts,
        other if isinstance(other, str) else "",
        recipe.tokens_per_step,
        rate,
        hooks=lambda chart: behind.get(chart, []),
        now=now,
    )
    if opened is None:
        return _simulated(search, picked, _missing(run_id, "is not in the run store"), from_url)
    info = opened.info
    coerced = opened.meta.xaxis != asked  # also: no point of the run carries a wall time
    rows, seq = rev.opened(store, info, _now(now))
    status, control = rev.run_state(store, info, _now(now))
    alerts = info.open_alerts
    meta = opened.meta
    return Chosen(
        picked=rr.REAL_PREFIX + run_id,
        search=KEEP if from_url else rr.search_with(search, run_id),
        sim_hidden=True,
        real_hidden=False,
        charts=opened.figures,
        meta=meta.to_dict(),
        kpis=rr.kpis(info.last_step, opened.tails, opened.mapped, info.updated, _now(now)),
        title=rr.title(info, status),
        notice=None,  # a notice about an earlier link is done with
        xaxis_options=rr.xaxis_options(recipe, opened.meta.timed, info.kind),
        # Only a change is sent: setting it would also redraw the hidden simulated charts.
        xaxis=opened.meta.xaxis if coerced else KEEP,
        tick_disabled=False,
        other_options=[{"label": m, "value": m} for m in opened.mapped.rest],
        other=opened.mapped.other or None,
        events=rows,
        forecast=None,
        forecast_hidden=False,
        control_hidden=False,
        boxes=boxes_hidden(opened.mapped),
        pred=pred,
        banner=rev.banner(store, run_id) if alerts else "",
        buttons=rctl.buttons(info, control),
        badge={"name": info.name or info.run_id, "status": status},
        events_at=rev.held(run_id, seq, alerts, status),
        sim_paused=True,
    )


def boxes_hidden(mapped: rr.Mapped) -> dict[str, bool]:
    """Each chart hidden when the run has no metric for it (an empty card says nothing)."""
    has = set(mapped.slots)
    return {
        chart: not any(t in has for t in fig.TRACES[chart] if t in fig.SLOTS)
        for chart in fig.CHARTS
    }


# ----------------------------------------------------------------------------- follow
@dataclass(frozen=True)
class Followed:
    """What one tick of a followed real run sends back (all ``KEEP``: nothing new). The
    events and the banner are not a tick's: ``views.real_events.poll`` brings them at a
    slower pace (a read of the events per tick would cost a sixth of the tick's budget)."""

    charts: dict[str, Any]
    meta: Any
    kpis: dict[str, Any]
    notice: Any
    tick_disabled: Any
    boxes: dict[str, Any]

    @property
    def nothing(self) -> bool:
        """No figure and no meta: the store had nothing new."""
        return all(v is KEEP for v in (*self.charts.values(), self.meta))


def _behind_kept(figure: Any, lead: int) -> Any:
    """A rebase's figure as an ``Edit`` that replaces the run's own traces and the layout
    but leaves the first ``lead`` traces (the band) as the page holds them."""
    if not isinstance(figure, dict) or not lead:
        return figure
    edit = Edit().assign(("layout",), figure["layout"])
    for i, trace in enumerate(figure["data"][lead:], start=lead):
        edit = edit.assign(("data", i), trace)
    return edit


def follow(
    store: Store, meta_raw: Any, opts: ChartOptions, other: Any, now: float | None = None
) -> Followed:
    """One tick: only the points new since the page's meta (``views.real_charts.tick``),
    "nothing new" (every output ``KEEP``), or a full render when the page must rebase."""
    keep_kpis = dict.fromkeys(rr.KPI_KEYS, KEEP)
    keep_boxes = dict.fromkeys(fig.CHARTS, KEEP)
    meta = rc.RealMeta.from_dict(meta_raw)
    nothing = Followed(dict.fromkeys(fig.CHARTS, KEEP), KEEP, keep_kpis, KEEP, KEEP, keep_boxes)
    if meta is None:  # no real run is shown (choosing one draws it and restarts the tick)
        return Followed(nothing.charts, KEEP, keep_kpis, KEEP, True, keep_boxes)
    try:
        params = store.params(meta.run) if opts.xaxis == "tokens" else {}
        tps = rr.recipe_of(params).tokens_per_step if params else None
        if opts.xaxis == "tokens" and not tps:
            opts = ChartOptions("step", opts.smoothing, opts.log)
        t = rc.tick(store, meta, opts, tps, now)
        if t.gone:
            notice = _missing(meta.run, "is no longer in the run store")
            return Followed(
                dict.fromkeys(fig.CHARTS, KEEP), None, keep_kpis, notice, True, keep_boxes
            )
        if t.nothing:
            # No figure, no meta: only "Last update" moves on ("2 min ago" while it stalls).
            kpis = {**keep_kpis, "updated": rr.ago(_now(now) - meta.version)}
            return Followed(nothing.charts, KEEP, kpis, KEEP, KEEP, keep_boxes)
        if t.rebase:
            c = _open(
                store, meta.run, "", "", opts, other, None, True, now, rate=t.rate, lead=meta.lead
            )
            return Followed(
                {k: _behind_kept(f, meta.lead.get(k, 0)) for k, f in c.charts.items()},
                c.meta,
                c.kpis,
                c.notice,
                c.tick_disabled,
                c.boxes,
            )
        assert t.meta is not None and t.info is not None and t.mapped is not None
        info = t.info
        kpis = rr.kpis(info.last_step, t.tails, t.mapped, info.updated, _now(now))
        return Followed(t.charts, t.meta.to_dict(), kpis, KEEP, KEEP, keep_boxes)
    except StoreError:
        return nothing  # the store is busy or down: the next tick asks again
