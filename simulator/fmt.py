"""How each quantity reads, everywhere: one function per kind of number.

Every tab, the CLI (``python -m simulator``) and the CSV exports format through here, so the
same quantity reads the same wherever it is shown: a run's remaining time on the Training tab
and its planned time on the Configuration tab are both "3 d 4 h", a token count is "2T"
on a KPI card and in a label. Pure Python (no numpy needed), so the CLI can use it too.

Conventions: SI prefixes with lowercase ``k`` and ``B`` for 10^9 (as model sizes are
written: "6.74B params"); three significant digits unless said otherwise; a value that is
not finite reads "NaN" (a diverged run's loss) and a duration that is not a duration reads
"–", so the page never shows "nan" or "inf".
"""

from __future__ import annotations

import math

from simulator.catalog import MODELS

MISSING = "–"  # shown where a value does not exist yet (no step, no eval)
_SI = ((1e15, "P"), (1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def si(x: float, digits: int = 3) -> str:
    """``1.23k``, ``4.5M``, ``6.74B``, ``2T``: counts of tokens, parameters, tokens/s."""
    if not math.isfinite(x):
        return "NaN"
    for div, suffix in _SI:
        if abs(x) >= div:
            return f"{_digits(x / div, digits)}{suffix}"
    return _digits(x, digits)


def _digits(x: float, digits: int) -> str:
    """``x`` to ``digits`` significant digits, never in exponent form (240, not 2.4e+02)."""
    text = f"{x:.{digits}g}"
    return f"{x:,.0f}" if "e" in text else text


def number(x: float, spec: str = ".4f") -> str:
    """``x`` in ``spec``, or "NaN" when it is not finite (a loss, a grad norm)."""
    return format(x, spec) if math.isfinite(x) else "NaN"


def duration(seconds: float) -> str:
    """Compact human duration, two units at most: '3 d 4 h', '5 h 12 min', '42 s'."""
    if not math.isfinite(seconds) or seconds < 0:
        return MISSING
    s = round(seconds)
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    mi, sec = divmod(rem, 60)
    if d:
        return f"{d:,} d {h} h"
    if h:
        return f"{h} h {mi} min"
    if mi:
        return f"{mi} min {sec} s"
    return f"{sec} s"


def seconds(x: float) -> str:
    """``0.452 s``, ``2.31 s``, ``12.3 s``: a short interval such as one optimizer step,
    where ``duration``'s whole seconds would read "0 s"."""
    return f"{x:.3g} s" if math.isfinite(x) and x >= 0 else MISSING


def money(usd: float) -> str:
    """``$4.56``, ``$456``, ``$45.6k``, ``$1.23M``: a cost in US dollars."""
    if not math.isfinite(usd):
        return MISSING
    if abs(usd) >= 1e3:
        return f"${si(usd)}"
    return f"${usd:,.0f}" if abs(usd) >= 100 else f"${usd:,.2f}"


def flops(x: float) -> str:
    """``8.40e22``: a FLOP count, as papers write training compute."""
    if not math.isfinite(x):
        return "NaN"
    exp = math.floor(math.log10(x)) if x > 0 else 0
    return f"{x / 10**exp:.2f}e{exp}"


def gigabytes(n_bytes: float, digits: int = 1) -> str:
    """``13.5 GB``: memory (decimal gigabytes, as GPU datasheets state capacity)."""
    return f"{n_bytes / 1e9:,.{digits}f} GB" if math.isfinite(n_bytes) else "NaN"


def energy(kwh: float) -> str:
    """``12.3 kWh`` or ``1.2 MWh``."""
    return f"{kwh / 1e3:,.1f} MWh" if kwh >= 1e3 else f"{kwh:,.1f} kWh"


def mass(kg: float) -> str:
    """``12.3 kg`` or ``1.2 t`` (CO2-equivalent emissions)."""
    return f"{kg / 1e3:,.1f} t" if kg >= 1e3 else f"{kg:,.1f} kg"


def percent(fraction: float, digits: int = 1) -> str:
    """``41.2%`` from 0.412 (MFU, token accuracy, progress)."""
    return f"{100.0 * fraction:.{digits}f}%" if math.isfinite(fraction) else "NaN"


def model_name(slug: str) -> str:
    """The catalogue's name for a model slug ("Llama 2 7B"), or "Custom model"."""
    spec = MODELS.get(slug)
    return spec.name if spec is not None else "Custom model"
