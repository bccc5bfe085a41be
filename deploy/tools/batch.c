/*
 * batch.c — nagar-batch, batch jobs run over the bus as the "batch" principal.
 *
 *   nagar-batch campaign --ulb CODE --kind property_tax|water_tax --cycle DUE_DATE
 *                        [--per-minute N] [--min-outstanding RUPEES] [--page-size N]
 *                        [--wait SECONDS | --no-wait] [--operator USER]
 *
 * A due-date reminder campaign: every property-tax or water defaulter of a
 * ULB gets one SMS. The tool starts the campaign in nagar-notifications
 * (campaign.start is keyed by ulb/kind/cycle, so the same command starts it
 * once and afterwards finds it again: that is what makes it resumable),
 * pages through the service's report.defaulters by keyset (pageToken ->
 * nextPageToken) and adds each page as recipients (unique per account in a
 * campaign, so a page added twice messages nobody twice); the last page
 * closes the campaign. Notifications then queues the messages at the
 * campaign's per-minute rate; the tool prints campaign.status until every
 * recipient has been given a message and every message has been delivered,
 * dead-lettered or suppressed (or returns at once with --no-wait).
 *
 * Running it again is safe at any point: a campaign that is still open is
 * paged again (recipients already present are counted, not re-added); a
 * closed one is only watched. Killing it loses nothing: the recipients
 * added so far stay queued in notifications.
 *
 * Each recipient carries raw facts, as events do: name, amount_paise,
 * account (the property or connection id) and due_date (the cycle);
 * notifications derives what the due.reminder.* templates print from them
 * (the amount in rupees, the town's name from identity). The campaign
 * carries due_date. Params are typed (services/notifications/
 * param_types.h): the town's name is identity's, never the caller's.
 *
 * The job reads citizens' dues and messages them on a person's authority,
 * not the batch key's: it logs in as the operator and carries the grant
 * identity signs for a campaign in that one ULB (common/job_grant.h),
 * renewed while it runs. Reports and campaign calls act for that operator,
 * with the campaign role of that ULB only.
 *
 * Settings (environment; NAGAR_CONFIG file as config.h):
 *   NAGAR_BUS_ENDPOINT, NAGAR_BUS_CERT (the batch principal's secret
 *   certificate), NAGAR_BUS_BROKER_KEY, NAGAR_BUS_INSECURE — as bus.h
 *   NAGAR_OPERATOR_USER (or --operator), NAGAR_OPERATOR_PASSWORD(_FILE) or
 *   NAGAR_OPERATOR_TOKEN(_FILE) — the operator's staff login, as job_grant.h
 *
 * Exit codes: 0 done (or, with --no-wait, every recipient added); 1 an
 * error (a service refused or could not be reached, the wait ran out,
 * interrupted); 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "bus_client.h"
#include "config.h"
#include "date.h"
#include "job_grant.h"
#include "log.h"
#include "money.h"
#include "proto/envelope.pb-c.h"
#include "proto/notifications.pb-c.h"
#include "proto/property_tax.pb-c.h"
#include "proto/water_tax.pb-c.h"
#include "text.h"

#define EXIT_OK 0
#define EXIT_ERROR 1
#define EXIT_USAGE 2

/* notifications' campaign.add_recipients takes at most 500 per call; one
 * page of defaulters becomes one call. */
#define PAGE_SIZE_MAX 500
#define PAGE_SIZE_DEFAULT 500
#define REPORT_TIMEOUT_MS 60000     /* a page of 500 walks up to all of a ULB's accounts */
#define NOTIFY_TIMEOUT_MS 30000
#define POLL_INTERVAL_MS 1000
#define WAIT_DEFAULT_S 86400        /* a day: the campaign itself goes on without us */
#define WAIT_MAX_S (7 * 86400)
#define STATUS_FAILURES_MAX 10      /* consecutive failed polls before giving up */
#define PAGES_MAX 1000000           /* a bound on paging even if a service misbehaves */
#define TEXT_MAX 512                /* longest param value notifications accepts is 500 */

static volatile sig_atomic_t interrupted = 0;

static void on_signal(int signal_number)
{
    (void) signal_number;
    interrupted = 1;
}

static void say_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void say_error(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("nagar-batch: error: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nagar-batch campaign --ulb CODE --kind property_tax|water_tax --cycle DUE_DATE\n"
            "                            [--per-minute N] [--min-outstanding RUPEES]\n"
            "                            [--page-size N] [--wait SECONDS | --no-wait]\n"
            "\n"
            "Sends one due-date reminder SMS to every defaulter of a ULB, throttled to\n"
            "N a minute (default: notifications' NAGAR_NOTIFY_CAMPAIGN_PER_MINUTE). The\n"
            "same ULB, kind and cycle is the same campaign: running it again resumes it and\n"
            "messages nobody twice. DUE_DATE is YYYY-MM-DD and appears in the message.\n"
            "  --min-outstanding RUPEES  only defaulters owing more than this (e.g. 500.00)\n"
            "  --page-size N             defaulters per report page, 1..%d (default %d)\n"
            "  --wait SECONDS            how long to watch delivery (default %d)\n"
            "  --no-wait                 return once every recipient is added\n"
            "  --operator USER           the staff member running it (default\n"
            "                            NAGAR_OPERATOR_USER); the password comes from\n"
            "                            NAGAR_OPERATOR_PASSWORD(_FILE) or the terminal\n"
            "Exit: 0 done, 1 error, 2 usage. Bus: NAGAR_BUS_ENDPOINT, NAGAR_BUS_CERT (the\n"
            "batch principal's certificate), NAGAR_BUS_BROKER_KEY.\n",
            PAGE_SIZE_MAX, PAGE_SIZE_DEFAULT, WAIT_DEFAULT_S);
}

/* ---- the campaign job ------------------------------------------------------------------ */

typedef enum { KIND_PROPERTY_TAX, KIND_WATER_TAX } campaign_kind_t;

typedef struct {
    /* what to do */
    char ulb[16];
    campaign_kind_t kind;
    char cycle[NAGAR_DATE_TEXT_MAX];
    uint32_t per_minute;
    int64_t min_outstanding_paise;
    uint32_t page_size;
    bool wait;
    int wait_s;
    const char *operator_user;      /* NULL: NAGAR_OPERATOR_USER */
    /* state */
    nagar_config_t *config;
    nagar_bus_client_t *client;
    nagar_job_grant_t *grant;       /* the operator's campaign grant for the ULB */
    char campaign_id[32];
    /* progress */
    uint64_t pages, defaulters, added, present;
} campaign_job_t;

#define RECIPIENT_PARAMS 4

/* One defaulter, whichever service it came from. */
typedef struct {
    char account[80];
    char name[TEXT_MAX];
    int64_t outstanding_paise;
} defaulter_t;

static const char *kind_text(campaign_kind_t kind)
{
    return kind == KIND_PROPERTY_TAX ? "property_tax" : "water_tax";
}

static const char *status_name(nagar_status_code_t code)
{
    const ProtobufCEnumValue *value =
        protobuf_c_enum_descriptor_get_value(&nagar__status_code__descriptor, (int) code);
    return value ? value->name : "UNKNOWN";
}

/* Copies text, cut at a UTF-8 character boundary to fit. */
static void copy_text(char *out, size_t size, const char *text)
{
    size_t length = strlen(text);
    if (length >= size) {
        length = size - 1;
        while (length > 0 && ((unsigned char) text[length] & 0xC0) == 0x80)
            length--;
    }
    memcpy(out, text, length);
    out[length] = '\0';
}

static nagar_status_code_t job_call(campaign_job_t *self, const char *service, const char *method,
                                    const ProtobufCMessage *request, const char *idempotency_key,
                                    int timeout_ms, const ProtobufCMessageDescriptor *reply_type,
                                    ProtobufCMessage **reply, char *message, size_t message_size)
{
    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
    context.authorization = (char *) nagar_job_grant_token(self->grant, message, message_size);
    if (!context.authorization)
        return NAGAR__STATUS_CODE__UNAUTHENTICATED;
    context.idempotency_key = (char *) (idempotency_key ? idempotency_key : "");
    /* Without a key it is one of the job's reads (report.defaulters,
     * campaign.status): safe to send again (bus_client.h). */
    nagar_bus_call_t call = {.service = service, .method = method, .context = &context,
                             .request = request, .timeout_ms = timeout_ms,
                             .repeatable = !idempotency_key};
    char field[128] = "";
    message[0] = '\0';
    nagar_status_code_t code = nagar_bus_client_call(self->client, &call, reply_type, reply,
                                                     message, message_size, field, sizeof field);
    if (code != NAGAR__STATUS_CODE__OK && field[0]) {
        size_t used = strlen(message);
        snprintf(message + used, message_size - used, " (field %s)", field);
    }
    return code;
}

/* Reads one page of the service's defaulters into rows (at most page_size);
 * next_token receives the token of the page after it ("" at the end). The
 * request is the one both taxes share (proto/payments.proto); the rows are
 * each service's own. */
static int fetch_page(campaign_job_t *self, const char *token, defaulter_t *rows, size_t *count,
                      char *next_token, size_t next_size)
{
    *count = 0;
    bool property = self->kind == KIND_PROPERTY_TAX;
    const char *service = property ? "property_tax" : "water_tax";
    Nagar__Payments__DefaultersRequest request = NAGAR__PAYMENTS__DEFAULTERS_REQUEST__INIT;
    request.ulb = self->ulb;
    request.min_outstanding_paise = self->min_outstanding_paise;
    request.limit = self->page_size;
    request.page_token = (char *) token;
    char message[1024];
    ProtobufCMessage *reply = NULL;
    nagar_status_code_t code =
        job_call(self, service, "report.defaulters", &request.base, NULL, REPORT_TIMEOUT_MS,
                 property ? &nagar__property_tax__defaulters_report__descriptor
                          : &nagar__water_tax__defaulters_report__descriptor,
                 &reply, message, sizeof message);
    if (code != NAGAR__STATUS_CODE__OK) {
        say_error("%s report.defaulters of ULB %s after \"%s\" failed: %s: %s", service,
                  self->ulb, token, status_name(code), message);
        return -1;
    }
    size_t answered;
    const char *next;
    if (property) {
        const Nagar__PropertyTax__DefaultersReport *report = (void *) reply;
        for (size_t i = 0; i < report->n_defaulters && *count < self->page_size; i++) {
            const Nagar__PropertyTax__Defaulter *d = report->defaulters[i];
            defaulter_t *row = &rows[(*count)++];
            copy_text(row->account, sizeof row->account, d->property_id);
            copy_text(row->name, sizeof row->name, d->owner_name);
            row->outstanding_paise = d->outstanding_paise;
        }
        answered = report->n_defaulters;
        next = report->next_page_token;
    } else {
        const Nagar__WaterTax__DefaultersReport *report = (void *) reply;
        for (size_t i = 0; i < report->n_defaulters && *count < self->page_size; i++) {
            const Nagar__WaterTax__Defaulter *d = report->defaulters[i];
            defaulter_t *row = &rows[(*count)++];
            copy_text(row->account, sizeof row->account, d->connection_id);
            copy_text(row->name, sizeof row->name, d->consumer_name);
            row->outstanding_paise = d->outstanding_paise;
        }
        answered = report->n_defaulters;
        next = report->next_page_token;
    }
    copy_text(next_token, next_size, next);
    protobuf_c_message_free_unpacked(reply, NULL);
    if (answered > self->page_size) {
        say_error("%s answered more defaulters than the %u asked for", service, self->page_size);
        return -1;
    }
    return 0;
}

/* Starts the campaign or finds it again; *state receives its state. */
static int campaign_start(campaign_job_t *self, Nagar__Notifications__CampaignState *state)
{
    Nagar__Notifications__Param due_date = NAGAR__NOTIFICATIONS__PARAM__INIT;
    due_date.name = "due_date";
    due_date.value = self->cycle;
    Nagar__Notifications__Param *params[] = {&due_date};
    Nagar__Notifications__StartCampaignRequest request =
        NAGAR__NOTIFICATIONS__START_CAMPAIGN_REQUEST__INIT;
    request.ulb = self->ulb;
    request.kind = self->kind == KIND_PROPERTY_TAX
                       ? NAGAR__NOTIFICATIONS__CAMPAIGN_KIND__PROPERTY_TAX
                       : NAGAR__NOTIFICATIONS__CAMPAIGN_KIND__WATER_TAX;
    request.cycle = self->cycle;
    request.per_minute = self->per_minute;
    request.n_params = 1;   /* notifications names the town, as identity knows it */
    request.params = params;
    /* The campaign's identity, so a retry of this call is one start. */
    char key[96];
    snprintf(key, sizeof key, "nagar-batch-campaign:%s:%s:%s", self->ulb, kind_text(self->kind),
             self->cycle);
    Nagar__Notifications__Campaign *campaign = NULL;
    char message[1024];
    nagar_status_code_t code =
        job_call(self, "notifications", "campaign.start", &request.base, key, NOTIFY_TIMEOUT_MS,
                 &nagar__notifications__campaign__descriptor, (ProtobufCMessage **) &campaign,
                 message, sizeof message);
    if (code != NAGAR__STATUS_CODE__OK) {
        say_error("notifications campaign.start for ULB %s, %s, cycle %s failed: %s: %s",
                  self->ulb, kind_text(self->kind), self->cycle, status_name(code), message);
        return -1;
    }
    copy_text(self->campaign_id, sizeof self->campaign_id, campaign->campaign_id);
    *state = campaign->state;
    printf("campaign %s (ULB %s, %s, cycle %s): %s, %u a minute, %u recipients so far\n",
           self->campaign_id, self->ulb, kind_text(self->kind), self->cycle,
           campaign->existing ? "resumed" : "started", campaign->per_minute,
           campaign->recipients);
    protobuf_c_message_free_unpacked(&campaign->base, NULL);
    return 0;
}

/* The messages of one add_recipients call, on the heap (a page is large). */
typedef struct {
    Nagar__Notifications__CampaignRecipient items[PAGE_SIZE_MAX];
    Nagar__Notifications__CampaignRecipient *item_pointers[PAGE_SIZE_MAX];
    Nagar__Notifications__Recipient recipients[PAGE_SIZE_MAX];
    Nagar__Notifications__Param params[PAGE_SIZE_MAX][RECIPIENT_PARAMS];
    Nagar__Notifications__Param *param_pointers[PAGE_SIZE_MAX][RECIPIENT_PARAMS];
    char paise[PAGE_SIZE_MAX][24];
} recipients_batch_t;

/* Adds one page of defaulters; the last page closes the campaign. */
static int add_page(campaign_job_t *self, recipients_batch_t *batch, const defaulter_t *rows,
                    size_t count, bool last)
{
    Nagar__Notifications__CampaignRecipient *items = batch->items;
    Nagar__Notifications__CampaignRecipient **item_pointers = batch->item_pointers;
    Nagar__Notifications__Recipient *recipients = batch->recipients;
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        const defaulter_t *row = &rows[i];
        /* The account names the recipient: notifications asks the service
         * for its owner and takes the contact from identity or the record
         * (an owner with none is listed among its undelivered events). */
        nagar__notifications__recipient__init(&recipients[n]);
        snprintf(batch->paise[n], sizeof batch->paise[n], "%" PRId64, row->outstanding_paise);
        const char *names[RECIPIENT_PARAMS] = {"name", "amount_paise", "account", "due_date"};
        const char *values[RECIPIENT_PARAMS] = {row->name, batch->paise[n], row->account,
                                                 self->cycle};
        for (int p = 0; p < RECIPIENT_PARAMS; p++) {
            Nagar__Notifications__Param *param = &batch->params[n][p];
            nagar__notifications__param__init(param);
            param->name = (char *) names[p];
            param->value = (char *) values[p];
            batch->param_pointers[n][p] = param;
        }
        nagar__notifications__campaign_recipient__init(&items[n]);
        items[n].recipient = &recipients[n];
        items[n].n_params = RECIPIENT_PARAMS;
        items[n].params = batch->param_pointers[n];
        item_pointers[n] = &items[n];
        n++;
    }
    Nagar__Notifications__AddRecipientsRequest request =
        NAGAR__NOTIFICATIONS__ADD_RECIPIENTS_REQUEST__INIT;
    request.campaign_id = self->campaign_id;
    request.n_recipients = n;
    request.recipients = item_pointers;
    request.last_batch = last;
    /* A fresh key per call (retries inside the client keep it): adding is
     * idempotent by itself, one row per account and campaign. */
    char id[33], key[64];
    nagar_bus_new_id(id);
    snprintf(key, sizeof key, "nagar-batch-add:%s", id);
    Nagar__Notifications__AddRecipientsReply *reply = NULL;
    char message[1024];
    nagar_status_code_t code = job_call(
        self, "notifications", "campaign.add_recipients", &request.base, key, NOTIFY_TIMEOUT_MS,
        &nagar__notifications__add_recipients_reply__descriptor, (ProtobufCMessage **) &reply,
        message, sizeof message);
    if (code != NAGAR__STATUS_CODE__OK) {
        say_error("notifications campaign.add_recipients to campaign %s (%zu recipients%s) "
                  "failed: %s: %s; run the same command again to resume",
                  self->campaign_id, n, last ? ", last batch" : "", status_name(code), message);
        return -1;
    }
    self->added += reply->added;
    self->present += reply->already_present;
    protobuf_c_message_free_unpacked(&reply->base, NULL);
    return 0;
}

/* Pages through the defaulters and adds them all; closes the campaign. */
static int add_all_defaulters(campaign_job_t *self)
{
    defaulter_t *rows = calloc(self->page_size, sizeof *rows);
    recipients_batch_t *batch = calloc(1, sizeof *batch);
    if (!rows || !batch) {
        free(rows);
        free(batch);
        say_error("out of memory for a page of %u defaulters", self->page_size);
        return -1;
    }
    char token[128] = "", next[128] = "";
    int rc = 0;
    for (;;) {
        if (interrupted) {
            say_error("interrupted after %" PRIu64 " pages; run the same command again to "
                      "resume", self->pages);
            rc = -1;
            break;
        }
        if (self->pages >= PAGES_MAX) {
            say_error("more than %d pages of defaulters: the report's paging is not advancing",
                      PAGES_MAX);
            rc = -1;
            break;
        }
        size_t count = 0;
        if (fetch_page(self, token, rows, &count, next, sizeof next) != 0) {
            rc = -1;
            break;
        }
        if (next[0] && strcmp(next, token) == 0) {
            say_error("report.defaulters answered page token \"%s\" after \"%s\": paging would "
                      "not advance", next, token);
            rc = -1;
            break;
        }
        bool last = next[0] == '\0';
        self->pages++;
        self->defaulters += count;
        if (add_page(self, batch, rows, count, last) != 0) {
            rc = -1;
            break;
        }
        printf("page %" PRIu64 ": %zu defaulters; so far %" PRIu64 " added, %" PRIu64
               " already present\n",
               self->pages, count, self->added, self->present);
        if (last)
            break;
        memcpy(token, next, sizeof token);
    }
    free(rows);
    free(batch);
    if (rc == 0)
        printf("recipients added: %" PRIu64 " defaulters in %" PRIu64 " pages, %" PRIu64
               " added, %" PRIu64 " already present; campaign %s closed to new recipients\n",
               self->defaulters, self->pages, self->added, self->present, self->campaign_id);
    return rc;
}

static const char *state_text(Nagar__Notifications__CampaignState state)
{
    switch (state) {
    case NAGAR__NOTIFICATIONS__CAMPAIGN_STATE__OPEN:
        return "open";
    case NAGAR__NOTIFICATIONS__CAMPAIGN_STATE__CLOSED:
        return "closed";
    case NAGAR__NOTIFICATIONS__CAMPAIGN_STATE__DONE:
        return "done";
    default:
        return "unknown";
    }
}

/* Prints campaign.status until every recipient has a message and every
 * message has an end (sent, dead, suppressed), or the wait runs out. */
static int watch(campaign_job_t *self)
{
    int64_t deadline = zclock_mono() + (int64_t) self->wait_s * 1000;
    char last_line[512] = "";
    int failures = 0;
    for (;;) {
        Nagar__Notifications__CampaignStatusRequest request =
            NAGAR__NOTIFICATIONS__CAMPAIGN_STATUS_REQUEST__INIT;
        request.campaign_id = self->campaign_id;
        Nagar__Notifications__Campaign *campaign = NULL;
        char message[1024];
        nagar_status_code_t code =
            job_call(self, "notifications", "campaign.status", &request.base, NULL,
                     NOTIFY_TIMEOUT_MS, &nagar__notifications__campaign__descriptor,
                     (ProtobufCMessage **) &campaign, message, sizeof message);
        if (code != NAGAR__STATUS_CODE__OK) {
            bool transient = code == NAGAR__STATUS_CODE__UNAVAILABLE ||
                             code == NAGAR__STATUS_CODE__DEADLINE_EXCEEDED ||
                             code == NAGAR__STATUS_CODE__RESOURCE_EXHAUSTED;
            if (++failures >= STATUS_FAILURES_MAX || !transient) {
                say_error("notifications campaign.status of campaign %s failed: %s: %s (the "
                          "campaign goes on; run the same command again to watch it)",
                          self->campaign_id, status_name(code), message);
                return -1;
            }
            fprintf(stderr, "nagar-batch: campaign.status failed (%s: %s); asking again\n",
                    status_name(code), message);
        } else {
            failures = 0;
            char line[512];
            snprintf(line, sizeof line,
                     "campaign %s %s: recipients %u, queued %u, sent %u, pending %u, failed %u, "
                     "dead %u, suppressed %u",
                     self->campaign_id, state_text(campaign->state), campaign->recipients,
                     campaign->queued, campaign->sent, campaign->pending, campaign->failed,
                     campaign->dead, campaign->suppressed);
            if (strcmp(line, last_line) != 0) {
                printf("%s\n", line);
                memcpy(last_line, line, sizeof last_line);
            }
            bool done = campaign->state == NAGAR__NOTIFICATIONS__CAMPAIGN_STATE__DONE &&
                        campaign->sent + campaign->dead + campaign->suppressed >= campaign->queued;
            uint32_t failed = campaign->failed;
            protobuf_c_message_free_unpacked(&campaign->base, NULL);
            if (done && failed > 0) {
                /* A message that could not be made (no template, a param
                 * missing) is a fault to fix, not a delivery to wait for. */
                say_error("campaign %s done, but %u recipients could not be given a message; "
                          "notifications logs each as notifications.campaign_recipient_failed "
                          "with the reason", self->campaign_id, failed);
                return -1;
            }
            if (done) {
                printf("campaign %s done\n", self->campaign_id);
                return 0;
            }
        }
        if (interrupted) {
            say_error("interrupted; campaign %s goes on in notifications; run the same command "
                      "again to watch it", self->campaign_id);
            return -1;
        }
        if (zclock_mono() + POLL_INTERVAL_MS > deadline) {
            say_error("campaign %s not done after %d s; it goes on in notifications; run the "
                      "same command again to watch it", self->campaign_id, self->wait_s);
            return -1;
        }
        zclock_sleep(POLL_INTERVAL_MS);
    }
}

static int campaign_run(campaign_job_t *self)
{
    nagar_bus_options_t options;
    char error[1024];
    if (nagar_bus_options_load(&options, self->config, error, sizeof error) != 0) {
        say_error("the bus settings are not usable: %s; set NAGAR_BUS_ENDPOINT, NAGAR_BUS_CERT "
                  "(the batch certificate) and NAGAR_BUS_BROKER_KEY", error);
        return EXIT_ERROR;
    }
    self->client = nagar_bus_client_new(&options, self->config, error, sizeof error);
    if (!self->client) {
        say_error("cannot reach the broker at %s with %s: %s", options.endpoint,
                  options.certificate_path, error);
        return EXIT_ERROR;
    }
    self->grant = nagar_job_grant_new(self->config, self->client, self->operator_user,
                                      "campaign", self->ulb, NULL, NULL, error, sizeof error);
    if (!self->grant) {
        say_error("%s", error);
        nagar_bus_client_destroy(&self->client);
        return EXIT_ERROR;
    }

    int rc = EXIT_ERROR;
    Nagar__Notifications__CampaignState state;
    if (campaign_start(self, &state) != 0)
        goto done;
    if (state == NAGAR__NOTIFICATIONS__CAMPAIGN_STATE__OPEN) {
        if (add_all_defaulters(self) != 0)
            goto done;
    } else {
        printf("campaign %s is %s: its recipients were all added before; nothing to add\n",
               self->campaign_id, state_text(state));
    }
    if (!self->wait) {
        rc = EXIT_OK;
        goto done;
    }
    rc = watch(self) == 0 ? EXIT_OK : EXIT_ERROR;
done:
    nagar_job_grant_destroy(&self->grant);
    nagar_bus_client_destroy(&self->client);
    return rc;
}

/* ---- the command line ------------------------------------------------------------------- */

static bool parse_count(const char *text, long min, long max, long *out)
{
    if (!text || !text[0])
        return false;
    errno = 0;
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (errno || *end || value < min || value > max)
        return false;
    *out = value;
    return true;
}

static int campaign_command(int argc, char **argv, nagar_config_t *config)
{
    campaign_job_t job = {.page_size = PAGE_SIZE_DEFAULT, .wait = true,
                          .wait_s = WAIT_DEFAULT_S, .config = config};
    const char *ulb = NULL, *kind = NULL, *cycle = NULL;
    for (int i = 2; i < argc; i++) {
        const char *name = argv[i];
        if (strcmp(name, "--no-wait") == 0) {
            job.wait = false;
            continue;
        }
        if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        }
        if (i + 1 >= argc) {
            say_error("%s needs a value", name);
            return EXIT_USAGE;
        }
        const char *value = argv[++i];
        long number = 0;
        if (strcmp(name, "--ulb") == 0) {
            ulb = value;
        } else if (strcmp(name, "--kind") == 0) {
            kind = value;
        } else if (strcmp(name, "--cycle") == 0) {
            cycle = value;
        } else if (strcmp(name, "--per-minute") == 0) {
            if (!parse_count(value, 1, 100000, &number)) {
                say_error("--per-minute must be a whole number from 1 to 100000, not \"%s\"",
                          value);
                return EXIT_USAGE;
            }
            job.per_minute = (uint32_t) number;
        } else if (strcmp(name, "--page-size") == 0) {
            if (!parse_count(value, 1, PAGE_SIZE_MAX, &number)) {
                say_error("--page-size must be a whole number from 1 to %d, not \"%s\"",
                          PAGE_SIZE_MAX, value);
                return EXIT_USAGE;
            }
            job.page_size = (uint32_t) number;
        } else if (strcmp(name, "--wait") == 0) {
            if (!parse_count(value, 1, WAIT_MAX_S, &number)) {
                say_error("--wait must be a number of seconds from 1 to %d, not \"%s\"",
                          WAIT_MAX_S, value);
                return EXIT_USAGE;
            }
            job.wait_s = (int) number;
        } else if (strcmp(name, "--min-outstanding") == 0) {
            char reason[256];
            if (nagar_money_parse(value, &job.min_outstanding_paise, reason, sizeof reason) != 0 ||
                job.min_outstanding_paise < 0) {
                say_error("--min-outstanding must be rupees such as 500 or 500.50, not \"%s\"%s%s",
                          value, job.min_outstanding_paise < 0 ? "" : ": ",
                          job.min_outstanding_paise < 0 ? "" : reason);
                return EXIT_USAGE;
            }
        } else if (strcmp(name, "--operator") == 0) {
            job.operator_user = value;
        } else if (strcmp(name, "--actor") == 0 || strcmp(name, "--role") == 0) {
            say_error("%s is gone: the campaign acts for the operator who logs in (--operator "
                      "USER, or NAGAR_OPERATOR_USER with NAGAR_OPERATOR_PASSWORD)", name);
            return EXIT_USAGE;
            if (!value[0] || strlen(value) > 200) {
                return EXIT_USAGE;
            }
        } else {
            say_error("unknown option \"%s\"", name);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!ulb || !kind || !cycle) {
        say_error("campaign needs --ulb, --kind and --cycle");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!nagar_text_digits(ulb, 1, 10)) {
        say_error("--ulb must be the LGD code of the ULB (1 to 10 digits), not \"%s\"", ulb);
        return EXIT_USAGE;
    }
    snprintf(job.ulb, sizeof job.ulb, "%s", ulb);
    if (strcmp(kind, "property_tax") == 0)
        job.kind = KIND_PROPERTY_TAX;
    else if (strcmp(kind, "water_tax") == 0)
        job.kind = KIND_WATER_TAX;
    else {
        say_error("--kind must be property_tax or water_tax, not \"%s\"", kind);
        return EXIT_USAGE;
    }
    nagar_date_t due;
    char reason[256];
    if (strlen(cycle) != 10 || nagar_date_parse(cycle, &due, reason, sizeof reason) != 0) {
        say_error("--cycle must be the due date the reminders name, YYYY-MM-DD such as "
                  "2026-06-30, not \"%s\"", cycle);
        return EXIT_USAGE;
    }
    nagar_date_format(due, job.cycle);
    return campaign_run(&job);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "campaign") != 0) {
        say_error("unknown command \"%s\"", argv[1]);
        usage(stderr);
        return EXIT_USAGE;
    }
    /* Progress for the operator goes to stdout as text; libnagar's JSON
     * log lines (bus) only at warn and above unless asked for. */
    if (!getenv("NAGAR_LOG_LEVEL"))
        setenv("NAGAR_LOG_LEVEL", "warn", 1);
    nagar_log_init("nagar-batch");
    zsys_init();
    zsys_handler_set(NULL);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    if (sodium_init() < 0) {
        say_error("libsodium could not be initialised");
        return EXIT_ERROR;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char error[NAGAR_CONFIG_ERROR_MAX];
    nagar_config_t *config = nagar_config_new(NULL, error, sizeof error);
    if (!config) {
        say_error("%s", error);
        return EXIT_ERROR;
    }
    int rc = campaign_command(argc, argv, config);
    nagar_config_destroy(&config);
    return rc;
}
