"""A citizen applies online for a mutation; an officer approves or rejects it
(issue 15), through the gateway.

  - Only an owner on the register applies, naming the new owners, the deed
    and the documents' references, and may link no account but their own; a
    second application waits for the first.
  - The application waits in the ULB's inbox (PENDING, oldest first); the
    applicant and staff of its ULB see it, anyone else is told there is none.
  - Rejection needs a reason; approval records the mutation with the
    counter's rule (owners replaced, the fee on the year's dues), and is
    refused when the register's owners changed since the application.
  - Every change of an application is on the hash-chained history with who
    acted and why.
"""
import json
import uuid

PT = "/api/v1/property-tax"
ULB = "253195"         # one ULB of its own (services/identity/data)
ULB_ELSEWHERE = "248073"


def n(obj, key):
    return int(obj.get(key, 0))


def rates(s, officer):
    body = {"maintenanceBp": 1000, "slabMode": "MARGINAL",
            "slabs": [{"uptoPaise": "0", "rateBp": 600}], "rebateBp": 0,
            "rebateLastDay": "2025-08-31", "surchargeBpPerMonth": 0,
            "mutationFeePaise": "150000", "reason": "mutation application test"}
    r = s.put(f"{PT}/rates/{ULB}/2025-26", body, token=officer.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text


def owned_property(s, clerk, citizen, mobile):
    body = {"ulb": ULB, "ward": 3, "zone": "A", "address": "4 Station Road", "usage": "RESIDENTIAL",
            "construction": "RCC", "occupancy": "SELF_OCCUPIED",
            "owners": [{"name": "Ramesh Patel", "mobile": mobile, "userId": citizen.user_id,
                        "shareBp": 10000}],
            "floors": [{"floor": 0, "areaSqft": "800"}]}
    r = s.post(f"{PT}/properties", body, token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    return r.json()["propertyId"]


def application(buyer_user_id="", **overrides):
    body = {"transfer": "SALE",
            "newOwners": [{"name": "Sushila Rao", "mobile": "9812377001", "shareBp": 10000,
                           "userId": buyer_user_id}],
            "deedRef": "REG-IND-2025-4411",
            "documents": [{"kind": "SALE_DEED", "ref": "SRO Indore 4411/2025"},
                          {"kind": "REGISTRY_EXTRACT", "ref": "digilocker:in.gov.mp.igrs/4411"}],
            "statement": "sold to Sushila Rao by registered deed"}
    body.update(overrides)
    return body


def error(r):
    return r.status_code, r.json()["error"]["field"]


def test_apply_decide_and_follow(property_tax_stack):
    s = property_tax_stack(business_date="2025-07-10")
    clerk = s.staff("CLERK", ULB)
    officer = s.staff("REVENUE_OFFICER", ULB)
    registrar = s.staff("REGISTRAR", ULB)
    clerk_elsewhere = s.staff("CLERK", ULB_ELSEWHERE)
    rates(s, officer)
    owner = s.citizen("9812377010")
    stranger = s.citizen("9812377011")
    pid = owned_property(s, clerk, owner, "9812377010")
    apply = f"{PT}/properties/{pid}/mutation-applications"

    # Who may apply, and what an application must hold.
    assert error(s.post(apply, application(), token=stranger.token,
                        key=uuid.uuid4().hex)) == (404, "propertyId")
    assert s.post(apply, application(), token=clerk.token, key=uuid.uuid4().hex).status_code == 403
    assert error(s.post(apply, application(buyer_user_id=stranger.user_id), token=owner.token,
                        key=uuid.uuid4().hex)) == (422, "newOwners[0].userId")
    assert error(s.post(apply, application(documents=[]), token=owner.token,
                        key=uuid.uuid4().hex)) == (422, "documents")
    assert error(s.post(apply, application(documents=[{"kind": "PHOTO", "ref": "x"}]),
                        token=owner.token, key=uuid.uuid4().hex)) == (422, "documents[0].kind")
    assert error(s.post(apply, application(transfer="THEFT"), token=owner.token,
                        key=uuid.uuid4().hex)) == (422, "transfer")
    assert error(s.post(apply, application(newOwners=[{"name": "A", "shareBp": 5000}]),
                        token=owner.token, key=uuid.uuid4().hex)) == (422, "newOwners")

    key = uuid.uuid4().hex
    r = s.post(apply, application(), token=owner.token, key=key)
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["status"], first["propertyId"], first["transfer"]) == ("PENDING", pid, "SALE")
    assert first["ownersAtApply"][0]["name"] == "Ramesh Patel"
    assert first["appliedBy"] == owner.user_id and first["decidedAt"] == ""
    assert [d["kind"] for d in first["documents"]] == ["SALE_DEED", "REGISTRY_EXTRACT"]
    # The same key answers the same application; another waits for the first.
    again = s.post(apply, application(), token=owner.token, key=key)
    assert again.status_code == 200 and again.json()["applicationId"] == first["applicationId"]
    assert error(s.post(apply, application(), token=owner.token,
                        key=uuid.uuid4().hex)) == (409, "propertyId")

    # Who sees it: the applicant and staff of its ULB; others are told there is none.
    one = f"{PT}/mutation-applications/{first['applicationId']}"
    assert s.get(one, token=owner.token).json()["status"] == "PENDING"
    assert s.get(one, token=clerk.token).status_code == 200
    assert error(s.get(one, token=stranger.token)) == (404, "applicationId")
    assert error(s.get(one, token=clerk_elsewhere.token)) == (404, "applicationId")
    inbox = s.get(f"{PT}/mutation-applications", token=officer.token,
                  params={"status": "PENDING"}).json()
    assert [a["applicationId"] for a in inbox["applications"]] == [first["applicationId"]]
    assert s.get(f"{PT}/mutation-applications", token=clerk_elsewhere.token,
                 params={"status": "PENDING"}).json()["applications"] == []
    assert s.get(f"{PT}/mutation-applications", token=stranger.token).json()["applications"] == []
    assert error(s.get(f"{PT}/mutation-applications", token=clerk.token,
                       params={"ulb": ULB_ELSEWHERE})) == (403, "")

    # Rejection needs a reason; a decided application is not decided again.
    decide = f"{one}/decision"
    assert s.post(decide, {"decision": "REJECT", "reason": "deed not registered"},
                  token=registrar.token, key=uuid.uuid4().hex).status_code == 403
    assert error(s.post(decide, {"decision": "REJECT"}, token=officer.token,
                        key=uuid.uuid4().hex)) == (422, "reason")
    assert error(s.post(decide, {"decision": "REJECT", "reason": "no"},
                        token=clerk_elsewhere.token, key=uuid.uuid4().hex)) == (404, "applicationId")
    r = s.post(decide, {"decision": "REJECT", "reason": "the deed's registry number does not match"},
               token=officer.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    seen = s.get(one, token=owner.token).json()
    assert (seen["status"], seen["decidedBy"], seen["decisionReason"]) == (
        "REJECTED", officer.user_id, "the deed's registry number does not match")
    assert "mutation" not in seen or not seen["mutation"]
    assert error(s.post(decide, {"decision": "APPROVE"}, token=officer.token,
                        key=uuid.uuid4().hex)) == (422, "applicationId")
    assert s.get(f"{PT}/properties/{pid}", token=owner.token).json()["owners"][0]["name"] == \
        "Ramesh Patel"

    # Applied again and approved: the mutation is the counter's, fee and all.
    r = s.post(apply, application(buyer_user_id=owner.user_id), token=owner.token,
               key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    second = r.json()
    r = s.post(f"{PT}/mutation-applications/{second['applicationId']}/decision",
               {"decision": "APPROVE", "reason": "deed checked at the registry"},
               token=officer.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    approved = r.json()
    assert approved["status"] == "APPROVED"
    mutation = approved["mutation"]
    assert n(mutation, "feePaise") == 150000 and mutation["deedRef"] == "REG-IND-2025-4411"
    assert mutation["previousOwners"][0]["name"] == "Ramesh Patel"
    assert mutation["reason"] == (f"application {second['applicationId']} (SALE): "
                                  "deed checked at the registry")
    prop = s.get(f"{PT}/properties/{pid}", token=clerk.token).json()
    assert [o["name"] for o in prop["owners"]] == ["Sushila Rao"]
    dues = s.get(f"{PT}/properties/{pid}/dues", token=clerk.token).json()
    assert {l["head"]: n(l, "demandPaise") for l in dues["lines"]} == {"MUTATION_FEE": 150000}

    # The citizen's own list, newest first, one a page.
    page = s.get(f"{PT}/mutation-applications", token=owner.token, params={"pageSize": 1}).json()
    assert [a["status"] for a in page["applications"]] == ["APPROVED"]
    page = s.get(f"{PT}/mutation-applications", token=owner.token,
                 params={"pageSize": 1, "pageToken": page["nextPageToken"]}).json()
    assert [a["status"] for a in page["applications"]] == ["REJECTED"]
    assert page["nextPageToken"] == ""
    assert error(s.get(f"{PT}/mutation-applications", token=owner.token,
                       params={"pageToken": "bm90IGFuIGlk"})) == (422, "pageToken")

    # On the history: who filed, who decided, and why.
    rows = s.sql("SELECT json_agg(json_build_object('op', op, 'actor', actor, 'reason', reason) "
                 f"ORDER BY seq) FROM history WHERE tbl = 'mutation_application' AND ulb = '{ULB}'")
    history = json.loads(rows)
    assert [(h["op"], h["actor"]) for h in history] == [
        ("INSERT", owner.user_id), ("UPDATE", officer.user_id), ("INSERT", owner.user_id),
        ("UPDATE", officer.user_id)]
    assert history[1]["reason"] == "mutation.decide: the deed's registry number does not match"
    assert history[3]["reason"] == "mutation.decide: deed checked at the registry"
    actions = s.sql("SELECT string_agg(action, ',' ORDER BY id) FROM audit "
                    f"WHERE subject = '{pid}' AND action LIKE 'mutation.%'")
    assert actions == "mutation.apply,mutation.reject,mutation.apply,mutation.record,mutation.approve"
    # The app role cannot write an application itself.
    r = s.app_sql("UPDATE mutation_application SET status = 'APPROVED'")
    assert r.sqlstate == "42501", r


def test_owners_changed_since_the_application(property_tax_stack):
    s = property_tax_stack(business_date="2025-07-10")
    clerk = s.staff("CLERK", ULB_ELSEWHERE)
    officer = s.staff("REVENUE_OFFICER", ULB_ELSEWHERE)
    owner = s.citizen("9812377020")
    body = {"ulb": ULB_ELSEWHERE, "ward": 1, "zone": "A", "address": "9 Mill Road",
            "usage": "RESIDENTIAL", "construction": "RCC", "occupancy": "RENTED",
            "owners": [{"name": "Gita Sen", "userId": owner.user_id, "shareBp": 10000}],
            "floors": [{"floor": 0, "areaSqft": "500"}]}
    r = s.post(f"{PT}/properties", body, token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    pid = r.json()["propertyId"]
    r = s.post(f"{PT}/properties/{pid}/mutation-applications",
               application(transfer="INHERITANCE",
                           documents=[{"kind": "SUCCESSION_CERTIFICATE", "ref": "SC 12/2025"}]),
               token=owner.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    app_id = r.json()["applicationId"]
    # Meanwhile the counter records another mutation of the same property.
    r = s.post(f"{PT}/properties/{pid}/mutations",
               {"newOwners": [{"name": "Gita Sen", "shareBp": 5000},
                              {"name": "Anil Sen", "shareBp": 5000}],
                "deedRef": "PARTITION-7", "reason": "partition deed"},
               token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    r = s.post(f"{PT}/mutation-applications/{app_id}/decision", {"decision": "APPROVE"},
               token=officer.token, key=uuid.uuid4().hex)
    assert error(r) == (422, "applicationId")
    assert "changed" in r.json()["error"]["message"]
    prop = s.get(f"{PT}/properties/{pid}", token=clerk.token).json()
    assert [o["name"] for o in prop["owners"]] == ["Gita Sen", "Anil Sen"]
