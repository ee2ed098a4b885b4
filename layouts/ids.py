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
