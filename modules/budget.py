"""The environment's monthly cost budget (F15): alerts at 80% of the forecast and 100% of actual.

The budget filters on the `Environment` cost allocation tag, so two environments sharing an
account each see their own spend; activate the tag once per payer account (Billing console,
"Cost allocation tags") or the budget stays at zero. Alerts go to the primary region's error
topic (its policy and key admit AWS Budgets) and to the environment's alert e-mails.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from config.naming import Namer
from modules import aws


@dataclass(frozen=True)
class BudgetProps:
    namer: Namer
    environment: str
    limit_usd: int
    topic_arn: str
    emails: tuple[str, ...]


class Budget(Construct):
    """Exposes `budget`."""

    def __init__(self, scope: Construct, construct_id: str, props: BudgetProps):
        super().__init__(scope, construct_id)
        p, n = props, props.namer
        b = aws.budgets_budget

        def alert(threshold: int, kind: str):
            return b.BudgetsBudgetNotification(
                comparison_operator="GREATER_THAN",
                threshold=threshold,
                threshold_type="PERCENTAGE",
                notification_type=kind,
                subscriber_sns_topic_arns=[p.topic_arn],
                subscriber_email_addresses=list(p.emails) or None,
            )

        self.budget = b.BudgetsBudget(
            self,
            "budget",
            name=n.name("monthly", "budget"),
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=str(p.limit_usd),
            limit_unit="USD",
            cost_filter=[b.BudgetsBudgetCostFilter(name="TagKeyValue", values=[f"user:Environment${p.environment}"])],
            notification=[alert(80, "FORECASTED"), alert(100, "ACTUAL")],
            tags=n.resource_tags("monthly", "budget"),
        )
