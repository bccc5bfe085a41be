/*
 * receipts.c — nagarctl receipts replay: the slips a counter wrote while
 * offline, read from a CSV and recorded as property-tax payments over the
 * bus with their own idempotency keys, so a replay is safe to repeat; a
 * report says what became of each line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>

#include "buffer.h"
#include "ctl.h"
#include "job_grant.h"
#include "proto/envelope.pb-c.h"
#include "proto/property_tax.pb-c.h"

#define CSV_LINE_MAX 4096
#define REPLAY_MAX_ROWS 1000000
#define REPLAY_IN_FLIGHT 16

typedef struct {
    char key[129];
    char property_id[65];
    int64_t amount;
    int mode;
    char instrument[65];
    char counter[17];
    int line;
    /* outcome */
    bool done;
    char outcome[16];        /* RECORDED, DUPLICATE, CONFLICT, FAILED */
    char receipt[80];
    char message[256];
} replay_row_t;

/* Splits a simple CSV line (no quoted commas: every field is a code,
 * number or reference) into at most max fields. */
static int split_csv(char *line, char **fields, int max)
{
    int n = 0;
    char *save = NULL;
    line[strcspn(line, "\r\n")] = '\0';
    char *cursor = line;
    while (n < max) {
        fields[n++] = cursor;
        char *comma = strchr(cursor, ',');
        if (!comma)
            break;
        *comma = '\0';
        cursor = comma + 1;
    }
    (void) save;
    for (int i = 0; i < n; i++) {
        while (*fields[i] == ' ')
            fields[i]++;
        size_t length = strlen(fields[i]);
        while (length && fields[i][length - 1] == ' ')
            fields[i][--length] = '\0';
    }
    return n;
}

static int parse_mode(const char *text)
{
    const ProtobufCEnumValue *value =
        protobuf_c_enum_descriptor_get_value_by_name(&nagar__property_tax__payment_mode__descriptor,
                                                     text);
    return value && value->value > 0 ? value->value : -1;
}

static void replay_done(const nagar_bus_result_t *result, void *arg)
{
    replay_row_t *row = arg;
    row->done = true;
    if (result->code == NAGAR__STATUS_CODE__OK) {
        Nagar__PropertyTax__Receipt *receipt = nagar__property_tax__receipt__unpack(
            NULL, result->payload_size, result->payload);
        if (receipt) {
            ctl_fmt(row->receipt, sizeof row->receipt, "%s", receipt->receipt_no);
            nagar__property_tax__receipt__free_unpacked(receipt, NULL);
        }
        ctl_fmt(row->outcome, sizeof row->outcome, "%s", result->replayed ? "DUPLICATE" : "RECORDED");
        if (result->replayed)
            ctl_fmt(row->message, sizeof row->message, "already recorded; nothing changed");
    } else {
        ctl_fmt(row->outcome, sizeof row->outcome, "%s",
                 result->code == NAGAR__STATUS_CODE__CONFLICT ? "CONFLICT" : "FAILED");
        ctl_fmt(row->message, sizeof row->message, "%s: %s", ctl_status_name(result->code),
                 result->message);
    }
}

int ctl_receipts_replay(ctl_t *self, const char *csv_path, const char *ulb,
                               const char *clerk, const char *operator_user,
                               const char *report_path)
{
    FILE *csv = fopen(csv_path, "r");
    if (!csv) {
        ctl_say_error("cannot open %s: %s", csv_path, strerror(errno));
        return EXIT_ERROR;
    }
    /* Header: offline_key,property_id,amount_paise,mode,instrument_ref,counter */
    char line[CSV_LINE_MAX];
    replay_row_t *rows = NULL;
    size_t count = 0, capacity = 0;
    int line_no = 0, bad = 0;
    while (fgets(line, sizeof line, csv)) {
        line_no++;
        if (!strchr(line, '\n') && !feof(csv)) {
            ctl_say_error("%s:%d: line longer than %d bytes", csv_path, line_no, CSV_LINE_MAX - 1);
            bad++;
            break;
        }
        if (line_no == 1 && strncmp(line, "offline_key,", 12) == 0)
            continue;
        if (line[0] == '\n' || line[0] == '#')
            continue;
        char *fields[8];
        int n = split_csv(line, fields, 8);
        char *end = NULL;
        long long amount = n >= 3 ? strtoll(fields[2], &end, 10) : 0;
        int mode = n >= 4 ? parse_mode(fields[3]) : -1;
        if (n != 6 || !fields[0][0] || strlen(fields[0]) > 100 || !fields[1][0] ||
            strlen(fields[1]) > 64 || !end || *end || amount <= 0 || mode < 0 ||
            strlen(fields[4]) > 64 || !fields[5][0] || strlen(fields[5]) > 16) {
            ctl_say_error("%s:%d: expected offline_key,property_id,amount_paise,mode,instrument_ref,"
                      "counter with a key of 1..100 characters, a positive amount and a mode of "
                      "CASH, CHEQUE, DEMAND_DRAFT or UPI", csv_path, line_no);
            bad++;
            continue;
        }
        if (count >= REPLAY_MAX_ROWS) {
            ctl_say_error("%s holds more than %d receipts; split it", csv_path, REPLAY_MAX_ROWS);
            bad++;
            break;
        }
        if (nagar_array_reserve(&rows, count, &capacity, sizeof *rows, 256) != 0) {
            ctl_say_error("out of memory reading %s", csv_path);
            bad++;
            break;
        }
        replay_row_t *row = &rows[count++];
        memset(row, 0, sizeof *row);
        ctl_fmt(row->key, sizeof row->key, "offline:%s", fields[0]);
        ctl_fmt(row->property_id, sizeof row->property_id, "%s", fields[1]);
        row->amount = amount;
        row->mode = mode;
        ctl_fmt(row->instrument, sizeof row->instrument, "%s", fields[4]);
        ctl_fmt(row->counter, sizeof row->counter, "%s", fields[5]);
        row->line = line_no;
    }
    fclose(csv);
    if (bad) {
        free(rows);
        ctl_say_error("%d malformed line%s in %s: nothing was replayed; fix the file and run again "
                  "(replaying is safe to repeat)", bad, bad == 1 ? "" : "s", csv_path);
        return EXIT_USAGE;
    }
    nagar_bus_client_t *client = ctl_connect_bus(self, "NAGAR_CTL_BATCH_CERT", "batch");
    if (!client) {
        free(rows);
        return EXIT_ERROR;
    }
    /* The operator's grant names the clerk whose slips these are: the
     * ledger keeps both (the keys are the clerk's, the recorder the
     * operator), and it admits payment.record in this ULB only. */
    char error[1024] = "";
    nagar_job_grant_t *grant = nagar_job_grant_new(self->config, client, operator_user,
                                                   "receipts.replay", ulb, NULL, clerk, error,
                                                   sizeof error);
    if (!grant) {
        ctl_say_error("%s", error);
        nagar_bus_client_destroy(&client);
        free(rows);
        return EXIT_ERROR;
    }
    /* Rows with the same key as an earlier row of this file are sent after
     * it completes, so the first one always records and the rest report as
     * duplicates rather than racing it. */
    size_t next = 0, completed = 0;
    int64_t deadline = zclock_mono() + 600000;
    while (completed < count && zclock_mono() < deadline) {
        while (next < count && nagar_bus_client_in_flight(client) < REPLAY_IN_FLIGHT) {
            bool wait_earlier = false;
            for (size_t e = 0; e < next && !wait_earlier; e++)
                wait_earlier = !rows[e].done && strcmp(rows[e].key, rows[next].key) == 0;
            if (wait_earlier)
                break;
            replay_row_t *row = &rows[next];
            Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
            context.idempotency_key = row->key;
            context.authorization = (char *) nagar_job_grant_token(grant, error, sizeof error);
            if (!context.authorization) {
                ctl_say_error("%s", error);
                deadline = 0;        /* send nothing more; report what was done */
                break;
            }
            Nagar__PropertyTax__RecordPaymentRequest request =
                NAGAR__PROPERTY_TAX__RECORD_PAYMENT_REQUEST__INIT;
            request.property_id = row->property_id;
            request.amount_paise = row->amount;
            request.mode = (Nagar__PropertyTax__PaymentMode) row->mode;
            request.instrument_ref = row->instrument;
            request.counter = row->counter;
            /* The money on a slip was collected at the counter: what exceeds
             * the dues is kept as credit, never refused. */
            request.advance = true;
            nagar_bus_call_t call = {.service = "property_tax", .method = "payment.record",
                                     .context = &context, .request = &request.base,
                                     .timeout_ms = 30000, .max_attempts = 10};
            if (nagar_bus_client_send(client, &call, replay_done, row) != 0) {
                row->done = true;
                ctl_fmt(row->outcome, sizeof row->outcome, "FAILED");
                ctl_fmt(row->message, sizeof row->message, "the bus client refused the request");
                completed++;
            }
            next++;
        }
        nagar_bus_client_poll(client, 100);
        completed = 0;
        for (size_t i = 0; i < next; i++)
            completed += rows[i].done;
        ctl_progress_bar((int64_t) completed, (int64_t) count, "replay");
    }
    fprintf(stderr, "\n");
    char operator_id[96];
    ctl_fmt(operator_id, sizeof operator_id, "%s", nagar_job_grant_operator(grant));
    nagar_job_grant_destroy(&grant);
    nagar_bus_client_destroy(&client);

    FILE *report = report_path ? fopen(report_path, "w") : NULL;
    if (report_path && !report)
        ctl_say_error("cannot write the report %s: %s", report_path, strerror(errno));
    if (report)
        fprintf(report, "line,offline_key,outcome,receipt_no,message\n");
    size_t recorded = 0, duplicates = 0, conflicts = 0, failed = 0;
    for (size_t i = 0; i < count; i++) {
        replay_row_t *row = &rows[i];
        if (!row->done) {
            ctl_fmt(row->outcome, sizeof row->outcome, "FAILED");
            ctl_fmt(row->message, sizeof row->message, "not answered within the time limit");
        }
        if (strcmp(row->outcome, "RECORDED") == 0)
            recorded++;
        else if (strcmp(row->outcome, "DUPLICATE") == 0)
            duplicates++;
        else if (strcmp(row->outcome, "CONFLICT") == 0)
            conflicts++;
        else
            failed++;
        if (strcmp(row->outcome, "RECORDED") != 0)
            printf("line %d key %s: %s %s %s\n", row->line, row->key + 8, row->outcome,
                   row->receipt, row->message);
        if (report) {
            for (char *p = row->message; *p; p++)
                if (*p == ',' || *p == '\n')
                    *p = ';';
            fprintf(report, "%d,%s,%s,%s,%s\n", row->line, row->key + 8, row->outcome,
                    row->receipt, row->message);
        }
    }
    if (report)
        fclose(report);
    printf("replayed %zu receipts: %zu recorded, %zu duplicates (already recorded, unchanged), "
           "%zu conflicts, %zu failed; slips of %s, replayed by %s\n", count, recorded,
           duplicates, conflicts, failed, clerk, operator_id);
    free(rows);
    return conflicts || failed ? EXIT_ERROR : EXIT_OK;
}

