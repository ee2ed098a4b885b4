"""Every component id in the app, defined once.

Layouts and callbacks both import these constants, so a typo is a NameError at import time
instead of a callback that silently never fires. Keep one section per tab; add ids only in
your tab's section.
"""

# --- shell: top bar, tabs, stores shared by several tabs -----------------------------------
URL = "url"
THEME_STORE = "theme-store"  # "light" | "dark", local storage
THEME_SWITCH = "theme-switch"
STATUS_BADGE = "run-status-badge"
TABS = "main-tabs"
TAB_TRAINING = "tab-training"
TAB_COMPARISON = "tab-comparison"
TAB_CONFIGURATION = "tab-configuration"
TAB_ELEMENT = "main-tab-{}"  # .format(slug): a tab of the strip (role="tab", assets/js/tabs.js)
TAB_PANEL = "main-panel-{}"  # .format(slug): that tab's content (role="tabpanel")
RUN_STORE = "run-store"  # compact RunState.to_dict(), session storage
CONFIG_STORE = "config-store"  # TrainingConfig.to_dict() for the next run, local storage
SAVED_RUNS_STORE = "saved-runs-store"  # list of saved compact run states, local storage
TICK = "tick-interval"  # dcc.Interval driving a running simulation
# Set once, after the Training charts are first drawn or when its tab is shown first
# (assets/js/shell.js openTabs): that tab's callbacks wait for it, not the page load (memory).
CMP_OPENED = "cmp-opened"
CFG_OPENED = "cfg-opened"
ALERT_AREA = "alert-area"  # app-wide messages (bad state reset, etc.)
CONNECTION_BANNER = "connection-banner"  # "connection lost — retrying" (assets/js/connection.js)
PAGE_NOTICE = "page-notice"  # static, outside React: stored data set aside, a refused request
SAVED_RUNS_ASIDE = "saved-runs-store-unreadable"  # localStorage key (not a component): saved
# runs too large or not JSON, moved out of SAVED_RUNS_STORE by assets/js/stores.js on load

# --- Training tab ----------------------------------------------------------------------------
TR_CONTROLS = "tr-controls"  # the run's buttons (busy while a tick is in flight)
TR_ADJUST = "tr-adjust"  # the live-adjustment panel (busy while a tick is in flight)
TR_START = "tr-start"
TR_PAUSE = "tr-pause"  # Pause while running, Resume while paused
TR_STOP = "tr-stop"
TR_RESET = "tr-reset"
TR_SAVE = "tr-save"
TR_SPEED = "tr-speed"  # steps per tick
TR_INTERVAL = "tr-interval"  # milliseconds between ticks
TR_XAXIS = "tr-xaxis"
TR_LOG = "tr-log"
TR_SMOOTHING = "tr-smoothing"
TR_PROGRESS = "tr-progress"
TR_PROGRESS_TEXT = "tr-progress-text"
TR_ELAPSED = "tr-elapsed"
TR_REMAINING = "tr-remaining"
TR_PLAYBACK = "tr-playback"
TR_PACE = "tr-pace"  # the measured time between ticks (browser memory)
TR_TAB_NOTE = "tr-tab-note"  # where a run lives (a browser tab), shown with no run
TR_RUN_TITLE = "tr-run-title"
TR_DIVERGED = "tr-diverged-alert"
TR_NOTICE = "tr-notice"  # the tab's own messages (save notices, refused changes)
TR_EVENTS = "tr-events"
TR_EVENT_FILTER = "tr-event-filter"  # which kinds of event the log shows
TR_ADJ_LR = "tr-adj-lr"  # LR multiplier
TR_ADJ_BATCH = "tr-adj-batch"
TR_ADJ_CLIP = "tr-adj-clip"
TR_ADJ_APPLY = "tr-adj-apply"
TR_EXPORT = "tr-export"
TR_EXPORT_LINK = "tr-export-link"  # hidden <a download>: the streamed CSV (callbacks/export.py)
TR_META = "tr-chart-meta"  # what the charts hold (steps, points, EMA carry), memory storage
TR_RENDER_REQ = "tr-render-request"  # set client-side when the charts must be redrawn
TR_RENDERED = "tr-rendered-run"  # the config/seed/changes the charts were drawn for, memory
TR_VIEW = "tr-view"  # KPI texts, progress, status and controls from the server, memory
TR_AUTOSAVE = "tr-autosave"  # a finished or stopped run's state, to append to saved runs
TR_CHARTS = ("loss", "accuracy", "lr", "grad", "throughput", "memory")
TR_KPIS = ("step", "epoch", "tokens", "loss", "val", "ppl", "acc", "lr", "grad", "tps", "mfu")
TR_KPIS_MORE = ("mem", "cost")

# Real runs on the Training tab (views/real_tab.py, layouts/real_run.py)
TR_RUN_PICKER = "tr-run-picker"  # "simulated" or "run:<run_id>"
TR_RUNS_REFRESH = "tr-runs-refresh"  # slow Interval refreshing the picker's rows
TR_SIM_PARTS = ("tr-sim-head", "tr-sim-kpis", "tr-sim-charts", "tr-sim-side")  # hidden for a real
TR_REAL_HEAD = "tr-real-head"  # a real run's title, KPIs, notices (hidden for the simulated run)
TR_REAL_TITLE = "tr-real-title"
TR_REAL_NOTICE = "tr-real-notice"  # "run x is not in the store" and the like
TR_REAL_CHARTS = "tr-real-charts"
TR_REAL_SIDE = "tr-real-side"
TR_REAL_META = "tr-real-meta"  # views.real_charts.RealMeta, memory
TR_REAL_TICK = "tr-real-tick"  # Interval following a real run
TR_REAL_OTHER = "tr-real-other"  # the metric shown on the "other" chart
TR_REAL_EVENTS = "tr-real-events"  # the real run's alerts (views.real_run.alert_events)
TR_REAL_FORECAST = "tr-real-forecast"  # hook: forecast panel (views.real_run.forecast_panel)
TR_REAL_CONTROL = "tr-real-control"  # hook: Pause/Resume/Stop for a real run (hidden for now)
TR_REAL_BANNER = "tr-real-banner"  # an open critical alert (views.real_events.banner)
TR_REAL_BADGE = "tr-real-badge"  # the top bar's real run {"name", "status"}, memory
TR_REAL_PRED = "tr-real-pred"  # the prediction panel: mode, note, assumed fields
TR_REAL_PRED_MODE = "tr-real-pred-mode"  # "raw" | "anchored"
TR_REAL_PRED_NOTE = "tr-real-pred-note"
TR_REAL_PRED_FORM = "tr-real-pred-form"
TR_REAL_PRED_EDITS = "tr-real-pred-edits"  # {"run", "edits"}: the last good edits, memory
TR_REAL_ASSUMED = "tr-real-assumed"  # pattern id type: {"type": ..., "field": name}
TR_REAL_ASSUMED_MSG = "tr-real-assumed-msg"  # its message, same pattern
TR_REAL_FC_AT = "tr-real-fc-at"  # the forecast shown: {"run", "step", "at"}, memory
TR_REAL_EV_AT = "tr-real-ev-at"  # the events panel holds: {"run", "seq", "alerts"}, memory
TR_REAL_FC_POLL = "tr-real-fc-poll"  # slow Interval asking whether the forecast is due
TR_REAL_CTL = {"pause": "tr-real-pause", "resume": "tr-real-resume", "stop": "tr-real-stop"}
TR_REAL_CTL_HELP = "tr-real-ctl-help"  # the control tooltip's text (why, how)
APP_TAG = "app-tag"  # the top bar's "Simulated" / "Real run" tag
TR_REAL_CHARTS_ALL = ("loss", "lr", "grad", "throughput", "other")
TR_REAL_KPIS = ("step", "loss", "final", "val", "tps", "updated")


def tr_real_graph(chart: str) -> str:
    """Id of one real-run chart (``chart`` in ``TR_REAL_CHARTS_ALL``)."""
    return f"tr-real-graph-{chart}"


def tr_real_box(chart: str) -> str:
    """Id of one real-run chart's card (hidden when the run has no metric for it)."""
    return f"tr-real-box-{chart}"


def tr_real_kpi(key: str) -> str:
    """Id of one real-run KPI value (``key`` in ``TR_REAL_KPIS``)."""
    return f"tr-real-kpi-{key}"


def tr_graph(chart: str) -> str:
    """Id of one Training chart (``chart`` in ``TR_CHARTS``)."""
    return f"tr-graph-{chart}"


def tr_kpi(key: str) -> str:
    """Id of a KPI card's value (``key`` in ``TR_KPIS + TR_KPIS_MORE``)."""
    return f"tr-kpi-{key}"


def tr_kpi_sub(key: str) -> str:
    """Id of a KPI card's small line under the value."""
    return f"tr-kpi-{key}-sub"


def tr_kpi_tip(key: str) -> str:
    """Id of a KPI card's "?" that shows what its figure means (a tooltip)."""
    return f"tr-kpi-{key}-tip"


# --- Configuration tab -----------------------------------------------------------------------
CFG_FIELD = "cfg-field"  # pattern-matching type: {"type": CFG_FIELD, "name": form field name}
CFG_FEEDBACK = "cfg-feedback"  # the field's "what is allowed" message (same name)
CFG_HINT = "cfg-hint"  # the field's bound/unit and derived value (same name)
CFG_GROUP = "cfg-group"  # a block shown only for a choice: custom architecture, WSD decay
CFG_ADVICE = "cfg-advice"  # a one-click fit suggestion: {"type": CFG_ADVICE, "index": i}
CFG_PRESET = "cfg-preset"  # the model: a catalogue preset or "custom"
CFG_RECIPE = "cfg-recipe"  # the chosen preset's recipe source and its assumed settings
CFG_DRAFT = "cfg-draft-store"  # the form's last valid config (unapplied edits), local storage
CFG_ADVICE_STORE = "cfg-advice-store"  # the changes behind the advice buttons, memory
CFG_SUMMARY = "cfg-summary"  # valid / invalid, applied or not
CFG_FORM_ERROR = "cfg-form-error"  # a cross-field problem no single field owns
CFG_ESTIMATE = "cfg-estimate"
CFG_MEMORY = "cfg-memory-graph"
CFG_MEMORY_TEXT = "cfg-memory-text"
CFG_FIT = "cfg-fit"  # the "does not fit" warning and its suggestions
CFG_LR = "cfg-lr-graph"
CFG_APPLY_NEXT = "cfg-apply-next"
CFG_APPLY_NOW = "cfg-apply-now"
CFG_RESET = "cfg-reset"
CFG_SAVE = "cfg-save"
CFG_DOWNLOAD = "cfg-download"
CFG_UPLOAD = "cfg-upload"
CFG_MESSAGE = "cfg-message"  # results of the actions (applied, refused, loaded, bad file)
CFG_LINK = "cfg-link"  # read-only text of the shareable link
CFG_COPY = "cfg-copy"  # dcc.Clipboard copying CFG_LINK
CFG_PLAN_RUN = "cfg-plan-run"  # Plan from a run: the run picker (runs in the store)
CFG_PLAN_LOAD = "cfg-plan-load"  # load the picked run's recipe into the form
CFG_PLAN_SAVE = "cfg-plan-save"  # save the corrected assumed fields back to the run
CFG_PLAN_NOTE = "cfg-plan-note"  # which run is loaded and what Save would write
CFG_PLAN_STORE = "cfg-plan-store"  # the loaded run's guess (views.config_plan), memory
CFG_PROV = "cfg-prov"  # a field's provenance mark: {"type": CFG_PROV, "name": field or "model"}


def cfg_field(name: str) -> dict[str, str]:
    """Id of one form input (pattern-matching; ``name`` from ``views.config_form.FIELDS``)."""
    return {"type": CFG_FIELD, "name": name}


def cfg_feedback(name: str) -> dict[str, str]:
    """Id of one input's invalid-value message."""
    return {"type": CFG_FEEDBACK, "name": name}


def cfg_hint(name: str) -> dict[str, str]:
    """Id of one input's bound/unit line."""
    return {"type": CFG_HINT, "name": name}


def cfg_group(name: str) -> dict[str, str]:
    """Id of a block shown only for one choice (``custom``, ``wsd``)."""
    return {"type": CFG_GROUP, "name": name}


def cfg_prov(name: str) -> dict[str, str]:
    """A form field's (or the model's) provenance mark while a run's recipe is loaded."""
    return {"type": CFG_PROV, "name": name}


def cfg_advice(index: int) -> dict[str, str | int]:
    """Id of the ``index``-th fit suggestion's Apply button."""
    return {"type": CFG_ADVICE, "index": index}


# --- Model Comparison tab --------------------------------------------------------------------
CMP_SELECTION = "cmp-selection-store"  # compared items (preset slugs, saved ids, configs), local
CMP_VIEW_STATE = "cmp-view-state"  # what the drawn views hold (keys, controls, ranges), memory
# The saved runs / applied config changed after the tab was opened (a time; memory): this tab's
# callbacks listen to these, not to the shell's Stores, which change as a page loads.
CMP_SAVED_CHANGED = "cmp-saved-changed"
CMP_SELECTION_CHANGED = "cmp-selection-changed"
CMP_CONFIG_CHANGED = "cmp-config-changed"
CMP_MESSAGE = "cmp-message"
CMP_ADD_CHOICE = "cmp-add-choice"
CMP_ADD_BUTTON = "cmp-add-button"
CMP_CLEAR_BUTTON = "cmp-clear-button"
CMP_CHIPS = "cmp-chips"
CMP_REMOVE = "cmp-remove"  # pattern-matching type: {"type": CMP_REMOVE, "index": item key}
CMP_SAVED_TABLE = "cmp-saved-table"
CMP_SAVED_COUNT = "cmp-saved-count"
CMP_SAVED_PROBLEM = "cmp-saved-problem"  # "saved runs could not be read" and its two buttons
CMP_SAVED_PROBLEM_TEXT = "cmp-saved-problem-text"
CMP_SAVED_BACKUP = "cmp-saved-backup"  # download the stored saved runs as is (clientside)
CMP_SAVED_PURGE = "cmp-saved-purge"  # keep only the readable saved runs
CMP_RENAME_INPUT = "cmp-rename-input"
CMP_RENAME_BUTTON = "cmp-rename-button"
CMP_DELETE_BUTTON = "cmp-delete-button"
CMP_UNDO_STORE = "cmp-undo-store"  # what the last delete took, for Undo, memory
CMP_UNDO_ALERT = "cmp-undo-alert"  # "Deleted ... Undo", closes by itself (views.comparison.UNDO_MS)
CMP_UNDO_TEXT = "cmp-undo-text"
CMP_UNDO_BUTTON = "cmp-undo-button"
CMP_COMPARE_SAVED_BUTTON = "cmp-compare-saved-button"
CMP_EXPORT_BUTTON = "cmp-export-button"
CMP_EXPORT_DOWNLOAD = "cmp-export-download"
CMP_IMPORT_UPLOAD = "cmp-import-upload"
CMP_X_AXIS = "cmp-x-axis"
CMP_CURVE_KIND = "cmp-curve-kind"
CMP_LOG_AXES = "cmp-log-axes"
CMP_SMOOTHING = "cmp-smoothing"
CMP_CURVES_GRAPH = "cmp-curves-graph"
CMP_VIEW_NOTES = "cmp-view-notes"
CMP_METRICS_TABLE = "cmp-metrics-table"
CMP_CSV_BUTTON = "cmp-csv-button"
CMP_CSV_DOWNLOAD = "cmp-csv-download"
CMP_DIFF_TABLE = "cmp-diff-table"
CMP_DIFF_HIDE = "cmp-diff-hide-identical"
CMP_EFFICIENCY_GRAPH = "cmp-efficiency-graph"
CMP_BENCH_SOURCE = "cmp-bench-source"
CMP_BENCH_MODELS = "cmp-bench-models"
CMP_BENCH_BENCHMARKS = "cmp-bench-benchmarks"
CMP_BENCH_BARS = "cmp-bench-bars"
CMP_BENCH_RADAR = "cmp-bench-radar"
CMP_BENCH_TABLE = "cmp-bench-table"
CMP_REAL_TABLE = "cmp-real-table"  # runs in the run store, to add as real-run items
CMP_REAL_SEARCH = "cmp-real-search"
CMP_REAL_COUNT = "cmp-real-count"
CMP_REAL_REFRESH = "cmp-real-refresh"
CMP_REAL_ADD = "cmp-real-add"
CMP_PREDICT = "cmp-predict"  # pattern-matching type: {"type": CMP_PREDICT, "index": item key}


def cmp_predict(key: str) -> dict[str, str]:
    """Id of a real run's "vs prediction" button (pattern-matching)."""
    return {"type": CMP_PREDICT, "index": key}


def cmp_remove(key: str) -> dict[str, str]:
    """Id of the remove button of one compared item (pattern-matching)."""
    return {"type": CMP_REMOVE, "index": key}
