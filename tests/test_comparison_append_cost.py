"""Adding a run that needs a new frontier line costs one computation, not two (issue 17,
speed): ``edit_selection`` used to compute the added run (a 1M-step recipe: ~80-170 ms) only
to find the efficiency chart had no frontier for its family, after which the redraw the new
list fires computed it again. It now sees that from the configs and redraws the views itself,
once, so the redraw the new list then fires has nothing left to do (and the add waits for one
request instead of two).
"""

from __future__ import annotations

from typing import Any

from views import comparison as vc
from views.comparison_list import Controls


def _recording() -> tuple[list[int], Any]:
    calls: list[int] = []

    def admit(steps: int, what: str, job: Any) -> Any:
        calls.append(steps)
        return job()

    return calls, admit


def _drawn(refs: list[str]) -> tuple[list[dict[str, str]], Any]:
    selection = [{"kind": "preset", "ref": r} for r in refs]
    views = vc.update_views(selection, [], Controls(), None, list_changed=False)
    return selection, views.view


def test_a_run_of_another_family_is_not_computed_twice() -> None:
    selection, view = _drawn(["llama-2-7b"])
    calls, admit = _recording()
    out = vc.edit_selection(
        "add",
        choice="preset:mistral-7b",
        selection=selection,
        controls=Controls(),
        view=view,
        admit=admit,
    )
    assert len(calls) == 1 and out.curves is not vc.KEEP  # redrawn here, once
    assert [i["ref"] for i in out.selection] == ["llama-2-7b", "mistral-7b"]
    names = [t["name"] for t in out.curves["data"] if t.get("showlegend", True)]
    assert names == ["Llama 2 7B recipe", "Mistral 7B v0.1 recipe"]
    # The redraw the new list fires finds both drawn: no second computation.
    again = vc.update_views(out.selection, [], Controls(), out.view, list_changed=True)
    assert again.curves is vc.KEEP and len(calls) == 1


def test_the_first_run_added_is_drawn_in_the_same_answer() -> None:
    """The add the page benchmark times: to an empty comparison. Its views come back with
    the add itself (it used to wait for the redraw's request)."""
    _, view = _drawn([])
    calls, admit = _recording()
    out = vc.edit_selection(
        "add", choice="preset:llama-2-7b", selection=[], controls=Controls(), view=view, admit=admit
    )
    assert len(calls) == 1
    assert [t["name"] for t in out.curves["data"] if t.get("showlegend", True)] == [
        "Llama 2 7B recipe"
    ]
    assert [r["run"] for r in out.table] == ["Llama 2 7B recipe"]
    again = vc.update_views(out.selection, [], Controls(), out.view, list_changed=True)
    assert again.curves is vc.KEEP and len(calls) == 1


def test_a_run_of_a_drawn_family_is_still_appended() -> None:
    selection, view = _drawn(["llama-2-7b"])
    calls, admit = _recording()
    out = vc.edit_selection(
        "add",
        choice="preset:llama-2-13b",
        selection=selection,
        controls=Controls(),
        view=view,
        admit=admit,
    )
    assert len(calls) == 1 and out.curves is not vc.KEEP and out.view is not vc.KEEP
