"""Workflow status moves: one table of allowed transitions, and why the others are refused."""

from __future__ import annotations

from campaigns.models import WorkflowStatus as S
from core.errors import SendwellError

# (from, to) -> None when allowed, else the reason shown to the user
TRANSITIONS: dict[tuple[S, S], str | None] = {
    (S.DRAFT, S.ACTIVE): None,
    (S.DRAFT, S.PAUSED): "a draft workflow has not started; activate it instead",
    (S.ACTIVE, S.PAUSED): None,
    (S.ACTIVE, S.DRAFT): "an active workflow cannot go back to draft; pause it instead",
    (S.PAUSED, S.ACTIVE): None,
    (S.PAUSED, S.DRAFT): "a workflow that has sent cannot go back to draft",
}


class TransitionRefused(SendwellError):
    status_code = 409


def refusal(current: str, target: str) -> str | None:
    """None when `current -> target` is allowed, otherwise why not."""
    try:
        move = (S(current), S(target))
    except ValueError:
        return f"unknown workflow status '{target}'"
    if move[0] is move[1]:
        return f"the workflow is already {move[1]}"
    return TRANSITIONS[move]


def check_transition(current: str, target: str) -> S:
    """The target status, or `TransitionRefused` saying why the move is not allowed."""
    reason = refusal(current, target)
    if reason:
        raise TransitionRefused(reason)
    return S(target)
