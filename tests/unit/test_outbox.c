/*
 * test_outbox.c — unit tests for outbox.h: the outbox module of common/sql
 * installed by nagar-migrate into a throwaway PostgreSQL (throwaway_pg.h),
 * a real nagar-broker (insecure, on a free loopback port, started from the
 * same build) and a stand-in for notifications served by a libnagar worker
 * on a thread of this process, which answers event.deliver as each test
 * scripts it by the event's type.
 *
 * What the services rely on: an event exists if and only if the change
 * that wrote it committed; it carries its final event_id "<service>:<id>"
 * (the caller's event untouched); incomplete or oversized events are not
 * written; the relay sends pending events in id order and marks sent only
 * what notifications acknowledged; an event refused as malformed is set
 * aside with its reason and never sent again; any other failure
 * (notifications busy, or unreachable) keeps the event pending, counted,
 * with its error, and it is delivered later under the same event_id; while
 * another process of the service relays (holds the service's lock) this
 * one sends nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "bus_client.h"
#include "bus_worker.h"
#include "config.h"
#include "db.h"
#include "outbox.h"
#include "scratch_dir.h"
#include "throwaway_pg.h"

#define SERVICE "unit_svc"
#define RECEIVED_MAX 256

static throwaway_pg_t cluster;
static nagar_db_t *db;
static char work_dir[64];
static char endpoint[64];
static pid_t broker_pid;
static nagar_bus_client_t *client;
static nagar_config_t *client_config;

/* ---- the stand-in for notifications ------------------------------------------------- */

static pthread_t worker_thread;
static atomic_bool worker_started, worker_stop;
static atomic_bool busy_fails = true;   /* "test.busy" events fail while set */
static pthread_mutex_t received_lock = PTHREAD_MUTEX_INITIALIZER;
static char received[RECEIVED_MAX][64];   /* event ids, in the order they arrived */
static int received_count;

static int received_now(void)
{
    pthread_mutex_lock(&received_lock);
    int count = received_count;
    pthread_mutex_unlock(&received_lock);
    return count;
}

static int deliver(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    (void) arg;
    const Nagar__Notifications__DeliverEventRequest *request =
        (const Nagar__Notifications__DeliverEventRequest *) message;
    const Nagar__Notifications__Event *event = request->event;
    if (!event)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "event",
                                      "no event");
    pthread_mutex_lock(&received_lock);
    if (received_count < RECEIVED_MAX)
        snprintf(received[received_count++], sizeof received[0], "%s", event->event_id);
    pthread_mutex_unlock(&received_lock);
    if (strcmp(event->type, "test.refused") == 0)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "event.params",
                                      "the test refuses this event");
    if (strcmp(event->type, "test.busy") == 0 && atomic_load(&busy_fails))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "the test is busy");
    Nagar__Notifications__DeliverEventReply reply = NAGAR__NOTIFICATIONS__DELIVER_EVENT_REPLY__INIT;
    return nagar_worker_call_reply(call, &reply.base);
}

static void worker_tick(nagar_worker_t *worker, void *arg)
{
    (void) arg;
    if (atomic_load(&worker_stop))
        nagar_worker_stop(worker);
}

static void *worker_main(void *arg)
{
    (void) arg;
    static const char *const anyone[] = {"*", NULL};
    static const nagar_method_t methods[] = {
        {"event.deliver", &nagar__notifications__deliver_event_request__descriptor, anyone,
         deliver},
        {NULL, NULL, NULL, NULL},
    };
    char error[512];
    nagar_config_t *config = nagar_config_new(NULL, error, sizeof error);
    nagar_bus_options_t options;
    nagar_worker_t *worker = NULL;
    if (config && nagar_bus_options_load(&options, config, error, sizeof error) == 0)
        worker = nagar_worker_new(&options, config, "notifications", methods, NULL, error,
                                  sizeof error);
    if (!worker) {
        fprintf(stderr, "test_outbox: the notifications stand-in did not start: %s\n", error);
        nagar_config_destroy(&config);
        return NULL;
    }
    nagar_worker_set_tick(worker, 50, worker_tick, NULL);
    atomic_store(&worker_started, true);
    nagar_worker_run(worker);
    nagar_worker_destroy(&worker);
    nagar_config_destroy(&config);
    return NULL;
}

/* ---- the broker --------------------------------------------------------------------- */

static int start_broker(void)
{
    char broker[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", broker, sizeof broker - 32);
    if (length <= 0)
        return -1;
    broker[length] = '\0';
    char *slash = strrchr(broker, '/');   /* <BUILD>/tests/test_outbox */
    if (!slash)
        return -1;
    *slash = '\0';
    slash = strrchr(broker, '/');
    if (!slash)
        return -1;
    strcpy(slash, "/nagar-broker");
    int port = throwaway_pg_free_port();
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    char log[128], state[128], keys[128];
    snprintf(log, sizeof log, "%s/broker.log", work_dir);
    snprintf(state, sizeof state, "%s/broker_state", work_dir);
    snprintf(keys, sizeof keys, "%s/keys", work_dir);
    broker_pid = fork();
    if (broker_pid < 0)
        return -1;
    if (broker_pid == 0) {
        FILE *out = freopen(log, "w", stdout);
        if (!out || dup2(fileno(stdout), 2) < 0)
            _exit(126);
        setenv("NAGAR_BROKER_BIND", endpoint, 1);
        setenv("NAGAR_BROKER_INSECURE", "1", 1);
        setenv("NAGAR_BROKER_STATE_DIR", state, 1);
        setenv("NAGAR_BROKER_KEYS_DIR", keys, 1);
        execl(broker, broker, (char *) NULL);
        _exit(127);
    }
    return 0;
}

static void stop_broker(void)
{
    if (broker_pid > 0) {
        kill(broker_pid, SIGTERM);
        int status;
        waitpid(broker_pid, &status, 0);
        broker_pid = 0;
    }
}

/* ---- events and the relay ------------------------------------------------------ */

typedef struct {
    const char *type;
    bool refuse;
    char event_id[128];     /* what the caller's event held afterwards */
} add_work_t;

static int add_event(nagar_db_t *on, void *arg)
{
    add_work_t *work = arg;
    Nagar__Notifications__Event event = NAGAR__NOTIFICATIONS__EVENT__INIT;
    event.type = (char *) work->type;
    event.ulb = "802462";
    event.event_id = "caller's own";
    if (nagar_outbox_add(on, SERVICE, &event) != 0)
        return -1;
    snprintf(work->event_id, sizeof work->event_id, "%s", event.event_id);
    return work->refuse ? 1 : 0;
}

/* Runs the relay until it marks one event sent (it backs off after a
 * failure, answering 0 until the back-off passed); a bounded wait, not a
 * measurement. */
static int relay_until_sent(nagar_outbox_relay_t *relay)
{
    for (int round = 0; round < 600; round++) {
        int sent = nagar_outbox_relay_run_once(relay, 10, 10000);
        if (sent != 0)
            return sent;
        usleep(100 * 1000);
    }
    return 0;
}

/* ---- fixtures ----------------------------------------------------------------------- */

/* The broker and the stand-in are up when an event goes through. */
static int wait_for_the_bus(void)
{
    add_work_t probe = {.type = "probe"};
    if (nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, add_event, &probe) != 0)
        return -1;
    nagar_outbox_relay_t *relay = nagar_outbox_relay_new(db, client, SERVICE);
    int sent = relay ? relay_until_sent(relay) : 0;
    nagar_outbox_relay_destroy(&relay);
    if (sent != 1)
        fprintf(stderr, "test_outbox: no event reached the notifications stand-in\n");
    return sent == 1 ? 0 : -1;
}

static int group_setup(void **state)
{
    (void) state;
    scratch_dir_new(work_dir, sizeof work_dir, "outbox");
    if (throwaway_pg_open(&cluster, "unitobx", &db) != 0)
        return -1;
    char error[1024];
    if (throwaway_pg_install_modules(&cluster, db, "outbox\n") < 2 || start_broker() != 0) {
        fprintf(stderr, "test_outbox: the outbox module or the broker did not start\n");
        return -1;
    }
    /* CZMQ initialises itself lazily on a thread's first socket, which is
     * not safe from two threads at once: do it here, before the worker's. */
    zsys_init();
    zsys_set_logstream(NULL);
    /* Both bus peers of this process: insecure, this broker. */
    setenv("NAGAR_BUS_ENDPOINT", endpoint, 1);
    setenv("NAGAR_BUS_INSECURE", "1", 1);
    if (pthread_create(&worker_thread, NULL, worker_main, NULL) != 0) {
        fprintf(stderr, "test_outbox: cannot start the worker thread\n");
        return -1;
    }
    client_config = nagar_config_new(NULL, error, sizeof error);
    nagar_bus_options_t options = {.insecure = true};
    snprintf(options.endpoint, sizeof options.endpoint, "%s", endpoint);
    client = client_config ? nagar_bus_client_new(&options, client_config, error, sizeof error)
                           : NULL;
    if (!client) {
        fprintf(stderr, "test_outbox: bus client: %s\n", error);
        return -1;
    }
    return wait_for_the_bus();
}

static int group_teardown(void **state)
{
    (void) state;
    atomic_store(&worker_stop, true);
    if (atomic_load(&worker_started) || worker_thread)
        pthread_join(worker_thread, NULL);
    nagar_bus_client_destroy(&client);
    nagar_config_destroy(&client_config);
    stop_broker();
    throwaway_pg_close(&cluster, &db);
    scratch_dir_remove(work_dir);
    return 0;
}

static int test_setup(void **state)
{
    (void) state;
    PGresult *result = nagar_db_exec(db, "DELETE FROM outbox", 0, NULL);
    if (!result)
        return -1;
    PQclear(result);
    pthread_mutex_lock(&received_lock);
    received_count = 0;
    pthread_mutex_unlock(&received_lock);
    atomic_store(&busy_fails, true);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

/* Adds one committed event of type; returns its outbox id. */
static long add_committed(const char *type)
{
    add_work_t work = {.type = type};
    assert_int_equal(nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, add_event, &work), 0);
    PGresult *result = nagar_db_exec(db, "SELECT max(id) FROM outbox", 0, NULL);
    assert_non_null(result);
    long id = strtol(PQgetvalue(result, 0, 0), NULL, 10);
    PQclear(result);
    return id;
}

/* One column of the outbox row id ("" for NULL). */
static const char *row_value(long id, const char *column)
{
    static char value[512];
    char sql[256], id_text[32];
    snprintf(sql, sizeof sql, "SELECT coalesce(%s::text, '') FROM outbox WHERE id = $1::bigint",
             column);
    snprintf(id_text, sizeof id_text, "%ld", id);
    const char *values[] = {id_text};
    PGresult *result = nagar_db_exec(db, sql, 1, values);
    assert_non_null(result);
    assert_int_equal(PQntuples(result), 1);
    snprintf(value, sizeof value, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    return value;
}

static const char *received_at(int index)
{
    static char copy[64];
    pthread_mutex_lock(&received_lock);
    snprintf(copy, sizeof copy, "%.63s", index < received_count ? received[index] : "(none)");
    pthread_mutex_unlock(&received_lock);
    return copy;
}

/* ---- adding ------------------------------------------------------------------------- */

static void an_event_exists_only_if_its_change_committed(void **state)
{
    (void) state;
    add_work_t work = {.type = "payment.received", .refuse = true};
    assert_int_equal(nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, add_event, &work), 1);
    assert_int_equal(nagar_outbox_pending(db), 0);

    long id = add_committed("payment.received");
    assert_int_equal(nagar_outbox_pending(db), 1);
    assert_string_equal(row_value(id, "event_type"), "payment.received");
    assert_string_equal(row_value(id, "ulb"), "802462");
    assert_string_equal(row_value(id, "attempts"), "0");
    assert_string_equal(row_value(id, "sent_at"), "");

    /* The stored payload is the event with its final id; the caller's
     * event keeps its own. */
    work.refuse = false;
    assert_int_equal(nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, add_event, &work), 0);
    assert_string_equal(work.event_id, "caller's own");
    PGresult *result = nagar_db_exec(db, "SELECT id, encode(payload, 'hex') FROM outbox "
                                         "ORDER BY id DESC LIMIT 1", 0, NULL);
    assert_non_null(result);
    char expected_id[64];
    snprintf(expected_id, sizeof expected_id, SERVICE ":%s", PQgetvalue(result, 0, 0));
    const char *hex = PQgetvalue(result, 0, 1);
    size_t size = strlen(hex) / 2;
    uint8_t *packed = malloc(size + 1);
    assert_non_null(packed);
    for (size_t i = 0; i < size; i++) {
        unsigned byte;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &byte), 1);
        packed[i] = (uint8_t) byte;
    }
    PQclear(result);
    Nagar__Notifications__Event *event = nagar__notifications__event__unpack(NULL, size, packed);
    free(packed);
    assert_non_null(event);
    assert_string_equal(event->event_id, expected_id);
    assert_string_equal(event->type, "payment.received");
    assert_string_equal(event->ulb, "802462");
    nagar__notifications__event__free_unpacked(event, NULL);
}

static void incomplete_or_oversized_events_are_not_written(void **state)
{
    (void) state;
    Nagar__Notifications__Event event = NAGAR__NOTIFICATIONS__EVENT__INIT;
    event.type = "payment.received";
    event.ulb = "";
    assert_int_equal(nagar_outbox_add(db, SERVICE, &event), -1);
    event.ulb = "802462";
    event.type = "";
    assert_int_equal(nagar_outbox_add(db, SERVICE, &event), -1);
    event.type = "payment.received";
    assert_int_equal(nagar_outbox_add(db, "", &event), -1);
    assert_int_equal(nagar_outbox_add(db, SERVICE, NULL), -1);
    /* More than 64 KiB packed. */
    char *big = malloc(70000);
    assert_non_null(big);
    memset(big, 'x', 69999);
    big[69999] = '\0';
    Nagar__Notifications__Param param = NAGAR__NOTIFICATIONS__PARAM__INIT;
    Nagar__Notifications__Param *params[] = {&param};
    param.name = "note";
    param.value = big;
    event.params = params;
    event.n_params = 1;
    assert_int_equal(nagar_outbox_add(db, SERVICE, &event), -1);
    free(big);
    assert_int_equal(nagar_outbox_pending(db), 0);
}

/* ---- relaying ----------------------------------------------------------------------- */

static void the_relay_delivers_in_id_order_and_marks_sent(void **state)
{
    (void) state;
    long ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = add_committed("payment.received");
    nagar_outbox_relay_t *relay = nagar_outbox_relay_new(db, client, SERVICE);
    assert_non_null(relay);
    assert_int_equal(nagar_outbox_relay_run_once(relay, 10, 10000), 3);
    assert_int_equal(received_now(), 3);
    for (int i = 0; i < 3; i++) {
        char expected[64];
        snprintf(expected, sizeof expected, SERVICE ":%ld", ids[i]);
        assert_string_equal(received_at(i), expected);
        assert_string_equal(row_value(ids[i], "outcome"), "delivered");
        assert_string_equal(row_value(ids[i], "attempts"), "1");
        assert_string_equal(row_value(ids[i], "sent_at IS NOT NULL"), "true");
    }
    assert_int_equal(nagar_outbox_pending(db), 0);
    /* Nothing is sent twice. */
    assert_int_equal(nagar_outbox_relay_run_once(relay, 10, 10000), 0);
    assert_int_equal(received_now(), 3);
    /* A batch of one sends the oldest first. */
    long later[2] = {add_committed("payment.received"), add_committed("payment.received")};
    assert_int_equal(nagar_outbox_relay_run_once(relay, 1, 10000), 1);
    assert_string_equal(row_value(later[0], "outcome"), "delivered");
    assert_string_equal(row_value(later[1], "outcome"), "");
    nagar_outbox_relay_destroy(&relay);
    assert_null(relay);
}

static void a_refused_event_is_set_aside(void **state)
{
    (void) state;
    long ok = add_committed("payment.received");
    long refused = add_committed("test.refused");
    long after = add_committed("payment.received");
    nagar_outbox_relay_t *relay = nagar_outbox_relay_new(db, client, SERVICE);
    assert_int_equal(nagar_outbox_relay_run_once(relay, 10, 10000), 2);
    assert_string_equal(row_value(ok, "outcome"), "delivered");
    assert_string_equal(row_value(after, "outcome"), "delivered");
    const char *outcome = row_value(refused, "outcome");
    if (strncmp(outcome, "rejected: INVALID_ARGUMENT", 26) != 0 ||
        !strstr(outcome, "the test refuses this event"))
        fail_msg("outcome of the refused event: %s", outcome);
    assert_string_equal(row_value(refused, "sent_at IS NOT NULL"), "true");
    assert_int_equal(nagar_outbox_pending(db), 0);
    /* Never sent again. */
    int before = received_now();
    assert_int_equal(nagar_outbox_relay_run_once(relay, 10, 10000), 0);
    assert_int_equal(received_now(), before);
    nagar_outbox_relay_destroy(&relay);
}

static void a_busy_notifications_delays_but_never_loses(void **state)
{
    (void) state;
    long id = add_committed("test.busy");
    nagar_outbox_relay_t *relay = nagar_outbox_relay_new(db, client, SERVICE);
    assert_int_equal(nagar_outbox_relay_run_once(relay, 10, 10000), 0);
    assert_int_equal(received_now(), 1);
    assert_string_equal(row_value(id, "sent_at"), "");
    assert_string_equal(row_value(id, "attempts"), "1");
    if (!strstr(row_value(id, "last_error"), "UNAVAILABLE"))
        fail_msg("last_error: %s", row_value(id, "last_error"));
    assert_int_equal(nagar_outbox_pending(db), 1);
    /* Notifications recovers: the same event, under the same id, goes. */
    atomic_store(&busy_fails, false);
    assert_int_equal(relay_until_sent(relay), 1);
    assert_string_equal(row_value(id, "outcome"), "delivered");
    assert_string_equal(received_at(0), received_at(received_now() - 1));
    assert_int_equal(nagar_outbox_pending(db), 0);
    nagar_outbox_relay_destroy(&relay);
}

static void an_unreachable_notifications_keeps_events_pending(void **state)
{
    (void) state;
    long id = add_committed("payment.received");
    /* A client of a broker that is not there. */
    char nowhere[64], error[512];
    snprintf(nowhere, sizeof nowhere, "tcp://127.0.0.1:%d", throwaway_pg_free_port());
    nagar_bus_options_t options = {.insecure = true};
    snprintf(options.endpoint, sizeof options.endpoint, "%s", nowhere);
    nagar_bus_client_t *lost = nagar_bus_client_new(&options, client_config, error, sizeof error);
    assert_non_null(lost);
    nagar_outbox_relay_t *relay = nagar_outbox_relay_new(db, lost, SERVICE);
    assert_int_equal(nagar_outbox_relay_run_once(relay, 10, 300), 0);
    assert_string_equal(row_value(id, "sent_at"), "");
    assert_string_equal(row_value(id, "attempts"), "1");
    assert_true(row_value(id, "last_error")[0] != '\0');
    assert_int_equal(nagar_outbox_pending(db), 1);
    nagar_outbox_relay_destroy(&relay);
    nagar_bus_client_destroy(&lost);
    /* Through the broker that is there, it goes. */
    relay = nagar_outbox_relay_new(db, client, SERVICE);
    assert_int_equal(nagar_outbox_relay_run_once(relay, 10, 10000), 1);
    assert_string_equal(row_value(id, "attempts"), "2");
    nagar_outbox_relay_destroy(&relay);
}

static void only_one_process_of_a_service_relays(void **state)
{
    (void) state;
    long id = add_committed("payment.received");
    char error[512];
    nagar_db_t *other = nagar_db_connect(cluster.conninfo, error, sizeof error);
    assert_non_null(other);
    const char *lock[] = {"nagar.outbox." SERVICE};
    PGresult *result = nagar_db_exec(other, "SELECT pg_advisory_lock(hashtext($1))", 1, lock);
    assert_non_null(result);
    PQclear(result);
    nagar_outbox_relay_t *relay = nagar_outbox_relay_new(db, client, SERVICE);
    assert_int_equal(nagar_outbox_relay_run_once(relay, 10, 10000), 0);
    assert_int_equal(received_now(), 0);
    assert_string_equal(row_value(id, "attempts"), "0");
    /* Another service's relay is not held up by it. */
    nagar_outbox_relay_t *stranger = nagar_outbox_relay_new(db, client, "other_svc");
    assert_int_equal(nagar_outbox_relay_run_once(stranger, 10, 10000), 1);
    nagar_outbox_relay_destroy(&stranger);
    /* Released, this one finds nothing left: the stranger relayed the
     * shared table's event (one outbox per schema, as in a service). */
    result = nagar_db_exec(other, "SELECT pg_advisory_unlock(hashtext($1))", 1, lock);
    assert_non_null(result);
    PQclear(result);
    assert_int_equal(nagar_outbox_relay_run_once(relay, 10, 10000), 0);
    assert_string_equal(row_value(id, "outcome"), "delivered");
    nagar_outbox_relay_destroy(&relay);
    nagar_db_destroy(&other);
}

static void relay_arguments(void **state)
{
    (void) state;
    assert_null(nagar_outbox_relay_new(NULL, client, SERVICE));
    assert_null(nagar_outbox_relay_new(db, NULL, SERVICE));
    assert_null(nagar_outbox_relay_new(db, client, NULL));
    char long_name[80];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_null(nagar_outbox_relay_new(db, client, long_name));
    assert_int_equal(nagar_outbox_relay_run_once(NULL, 10, 1000), -1);
    nagar_outbox_relay_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(an_event_exists_only_if_its_change_committed, test_setup),
        cmocka_unit_test_setup(incomplete_or_oversized_events_are_not_written, test_setup),
        cmocka_unit_test_setup(the_relay_delivers_in_id_order_and_marks_sent, test_setup),
        cmocka_unit_test_setup(a_refused_event_is_set_aside, test_setup),
        cmocka_unit_test_setup(a_busy_notifications_delays_but_never_loses, test_setup),
        cmocka_unit_test_setup(an_unreachable_notifications_keeps_events_pending, test_setup),
        cmocka_unit_test_setup(only_one_process_of_a_service_relays, test_setup),
        cmocka_unit_test_setup(relay_arguments, test_setup),
    };
    return cmocka_run_group_tests_name("outbox", tests, group_setup, group_teardown);
}
