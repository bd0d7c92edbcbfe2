"""The part of `apply` both backends share: checking actions, the order of writes, and one
result per action whatever happens to the requests that carry them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from connectors.exchange.base import UPDATABLE_FIELDS, ActionResult, ExchangeAction
from connectors.exchange.errors import ExchangeError
from sync_rules.render import fit
from sync_rules.vocabulary import ACTIONS, DELETE_MODES

PROBLEM_LIMIT = 300  # characters of a refused value's problem kept in its result and logs

# The order `apply` sends writes in: deletes (per delete mode), then updates, then creates.
WRITE_ORDER = (
    *(("delete", mode) for mode in DELETE_MODES),
    ("update", ""),
    ("create", ""),
)


def write_kind(action: ExchangeAction) -> tuple[str, str]:
    """The group an action is sent in: (action, delete mode for deletes, else "")."""
    return action.action, action.delete_mode if action.action == "delete" else ""


def check_action(action: ExchangeAction) -> None:
    """Raise ValueError for an action no backend can carry out (before anything is sent)."""
    if action.action not in ACTIONS:
        raise ValueError(f"unknown action {action.action!r}")
    if action.action == "delete":
        if not action.item_id:
            raise ValueError("delete needs item_id")
        if action.delete_mode not in DELETE_MODES:
            raise ValueError(f"unknown delete_mode {action.delete_mode!r}")
    elif action.action == "create":
        if action.start is None or action.end is None:
            raise ValueError("create needs start and end")
    else:
        if not action.item_id or not action.change_key:
            raise ValueError("update needs item_id and the change key read with the item")
        unknown = set(action.changed_fields) - set(UPDATABLE_FIELDS)
        if unknown:
            raise ValueError(f"unknown changed_fields {sorted(unknown)}")


class Outcomes:
    """The result of each action of one `apply` call, in the actions' order, as answers come."""

    def __init__(self, actions: Sequence[ExchangeAction]) -> None:
        self.actions = actions
        self._results: list[ActionResult | None] = [None] * len(actions)

    def set(self, index: int, result: ActionResult) -> None:
        """Record the answer for action `index`."""
        self._results[index] = result

    def invalid(self, index: int, problem: Exception) -> None:
        """Action `index` was refused before sending: it fails alone, as InvalidItem."""
        action = self.actions[index]
        self._results[index] = ActionResult(
            ok=False,
            item_id=action.item_id,
            error="InvalidItem",
            # Value checks quote the value, which may be a whole course description.
            message=f"Action {action.action} for {action.entry_key} is invalid: "
            + fit(str(problem), PROBLEM_LIMIT),
        )

    def fail_unanswered(self, indexes: Iterable[int], error: ExchangeError) -> None:
        """A request failed for good: its actions, and those never sent, fail with its error."""
        for index in indexes:
            if self._results[index] is None:
                self._results[index] = ActionResult(
                    ok=False,
                    item_id=self.actions[index].item_id,
                    error=type(error).__name__,
                    message=str(error),
                )

    def all(self, server: str) -> list[ActionResult]:
        """Every result; an action `server` left unanswered is a broken answer, not a guess."""
        results = [r for r in self._results if r is not None]
        if len(results) != len(self._results):
            raise ExchangeError(f"Some actions got no result from {server}.")
        return results
