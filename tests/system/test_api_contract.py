"""The HTTP API as a client developer meets it (issue 14 item 5): an OpenAPI
document client generators accept, with the limits the services enforce;
every field in every answer, zeros included; replays marked; what a GET
answered can be PUT back.

A TypeScript client is generated from the live document with an npm
generator (tests/tools), compiled with tsc and run against the gateway.
"""
import json
import os
import subprocess

import pytest

from node_tools import node_tools_dir

pytestmark = pytest.mark.timeout(300)

ULB = "250786"


@pytest.fixture
def api(broker, gateway, identity):  # noqa: F811  (fixtures from the *_fixtures modules)
    b = broker()
    ident = identity(b)
    return gateway(b, identity=ident, NAGAR_GATEWAY_RATE_PER_IP=1000)


def test_operation_ids_are_unique_and_limits_are_the_services(api):
    doc = api.get("/api/v1/openapi.json").json()
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicated, duplicated
    assert "propertyTaxPaymentRecord" in ids and "waterTaxPaymentRecord" in ids
    # The page size the document publishes is the one identity enforces.
    params = {p["name"]: p for p in doc["paths"]["/api/v1/ulbs"]["get"]["parameters"]}
    size = params["pageSize"]["schema"]
    assert size["minimum"] == 0 and size["maximum"] == 200, size
    assert api.get(f"/api/v1/ulbs?pageSize={size['maximum']}").status_code == 200
    r = api.get(f"/api/v1/ulbs?pageSize={size['maximum'] + 1}")
    assert r.status_code in (400, 422) and r.json()["error"]["field"] == "pageSize", r.text
    # Every page size in the document is bounded, none is left at 2^32 - 1.
    for path, item in doc["paths"].items():
        for op in item.values():
            for p in op.get("parameters", []):
                if p["name"] == "pageSize":
                    assert p["schema"].get("maximum", 1 << 32) <= 1000, (path, p)
    # Mutations say how a replay is marked.
    create = doc["paths"]["/api/v1/ulbs"]["post"]["responses"]["200"]
    assert "Idempotent-Replayed" in create["headers"]


def test_every_field_is_in_the_answer_zeros_included(api):
    doc = api.get("/api/v1/openapi.json").json()
    ulb_schema = doc["components"]["schemas"]["nagar.identity.Ulb"]["properties"]
    scalars = {name for name, s in ulb_schema.items() if "$ref" not in s} - {"replayed"}
    # Bagh (298930) has no Census 2011 code: the field is there, empty.
    answer = api.get("/api/v1/ulbs/298930").json()
    assert scalars <= set(answer), sorted(scalars - set(answer))
    assert answer["census2011Code"] == "" and "replayed" not in answer, answer
    # An empty page is an empty list, not a missing one.
    page = api.get("/api/v1/ulbs?query=no-such-town-anywhere").json()
    assert page["ulbs"] == [], page


def test_a_client_generated_from_the_document_compiles_and_calls_a_route(api, tmp_path):
    tools = node_tools_dir()
    spec = tmp_path / "openapi.json"
    spec.write_text(api.get("/api/v1/openapi.json").text)
    out = tmp_path / "client"
    bin_dir = os.path.join(tools, "node_modules", ".bin")
    run = subprocess.run([os.path.join(bin_dir, "openapi"), "--input", str(spec), "--output",
                          str(out), "--client", "fetch", "--useOptions"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    (tmp_path / "main.ts").write_text(
        "import { OpenAPI, IdentityService } from './client';\n"
        "declare const process: { argv: string[]; exit(code: number): never };\n"
        "OpenAPI.BASE = process.argv[2];\n"
        "IdentityService.identityUlbGet({ code: process.argv[3] })\n"
        "  .then((ulb) => { console.log(JSON.stringify(ulb)); })\n"
        "  .catch((e) => { console.error(String(e)); process.exit(1); });\n")
    (tmp_path / "tsconfig.json").write_text(json.dumps({
        "compilerOptions": {"target": "ES2020", "module": "commonjs", "strict": True,
                            "lib": ["ES2020", "DOM"], "outDir": "out", "skipLibCheck": True},
        "files": ["main.ts"]}))
    compiled = subprocess.run([os.path.join(bin_dir, "tsc"), "-p", str(tmp_path)],
                              capture_output=True, text=True, timeout=180)
    assert compiled.returncode == 0, (compiled.stdout + compiled.stderr)[-3000:]
    called = subprocess.run(["node", str(tmp_path / "out" / "main.js"), api.url, ULB],
                            capture_output=True, text=True, timeout=60)
    assert called.returncode == 0, called.stderr[-2000:]
    assert json.loads(called.stdout)["code"] == ULB
