/*
 * outbox_demo.c — a tiny service for the outbox system tests: it records a
 * fake payment and its "payment.received" event in one transaction
 * (common/outbox.h), and relays its outbox to notifications, the way every
 * real service does from its worker tick.
 *
 *   outbox_demo migrate DIR                      apply DIR's migrations
 *   outbox_demo pay ULB USER_ID PAISE RECEIPT    one payment + its event; prints the property id
 *                                                it was for (<ULB>-001-<payment id>)
 *   outbox_demo relay                            relay until SIGTERM
 *   outbox_demo pending                          prints the events not yet acknowledged
 *
 * Environment: NAGAR_DB_CONNINFO; for relay the NAGAR_BUS_* settings of the
 * "property_tax" principal (whose events notifications accepts), and
 *   OUTBOX_DEMO_SERVICE     event id prefix (default property_tax)
 *   OUTBOX_DEMO_TIMEOUT_MS  how long one relay round waits for acknowledgements (2000)
 *   OUTBOX_DEMO_BATCH       events per round (50)
 */
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_client.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "migrate.h"
#include "outbox.h"

typedef struct {
    const char *service;
    const char *ulb;
    const char *mobile;
    const char *amount;
    const char *receipt;
    char payment_id[24];
    char property_id[48];
} payment_work_t;

static int payment_work(nagar_db_t *db, void *arg)
{
    payment_work_t *work = arg;
    const char *values[] = {work->ulb, work->mobile, work->amount, work->receipt};
    PGresult *result = nagar_db_exec(db,
                                     "INSERT INTO payment (ulb, mobile, amount, receipt_no) "
                                     "VALUES ($1, $2, $3, $4) RETURNING id",
                                     4, values);
    if (!result)
        return -1;
    snprintf(work->payment_id, sizeof work->payment_id, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);

    /* The payer is named by user id; notifications finds the contact. */
    Nagar__Notifications__Recipient recipient = NAGAR__NOTIFICATIONS__RECIPIENT__INIT;
    recipient.user_id = (char *) work->mobile;
    recipient.language = "hi";
    /* Raw facts, typed as payment.received declares them (notifications
     * derives the amount in rupees, the account and the town's name). */
    snprintf(work->property_id, sizeof work->property_id, "%s-001-%06ld", work->ulb,
             strtol(work->payment_id, NULL, 10) % 1000000);
    Nagar__Notifications__Param p[3] = {NAGAR__NOTIFICATIONS__PARAM__INIT,
                                        NAGAR__NOTIFICATIONS__PARAM__INIT,
                                        NAGAR__NOTIFICATIONS__PARAM__INIT};
    const char *names[] = {"receipt_no", "amount_paise", "property_id"};
    const char *param_values[] = {work->receipt, work->amount, work->property_id};
    Nagar__Notifications__Param *params[3];
    for (int i = 0; i < 3; i++) {
        p[i].name = (char *) names[i];
        p[i].value = (char *) param_values[i];
        params[i] = &p[i];
    }
    char subject[64];
    snprintf(subject, sizeof subject, "property:%s", work->property_id);
    Nagar__Notifications__Event event = NAGAR__NOTIFICATIONS__EVENT__INIT;
    event.type = "payment.received";
    event.subject = subject;
    event.ulb = (char *) work->ulb;
    event.occurred_at_ms = nagar_bus_now_ms();
    event.recipient = &recipient;
    event.n_params = 3;
    event.params = params;
    event.essential = true;
    return nagar_outbox_add(db, work->service, &event) == 0 ? 0 : -1;
}

static nagar_db_t *connect_db(nagar_config_t *config)
{
    char error[NAGAR_DB_ERROR_MAX];
    nagar_db_t *db = nagar_db_connect(nagar_config_get(config, "NAGAR_DB_CONNINFO", ""), error,
                                      sizeof error);
    if (!db)
        nagar_log_error("outbox_demo.db_failed", "%s", error);
    return db;
}

static int relay(nagar_config_t *config, nagar_db_t *db, const char *service)
{
    char error[1024];
    long timeout_ms, batch;
    if (nagar_config_get_int(config, "OUTBOX_DEMO_TIMEOUT_MS", 2000, 10, 60000, &timeout_ms,
                             error, sizeof error) ||
        nagar_config_get_int(config, "OUTBOX_DEMO_BATCH", 50, 1, 500, &batch, error,
                             sizeof error)) {
        nagar_log_error("outbox_demo.config_invalid", "%s", error);
        return 1;
    }
    nagar_bus_options_t options;
    if (nagar_bus_options_load(&options, config, error, sizeof error) != 0) {
        nagar_log_error("outbox_demo.config_invalid", "%s", error);
        return 1;
    }
    nagar_bus_client_t *client = nagar_bus_client_new(&options, config, error, sizeof error);
    if (!client) {
        nagar_log_error("outbox_demo.bus_failed", "%s", error);
        return 1;
    }
    nagar_outbox_relay_t *outbox = nagar_outbox_relay_new(db, client, service);
    nagar_log_info("outbox_demo.relaying", "relaying the outbox of %s", service);
    while (!zsys_interrupted) {
        if (nagar_outbox_relay_run_once(outbox, (int) batch, (int) timeout_ms) < 0)
            nagar_log_warn("outbox_demo.relay_failed", "relay round failed");
        zclock_sleep(100);
    }
    nagar_outbox_relay_destroy(&outbox);
    nagar_bus_client_destroy(&client);
    return 0;
}

int main(int argc, char **argv)
{
    nagar_log_init("outbox_demo");
    zsys_init();
    char error[NAGAR_CONFIG_ERROR_MAX];
    nagar_config_t *config = nagar_config_new(NULL, error, sizeof error);
    if (!config) {
        nagar_log_error("outbox_demo.config_invalid", "%s", error);
        return 1;
    }
    const char *service = nagar_config_get(config, "OUTBOX_DEMO_SERVICE", "property_tax");
    const char *command = argc > 1 ? argv[1] : "";
    int rc = 2;
    nagar_db_t *db = NULL;
    if ((strcmp(command, "migrate") == 0 && argc == 3) ||
        (strcmp(command, "pay") == 0 && argc == 6) ||
        (strcmp(command, "relay") == 0 && argc == 2) ||
        (strcmp(command, "pending") == 0 && argc == 2)) {
        db = connect_db(config);
        rc = db ? 0 : 1;
    } else {
        fprintf(stderr, "usage: outbox_demo migrate DIR | pay ULB USER_ID PAISE RECEIPT | relay "
                        "| pending\n");
    }
    if (db && strcmp(command, "migrate") == 0) {
        char migrate_error[1024];
        rc = nagar_migrate_run(db, argv[2], migrate_error, sizeof migrate_error) < 0;
        if (rc)
            nagar_log_error("outbox_demo.migrate_failed", "%s", migrate_error);
    } else if (db && strcmp(command, "pay") == 0) {
        payment_work_t work = {.service = service, .ulb = argv[2], .mobile = argv[3],
                               .amount = argv[4], .receipt = argv[5]};
        rc = nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, payment_work, &work) != 0;
        if (rc)
            nagar_log_error("outbox_demo.pay_failed", "payment failed: %s", nagar_db_error(db));
        else
            printf("%s\n", work.property_id);
    } else if (db && strcmp(command, "relay") == 0) {
        rc = relay(config, db, service);
    } else if (db && strcmp(command, "pending") == 0) {
        long pending = nagar_outbox_pending(db);
        rc = pending < 0;
        if (!rc)
            printf("%ld\n", pending);
    }
    nagar_db_destroy(&db);
    nagar_config_destroy(&config);
    return rc;
}
