/*
 * main.c — nagar-witness: the signed checkpoints of every hash chain,
 * published read-only (proto/witness.proto), so that an auditor or a
 * citizen can hold the state to what it signed.
 *
 *   nagar-witness        serve "witness" on the bus
 *
 * nagarctl checkpoint signs the heads of every chain with a key no service
 * holds and stores the signed text in database nagar_witness as
 * witness_writer; this service reads them as witness_app, which may only
 * SELECT. It checks each signature with the published public key before
 * answering and says whether it holds; a client should check again with
 * its own copy of the key. The gateway routes GET /api/v1/checkpoints and
 * GET /api/v1/checkpoints/latest here, open to anyone, and composes the
 * operations page (GET /api/v1/operations) from checkpoint.summary.
 *
 * Settings (environment over the NAGAR_CONFIG file, see config.h):
 *   NAGAR_DB_CONNINFO             libpq connection string (witness_app role)
 *   NAGAR_CHECKPOINT_PUBLIC_KEY   the checkpoint key's public half (hex), required
 *   NAGAR_BUS_*                   as bus.h and bus_worker.h
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_worker.h"
#include "checkpoint.h"
#include "config.h"
#include "log.h"
#include "proto/witness.pb-c.h"
#include "service.h"

#define WITNESS_SERVICE "witness"
#define PAGE_DEFAULT 20
#define PAGE_MAX 100

typedef struct {
    nagar_db_t *db;
    uint8_t public_key[32];
    char public_key_hex[65];
} witness_t;

/* A checkpoint row as the reply, its heads parsed when the signature holds. */
static Nagar__Witness__Checkpoint *checkpoint_of(witness_t *self, PGresult *res, int row)
{
    Nagar__Witness__Checkpoint *out = calloc(1, sizeof *out);
    if (!out)
        return NULL;
    nagar__witness__checkpoint__init(out);
    out->created_us = strtoll(PQgetvalue(res, row, 0), NULL, 10);
    out->signed_text = strdup(PQgetvalue(res, row, 1));
    out->stored_at = strdup(PQgetvalue(res, row, 2));
    out->public_key = strdup(self->public_key_hex);
    if (!out->signed_text || !out->stored_at || !out->public_key)
        return out;   /* freed with the reply; the caller sees the NULLs */
    nagar_checkpoint_t *parsed = NULL;
    char error[NAGAR_CHECKPOINT_ERROR_MAX];
    if (nagar_checkpoint_parse(out->signed_text, strlen(out->signed_text), self->public_key,
                               &parsed, error, sizeof error) != NAGAR_CHECKPOINT_LOADED) {
        nagar_log_warn("witness.signature_invalid", "checkpoint %" PRId64 " does not verify with "
                       "the published key: %s", out->created_us, error);
        return out;
    }
    out->signature_ok = true;
    size_t count = nagar_checkpoint_size(parsed);
    out->heads = calloc(count ? count : 1, sizeof *out->heads);
    for (size_t i = 0; out->heads && i < count; i++) {
        const nagar_checkpoint_head_t *head = nagar_checkpoint_head(parsed, i);
        Nagar__Witness__ChainHead *item = calloc(1, sizeof *item);
        char hex[65];
        if (!item)
            break;
        nagar__witness__chain_head__init(item);
        sodium_bin2hex(hex, sizeof hex, head->hash, sizeof head->hash);
        item->chain = strdup(head->ledger);
        item->ulb = strdup(head->ulb);
        item->hash = strdup(hex);
        item->seq = head->seq;
        out->heads[out->n_heads++] = item;
    }
    nagar_checkpoint_destroy(&parsed);
    return out;
}

static int answer(nagar_worker_call_t *call, ProtobufCMessage *reply)
{
    int rc = nagar_worker_call_reply(call, reply);
    protobuf_c_message_free_unpacked(reply, NULL);
    return rc;
}

/* The latest stored checkpoint's row (created_us, signed_text, stored_at),
 * or NULL having answered the call (NOT_FOUND when there is none): the
 * handler then returns -1. */
static PGresult *latest_row(witness_t *self, nagar_worker_call_t *call)
{
    PGresult *res = nagar_service_query(
        self->db, "witness_latest",
        "SELECT created_us, signed_text, to_char(stored_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM checkpoint ORDER BY created_us DESC LIMIT 1", 0,
        NULL);
    if (!res) {
        nagar_service_fail(self->db, WITNESS_SERVICE, call, -1, NULL);
        return NULL;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__NOT_FOUND, NULL,
                               "no checkpoint has been witnessed yet");
        return NULL;
    }
    return res;
}

static int checkpoint_latest(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    (void) request;
    witness_t *self = arg;
    PGresult *res = latest_row(self, call);
    if (!res)
        return -1;
    Nagar__Witness__Checkpoint *reply = checkpoint_of(self, res, 0);
    PQclear(res);
    if (!reply || !reply->signed_text)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    return answer(call, &reply->base);
}

/* The latest checkpoint counted, not copied: the operations page needs its
 * time, whether it verifies and how much it pins, not megabytes of heads. */
#define SUMMARY_CHAINS_MAX 256
static int checkpoint_summary(nagar_worker_call_t *call, const ProtobufCMessage *request,
                              void *arg)
{
    (void) request;
    witness_t *self = arg;
    PGresult *res = latest_row(self, call);
    if (!res)
        return -1;
    Nagar__Witness__CheckpointSummary reply = NAGAR__WITNESS__CHECKPOINT_SUMMARY__INIT;
    reply.created_us = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    reply.stored_at = PQgetvalue(res, 0, 2);
    const char *text = PQgetvalue(res, 0, 1);
    nagar_checkpoint_t *parsed = NULL;
    char error[NAGAR_CHECKPOINT_ERROR_MAX];
    if (nagar_checkpoint_parse(text, strlen(text), self->public_key, &parsed, error,
                               sizeof error) == NAGAR_CHECKPOINT_LOADED) {
        reply.signature_ok = true;
        size_t count = nagar_checkpoint_size(parsed);
        const char *chains[SUMMARY_CHAINS_MAX];
        size_t distinct = 0;
        for (size_t i = 0; i < count; i++) {
            const char *name = nagar_checkpoint_head(parsed, i)->ledger;
            size_t j = 0;
            while (j < distinct && strcmp(chains[j], name) != 0)
                j++;
            if (j == distinct && distinct < SUMMARY_CHAINS_MAX)
                chains[distinct++] = name;
        }
        reply.heads = (uint32_t) count;
        reply.chains = (uint32_t) distinct;
    } else {
        nagar_log_warn("witness.signature_invalid", "checkpoint %" PRId64 " does not verify with "
                       "the published key: %s", reply.created_us, error);
    }
    int rc = nagar_worker_call_reply(call, &reply.base);
    nagar_checkpoint_destroy(&parsed);
    PQclear(res);
    return rc;
}

static int checkpoint_list(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    witness_t *self = arg;
    const Nagar__Witness__ListCheckpointsRequest *request =
        (const Nagar__Witness__ListCheckpointsRequest *) message;
    uint32_t page = request->page_size ? request->page_size : PAGE_DEFAULT;
    if (page > PAGE_MAX || request->before_us < 0)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      page > PAGE_MAX ? "pageSize" : "beforeUs",
                                      "pageSize is 0 (the default, 20) to %d, beforeUs a time "
                                      "in microseconds "
                                      "since the epoch (0: from the latest)", PAGE_MAX);
    char before[32], limit[16];
    snprintf(before, sizeof before, "%" PRId64, request->before_us);
    snprintf(limit, sizeof limit, "%u", page + 1);
    const char *values[] = {before, limit};
    PGresult *res = nagar_service_query(
        self->db, "witness_list",
        "SELECT created_us, signed_text, to_char(stored_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM checkpoint "
        "WHERE $1::bigint = 0 OR created_us < $1::bigint ORDER BY created_us DESC "
        "LIMIT $2::int", 2, values);
    if (!res)
        return nagar_service_fail(self->db, WITNESS_SERVICE, call, -1, NULL);
    int rows = PQntuples(res);
    Nagar__Witness__ListCheckpointsReply *reply = calloc(1, sizeof *reply);
    if (reply) {
        nagar__witness__list_checkpoints_reply__init(reply);
        reply->checkpoints = calloc((size_t) rows + 1, sizeof *reply->checkpoints);
    }
    for (int i = 0; reply && reply->checkpoints && i < rows && i < (int) page; i++) {
        Nagar__Witness__Checkpoint *item = checkpoint_of(self, res, i);
        if (!item)
            break;
        reply->checkpoints[reply->n_checkpoints++] = item;
    }
    if (reply && rows > (int) page && reply->n_checkpoints)
        reply->next_before_us = reply->checkpoints[reply->n_checkpoints - 1]->created_us;
    PQclear(res);
    if (!reply || !reply->checkpoints) {
        free(reply);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    return answer(call, &reply->base);
}

static const char *const READERS[] = {"gateway", "operator", NULL};

static const nagar_method_t METHODS[] = {
    {"checkpoint.latest", &nagar__witness__get_latest_checkpoint_request__descriptor, READERS,
     checkpoint_latest},
    {"checkpoint.list", &nagar__witness__list_checkpoints_request__descriptor, READERS,
     checkpoint_list},
    {"checkpoint.summary", &nagar__witness__get_latest_checkpoint_request__descriptor, READERS,
     checkpoint_summary},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    nagar_log_init(WITNESS_SERVICE);
    if (argc != 1) {
        fprintf(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
                "usage: nagar-witness     serve the signed checkpoints on the bus\n");
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    if (sodium_init() < 0)
        return 1;
    char error[1024];
    nagar_config_t *config = nagar_config_new(NULL, error, sizeof error);
    if (!config) {
        nagar_log_error("witness.config_invalid", "%s", error);
        return 1;
    }
    witness_t self = {0};
    const char *key_path = nagar_config_get(config, "NAGAR_CHECKPOINT_PUBLIC_KEY", "");
    if (!key_path[0] ||
        nagar_checkpoint_read_public_key(key_path, self.public_key, error, sizeof error) != 0) {
        nagar_log_error("witness.config_invalid", "NAGAR_CHECKPOINT_PUBLIC_KEY: %s",
                        key_path[0] ? error : "not set; name the checkpoint key's public half");
        nagar_config_destroy(&config);
        return 1;
    }
    sodium_bin2hex(self.public_key_hex, sizeof self.public_key_hex, self.public_key, 32);
    int rc = 1;
    nagar_bus_options_t options;
    nagar_worker_t *worker = NULL;
    self.db = nagar_service_db_connect(config, WITNESS_SERVICE);
    if (!self.db) {
        /* logged */
    } else if (nagar_bus_options_load(&options, config, error, sizeof error) != 0) {
        nagar_log_error("witness.config_invalid", "%s", error);
    } else if (!(worker = nagar_worker_new(&options, config, WITNESS_SERVICE, METHODS, &self,
                                           error, sizeof error))) {
        nagar_log_error("witness.worker_failed", "%s", error);
    } else {
        nagar_log_info("witness.ready", "witness serving on the bus");
        rc = nagar_worker_run(worker) == 0 ? 0 : 1;
        nagar_log_info("witness.stopped", "witness stopped");
    }
    nagar_worker_destroy(&worker);
    nagar_db_destroy(&self.db);
    nagar_config_destroy(&config);
    return rc;
}
