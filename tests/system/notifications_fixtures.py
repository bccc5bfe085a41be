"""Notifications fixtures for system tests: a real SMTP server on loopback
(aiosmtpd), the fake SMS provider, a running nagar-notifications, a bus
client that speaks its protobuf messages (encoded by contract.py from the
descriptor set built from proto/, so no hand-typed copy can drift), and
the outbox demo service.

Registered as a plugin in conftest.py (pytest_plugins), like the other
fixture modules; tests use the fixtures by name:

    def test_something(broker, notifications, sms_provider, smtp_server):
        b = broker()
        n = notifications(b)                  # SMS to sms_provider, e-mail to smtp_server
        c = n.client("property_tax")          # calls as that principal
        r = c.call("event.deliver", {"event": {...}})
        r.ok, r.code, r.field, r.message, r.reply
        n.sql("SELECT ...")                   # superuser, in nagar_notifications
        n.wait_status(message_id, "sent")

`notifications(running_broker, **env)` starts nagar-notifications as the
"notifications" principal with the notifications_app role, a seal key,
NAGAR_NOTIFY_SMS_URL pointing at the fake provider and
NAGAR_NOTIFY_SMTP_URL at the SMTP server (plain, TLS off), fast retries
(base 200 ms, 3 attempts), quiet hours off; env overrides any of it.
Starting it again (same test) gives a new process on the same database.

`smtp_server` records messages: .messages (email.message.Message objects,
each with .envelope_to), .mode = "ok" | "451" | "550".

`outbox_demo(running_broker)` makes a fresh database for the demo service
(tests/support/outbox_demo.c), migrates it, and returns an OutboxDemo with
.pay(ulb, mobile, amount, receipt) -> (seconds taken, payment id),
.start_relay(**env) -> Proc, .pending().
"""
import email
import email.policy
import os
import subprocess
import time
import uuid

import pytest
from aiosmtpd.controller import Controller

import contract
from bus_service import BusService, ServiceClient
from fake_sms_provider import FakeSmsProvider
from mdp_peers import MdpWorker
from nagar_proc import ROOT, free_port, wait_until
from service_db import ServiceDb

CLI_TIMEOUT = 60

N = "nagar.notifications."

# method -> (request type, reply type), from the contract (tests/system/contract.py)
METHODS = {
    "event.deliver": (N + "DeliverEventRequest", N + "DeliverEventReply"),
    "event.list": (N + "ListEventsRequest", N + "ListEventsReply"),
    "event.retry": (N + "RetryEventRequest", N + "EventInfo"),
    "notify.subjects": (N + "SubjectsRequest", N + "SubjectsReply"),
    "contact.lookup": ("nagar.identity.LookupContactsRequest",
                       "nagar.identity.LookupContactsReply"),
    "message.send": (N + "SendMessageRequest", N + "SendMessageReply"),
    "message.list": (N + "ListMessagesRequest", N + "ListMessagesReply"),
    "template.save": (N + "SaveTemplateRequest", N + "Template"),
    "template.list": (N + "ListTemplatesRequest", N + "ListTemplatesReply"),
    "optout.set": (N + "SetOptOutRequest", N + "OptOut"),
    "campaign.start": (N + "StartCampaignRequest", N + "Campaign"),
    "campaign.add_recipients": (N + "AddRecipientsRequest", N + "AddRecipientsReply"),
    "campaign.status": (N + "CampaignStatusRequest", N + "Campaign"),
}


def enum_values(type_name):
    """An enum of the contract as {name: number} (enum_values(N + "Channel"))."""
    pool = contract.message_type("nagar.Request").DESCRIPTOR.file.pool
    return {value.name: value.number for value in pool.FindEnumTypeByName(type_name).values}


CHANNEL = enum_values(N + "Channel")
MESSAGE_STATUS = enum_values(N + "MessageStatus")
CAMPAIGN_KIND = enum_values(N + "CampaignKind")
CAMPAIGN_STATE = enum_values(N + "CampaignState")
EVENT_STATE = enum_values(N + "EventState")


class NotifyClient(ServiceClient):
    """Calls nagar-notifications over the broker as one principal (bus_service.py)."""
    SERVICE = "notifications"
    METHODS = METHODS


# ---- SMTP ----------------------------------------------------------------------

class RecordingSmtpHandler:
    def __init__(self):
        self.messages = []
        self.attempts = 0
        self.mode = "ok"

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        if self.mode == "451":
            return "451 4.3.0 Try again later"
        if self.mode == "550":
            return "550 5.1.1 No such user"
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        message.envelope_to = list(envelope.rcpt_tos)
        message.envelope_from = envelope.mail_from
        self.messages.append(message)
        return "250 2.0.0 OK queued"


class SmtpServer:
    def __init__(self):
        self.handler = RecordingSmtpHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self):
        return self.handler.messages

    @property
    def mode(self):
        return self.handler.mode

    @mode.setter
    def mode(self, value):
        self.handler.mode = value

    def to(self, address):
        return [m for m in self.messages if address in m.envelope_to]

    def close(self):
        self.controller.stop()


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    yield server
    server.close()


@pytest.fixture
def sms_provider():
    provider = FakeSmsProvider()
    yield provider
    provider.close()


# ---- the service -----------------------------------------------------------------

@pytest.fixture(scope="session")
def notifications_db(pg_cluster, nagar_bin):
    db = ServiceDb(pg_cluster, nagar_bin("nagar-notifications"), "notifications")
    db.assert_migrated(8)
    return db


class RunningNotifications(BusService):
    def __init__(self, proc, db, broker, env):
        super().__init__(broker, NotifyClient)
        self.proc = proc
        self.db = db
        self.env = env

    def sql(self, text):
        return self.db.sql(text)

    def event_state(self, event_id):
        return self.sql(f"SELECT state || '|' || reason FROM notifications.event "
                        f"WHERE event_id = '{event_id}'")

    def wait_event(self, event_id, state="delivered", timeout=20):
        """Waits until the event is resolved to state; returns its reason."""
        def reached():
            got = self.event_state(event_id).split("|", 1)
            return (got[1],) if got[0] == state else None
        return wait_until(reached, timeout, what=f"event {event_id} to be {state} "
                                                  f"(now {self.event_state(event_id)!r})")[0]

    def messages_of(self, event_id, count=1, timeout=20):
        """The ids of the messages queued for an event (waits for count)."""
        def queued():
            ids = self.sql(f"SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') "
                           f"FROM notifications.message WHERE event_id = '{event_id}'")
            ids = [i for i in ids.split(",") if i]
            return ids if len(ids) >= count else None
        return wait_until(queued, timeout, what=f"{count} message(s) for event {event_id} "
                                                f"(event: {self.event_state(event_id)!r})")

    def status(self, message_id):
        return self.sql(f"SELECT status FROM notifications.message WHERE id = {int(message_id)}")

    def wait_status(self, message_id, status, timeout=20):
        return wait_until(lambda: self.status(message_id) == status, timeout,
                          what=f"message {message_id} to be {status}")

    def stop(self):
        return self.proc.stop()



@pytest.fixture
def notifications(procs, notifications_db, tmp_path, sms_provider, smtp_server):
    started = []
    count = [0]
    seal_key = str(tmp_path / "notify_seal.key")

    def start(running_broker, wait_ready=True, **env):
        count[0] += 1
        name = "notifications" if count[0] == 1 else f"notifications{count[0]}"
        if not os.path.exists(seal_key):
            result = subprocess.run([notifications_db.binary, "seal-keygen", seal_key],
                                    capture_output=True, text=True, timeout=CLI_TIMEOUT)
            assert result.returncode == 0, result.stderr
        full = dict(notifications_db.env)
        full.update(running_broker.client_env("notifications"))
        full.update({
            "NAGAR_NOTIFY_SEAL_KEY_FILE": seal_key,
            "NAGAR_NOTIFY_SMS_URL": sms_provider.url,
            "NAGAR_NOTIFY_SMS_SENDER": "NAGARS",
            "NAGAR_NOTIFY_SMS_DLT_ENTITY_ID": "1101234567890123456",
            "NAGAR_NOTIFY_SMTP_URL": smtp_server.url,
            "NAGAR_NOTIFY_SMTP_FROM": "no-reply@nagar.example.in",
            "NAGAR_NOTIFY_SMTP_TLS": "off",
            "NAGAR_NOTIFY_RETRY_BASE_MS": "200",
            "NAGAR_NOTIFY_RETRY_MAX_MS": "1000",
            "NAGAR_NOTIFY_MAX_ATTEMPTS": "3",
            "NAGAR_NOTIFY_HTTP_TIMEOUT_MS": "2000",
            "NAGAR_NOTIFY_QUIET_HOURS": "off",
            "NAGAR_NOTIFY_RATE_PER_RECIPIENT": "100",
        })
        full.update({k: str(v) for k, v in env.items()})
        proc = procs.start(name, [notifications_db.binary], env=full)
        running = RunningNotifications(proc, notifications_db, running_broker, full)
        started.append(running)
        if wait_ready:
            proc.wait_event("notifications.ready", timeout=20)
            running.wait_answering("template.list", {"type": "otp.login"},
                                   "notifications to answer on the bus",
                                   actor={"userId": "staff:probe", "role": "STATE_ADMIN"})
        return running

    yield start
    for running in started:
        running.close()


# ---- stand-ins for identity and the publishers --------------------------------------

def _reply(request_id, code=0, message="", payload=None):
    reply = {"requestId": request_id}
    if code:
        reply["status"] = {"code": code, "message": message, "field": ""}
    if payload is not None:
        reply["payload"] = payload
    return contract.encode("nagar.Reply", reply)


class FakeDirectory:
    """Serves what notifications asks when it resolves an event's person,
    for tests that run no real identity or publisher: identity's
    contact.lookup and the publishers' notify.subjects, each as its own
    principal's worker on the test's bus.

        d = directory(broker)                             # identity and every publisher
        d = directory(broker, services=("property_tax",)) # only these
        d.record("property:250946-001-000042", "250946", [("citizen:1", ""), ("", "9876500001")])
        d.contact("citizen:1", mobile="9876500002", email="a@example.in")
        d.any_contact_owns_everything = True   # unknown records: every known contact is a person
        d.calls                                # [(service, method, request dict), ...]

    Other identity methods (ulb.list, ulb.get) answer NOT_FOUND: notifications
    names towns by their LGD code then."""

    def __init__(self, running_broker, services):
        self.records = {}
        self.contacts = {}
        self.calls = []
        self.any_contact_owns_everything = False
        self.unavailable = set()
        self.workers = []
        for service in services:
            curve = None if running_broker.insecure else (
                os.path.join(running_broker.keys_dir, "secret", f"{service}.cert"),
                running_broker.public_key_path)
            worker = MdpWorker(running_broker.endpoint, service, curve=curve)
            worker.serve_in_thread(self._handler(service))
            self.workers.append(worker)

    def record(self, subject, ulb, persons):
        self.records[subject] = (ulb, list(persons))

    def contact(self, user_id, mobile="", email="", language=""):
        self.contacts[user_id] = {"mobile": mobile, "email": email, "language": language}

    def _handler(self, service):
        def handle(body):
            request = contract.decode("nagar.Request", body[0])   # [body][caller principal]
            method = request["method"]
            request_id = (request["context"] or {}).get("requestId", "")
            if service in self.unavailable:
                return [_reply(request_id, 6, f"{service} is down (test)")]
            if method == "notify.subjects":
                asked = contract.decode(N + "SubjectsRequest", request["payload"])["subjects"]
                self.calls.append((service, method, asked))
                answers = []
                for subject in asked:
                    if subject in self.records:
                        ulb, persons = self.records[subject]
                    elif self.any_contact_owns_everything:
                        ulb = subject.split(":", 1)[1].split("-", 1)[0]
                        persons = [(user, "") for user in self.contacts]
                    else:
                        answers.append({"subject": subject, "found": False})
                        continue
                    answers.append({"subject": subject, "found": True, "ulb": ulb,
                                    "persons": [{"userId": u, "mobile": m} for u, m in persons]})
                return [_reply(request_id, payload=contract.encode(N + "SubjectsReply",
                                                                  {"subjects": answers}))]
            if method == "contact.lookup" and service == "identity":
                asked = contract.decode("nagar.identity.LookupContactsRequest",
                                        request["payload"])["userIds"]
                self.calls.append((service, method, asked))
                contacts = []
                for user in asked:
                    known = self.contacts.get(user)
                    contacts.append(dict(known, userId=user, found=True) if known
                                    else {"userId": user, "found": False})
                return [_reply(request_id, payload=contract.encode(
                    "nagar.identity.LookupContactsReply", {"contacts": contacts}))]
            return [_reply(request_id, 2, f"{method} is not served by this test's {service}")]
        return handle

    def close(self):
        for worker in self.workers:
            worker.stop()
        self.workers = []


@pytest.fixture
def directory():
    made = []

    def make(running_broker, services=("identity", "property_tax", "water_tax", "certificates")):
        d = FakeDirectory(running_broker, services)
        made.append(d)
        return d
    yield make
    for d in made:
        d.close()


# ---- the outbox demo service ------------------------------------------------------

class OutboxDemo:
    def __init__(self, procs, binary, env, broker):
        self.procs = procs
        self.binary = binary
        self.env = env
        self.broker = broker
        self.relays = 0

    def run(self, *args):
        full = dict(self.env)
        full.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        return subprocess.run([self.binary, *args], env=full, capture_output=True, text=True,
                              timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)

    def pay(self, ulb, mobile, amount, receipt):
        started = time.monotonic()
        result = self.run("pay", ulb, mobile, amount, receipt)
        took = time.monotonic() - started
        assert result.returncode == 0, f"payment failed:\n{result.stdout}\n{result.stderr}"
        return took, result.stdout.strip()

    def pending(self):
        result = self.run("pending")
        assert result.returncode == 0, result.stderr
        return int(result.stdout.strip())

    def start_relay(self, **env):
        self.relays += 1
        full = dict(self.env)
        full.update(self.broker.client_env("property_tax"))
        full.update({k: str(v) for k, v in env.items()})
        proc = self.procs.start(f"outbox_relay{self.relays}", [self.binary, "relay"], env=full)
        proc.wait_event("outbox_demo.relaying", timeout=15)
        return proc


@pytest.fixture
def outbox_demo(procs, pg_cluster, nagar_bin):
    def make(running_broker):
        dbname = pg_cluster.create_database("property_tax_owner", "property_tax")
        env = pg_cluster.role_env("property_tax_owner", dbname)
        demo = OutboxDemo(procs, nagar_bin("outbox_demo"), env, running_broker)
        result = demo.run("migrate", os.path.join(ROOT, "tests", "system",
                                                  "outbox_demo_migrations"))
        assert result.returncode == 0, f"outbox demo migrations failed:\n{result.stderr}"
        # Each test's demo is a fresh database whose outbox ids would start
        # at 1 again, while notifications (one database per session) keeps
        # every event id it accepted: start ids where no other demo was.
        start = uuid.uuid4().int % 10**12 + 1
        pg_cluster.sql(f"ALTER SEQUENCE property_tax.outbox_id_seq RESTART WITH {start}",
                       dbname=dbname)
        return demo
    return make

