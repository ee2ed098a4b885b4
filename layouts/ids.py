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
RUN_STORE = "run-store"  # compact RunState.to_dict(), session storage
CONFIG_STORE = "config-store"  # TrainingConfig.to_dict() for the next run, local storage
SAVED_RUNS_STORE = "saved-runs-store"  # list of saved compact run states, local storage
TICK = "tick-interval"  # dcc.Interval driving a running simulation
ALERT_AREA = "alert-area"  # app-wide messages (bad state reset, etc.)

# --- Training tab ----------------------------------------------------------------------------

# --- Configuration tab -----------------------------------------------------------------------

# --- Model Comparison tab --------------------------------------------------------------------
CMP_SELECTION = "cmp-selection-store"  # compared items (preset slugs, saved ids, configs), local
CMP_MESSAGE = "cmp-message"
CMP_ADD_CHOICE = "cmp-add-choice"
CMP_ADD_BUTTON = "cmp-add-button"
CMP_CLEAR_BUTTON = "cmp-clear-button"
CMP_CHIPS = "cmp-chips"
CMP_REMOVE = "cmp-remove"  # pattern-matching type: {"type": CMP_REMOVE, "index": item key}
CMP_SAVED_TABLE = "cmp-saved-table"
CMP_SAVED_COUNT = "cmp-saved-count"
CMP_RENAME_INPUT = "cmp-rename-input"
CMP_RENAME_BUTTON = "cmp-rename-button"
CMP_DELETE_BUTTON = "cmp-delete-button"
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


def cmp_remove(key: str) -> dict[str, str]:
    """Id of the remove button of one compared item (pattern-matching)."""
    return {"type": CMP_REMOVE, "index": key}
