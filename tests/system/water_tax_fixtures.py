"""Water-tax fixtures for system tests: `water_tax_stack`, the whole stack a
water-tax test needs (tests/system/rules_stack.py says what it starts and
what it offers).

    def test_something(water_tax_stack):
        s = water_tax_stack(business_date="2025-06-10")   # processes=2, **env
        clerk = s.staff("CLERK", ULB_A)
        r = s.post("/api/v1/water-tax/connections", body, token=clerk.token)

Registered as a plugin in conftest.py: tests use the fixtures by name.
"""
import pytest

from rules_stack import rules_stack_starter


@pytest.fixture
def water_tax_stack(procs, pg_cluster, nagar_bin, broker, identity, gateway, tmp_path):
    start, stop = rules_stack_starter("water_tax", "/api/v1/water-tax/tariffs/250786/2025-26", procs, pg_cluster,
                                      nagar_bin, broker, identity, gateway, tmp_path)
    yield start
    stop()
