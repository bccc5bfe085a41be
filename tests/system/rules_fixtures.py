"""rules_fixtures.py — property-tax and water-tax fixtures for system tests:
`property_tax_stack` and `water_tax_stack`, the whole stack a test of either
service needs (tests/system/rules_stack.py says what it starts and what it
offers). Both services are built the same way on common/service_rules, so
one factory makes both fixtures; only the service and the path that tells
it is serving differ.

    def test_something(property_tax_stack):
        s = property_tax_stack(business_date="2025-08-31")   # processes=2, **env
        clerk = s.staff("CLERK", ULB_A)
        r = s.post("/api/v1/property-tax/properties", body, token=clerk.token)

    def test_other(water_tax_stack):
        s = water_tax_stack(business_date="2025-06-10")
        r = s.post("/api/v1/water-tax/connections", body, token=clerk.token)

Registered as a plugin in conftest.py: tests use the fixtures by name.
"""
import pytest

from rules_stack import rules_stack_starter


def _stack_fixture(service, probe_path):
    """A fixture named <service>_stack: a starter for the service's stack,
    stopped after the test."""
    @pytest.fixture(name=f"{service}_stack")
    def stack(procs, pg_cluster, nagar_bin, broker, identity, gateway, tmp_path):
        start, stop = rules_stack_starter(service, probe_path, procs, pg_cluster, nagar_bin,
                                          broker, identity, gateway, tmp_path)
        yield start
        stop()
    return stack


property_tax_stack = _stack_fixture("property_tax", "/api/v1/property-tax/rates/250786/2025-26")
water_tax_stack = _stack_fixture("water_tax", "/api/v1/water-tax/tariffs/250786/2025-26")
