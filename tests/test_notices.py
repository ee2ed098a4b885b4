"""Messages close by themselves once read, errors stay until dismissed (issue 17, item 1).

Every tab's message is a ``Notice`` rendered by ``callbacks.adapt.alert``; the browser test
(tests/browser/test_configuration_browser.py) shows one closing and one staying in Chromium.
"""

from __future__ import annotations

from callbacks import adapt
from views.contract import CLOSE_MAX_MS, Notice


def _notice(text: str, tone: str) -> Notice:
    notice = Notice.of(text, tone)  # type: ignore[arg-type]
    assert notice is not None
    return notice


def test_an_error_stays_until_dismissed() -> None:
    error = _notice("Not applied: LR multiplier must be a number from 0.05 to 20.", "danger")
    assert error.close_after_ms is None
    alert = adapt.alert(error)
    assert alert.dismissable and getattr(alert, "duration", None) is None


def test_a_warning_closes_later_than_a_confirmation_and_a_long_one_later_still() -> None:
    text = "Out of memory: needs 128.1 GB per GPU; run stopped"
    warning = _notice(text, "warning").close_after_ms
    done = _notice(text, "success").close_after_ms
    assert warning is not None and done is not None
    assert 8000 <= warning <= 15000  # time to read a sentence, not a minute
    assert done < warning
    longer = _notice(text + ". " + text, "warning").close_after_ms
    assert longer is not None and longer > warning
    assert _notice("word " * 2000, "info").close_after_ms == CLOSE_MAX_MS


def test_the_alert_carries_its_closing_time() -> None:
    notice = _notice("Saved the run at step 1,200 (paused) to Saved runs.", "success")
    assert adapt.alert(notice).duration == notice.close_after_ms
