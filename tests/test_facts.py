"""config/facts.py: the facts a stack writes and the operations read back. Most are constants whose
use is tested where they are used (the alarms smoke expects in tests/test_smoke.py, the outputs in
tests/test_regional.py); here are the facts with behaviour, and the copies that cannot import them."""

from __future__ import annotations

import pytest

from config import facts, naming
from webapp import database as webapp_database


def test_the_webapp_names_the_database_roles_as_the_stack_does():
    """webapp/ ships to the instances without config/, so it keeps its own words for /ready's role;
    smoke compares them with the stack's db_role output (a DbRole)."""
    assert (webapp_database.WRITER, webapp_database.REPLICA) == (facts.DbRole.WRITER, facts.DbRole.REPLICA)
    assert {s.role for s in (webapp_database.parse_status("f|"), webapp_database.parse_status("t|1.5"))} == set(
        facts.DbRole
    )


def test_the_replica_lag_series_of_rds_and_aurora():
    assert facts.RDS_REPLICA_LAG.dimensions("dev-us-west-2-db-a1") == {"DBInstanceIdentifier": "dev-us-west-2-db-a1"}
    assert facts.AURORA_REPLICA_LAG.dimensions("dev-us-west-2-db-a1", "us-east-1") == {
        "DBClusterIdentifier": "dev-us-west-2-db-a1",
        "SourceRegion": "us-east-1",
    }
    assert facts.RDS_REPLICA_LAG.namespace == facts.AURORA_REPLICA_LAG.namespace == "AWS/RDS"
    assert (facts.RDS_REPLICA_LAG.per_second, facts.AURORA_REPLICA_LAG.per_second) == (1, 1000)


def test_aurora_lag_without_the_writer_region_names_no_series():
    """CloudWatch matches every dimension exactly: without SourceRegion the series is another one."""
    with pytest.raises(ValueError, match="SourceRegion"):
        facts.AURORA_REPLICA_LAG.dimensions("dev-us-west-2-db-a1")


def test_the_role_arn_and_the_stack_name():
    assert facts.role_arn("123456789012", "platform-deployer") == "arn:aws:iam::123456789012:role/platform-deployer"
    assert facts.stack_name is naming.stack_name
