"""The account functions property tax and water tax share (common/sql/accounts
005 and 007) answer each service in its own words, and are made only from a
kind whose names are checked.

  - pt_property_for / wt_connection_for, made from each service's
    <prefix>_account_kind(): an id of the wrong form is NRINV naming the
    field with the service's example; a missing one is NRNFD "no property"
    / "no water connection".
  - The defaulters' arguments (accounts_defaulters_page): a pageToken that
    is not an account id of the service's form, and a limit out of range,
    are NRINV naming the field.
  - The generated counter payment is static SQL over the service's own
    table (no EXECUTE), and accounts_define refuses a kind with a name that
    is not a plain identifier before it makes anything.
"""

ULB = "250786"
CLERK = '{"userId": "staff:shared-clerk", "role": "CLERK", "ulb": "250786"}'
TODAY = "2026-06-01"

SERVICES = {
    "property_tax": {"p": "pt", "key": "propertyId", "bad": "250786-1-2",
                     "missing": "999999-001-000001", "title": "property",
                     "example": "a property id such as 802462-005-000123",
                     "token": "(a property id)", "table": "property"},
    "water_tax": {"p": "wt", "key": "connectionId", "bad": "250786-001-000001",
                  "missing": "999999-W001-000001", "title": "water connection",
                  "example": "a connection id such as 802462-W005-000123",
                  "token": "(a connection id)", "table": "connection"},
}


def call(pg_cluster, svc, fn, actor, req):
    return pg_cluster.psql_as(f"{svc}_app",
                              f"SET search_path = {svc}; SELECT {fn}('{actor}', '{req}', '{TODAY}')")


def test_each_service_names_its_own_account(pg_cluster):
    for svc, s in SERVICES.items():
        r = call(pg_cluster, svc, f"{s['p']}_dues", CLERK, f'{{"{s["key"]}": "{s["bad"]}"}}')
        assert r.sqlstate == "NRINV", f"{svc}: {r}"
        assert f"{s['key']} must be {s['example']}" in r.stderr, r.stderr
        r = call(pg_cluster, svc, f"{s['p']}_dues", CLERK, f'{{"{s["key"]}": "{s["missing"]}"}}')
        assert r.sqlstate == "NRNFD", f"{svc}: {r}"
        assert f"no {s['title']} {s['missing']}" in r.stderr, r.stderr


def test_defaulters_arguments_are_checked_alike(pg_cluster):
    for svc, s in SERVICES.items():
        fn = f"{s['p']}_report_defaulters"
        r = call(pg_cluster, svc, fn, CLERK, f'{{"ulb": "{ULB}", "pageToken": "x"}}')
        assert r.sqlstate == "NRINV", f"{svc}: {r}"
        assert f"pageToken must be the nextPageToken of the previous page {s['token']}" \
            in r.stderr, r.stderr
        r = call(pg_cluster, svc, fn, CLERK, f'{{"ulb": "{ULB}", "limit": 1001}}')
        assert r.sqlstate == "NRINV" and "limit" in r.stderr, f"{svc}: {r}"
        r = call(pg_cluster, svc, fn, CLERK,
                 f'{{"ulb": "{ULB}", "pageToken": "{s["missing"]}", "limit": 1}}')
        assert r.ok, f"{svc}: {r}"


def test_generated_functions_are_static_and_kinds_checked(pg_cluster):
    for svc, s in SERVICES.items():
        body = pg_cluster.sql(f"SELECT pg_get_functiondef('{svc}.{s['p']}_payment_record'::regproc)",
                              dbname=f"nagar_{svc}")
        assert "EXECUTE" not in body.upper(), body
        assert f"FROM {s['table']} WHERE {s['table']}_id = v_account FOR UPDATE" in body, body
        kind = pg_cluster.sql(f"SELECT {svc}.{s['p']}_account_kind()", dbname=f"nagar_{svc}")
        bad = kind.replace(f'"prefix": "{s["p"]}"', '"prefix": "x(); DROP TABLE payment; --"')
        assert bad != kind
        r = pg_cluster.psql_as(f"{svc}_owner",
                               f"SET search_path = {svc}; SELECT accounts_define('{bad}')")
        assert r.sqlstate == "NRINV" and "prefix must be a rule prefix" in r.stderr, f"{svc}: {r}"
        assert pg_cluster.sql("SELECT count(*) FROM pg_proc WHERE proname LIKE 'x%payment%'",
                              dbname=f"nagar_{svc}") == "0"
