"""Budgets actions moto 5.2.5 lacks, added as methods of its `BudgetsResponse` (moto dispatches an
`X-Amz-Target` action to the method of the same snake_case name). They read and write the budgets
moto's backend stores, so nothing is kept twice and a deleted budget takes its tags with it.

- DescribeSubscribersForNotification: the subscribers moto keeps from CreateBudget's
  `NotificationsWithSubscribers` and CreateNotification.
- ListTagsForResource, TagResource, UntagResource, and the `ResourceTags` of CreateBudget (which
  moto ignores): the AWS provider reads a budget's tags after every create and read.
- UpdateBudget: any in-place change of `aws_budgets_budget` (limit, tags...) calls it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def _not_found(message: str) -> Exception:
    from moto.budgets.exceptions import NotFoundException

    return NotFoundException(message)


def _budget(response: Any, account: str, name: str) -> Any:
    budget = response.backend.budgets[account].get(name)
    if budget is None:
        raise _not_found(f"Unable to get budget: {name} - the budget doesn't exist.")
    return budget


def _budget_of_arn(response: Any) -> Any:
    """`arn:aws:budgets::<account>:budget/<name>` -> moto's Budget."""
    arn = response._get_param("ResourceARN") or ""
    parts = arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("budget/"):
        raise _not_found(f"Unable to find resource {arn}")
    return _budget(response, parts[4], parts[5].removeprefix("budget/"))


def describe_subscribers_for_notification(self: Any) -> str:
    """The notification is matched on what identifies it: type, operator, threshold and its type."""

    def key(details: dict[str, Any]) -> tuple[Any, ...]:
        return (
            details.get("NotificationType"),
            details.get("ComparisonOperator"),
            float(details.get("Threshold", 0)),
            details.get("ThresholdType", "PERCENTAGE"),
        )

    budget = _budget(self, self._get_param("AccountId"), self._get_param("BudgetName"))
    wanted = key(self._get_param("Notification") or {})
    for notification in budget.notifications:
        if key(notification.details) == wanted:
            return json.dumps({"Subscribers": notification.subscribers})
    raise _not_found("Unable to describe subscribers - the notification doesn't exist.")


def update_budget(self: Any) -> str:
    """Replace the budget's definition; its notifications and tags stay (as in AWS)."""
    from moto.budgets.models import Budget

    new = self._get_param("NewBudget")
    budget = _budget(self, self._get_param("AccountId"), new["BudgetName"])
    budget.budget = Budget({"TimePeriod": budget.budget["TimePeriod"], **new}, []).budget
    return "{}"


def _tags(budget: Any) -> dict[str, str]:
    if not hasattr(budget, "e2e_tags"):
        budget.e2e_tags = {}
    return budget.e2e_tags


def list_tags_for_resource(self: Any) -> str:
    tags = _tags(_budget_of_arn(self))
    return json.dumps({"ResourceTags": [{"Key": k, "Value": v} for k, v in tags.items()]})


def tag_resource(self: Any) -> str:
    _tags(_budget_of_arn(self)).update({t["Key"]: t["Value"] for t in self._get_param("ResourceTags") or []})
    return "{}"


def untag_resource(self: Any) -> str:
    tags = _tags(_budget_of_arn(self))
    for key in self._get_param("ResourceTagKeys") or []:
        tags.pop(key, None)
    return "{}"


def keeping_tags(create_budget: Callable[[Any], str]) -> Callable[[Any], str]:
    """moto's create_budget, then the request's `ResourceTags` stored on the new budget."""

    def wrapper(self: Any) -> str:
        result = create_budget(self)
        budget = _budget(self, self._get_param("AccountId"), self._get_param("Budget")["BudgetName"])
        _tags(budget).update({t["Key"]: t["Value"] for t in self._get_param("ResourceTags") or []})
        return result

    return wrapper


METHODS: dict[str, Callable[[Any], str]] = {
    "describe_subscribers_for_notification": describe_subscribers_for_notification,
    "update_budget": update_budget,
    "list_tags_for_resource": list_tags_for_resource,
    "tag_resource": tag_resource,
    "untag_resource": untag_resource,
}
