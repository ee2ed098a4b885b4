"""Old messages do not linger, and a broken share link says why where it opens (issue 17,
item 14).

"Auto-saved the run at step 50,300" stayed on the Training tab during a fresh run, "Applied
the suggestion" beside a form that had become invalid, and a link whose configuration could
not be used opened the Training tab without a word (the reason showed only on Configuration).
"""

from __future__ import annotations

import simulator as sim
from layouts import ids
from views import config_form as cf
from views import config_io as cio
from views import configuration as vc
from views import training as vt
from views.contract import KEEP


def test_a_new_run_clears_the_last_runs_message() -> None:
    ended = sim.stop(sim.advance(sim.start(sim.new_run(sim.preset("vicuna-7b"))), 100))
    for button, raw in ((ids.TR_RESET, ended.to_dict()), (ids.TR_START, None)):
        r = vt.control(button, raw, None, 100, 500)
        assert r.notice is None, button
    running = sim.start(sim.new_run(sim.preset("vicuna-7b"))).to_dict()
    assert vt.control(ids.TR_PAUSE, running, None, 100, 500).notice is KEEP


def test_an_invalid_form_clears_the_last_confirmation() -> None:
    model, values = cf.config_to_form(sim.preset("llama-2-7b"))
    assert vc.estimate(model, values, None, "http://x/").message is KEEP
    values["seq_len"] = "12"
    assert vc.estimate(model, values, None, "http://x/").message is None


def test_a_broken_link_says_why_where_the_page_opens() -> None:
    def page_load(search: str, on_configuration: bool) -> vc.LoadResult:
        return (
            vc.load(ids.URL, model=None, values={}, search=search, names=(), on_configuration=False)
            if not on_configuration
            else vc.load(
                ids.URL,
                model="llama-2-7b",
                values=dict.fromkeys(cf.FIELDS),
                search=search,
                on_configuration=True,
            )
        )

    off = page_load("?config=@@@", on_configuration=False)
    assert off.alert is not KEEP and off.search == ""
    assert "could not be used" in off.alert.text and "not valid JSON" in off.alert.text
    on = page_load("?config=@@@", on_configuration=True)
    assert on.alert is KEEP and "not used" in on.message.text  # Configuration says it itself
    good = "?config=" + cio.encode_link(sim.preset("mistral-7b"))
    assert page_load(good, on_configuration=False).alert is KEEP
    assert page_load("", on_configuration=False).alert is KEEP
