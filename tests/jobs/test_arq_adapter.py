"""arq's internals that the workers rest on are still there, in the installed arq.

An arq upgrade that renames or reshapes them fails here, by name, rather than as workers that
never wake up or leak slots in production.
"""

from __future__ import annotations

import pytest
from arq.worker import Worker

from jobs import arq_adapter
from jobs.arq_adapter import ArqChanged, WakeableWorker, check_arq
from jobs.worker import LeapWorker


def test_the_installed_arq_has_what_the_adapter_overrides() -> None:
    check_arq()


def test_a_changed_arq_is_named_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arq_adapter, "version", lambda _name: "0.29.0")
    with pytest.raises(ArqChanged, match=r"arq 0\.29\.0 is installed"):
        check_arq()
    monkeypatch.undo()

    original = Worker._poll_iteration

    async def reshaped(self: Worker, timeout: float) -> None:  # a new signature
        await original(self)

    monkeypatch.setattr(Worker, "_poll_iteration", reshaped)
    with pytest.raises(ArqChanged, match="_poll_iteration"):
        check_arq()


def test_only_the_adapter_overrides_arqs_private_methods() -> None:
    private = {name for name in vars(Worker) if name.startswith("_") and not name.startswith("__")}
    assert {n for n in vars(LeapWorker) if n in private} == set()
    assert {n for n in vars(WakeableWorker) if n in private} == {
        "_poll_iteration",
        "_release_sem_dec_counter_on_complete",
    }
