/*
 * ctl.c — nagarctl, the operator's tool (built as nagar-ctl).
 *
 *   nagarctl status                              services, workers, queues, errors (a table)
 *   nagarctl quarantine SERVICE [REASON]         cut a service off at the broker
 *   nagarctl release SERVICE                     let it serve again
 *   nagarctl keys rotate SERVICE [--restart CMD] [--wait SECONDS]
 *   nagarctl keys finish SERVICE                 second half of a rotation without --restart
 *   nagarctl checkpoint-keygen                   make the checkpoint signing key (once)
 *   nagarctl checkpoint                          verify what every chain appended since the
 *                                                last checkpoint, then sign every chain head
 *                                                into a file and the witness store
 *   nagarctl verify                              every chain from its start against the
 *                                                latest checkpoint, and every record against
 *                                                the others it must agree with (verify.h)
 *   nagarctl backup [full|diff|incr]             deploy/backup.sh backup
 *   nagarctl backup-verify                       deploy/backup.sh verify
 *   nagarctl restore --to TIME [--target DIR]    deploy/backup.sh restore (point in time)
 *   nagarctl demand generate ULB FY [--operator U]   annual property-tax demand, progress bar
 *   nagarctl bills generate ULB PERIOD [--operator U] monthly water bills, progress bar
 *   nagarctl receipts replay CSV --ulb ULB --clerk USER [--operator U] [--report FILE]
 *
 * Jobs that act for a person (demand, bills, receipt replay) log in as the
 * operator and carry the grant identity signs for that one job, ULB and
 * year (common/job_grant.h: NAGAR_OPERATOR_USER or --operator with
 * NAGAR_OPERATOR_PASSWORD or _PASSWORD_FILE, or NAGAR_OPERATOR_TOKEN); the
 * batch key alone starts nothing. A replay records the clerk on the slips
 * (--clerk, checked by identity to be counter staff of the ULB) and the
 * operator who replayed them.
 *
 * Exit codes scripts rely on: 0 done / everything verified; 1 an error (a
 * database, the broker or a file could not be reached or the operation was
 * refused); 2 usage; 3 verification failed: a chain is broken, shorter than
 * or different from its signed checkpoint, the checkpoint itself is not
 * validly signed, or records disagree (a payment with its ledger row, a row
 * with its history, a certificate with its registration or seal).
 *
 * Chains: each service's own (the ledger of property tax and water charges,
 * the register of issued certificates; checkpoint name "<service>") and the
 * history of each tracked table per ULB ("<service>.<table>"). Checkpoints
 * are written as files (NAGAR_CHECKPOINT_DIR) and into the witness store,
 * database nagar_witness, as witness_writer — a role no service has; the
 * latest valid one of either is what verification pins.
 *
 * Why a separate principal: bus commands use the "operator" key (which alone
 * may call nagar.admin) and batch commands the "batch" key, exactly as
 * deploy/principals.conf says; the ledgers are read with each service's
 * *_app role, read-only in effect because verification recomputes every
 * hash itself (common/ledger.c, and the certificate chain walk below) and
 * never trusts a function in the database.
 *
 * Settings (environment; NAGAR_CONFIG file as config.h):
 *   NAGAR_VAR                 var directory of a make-run layout        ./var
 *   NAGAR_CTL_KEYS_DIR        CURVE keys (secret/, public/, broker.pub)  $NAGAR_VAR/keys
 *   NAGAR_BUS_ENDPOINT        broker                                     tcp://127.0.0.1:5555
 *   NAGAR_BUS_CERT            operator certificate        $KEYS/secret/operator.cert
 *   NAGAR_CTL_BATCH_CERT      batch certificate           $KEYS/secret/batch.cert
 *   NAGAR_BUS_BROKER_KEY      broker public key           $KEYS/broker.pub
 *   NAGAR_DB_HOST, NAGAR_DB_PORT   PostgreSQL                            127.0.0.1, NAGAR_PG_PORT or 5544
 *   NAGAR_CTL_SECRETS_DIR     <role>.pgpass files         $NAGAR_VAR/secrets
 *   NAGAR_CTL_CONNINFO_<SVC>  full libpq conninfo for one service (overrides the above)
 *   NAGAR_CHECKPOINT_DIR      checkpoints                 $NAGAR_VAR/checkpoints
 *   NAGAR_CHECKPOINT_KEY      signing key (secret)        $NAGAR_VAR/checkpoint_key/checkpoint.key
 *   NAGAR_CHECKPOINT_PUBLIC_KEY  pinned public key        $NAGAR_VAR/checkpoint_key/checkpoint.pub
 *   NAGAR_CTL_CONNINFO_WITNESS   the witness store        nagar_witness as witness_writer
 *                                                          (password $SECRETS/witness_writer.pgpass)
 *   NAGAR_CERTIFICATES_PUBLIC_KEYS_DIR  certificate seal keys  $NAGAR_VAR/certificate_keys
 *   NAGAR_BACKUP_SCRIPT       deploy/backup.sh            found next to the binary's checkout
 *   NAGAR_KEYGEN              nagar-keygen                next to this binary
 */
#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "bus_client.h"
#include "checkpoint.h"
#include "config.h"
#include "db.h"
#include "history.h"
#include "job_grant.h"
#include "ledger.h"
#include "verify.h"
#include "log.h"
#include "proto/admin.pb-c.h"
#include "proto/envelope.pb-c.h"
#include "proto/property_tax.pb-c.h"
#include "proto/water_tax.pb-c.h"

#define EXIT_OK 0
#define EXIT_ERROR 1
#define EXIT_USAGE 2
#define EXIT_TAMPER 3

#define PATH_BYTES 4096
#define CERT_PAGE "2000"
#define CSV_LINE_MAX 4096
#define REPLAY_MAX_ROWS 1000000
#define REPLAY_IN_FLIGHT 16

/* ---- settings -------------------------------------------------------------------------- */

typedef struct {
    nagar_config_t *config;
    char var[PATH_BYTES];
    char keys[PATH_BYTES];
    char secrets[PATH_BYTES];
    char checkpoint_dir[PATH_BYTES];
    char checkpoint_key[PATH_BYTES];
    char checkpoint_public[PATH_BYTES];
    char certificate_keys[PATH_BYTES];
    char db_host[256];
    char db_port[16];
    char self_dir[PATH_BYTES];      /* directory of this binary */
} ctl_t;

/* snprintf that always truncates quietly: paths and messages here are
 * bounded by their buffers, and a cut path simply fails to open. */
static void fmt(char *out, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static void fmt(char *out, size_t size, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(out, size, format, args);
    va_end(args);
}

static void say_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void say_error(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("nagarctl: error: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}

static const char *setting(ctl_t *self, const char *key, const char *fallback)
{
    const char *value = nagar_config_get(self->config, key, NULL);
    return value && value[0] ? value : fallback;
}

static int ctl_init(ctl_t *self)
{
    char error[NAGAR_CONFIG_ERROR_MAX];
    self->config = nagar_config_new(NULL, error, sizeof error);
    if (!self->config) {
        say_error("%s", error);
        return -1;
    }
    fmt(self->var, sizeof self->var, "%s", setting(self, "NAGAR_VAR", "var"));
    char path[PATH_BYTES];
    fmt(path, sizeof path, "%s/keys", self->var);
    fmt(self->keys, sizeof self->keys, "%s", setting(self, "NAGAR_CTL_KEYS_DIR", path));
    fmt(path, sizeof path, "%s/secrets", self->var);
    fmt(self->secrets, sizeof self->secrets, "%s", setting(self, "NAGAR_CTL_SECRETS_DIR", path));
    fmt(path, sizeof path, "%s/checkpoints", self->var);
    fmt(self->checkpoint_dir, sizeof self->checkpoint_dir, "%s",
             setting(self, "NAGAR_CHECKPOINT_DIR", path));
    fmt(path, sizeof path, "%s/checkpoint_key/checkpoint.key", self->var);
    fmt(self->checkpoint_key, sizeof self->checkpoint_key, "%s",
             setting(self, "NAGAR_CHECKPOINT_KEY", path));
    fmt(path, sizeof path, "%s/checkpoint_key/checkpoint.pub", self->var);
    fmt(self->checkpoint_public, sizeof self->checkpoint_public, "%s",
             setting(self, "NAGAR_CHECKPOINT_PUBLIC_KEY", path));
    fmt(path, sizeof path, "%s/certificate_keys", self->var);
    fmt(self->certificate_keys, sizeof self->certificate_keys, "%s",
        setting(self, "NAGAR_CERTIFICATES_PUBLIC_KEYS_DIR", path));
    fmt(self->db_host, sizeof self->db_host, "%s", setting(self, "NAGAR_DB_HOST", "127.0.0.1"));
    fmt(self->db_port, sizeof self->db_port, "%s",
             setting(self, "NAGAR_DB_PORT", setting(self, "NAGAR_PG_PORT", "5544")));

    char exe[PATH_BYTES];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        fmt(self->self_dir, sizeof self->self_dir, "%s", dirname(exe));
    } else {
        fmt(self->self_dir, sizeof self->self_dir, ".");
    }
    return 0;
}

/* ---- the bus ---------------------------------------------------------------------------- */

/* A client as principal "operator" (cert_key NAGAR_BUS_CERT) or "batch". */
static nagar_bus_client_t *connect_bus(ctl_t *self, const char *cert_setting,
                                       const char *default_name)
{
    /* Not nagar_bus_options_load: the make-run layout implies every path. */
    nagar_bus_options_t options;
    char error[1024];
    memset(&options, 0, sizeof options);
    fmt(options.endpoint, sizeof options.endpoint, "%s",
             setting(self, "NAGAR_BUS_ENDPOINT", "tcp://127.0.0.1:5555"));
    char path[PATH_BYTES];
    fmt(path, sizeof path, "%s/secret/%s.cert", self->keys, default_name);
    fmt(options.certificate_path, sizeof options.certificate_path, "%s",
             setting(self, cert_setting, path));
    fmt(path, sizeof path, "%s/broker.pub", self->keys);
    fmt(options.broker_key_path, sizeof options.broker_key_path, "%s",
             setting(self, "NAGAR_BUS_BROKER_KEY", path));
    nagar_bus_client_t *client = nagar_bus_client_new(&options, self->config, error, sizeof error);
    if (!client)
        say_error("cannot reach the broker at %s as %s: %s", options.endpoint,
                  options.certificate_path, error);
    return client;
}

static nagar_status_code_t call_admin(nagar_bus_client_t *client, const char *method,
                                      const ProtobufCMessage *request,
                                      const ProtobufCMessageDescriptor *reply_type,
                                      ProtobufCMessage **reply, char *message, size_t message_size)
{
    nagar_bus_call_t call = {.service = "nagar.admin", .method = method, .request = request,
                             .timeout_ms = 5000, .max_attempts = 2};
    return nagar_bus_client_call(client, &call, reply_type, reply, message, message_size, NULL, 0);
}

static const char *status_name(nagar_status_code_t code)
{
    const ProtobufCEnumValue *value =
        protobuf_c_enum_descriptor_get_value(&nagar__status_code__descriptor, (int) code);
    return value ? value->name : "UNKNOWN";
}

static int fetch_stats(nagar_bus_client_t *client, Nagar__Admin__StatsReply **stats)
{
    Nagar__Admin__StatsRequest request = NAGAR__ADMIN__STATS_REQUEST__INIT;
    char message[1024] = "";
    nagar_status_code_t code = call_admin(client, "stats", &request.base,
                                          &nagar__admin__stats_reply__descriptor,
                                          (ProtobufCMessage **) stats, message, sizeof message);
    if (code != NAGAR__STATUS_CODE__OK) {
        say_error("nagar.admin stats failed: %s: %s", status_name(code), message);
        return -1;
    }
    return 0;
}

static int cmd_status(ctl_t *self)
{
    nagar_bus_client_t *client = connect_bus(self, "NAGAR_BUS_CERT", "operator");
    if (!client)
        return EXIT_ERROR;
    Nagar__Admin__StatsReply *stats = NULL;
    if (fetch_stats(client, &stats) != 0) {
        nagar_bus_client_destroy(&client);
        return EXIT_ERROR;
    }
    printf("%-20s %7s %5s %7s %10s %7s  %s\n", "SERVICE", "WORKERS", "IDLE", "QUEUED", "SERVED",
           "ERRORS", "STATE");
    for (size_t i = 0; i < stats->n_services; i++) {
        const Nagar__Admin__ServiceStats *s = stats->services[i];
        char state[300];
        if (s->quarantined)
            fmt(state, sizeof state, "QUARANTINED%s%s", s->quarantine_reason[0] ? ": " : "",
                     s->quarantine_reason);
        else
            fmt(state, sizeof state, "%s", s->workers ? "serving" : "DOWN (no workers)");
        printf("%-20s %7u %5u %7u %10" PRIu64 " %7" PRIu64 "  %s\n", s->name, s->workers,
               s->idle_workers, s->queued, s->served, s->errors, state);
    }
    printf("\nbroker up %" PRIu64 " s; %" PRIu64 " messages refused by the ACL or a quarantine; "
           "%zu revoked key%s\n", stats->uptime_ms / 1000, stats->denied, stats->n_revoked_keys,
           stats->n_revoked_keys == 1 ? "" : "s");
    /* Who was refused, and why: a compromised key shows up here first. */
    printf("\n%-16s %9s %10s %8s %10s %10s %9s %6s %8s\n", "PRINCIPAL", "IN FLIGHT", "REQUESTS",
           "ACL", "QUARANTINE", "IN-FLIGHT", "RATE", "BY SVC", "LIMITS");
    for (size_t i = 0; i < stats->n_principals; i++) {
        const Nagar__Admin__PrincipalStats *p = stats->principals[i];
        char limits[48];
        if (p->rate > 0)
            fmt(limits, sizeof limits, "%u, %.0f/s", p->max_in_flight, p->rate);
        else
            fmt(limits, sizeof limits, "%u", p->max_in_flight);
        printf("%-16s %9u %10" PRIu64 " %8" PRIu64 " %10" PRIu64 " %10" PRIu64 " %9" PRIu64
               " %6" PRIu64 " %8s\n", p->name, p->in_flight, p->requests, p->refused_acl,
               p->refused_quarantine, p->refused_in_flight, p->refused_rate,
               p->refused_by_service, limits);
    }
    protobuf_c_message_free_unpacked(&stats->base, NULL);
    nagar_bus_client_destroy(&client);
    return EXIT_OK;
}

static int cmd_quarantine(ctl_t *self, const char *service, const char *reason, bool release)
{
    nagar_bus_client_t *client = connect_bus(self, "NAGAR_BUS_CERT", "operator");
    if (!client)
        return EXIT_ERROR;
    Nagar__Admin__QuarantineRequest quarantine = NAGAR__ADMIN__QUARANTINE_REQUEST__INIT;
    Nagar__Admin__ReleaseRequest release_request = NAGAR__ADMIN__RELEASE_REQUEST__INIT;
    quarantine.service = (char *) service;
    quarantine.reason = (char *) (reason ? reason : "by nagarctl");
    release_request.service = (char *) service;
    Nagar__Admin__AdminReply *reply = NULL;
    char message[1024] = "";
    nagar_status_code_t code = call_admin(
        client, release ? "release" : "quarantine",
        release ? &release_request.base : &quarantine.base, &nagar__admin__admin_reply__descriptor,
        (ProtobufCMessage **) &reply, message, sizeof message);
    int rc = EXIT_OK;
    if (code == NAGAR__STATUS_CODE__OK) {
        printf("%s\n", reply->detail[0] ? reply->detail
                                        : (release ? "released" : "quarantined"));
        protobuf_c_message_free_unpacked(&reply->base, NULL);
    } else {
        say_error("%s %s failed: %s: %s", release ? "release" : "quarantine", service,
                  status_name(code), message);
        rc = EXIT_ERROR;
    }
    nagar_bus_client_destroy(&client);
    return rc;
}

/* ---- ledgers ---------------------------------------------------------------------------- */

typedef enum { CHAIN_LEDGER, CHAIN_CERTIFICATES } chain_kind_t;

static const char *const PROPERTY_TAX_TRACKED[] = {
    "property", "property_owner", "property_floor", "demand_bill", "demand", "payment",
    "allocation", "online_order", "assessment", "mutation", NULL};
static const char *const WATER_TAX_TRACKED[] = {
    "connection", "meter_reading", "bill", "fee", "payment", "allocation", "online_order", NULL};
static const char *const CERTIFICATES_TRACKED[] = {"application", "certificate", "correction",
                                                   NULL};

typedef struct {
    const char *name;               /* the service, its database and schema, its chain name */
    chain_kind_t kind;              /* its own chain: the ledger or issued certificates */
    bool optional;                  /* skipped when the service has no database or ledger yet */
    const char *const *tracked;     /* tables on the history (common/sql/history) */
    const char *account_column;     /* accounts to check against the ledger; NULL: none */
    nagar_charges_t charges;        /* what the allocations settle */
} ledger_def_t;

static const ledger_def_t LEDGERS[] = {
    {"property_tax", CHAIN_LEDGER, false, PROPERTY_TAX_TRACKED, "property_id",
     NAGAR_CHARGES_DEMAND},
    {"certificates", CHAIN_CERTIFICATES, false, CERTIFICATES_TRACKED, NULL, NAGAR_CHARGES_DEMAND},
    {"water_tax", CHAIN_LEDGER, true, WATER_TAX_TRACKED, "connection_id", NAGAR_CHARGES_BILLS},
};
#define LEDGER_COUNT (sizeof LEDGERS / sizeof LEDGERS[0])

/* One chain as found in a database. */
typedef struct {
    char name[NAGAR_CHECKPOINT_NAME_MAX];  /* "property_tax", "property_tax.payment" */
    char ulb[NAGAR_CHECKPOINT_ULB_MAX];
    bool ok;
    int64_t length;                      /* rows in the chain */
    uint8_t head[32];                    /* hash of the last row */
    bool pinned_found;                   /* the row at the checkpoint's sequence exists */
    uint8_t pinned[32];                  /* its hash */
    char problem[NAGAR_LEDGER_PROBLEM_MAX];
} chain_t;

typedef struct {
    chain_t *items;
    size_t count, capacity;
} chains_t;

static chain_t *chains_add(chains_t *list, const char *name, const char *ulb)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 32;
        chain_t *grown = realloc(list->items, capacity * sizeof *grown);
        if (!grown)
            return NULL;
        list->items = grown;
        list->capacity = capacity;
    }
    chain_t *chain = &list->items[list->count++];
    memset(chain, 0, sizeof *chain);
    fmt(chain->name, sizeof chain->name, "%s", name);
    fmt(chain->ulb, sizeof chain->ulb, "%s", ulb);
    chain->ok = true;
    return chain;
}

static nagar_db_t *connect_service_db(ctl_t *self, const char *service, char *error,
                                      size_t error_size)
{
    char key[128], conninfo[2048];
    fmt(key, sizeof key, "NAGAR_CTL_CONNINFO_%s", service);
    for (char *p = key; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char) (*p - 'a' + 'A');
    const char *given = setting(self, key, NULL);
    if (given)
        fmt(conninfo, sizeof conninfo, "%s", given);
    else
        fmt(conninfo, sizeof conninfo,
                 "host=%s port=%s dbname=nagar_%s user=%s_app connect_timeout=5 "
                 "passfile=%s/%s_app.pgpass application_name=nagarctl "
                 "target_session_attrs=read-write",
                 self->db_host, self->db_port, service, service, self->secrets, service);
    return nagar_db_connect(conninfo, error, error_size);
}

static int hex_to_hash(const char *hex, uint8_t out[32])
{
    size_t decoded = 0;
    return sodium_hex2bin(out, 32, hex, strlen(hex), NULL, &decoded, NULL) == 0 && decoded == 32
               ? 0 : -1;
}

/* The hash chains of kind (the ledger, one chain per ULB; the history, one
 * per table and ULB), every hash recomputed (common/chain.c). A chain the
 * pinned checkpoint holds is walked from its pinned row when from_pinned
 * (nagarctl checkpoint: only what came since), else from the start. */
static int read_hash_chains(nagar_db_t *db, const char *service, const nagar_chain_kind_t *kind,
                            nagar_checkpoint_t *pinned, bool from_pinned, chains_t *out,
                            char *error, size_t error_size)
{
    nagar_chain_status_t *walked = NULL;
    size_t count = 0;
    if (nagar_chain_list(db, kind, &walked, &count, error, error_size) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        nagar_chain_status_t *status = &walked[i];
        const char *ulb = kind->key_parts > 1 ? status->key[1] : status->key[0];
        char name[NAGAR_CHECKPOINT_NAME_MAX];
        if (kind->key_parts > 1)
            fmt(name, sizeof name, "%s.%s", service, status->key[0]);
        else
            fmt(name, sizeof name, "%s", service);
        const nagar_checkpoint_head_t *pin = pinned ? nagar_checkpoint_find(pinned, name, ulb)
                                                    : NULL;
        if (pin && from_pinned && pin->seq > 0) {
            status->from_seq = pin->seq;
            memcpy(status->from_hash, pin->hash, sizeof status->from_hash);
        }
        chain_t *chain = chains_add(out, name, ulb);
        if (!chain) {
            fmt(error, error_size, "out of memory");
            rc = -1;
            break;
        }
        if (nagar_chain_walk(db, kind, status, error, error_size) != 0) {
            rc = -1;
            break;
        }
        chain->ok = status->ok;
        chain->length = status->length;
        memcpy(chain->head, status->head, sizeof chain->head);
        if (!chain->ok) {
            fmt(chain->problem, sizeof chain->problem, "%s", status->problem);
            continue;
        }
        if (pin && pin->seq > 0 && pin->seq <= chain->length) {
            if (status->from_seq == pin->seq) {
                /* The walk began at the pinned row and found it unchanged. */
                memcpy(chain->pinned, pin->hash, sizeof chain->pinned);
                chain->pinned_found = true;
                continue;
            }
            char seq[32];
            fmt(seq, sizeof seq, "%" PRId64, pin->seq);
            const char *values[] = {status->key[0], kind->key_parts > 1 ? status->key[1] : seq,
                                    seq};
            PGresult *res = nagar_db_exec(
                db, kind->key_parts > 1
                        ? "SELECT encode(hash, 'hex') FROM history WHERE tbl = $1 AND ulb = $2 "
                          "AND seq = $3::bigint"
                        : "SELECT encode(hash, 'hex') FROM ledger WHERE ulb = $1 AND seq = $2::bigint",
                kind->key_parts + 1, values);
            if (!res) {
                fmt(error, error_size, "reading row %s of %s %s failed: %s", seq, name, ulb,
                    nagar_db_error(db));
                rc = -1;
                break;
            }
            if (PQntuples(res) == 1 && hex_to_hash(PQgetvalue(res, 0, 0), chain->pinned) == 0)
                chain->pinned_found = true;
            PQclear(res);
        }
    }
    free(walked);
    return rc;
}

/* Issued certificates: hash = SHA-256(prev_hash || qr_payload) per ULB in
 * seq order, each row naming its predecessor's hash; certificate_chain
 * holds each ULB's head and length. Walked in keyset pages. */
static int read_certificate_chains(nagar_db_t *db, nagar_checkpoint_t *pinned, chains_t *out,
                                   char *error, size_t error_size)
{
    char after_ulb[NAGAR_CHECKPOINT_ULB_MAX] = "", after_seq[32] = "0";
    chain_t *chain = NULL;
    uint8_t running[32] = {0};
    const nagar_checkpoint_head_t *pin = NULL;
    for (;;) {
        const char *values[] = {after_ulb, after_seq};
        PGresult *res = nagar_db_exec(
            db,
            "SELECT ulb, seq, qr_payload, encode(prev_hash, 'hex'), encode(hash, 'hex') "
            "FROM certificates.certificate WHERE (ulb, seq) > ($1, $2::bigint) "
            "ORDER BY ulb, seq LIMIT " CERT_PAGE, 2, values);
        if (!res) {
            fmt(error, error_size, "reading issued certificates failed: %s",
                     nagar_db_error(db));
            return -1;
        }
        int rows = PQntuples(res);
        for (int i = 0; i < rows; i++) {
            const char *ulb = PQgetvalue(res, i, 0);
            if (!chain || strcmp(chain->ulb, ulb) != 0) {
                chain = chains_add(out, "certificates", ulb);
                if (!chain) {
                    PQclear(res);
                    fmt(error, error_size, "out of memory");
                    return -1;
                }
                memset(running, 0, sizeof running);
                pin = pinned ? nagar_checkpoint_find(pinned, "certificates", ulb) : NULL;
            }
            fmt(after_ulb, sizeof after_ulb, "%s", ulb);
            fmt(after_seq, sizeof after_seq, "%s", PQgetvalue(res, i, 1));
            if (!chain->ok)
                continue;
            chain->length++;
            uint8_t prev[32], stored[32], computed[32];
            const char *payload = PQgetvalue(res, i, 2);
            crypto_hash_sha256_state state;
            crypto_hash_sha256_init(&state);
            crypto_hash_sha256_update(&state, running, sizeof running);
            crypto_hash_sha256_update(&state, (const uint8_t *) payload, strlen(payload));
            crypto_hash_sha256_final(&state, computed);
            if (hex_to_hash(PQgetvalue(res, i, 3), prev) != 0 ||
                sodium_memcmp(prev, running, 32) != 0) {
                chain->ok = false;
                fmt(chain->problem, sizeof chain->problem,
                         "certificate %" PRId64 " (seq %s) does not follow the one before it: a "
                         "certificate was removed or inserted", chain->length, after_seq);
                continue;
            }
            if (hex_to_hash(PQgetvalue(res, i, 4), stored) != 0 ||
                sodium_memcmp(stored, computed, 32) != 0) {
                chain->ok = false;
                fmt(chain->problem, sizeof chain->problem,
                         "certificate %" PRId64 " (seq %s) does not match its hash: it was changed",
                         chain->length, after_seq);
                continue;
            }
            memcpy(running, computed, 32);
            memcpy(chain->head, computed, 32);
            if (pin && pin->seq == chain->length) {
                memcpy(chain->pinned, computed, 32);
                chain->pinned_found = true;
            }
        }
        PQclear(res);
        if (rows < atoi(CERT_PAGE))
            break;
    }
    /* The recorded heads: a tail cut off leaves a head beyond the last row. */
    PGresult *res = nagar_db_exec(db, "SELECT ulb, length, encode(head_hash, 'hex') "
                                      "FROM certificates.certificate_chain ORDER BY ulb", 0, NULL);
    if (!res) {
        fmt(error, error_size, "reading certificate chain heads failed: %s", nagar_db_error(db));
        return -1;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const char *ulb = PQgetvalue(res, i, 0);
        int64_t length = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        chain_t *found = NULL;
        for (size_t c = 0; c < out->count; c++)
            if (strcmp(out->items[c].ulb, ulb) == 0)
                found = &out->items[c];
        if (!found && length == 0)
            continue;
        if (!found && !(found = chains_add(out, "certificates", ulb))) {
            PQclear(res);
            fmt(error, error_size, "out of memory");
            return -1;
        }
        uint8_t head[32];
        if (found->ok && (length != found->length || hex_to_hash(PQgetvalue(res, i, 2), head) != 0 ||
                          (length > 0 && sodium_memcmp(head, found->head, 32) != 0))) {
            found->ok = false;
            fmt(found->problem, sizeof found->problem,
                     "the recorded head says %" PRId64 " certificates, the chain has %" PRId64
                     " (or their last hashes differ): certificates were removed", length,
                     found->length);
        }
    }
    PQclear(res);
    return 0;
}

typedef struct {
    int checked;        /* chains */
    int broken;         /* chains that fail verification (exit 3) */
    int errors;         /* ledgers that could not be read (exit 1) */
    int findings;       /* records that disagree with others (exit 3) */
} tally_t;

/* Whether a checkpoint chain name belongs to service (itself or a table of it). */
static bool chain_of(const char *chain, const char *service)
{
    size_t length = strlen(service);
    return strncmp(chain, service, length) == 0 && (chain[length] == '\0' || chain[length] == '.');
}

/* Prints one chain's line, compared with its pinned head; adds a good
 * chain's head to next when given. */
static void report_chain(const chain_t *chain, nagar_checkpoint_t *pinned,
                         nagar_checkpoint_t *next, tally_t *tally)
{
    const nagar_checkpoint_head_t *pin =
        pinned ? nagar_checkpoint_find(pinned, chain->name, chain->ulb) : NULL;
    char pinned_text[32] = "-";
    if (pin)
        fmt(pinned_text, sizeof pinned_text, "%" PRId64, pin->seq);
    tally->checked++;
    if (!chain->ok) {
        printf("%-32s %-10s %9" PRId64 " %9s  TAMPERED: %s\n", chain->name, chain->ulb,
               chain->length, pinned_text, chain->problem);
        tally->broken++;
    } else if (pin && chain->length < pin->seq) {
        printf("%-32s %-10s %9" PRId64 " %9s  TAMPERED: the chain is shorter than its signed "
               "checkpoint: rows %" PRId64 " to %" PRId64 " were cut off\n",
               chain->name, chain->ulb, chain->length, pinned_text, chain->length + 1, pin->seq);
        tally->broken++;
    } else if (pin && pin->seq > 0 &&
               (!chain->pinned_found || sodium_memcmp(chain->pinned, pin->hash, 32) != 0)) {
        printf("%-32s %-10s %9" PRId64 " %9s  TAMPERED: row %" PRId64 " differs from the signed "
               "checkpoint: the chain was rewritten\n",
               chain->name, chain->ulb, chain->length, pinned_text, pin->seq);
        tally->broken++;
    } else {
        printf("%-32s %-10s %9" PRId64 " %9s  ok\n", chain->name, chain->ulb, chain->length,
               pinned_text);
        if (next) {
            nagar_checkpoint_head_t head = {.seq = chain->length};
            fmt(head.ledger, sizeof head.ledger, "%s", chain->name);
            fmt(head.ulb, sizeof head.ulb, "%s", chain->ulb);
            memcpy(head.hash, chain->head, 32);
            char add_error[256];
            if (nagar_checkpoint_add(next, &head, add_error, sizeof add_error) != 0) {
                printf("%-32s %-10s  ERROR: %s\n", chain->name, chain->ulb, add_error);
                tally->errors++;
            }
        }
    }
}

/* Chains pinned by the checkpoint that have vanished altogether. */
static void report_vanished(const char *service, const chains_t *chains,
                            nagar_checkpoint_t *pinned, tally_t *tally)
{
    for (size_t i = 0; pinned && i < nagar_checkpoint_size(pinned); i++) {
        const nagar_checkpoint_head_t *pin = nagar_checkpoint_head(pinned, i);
        if (!chain_of(pin->ledger, service) || pin->seq == 0)
            continue;
        bool present = false;
        for (size_t c = 0; c < chains->count && !present; c++)
            present = strcmp(chains->items[c].name, pin->ledger) == 0 &&
                      strcmp(chains->items[c].ulb, pin->ulb) == 0;
        if (!present) {
            printf("%-32s %-10s %9d %9" PRId64 "  TAMPERED: the whole chain is gone (the signed "
                   "checkpoint has %" PRId64 " rows)\n",
                   pin->ledger, pin->ulb, 0, pin->seq, pin->seq);
            tally->checked++;
            tally->broken++;
        }
    }
}

/* Verifies every service's chains (its ledger or certificate chain, its
 * history) against their checkpoint heads and prints a table; when next is
 * given, the heads of good chains are added to it. A full verification
 * (findings given) also checks the records against each other (verify.h)
 * and walks every chain from its start; a checkpoint walks each chain from
 * its pinned row. */
static void verify_all(ctl_t *self, nagar_checkpoint_t *pinned, nagar_checkpoint_t *next,
                       nagar_findings_t *findings, tally_t *tally)
{
    printf("%-32s %-10s %9s %9s  %s\n", "CHAIN", "ULB", "ROWS", "PINNED", "RESULT");
    for (size_t l = 0; l < LEDGER_COUNT; l++) {
        const ledger_def_t *def = &LEDGERS[l];
        size_t pinned_heads = 0;
        for (size_t i = 0; pinned && i < nagar_checkpoint_size(pinned); i++)
            if (chain_of(nagar_checkpoint_head(pinned, i)->ledger, def->name))
                pinned_heads++;
        char error[2048] = "";
        nagar_db_t *db = connect_service_db(self, def->name, error, sizeof error);
        chains_t chains = {0};
        bool from_pinned = findings == NULL;
        int rc = -1;
        if (db)
            rc = def->kind == CHAIN_LEDGER
                     ? read_hash_chains(db, def->name, &nagar_ledger_chain, pinned, from_pinned,
                                        &chains, error, sizeof error)
                     : read_certificate_chains(db, pinned, &chains, error, sizeof error);
        if (rc == 0)
            rc = read_hash_chains(db, def->name, &nagar_history_chain, pinned, from_pinned,
                                  &chains, error, sizeof error);
        if (rc != 0) {
            bool absent = strstr(error, "does not exist") != NULL;
            if (def->optional && absent && pinned_heads == 0) {
                printf("%-32s %-10s %9s %9s  skipped: no ledger here yet\n", def->name, "-", "-",
                       "-");
            } else {
                printf("%-32s %-10s %9s %9s  ERROR: %s\n", def->name, "-", "-", "-", error);
                tally->errors++;
            }
            free(chains.items);
            nagar_db_destroy(&db);
            continue;
        }
        for (size_t c = 0; c < chains.count; c++)
            report_chain(&chains.items[c], pinned, next, tally);
        report_vanished(def->name, &chains, pinned, tally);
        free(chains.items);
        if (findings) {
            size_t before = findings->count + findings->dropped;
            int found = nagar_verify_history(db, def->name, def->tracked, findings, error,
                                             sizeof error);
            if (found >= 0 && def->account_column)
                found = nagar_verify_accounts(db, def->name, def->account_column,
                                              def->charges, findings, error, sizeof error);
            if (found >= 0 && def->kind == CHAIN_CERTIFICATES)
                found = nagar_verify_certificates(db, self->certificate_keys, findings, error,
                                                  sizeof error);
            if (found < 0) {
                printf("%-32s %-10s %9s %9s  ERROR: %s\n", def->name, "-", "-", "-", error);
                tally->errors++;
            }
            tally->findings += (int) (findings->count + findings->dropped - before);
        }
        nagar_db_destroy(&db);
    }
}

/* The findings of a full verification, one line each. */
static void print_findings(const nagar_findings_t *findings)
{
    if (findings->count == 0)
        return;
    printf("\n%-12s %-16s %-36s %-10s %6s  %s\n", "CHECK", "TABLE", "KEY", "ULB", "SEQ",
           "PROBLEM");
    for (size_t i = 0; i < findings->count; i++) {
        const nagar_finding_t *f = &findings->items[i];
        printf("%-12s %-16s %-36s %-10s %6" PRId64 "  TAMPERED: %s\n", f->check, f->table, f->key,
               f->ulb[0] ? f->ulb : "-", f->seq, f->problem);
    }
    if (findings->dropped)
        printf("... and %zu more\n", findings->dropped);
}

/* The witness store (database nagar_witness) as witness_writer, the role
 * only nagarctl has. NULL with error set when it cannot be reached. */
static nagar_db_t *connect_witness(ctl_t *self, char *error, size_t error_size)
{
    const char *given = setting(self, "NAGAR_CTL_CONNINFO_WITNESS", NULL);
    char conninfo[2048];
    if (given)
        fmt(conninfo, sizeof conninfo, "%s", given);
    else
        fmt(conninfo, sizeof conninfo,
            "host=%s port=%s dbname=nagar_witness user=witness_writer connect_timeout=5 "
            "passfile=%s/witness_writer.pgpass application_name=nagarctl "
            "target_session_attrs=read-write",
            self->db_host, self->db_port, self->secrets);
    return nagar_db_connect(conninfo, error, error_size);
}

/* The latest checkpoint the witness store holds, verified with the pinned
 * key: LOADED with *out, NONE, FORGED (error says why) or ERROR. */
static nagar_checkpoint_load_t load_witnessed(ctl_t *self, nagar_checkpoint_t **out,
                                              char *error, size_t error_size)
{
    *out = NULL;
    nagar_db_t *db = connect_witness(self, error, error_size);
    if (!db)
        return NAGAR_CHECKPOINT_ERROR;
    nagar_checkpoint_load_t result = NAGAR_CHECKPOINT_NONE;
    PGresult *res = nagar_db_exec(db, "SELECT signed_text FROM witness.checkpoint "
                                      "ORDER BY created_us DESC LIMIT 1", 0, NULL);
    uint8_t key[32];
    if (!res) {
        fmt(error, error_size, "reading the witness store failed: %s", nagar_db_error(db));
        result = NAGAR_CHECKPOINT_ERROR;
    } else if (PQntuples(res) == 1 &&
               nagar_checkpoint_read_public_key(self->checkpoint_public, key, error,
                                                error_size) != 0) {
        result = NAGAR_CHECKPOINT_ERROR;
    } else if (PQntuples(res) == 1) {
        const char *text = PQgetvalue(res, 0, 0);
        result = nagar_checkpoint_parse(text, strlen(text), key, out, error, error_size);
    }
    PQclear(res);
    nagar_db_destroy(&db);
    return result;
}

/* The latest signed checkpoint, from the checkpoint files or the witness
 * store, whichever is newer; one that does not verify is tampering. */
static int load_pinned(ctl_t *self, nagar_checkpoint_t **pinned, bool quiet_when_none)
{
    char path[PATH_BYTES], error[2048], witness_error[2048] = "";
    nagar_checkpoint_t *witnessed = NULL;
    nagar_checkpoint_load_t loaded = nagar_checkpoint_load_latest(
        self->checkpoint_dir, self->checkpoint_public, pinned, path, sizeof path, error,
        sizeof error);
    nagar_checkpoint_load_t from_witness =
        load_witnessed(self, &witnessed, witness_error, sizeof witness_error);
    if (loaded == NAGAR_CHECKPOINT_FORGED || from_witness == NAGAR_CHECKPOINT_FORGED) {
        say_error("the latest checkpoint is not valid: %s",
                  loaded == NAGAR_CHECKPOINT_FORGED ? error : witness_error);
        nagar_checkpoint_destroy(pinned);
        nagar_checkpoint_destroy(&witnessed);
        return EXIT_TAMPER;
    }
    if (from_witness == NAGAR_CHECKPOINT_ERROR)
        printf("warning: the witness store could not be read (%s); using the checkpoint files "
               "alone\n", witness_error);
    if (witnessed && (!*pinned || nagar_checkpoint_created_us(witnessed) >
                                      nagar_checkpoint_created_us(*pinned))) {
        nagar_checkpoint_destroy(pinned);
        *pinned = witnessed;
        witnessed = NULL;
        fmt(path, sizeof path, "the witness store (nagar_witness)");
        loaded = NAGAR_CHECKPOINT_LOADED;
    }
    nagar_checkpoint_destroy(&witnessed);
    switch (loaded) {
    case NAGAR_CHECKPOINT_LOADED: {
        time_t at = (time_t) (nagar_checkpoint_created_us(*pinned) / 1000000);
        char when[64];
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&at));
        printf("checkpoint %s (signed %s, %zu chains)\n", path, when,
               nagar_checkpoint_size(*pinned));
        return EXIT_OK;
    }
    case NAGAR_CHECKPOINT_NONE:
        if (!quiet_when_none)
            printf("no signed checkpoint yet in %s: chains are checked for internal consistency "
                   "only (a wholesale rewrite cannot be detected)\n", self->checkpoint_dir);
        return EXIT_OK;
    default:
        say_error("%s", error);
        return EXIT_ERROR;
    }
}

/* Stores the checkpoint file just written in the witness store. */
static int witness(ctl_t *self, const char *path, int64_t created_us)
{
    FILE *file = fopen(path, "rb");
    char *text = file ? malloc(16 * 1024 * 1024 + 1) : NULL;
    size_t got = text ? fread(text, 1, 16 * 1024 * 1024, file) : 0;
    if (file)
        fclose(file);
    if (!text || got == 0) {
        free(text);
        say_error("cannot read back %s to witness it", path);
        return -1;
    }
    text[got] = '\0';
    char error[2048], created[32];
    fmt(created, sizeof created, "%" PRId64, created_us);
    nagar_db_t *db = connect_witness(self, error, sizeof error);
    const char *values[] = {created, text};
    PGresult *res = db ? nagar_db_exec(db, "INSERT INTO witness.checkpoint (created_us, "
                                           "signed_text) VALUES ($1::bigint, $2)", 2, values)
                       : NULL;
    free(text);
    if (!res)
        say_error("the checkpoint is signed (%s) but could not be witnessed: %s", path,
                  db ? nagar_db_error(db) : error);
    PQclear(res);
    nagar_db_destroy(&db);
    return res ? 0 : -1;
}

static int cmd_verify(ctl_t *self)
{
    nagar_checkpoint_t *pinned = NULL;
    int rc = load_pinned(self, &pinned, false);
    if (rc != EXIT_OK)
        return rc;
    tally_t tally = {0};
    nagar_findings_t findings = {0};
    verify_all(self, pinned, NULL, &findings, &tally);
    nagar_checkpoint_destroy(&pinned);
    print_findings(&findings);
    nagar_findings_free(&findings);
    printf("\n%d chains checked, %d failed verification, %d records disagree, %d ledgers "
           "unreadable\n", tally.checked, tally.broken, tally.findings, tally.errors);
    if (tally.broken || tally.findings)
        return EXIT_TAMPER;
    return tally.errors ? EXIT_ERROR : EXIT_OK;
}

static int cmd_checkpoint(ctl_t *self)
{
    if (access(self->checkpoint_key, R_OK) != 0) {
        say_error("cannot read the checkpoint signing key %s: %s; make it once with nagarctl "
                  "checkpoint-keygen (or set NAGAR_CHECKPOINT_KEY)", self->checkpoint_key,
                  strerror(errno));
        return EXIT_ERROR;
    }
    nagar_checkpoint_t *pinned = NULL;
    int rc = load_pinned(self, &pinned, false);
    if (rc != EXIT_OK)
        return rc;
    nagar_checkpoint_t *next = nagar_checkpoint_new();
    if (!next) {
        nagar_checkpoint_destroy(&pinned);
        say_error("out of memory");
        return EXIT_ERROR;
    }
    tally_t tally = {0};
    verify_all(self, pinned, next, NULL, &tally);
    nagar_checkpoint_destroy(&pinned);
    /* Never sign a state that fails verification: that would bless the tampering. */
    if (tally.broken || tally.errors) {
        nagar_checkpoint_destroy(&next);
        say_error("no checkpoint written: %d chains failed verification and %d ledgers could not "
                  "be read; investigate (nagarctl verify) and restore before checkpointing",
                  tally.broken, tally.errors);
        return tally.broken ? EXIT_TAMPER : EXIT_ERROR;
    }
    char path[PATH_BYTES], error[2048];
    if (nagar_checkpoint_save(next, self->checkpoint_key, self->checkpoint_dir, path, sizeof path,
                              error, sizeof error) != 0) {
        nagar_checkpoint_destroy(&next);
        say_error("%s", error);
        return EXIT_ERROR;
    }
    int witnessed = witness(self, path, nagar_checkpoint_created_us(next));
    printf("\nsigned %zu chain heads into %s%s\n", nagar_checkpoint_size(next), path,
           witnessed == 0 ? " and the witness store" : "");
    nagar_checkpoint_destroy(&next);
    return witnessed == 0 ? EXIT_OK : EXIT_ERROR;
}

static int make_dir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) != 0 && errno != EEXIST) {
        say_error("cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int cmd_checkpoint_keygen(ctl_t *self)
{
    char dir[PATH_BYTES];
    fmt(dir, sizeof dir, "%s", self->checkpoint_key);
    if (make_dir(dirname(dir), 0700) != 0 || make_dir(self->checkpoint_dir, 0755) != 0)
        return EXIT_ERROR;
    char error[1024];
    if (nagar_checkpoint_keygen(self->checkpoint_key, self->checkpoint_public, error,
                                sizeof error) != 0) {
        say_error("%s", error);
        return EXIT_ERROR;
    }
    printf("checkpoint key: secret %s (keep it away from the database host's other users), "
           "public %s\n", self->checkpoint_key, self->checkpoint_public);
    return EXIT_OK;
}

/* ---- running other programs ------------------------------------------------------------- */

static bool quiet_logs_set = false;   /* main() set NAGAR_LOG_LEVEL=warn for nagarctl itself */

/* Runs argv, waiting at most timeout_s (0 = no limit, for restores);
 * returns its exit status, or -1 when it could not run or was killed. */
static int run_program(char *const argv[], int timeout_s)
{
    pid_t pid = fork();
    if (pid < 0) {
        say_error("fork failed: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* What nagarctl quietened for itself must not quieten what it starts
         * (a restarted service logs at its own level). */
        if (quiet_logs_set)
            unsetenv("NAGAR_LOG_LEVEL");
        execv(argv[0], argv);
        fprintf(stderr, "nagarctl: error: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int64_t deadline = timeout_s > 0 ? zclock_mono() + (int64_t) timeout_s * 1000 : 0;
    int status = 0;
    for (;;) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid)
            break;
        if (done < 0 && errno != EINTR) {
            say_error("waiting for %s failed: %s", argv[0], strerror(errno));
            return -1;
        }
        if (deadline && zclock_mono() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            say_error("%s did not finish within %d s and was stopped", argv[0], timeout_s);
            return -1;
        }
        zclock_sleep(50);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void find_backup_script(ctl_t *self, char *out, size_t size)
{
    const char *given = setting(self, "NAGAR_BACKUP_SCRIPT", NULL);
    if (given) {
        fmt(out, size, "%s", given);
        return;
    }
    /* build/, build/<name>/ in a checkout, or an installed layout. */
    const char *candidates[] = {"%s/../deploy/backup.sh", "%s/../../deploy/backup.sh",
                                "%s/../share/nagar/deploy/backup.sh"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        fmt(out, size, candidates[i], self->self_dir);
        if (access(out, X_OK) == 0)
            return;
    }
    fmt(out, size, "/usr/share/nagar/deploy/backup.sh");
}

static int cmd_backup_script(ctl_t *self, int argc, char **argv)
{
    char script[PATH_BYTES];
    find_backup_script(self, script, sizeof script);
    char *args[16] = {script};
    int n = 1;
    for (int i = 0; i < argc && n < 15; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    int rc = run_program(args, 0);
    if (rc < 0)
        return EXIT_ERROR;
    return rc == EXIT_USAGE ? EXIT_USAGE : rc == 0 ? EXIT_OK : EXIT_ERROR;
}

/* ---- key rotation ------------------------------------------------------------------------ */

static int copy_file(const char *from, const char *to, mode_t mode)
{
    FILE *in = fopen(from, "rb");
    if (!in) {
        say_error("cannot read %s: %s", from, strerror(errno));
        return -1;
    }
    char temp[PATH_BYTES + 16];
    fmt(temp, sizeof temp, "%s.tmp", to);
    FILE *out = fopen(temp, "wb");
    if (!out) {
        fclose(in);
        say_error("cannot write %s: %s", temp, strerror(errno));
        return -1;
    }
    char buffer[8192];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, in)) > 0)
        fwrite(buffer, 1, n, out);
    fclose(in);
    if (fflush(out) != 0 || fsync(fileno(out)) != 0 || fclose(out) != 0 || chmod(temp, mode) != 0 ||
        rename(temp, to) != 0) {
        say_error("installing %s failed: %s", to, strerror(errno));
        unlink(temp);
        return -1;
    }
    return 0;
}

static int revoke_key(ctl_t *self, const char *public_key)
{
    nagar_bus_client_t *client = connect_bus(self, "NAGAR_BUS_CERT", "operator");
    if (!client)
        return -1;
    Nagar__Admin__RevokeRequest request = NAGAR__ADMIN__REVOKE_REQUEST__INIT;
    request.public_key = (char *) public_key;
    Nagar__Admin__AdminReply *reply = NULL;
    char message[1024] = "";
    nagar_status_code_t code = call_admin(client, "revoke", &request.base,
                                          &nagar__admin__admin_reply__descriptor,
                                          (ProtobufCMessage **) &reply, message, sizeof message);
    nagar_bus_client_destroy(&client);
    if (code != NAGAR__STATUS_CODE__OK) {
        say_error("revoking the old key failed: %s: %s", status_name(code), message);
        return -1;
    }
    protobuf_c_message_free_unpacked(&reply->base, NULL);
    return 0;
}

/* Phase 2: the service runs on the new key. Revoke the old one and make the
 * new public certificate the service's only one. */
static int keys_finish(ctl_t *self, const char *service)
{
    char current[PATH_BYTES], next[PATH_BYTES];
    fmt(current, sizeof current, "%s/public/%s.cert", self->keys, service);
    fmt(next, sizeof next, "%s/public/%s.next.cert", self->keys, service);
    if (access(next, R_OK) != 0) {
        say_error("%s does not exist: no rotation of %s is in progress (start one with nagarctl "
                  "keys rotate %s)", next, service, service);
        return EXIT_ERROR;
    }
    zcert_t *old = zcert_load(current);
    if (!old) {
        say_error("cannot read the current public certificate %s", current);
        return EXIT_ERROR;
    }
    char old_key[41];
    fmt(old_key, sizeof old_key, "%s", zcert_public_txt(old));
    zcert_destroy(&old);
    if (revoke_key(self, old_key) != 0)
        return EXIT_ERROR;
    if (rename(next, current) != 0) {
        say_error("replacing %s with %s failed: %s", current, next, strerror(errno));
        return EXIT_ERROR;
    }
    printf("revoked the old key of %s (%s); %s now holds only the new one\n", service, old_key,
           current);
    return EXIT_OK;
}

static int wait_for_workers(ctl_t *self, const char *service, int seconds)
{
    nagar_bus_client_t *client = connect_bus(self, "NAGAR_BUS_CERT", "operator");
    if (!client)
        return -1;
    int64_t deadline = zclock_mono() + (int64_t) seconds * 1000;
    int rc = -1;
    while (zclock_mono() < deadline && rc != 0) {
        Nagar__Admin__StatsReply *stats = NULL;
        if (fetch_stats(client, &stats) == 0) {
            for (size_t i = 0; i < stats->n_services; i++)
                if (strcmp(stats->services[i]->name, service) == 0 && stats->services[i]->workers)
                    rc = 0;
            protobuf_c_message_free_unpacked(&stats->base, NULL);
        }
        if (rc != 0)
            zclock_sleep(200);
    }
    nagar_bus_client_destroy(&client);
    if (rc != 0)
        say_error("no worker of %s connected within %d s after the restart", service, seconds);
    return rc;
}

static int cmd_keys_rotate(ctl_t *self, const char *service, const char *restart, int wait_s)
{
    char current_public[PATH_BYTES], secret[PATH_BYTES];
    fmt(current_public, sizeof current_public, "%s/public/%s.cert", self->keys, service);
    fmt(secret, sizeof secret, "%s/secret/%s.cert", self->keys, service);
    zcert_t *old = zcert_load(current_public);
    if (!old) {
        say_error("cannot read %s: is \"%s\" a principal of this installation?", current_public,
                  service);
        return EXIT_ERROR;
    }
    char serve[1024], call[1024];
    fmt(serve, sizeof serve, "%s", zcert_meta(old, "serve") ? zcert_meta(old, "serve") : "");
    fmt(call, sizeof call, "%s", zcert_meta(old, "call") ? zcert_meta(old, "call") : "");
    zcert_destroy(&old);

    /* 1. A new pair, made by nagar-keygen in a staging directory. */
    char staging[PATH_BYTES], keygen[PATH_BYTES];
    fmt(staging, sizeof staging, "%s/rotate-%s-%ld", self->keys, service, (long) time(NULL));
    fmt(keygen, sizeof keygen, "%s", setting(self, "NAGAR_KEYGEN", ""));
    if (!keygen[0])
        fmt(keygen, sizeof keygen, "%s/nagar-keygen", self->self_dir);
    if (make_dir(staging, 0700) != 0)
        return EXIT_ERROR;
    char *args[12] = {keygen, "--keys", staging, "--principal", (char *) service};
    int n = 5;
    if (serve[0]) {
        args[n++] = "--serve";
        args[n++] = serve;
    }
    if (call[0]) {
        args[n++] = "--call";
        args[n++] = call;
    }
    args[n] = NULL;
    if (run_program(args, 30) != 0) {
        say_error("%s could not make the new key pair", keygen);
        return EXIT_ERROR;
    }

    /* 2. Both keys are valid at the broker while the service moves over. */
    char staged[PATH_BYTES], next_public[PATH_BYTES];
    fmt(staged, sizeof staged, "%s/public/%s.cert", staging, service);
    fmt(next_public, sizeof next_public, "%s/public/%s.next.cert", self->keys, service);
    if (copy_file(staged, next_public, 0644) != 0)
        return EXIT_ERROR;
    /* 3. The new secret certificate where the service reads it. */
    fmt(staged, sizeof staged, "%s/secret/%s.cert", staging, service);
    char old_secret[PATH_BYTES + 32];
    fmt(old_secret, sizeof old_secret, "%s.old", secret);
    if (link(secret, old_secret) != 0 && errno != EEXIST)
        fprintf(stderr, "nagarctl: warning: could not keep %s: %s\n", old_secret, strerror(errno));
    if (copy_file(staged, secret, 0600) != 0)
        return EXIT_ERROR;
    unlink(staged);
    fmt(staged, sizeof staged, "%s/public/%s.cert", staging, service);
    unlink(staged);
    char sub[PATH_BYTES + 16];
    fmt(sub, sizeof sub, "%s/secret", staging);
    rmdir(sub);
    fmt(sub, sizeof sub, "%s/public", staging);
    rmdir(sub);
    rmdir(staging);
    printf("new key of %s installed: %s (the old one stays valid until it is revoked)\n", service,
           secret);
    /* The broker re-reads public/ when it changes; give it a moment. */
    zclock_sleep(1200);

    if (!restart) {
        printf("now restart every process of %s so it connects with the new key (systemctl "
               "restart 'nagar-%s@*', or stop and start it under make run), then run:\n"
               "    nagarctl keys finish %s\n", service, service, service);
        return EXIT_OK;
    }
    /* 4. The restart: the operator's command (a rolling restart keeps serving). */
    char *shell[] = {"/bin/sh", "-c", (char *) restart, NULL};
    int rc = run_program(shell, wait_s);
    if (rc != 0) {
        say_error("the restart command failed (%d); the old key is still valid, nothing was "
                  "revoked; finish with nagarctl keys finish %s once the service runs", rc, service);
        return EXIT_ERROR;
    }
    if (wait_for_workers(self, service, wait_s) != 0)
        return EXIT_ERROR;
    /* 5. Only now revoke the old key. */
    rc = keys_finish(self, service);
    if (rc == EXIT_OK)
        unlink(old_secret);
    return rc;
}

/* ---- batch: demand ------------------------------------------------------------------------ */

static void progress_bar(int64_t done, int64_t total, const char *what)
{
    int width = 40;
    int filled = total > 0 ? (int) (done * width / total) : 0;
    if (filled > width)
        filled = width;
    char bar[64];
    memset(bar, '#', (size_t) filled);
    memset(bar + filled, ' ', (size_t) (width - filled));
    bar[width] = '\0';
    fprintf(stderr, "\r%s [%s] %3d%% %" PRId64 "/%" PRId64, what, bar,
            total > 0 ? (int) (done * 100 / total) : 0, done, total);
    fflush(stderr);
}

/* An int64 or string field of a job reply, by name (DemandJob, BillJob). */
static int64_t job_int(const ProtobufCMessage *job, const char *name)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(job->descriptor, name);
    if (!field || (field->type != PROTOBUF_C_TYPE_INT64 && field->type != PROTOBUF_C_TYPE_INT32))
        return 0;
    const char *at = (const char *) job + field->offset;
    return field->type == PROTOBUF_C_TYPE_INT64 ? *(const int64_t *) at : *(const int32_t *) at;
}

static const char *job_text(const ProtobufCMessage *job, const char *name)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(job->descriptor, name);
    if (!field || field->type != PROTOBUF_C_TYPE_STRING)
        return "";
    const char *value = *(const char *const *) ((const char *) job + field->offset);
    return value ? value : "";
}

/* A set-based job of a service: started once, then watched by job id. */
typedef struct {
    const char *grant_job;        /* authority.h's job kind */
    const char *service;
    const char *start_method, *status_method;
    const char *what;             /* "demand", "bills" */
    const ProtobufCMessageDescriptor *job_type;      /* the reply of both methods */
    const ProtobufCMessageDescriptor *status_type;   /* { int64 job_id = 1; } */
} set_job_t;

static const set_job_t DEMAND_JOB = {"demand.generate", "property_tax", "demand.generate",
                                     "demand.status", "demand",
                                     &nagar__property_tax__demand_job__descriptor,
                                     &nagar__property_tax__demand_status_request__descriptor};
static const set_job_t BILLS_JOB = {"bill.generate", "water_tax", "bill.generate",
                                    "bill.status", "bills",
                                    &nagar__water_tax__bill_job__descriptor,
                                    &nagar__water_tax__bill_job_status_request__descriptor};

/* "2026-05" -> "2026-27" (the financial year a billing month falls in). */
static bool period_fy(const char *period, char fy[16])
{
    int year = 0, month = 0;
    char tail;
    if (strlen(period) != 7 || sscanf(period, "%4d-%2d%c", &year, &month, &tail) != 2 ||
        month < 1 || month > 12)
        return false;
    int start = month >= 4 ? year : year - 1;
    fmt(fy, 16, "%04d-%02d", start, (start + 1) % 100);
    return true;
}

/* Starts the job with the operator's grant (job_grant.h) and shows its
 * progress until it is DONE or wait_s runs out. request is the start
 * method's request (ulb and fy or period filled in). */
static int run_set_job(ctl_t *self, const set_job_t *kind, const char *ulb, const char *fy,
                       const char *scope_text, const ProtobufCMessage *request,
                       const char *operator_user, int wait_s)
{
    nagar_bus_client_t *client = connect_bus(self, "NAGAR_CTL_BATCH_CERT", "batch");
    if (!client)
        return EXIT_ERROR;
    char error[1024] = "";
    nagar_job_grant_t *grant = nagar_job_grant_new(self->config, client, operator_user,
                                                   kind->grant_job, ulb, fy, NULL, error,
                                                   sizeof error);
    if (!grant) {
        say_error("%s", error);
        nagar_bus_client_destroy(&client);
        return EXIT_ERROR;
    }
    char key[128];
    /* A new key per run: the job itself is idempotent (a re-run creates no
     * bill twice and picks up accounts added since), and a fixed key would
     * only replay the first job's answer. */
    fmt(key, sizeof key, "nagarctl-%s-%s-%s-%lld", kind->what, ulb, scope_text,
        (long long) time(NULL));
    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
    context.idempotency_key = key;
    context.authorization = (char *) nagar_job_grant_token(grant, error, sizeof error);
    nagar_bus_call_t call = {.service = kind->service, .method = kind->start_method,
                             .context = &context, .request = request, .timeout_ms = 30000};
    ProtobufCMessage *job = NULL;
    char message[1024] = "", field[128] = "";
    nagar_status_code_t code = nagar_bus_client_call(client, &call, kind->job_type, &job, message,
                                                     sizeof message, field, sizeof field);
    if (code != NAGAR__STATUS_CODE__OK) {
        say_error("%s for ULB %s, %s failed: %s: %s%s%s", kind->start_method, ulb, scope_text,
                  status_name(code), message, field[0] ? " (field " : "", field[0] ? field : "");
        nagar_job_grant_destroy(&grant);
        nagar_bus_client_destroy(&client);
        return code == NAGAR__STATUS_CODE__INVALID_ARGUMENT ? EXIT_USAGE : EXIT_ERROR;
    }
    int64_t job_id = job_int(job, "job_id");
    int rc = EXIT_ERROR;
    int64_t deadline = zclock_mono() + (int64_t) wait_s * 1000;
    while (zclock_mono() < deadline) {
        bool done = strcmp(job_text(job, "status"), "DONE") == 0;
        progress_bar(job_int(job, "processed"), job_int(job, "total"), kind->what);
        if (done) {
            fprintf(stderr, "\n");
            printf("%s job %" PRId64 " for ULB %s, %s: %" PRId64 " accounts, %" PRId64
                   " bills created, %" PRId64 " skipped; run for %s\n", kind->what, job_id, ulb,
                   scope_text, job_int(job, "total"), job_int(job, "bills_created"),
                   job_int(job, "skipped"), nagar_job_grant_operator(grant));
            rc = EXIT_OK;
            break;
        }
        protobuf_c_message_free_unpacked(job, NULL);
        job = NULL;
        zclock_sleep(300);
        context.idempotency_key = "";
        context.authorization = (char *) nagar_job_grant_token(grant, error, sizeof error);
        if (!context.authorization) {
            fprintf(stderr, "\n");
            say_error("%s (the job goes on; ask again later)", error);
            break;
        }
        /* The status request of both jobs is { int64 job_id = 1; }. */
        ProtobufCMessage *poll_request = calloc(1, kind->status_type->sizeof_message);
        if (!poll_request)
            break;
        protobuf_c_message_init(kind->status_type, poll_request);
        const ProtobufCFieldDescriptor *id_field =
            protobuf_c_message_descriptor_get_field_by_name(kind->status_type, "job_id");
        *(int64_t *) ((char *) poll_request + id_field->offset) = job_id;
        nagar_bus_call_t poll = {.service = kind->service, .method = kind->status_method,
                                 .context = &context, .request = poll_request,
                                 .timeout_ms = 10000};
        code = nagar_bus_client_call(client, &poll, kind->job_type, &job, message,
                                     sizeof message, NULL, 0);
        free(poll_request);
        if (code != NAGAR__STATUS_CODE__OK) {
            fprintf(stderr, "\n");
            say_error("%s of job %" PRId64 " failed: %s: %s (the job goes on; ask again later)",
                      kind->status_method, job_id, status_name(code), message);
            break;
        }
    }
    if (rc != EXIT_OK && job)
        say_error("%s job %" PRId64 " still running after %d s", kind->what, job_id, wait_s);
    if (job)
        protobuf_c_message_free_unpacked(job, NULL);
    nagar_job_grant_destroy(&grant);
    nagar_bus_client_destroy(&client);
    return rc;
}

static int cmd_demand_generate(ctl_t *self, const char *ulb, const char *fy,
                               const char *operator_user, int wait_s)
{
    Nagar__PropertyTax__GenerateDemandRequest request =
        NAGAR__PROPERTY_TAX__GENERATE_DEMAND_REQUEST__INIT;
    request.ulb = (char *) ulb;
    request.fy = (char *) fy;
    return run_set_job(self, &DEMAND_JOB, ulb, fy, fy, &request.base, operator_user, wait_s);
}

static int cmd_bills_generate(ctl_t *self, const char *ulb, const char *period,
                              const char *operator_user, int wait_s)
{
    char fy[16];
    if (!period_fy(period, fy)) {
        say_error("PERIOD must be the billing month, YYYY-MM (e.g. 2026-05), not \"%s\"",
                  period);
        return EXIT_USAGE;
    }
    Nagar__WaterTax__GenerateBillsRequest request = NAGAR__WATER_TAX__GENERATE_BILLS_REQUEST__INIT;
    request.ulb = (char *) ulb;
    request.period = (char *) period;
    return run_set_job(self, &BILLS_JOB, ulb, fy, period, &request.base, operator_user, wait_s);
}

/* ---- batch: offline receipts ------------------------------------------------------------------ */

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
            fmt(row->receipt, sizeof row->receipt, "%s", receipt->receipt_no);
            nagar__property_tax__receipt__free_unpacked(receipt, NULL);
        }
        fmt(row->outcome, sizeof row->outcome, "%s", result->replayed ? "DUPLICATE" : "RECORDED");
        if (result->replayed)
            fmt(row->message, sizeof row->message, "already recorded; nothing changed");
    } else {
        fmt(row->outcome, sizeof row->outcome, "%s",
                 result->code == NAGAR__STATUS_CODE__CONFLICT ? "CONFLICT" : "FAILED");
        fmt(row->message, sizeof row->message, "%s: %s", status_name(result->code),
                 result->message);
    }
}

static int cmd_receipts_replay(ctl_t *self, const char *csv_path, const char *ulb,
                               const char *clerk, const char *operator_user,
                               const char *report_path)
{
    FILE *csv = fopen(csv_path, "r");
    if (!csv) {
        say_error("cannot open %s: %s", csv_path, strerror(errno));
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
            say_error("%s:%d: line longer than %d bytes", csv_path, line_no, CSV_LINE_MAX - 1);
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
            say_error("%s:%d: expected offline_key,property_id,amount_paise,mode,instrument_ref,"
                      "counter with a key of 1..100 characters, a positive amount and a mode of "
                      "CASH, CHEQUE, DEMAND_DRAFT or UPI", csv_path, line_no);
            bad++;
            continue;
        }
        if (count >= REPLAY_MAX_ROWS) {
            say_error("%s holds more than %d receipts; split it", csv_path, REPLAY_MAX_ROWS);
            bad++;
            break;
        }
        if (count == capacity) {
            capacity = capacity ? capacity * 2 : 256;
            replay_row_t *grown = realloc(rows, capacity * sizeof *grown);
            if (!grown) {
                say_error("out of memory reading %s", csv_path);
                bad++;
                break;
            }
            rows = grown;
        }
        replay_row_t *row = &rows[count++];
        memset(row, 0, sizeof *row);
        fmt(row->key, sizeof row->key, "offline:%s", fields[0]);
        fmt(row->property_id, sizeof row->property_id, "%s", fields[1]);
        row->amount = amount;
        row->mode = mode;
        fmt(row->instrument, sizeof row->instrument, "%s", fields[4]);
        fmt(row->counter, sizeof row->counter, "%s", fields[5]);
        row->line = line_no;
    }
    fclose(csv);
    if (bad) {
        free(rows);
        say_error("%d malformed line%s in %s: nothing was replayed; fix the file and run again "
                  "(replaying is safe to repeat)", bad, bad == 1 ? "" : "s", csv_path);
        return EXIT_USAGE;
    }
    nagar_bus_client_t *client = connect_bus(self, "NAGAR_CTL_BATCH_CERT", "batch");
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
        say_error("%s", error);
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
                say_error("%s", error);
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
                fmt(row->outcome, sizeof row->outcome, "FAILED");
                fmt(row->message, sizeof row->message, "the bus client refused the request");
                completed++;
            }
            next++;
        }
        nagar_bus_client_poll(client, 100);
        completed = 0;
        for (size_t i = 0; i < next; i++)
            completed += rows[i].done;
        progress_bar((int64_t) completed, (int64_t) count, "replay");
    }
    fprintf(stderr, "\n");
    char operator_id[96];
    fmt(operator_id, sizeof operator_id, "%s", nagar_job_grant_operator(grant));
    nagar_job_grant_destroy(&grant);
    nagar_bus_client_destroy(&client);

    FILE *report = report_path ? fopen(report_path, "w") : NULL;
    if (report_path && !report)
        say_error("cannot write the report %s: %s", report_path, strerror(errno));
    if (report)
        fprintf(report, "line,offline_key,outcome,receipt_no,message\n");
    size_t recorded = 0, duplicates = 0, conflicts = 0, failed = 0;
    for (size_t i = 0; i < count; i++) {
        replay_row_t *row = &rows[i];
        if (!row->done) {
            fmt(row->outcome, sizeof row->outcome, "FAILED");
            fmt(row->message, sizeof row->message, "not answered within the time limit");
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

/* ---- main ------------------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nagarctl status\n"
            "       nagarctl quarantine SERVICE [REASON]\n"
            "       nagarctl release SERVICE\n"
            "       nagarctl keys rotate SERVICE [--restart COMMAND] [--wait SECONDS]\n"
            "       nagarctl keys finish SERVICE\n"
            "       nagarctl checkpoint-keygen\n"
            "       nagarctl checkpoint\n"
            "       nagarctl verify\n"
            "       nagarctl backup [full|diff|incr]\n"
            "       nagarctl backup-verify\n"
            "       nagarctl restore --to TIME [--target DIR]\n"
            "       nagarctl demand generate ULB FY [--operator USER] [--wait SECONDS]\n"
            "       nagarctl bills generate ULB PERIOD [--operator USER] [--wait SECONDS]\n"
            "       nagarctl receipts replay CSV --ulb ULB --clerk USER [--operator USER]\n"
            "                [--report FILE]\n"
            "jobs that act for a person log in as the operator (NAGAR_OPERATOR_USER or\n"
            "--operator, with NAGAR_OPERATOR_PASSWORD(_FILE); or NAGAR_OPERATOR_TOKEN(_FILE))\n"
            "and carry the grant identity signs for that one job, ULB and year\n"
            "exit codes: 0 ok, 1 error, 2 usage, 3 verification failed (tampering detected)\n");
}

/* Finds "--name VALUE" among argv[from..]; NULL when absent. */
static const char *option(int argc, char **argv, int from, const char *name)
{
    for (int i = from; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

static bool service_name_ok(const char *name)
{
    size_t length = strlen(name);
    if (length == 0 || length > 64)
        return false;
    for (size_t i = 0; i < length; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '_' || name[i] == '.'))
            return false;
    return true;
}

static int dispatch(ctl_t *self, int argc, char **argv)
{
    const char *command = argv[1];
    if (strcmp(command, "status") == 0 && argc == 2)
        return cmd_status(self);
    if ((strcmp(command, "quarantine") == 0 && (argc == 3 || argc == 4)) ||
        (strcmp(command, "release") == 0 && argc == 3)) {
        if (!service_name_ok(argv[2]))
            return usage(stderr), EXIT_USAGE;
        return cmd_quarantine(self, argv[2], argc == 4 ? argv[3] : NULL,
                              strcmp(command, "release") == 0);
    }
    if (strcmp(command, "keys") == 0 && argc >= 4 && service_name_ok(argv[3])) {
        if (strcmp(argv[2], "finish") == 0 && argc == 4)
            return keys_finish(self, argv[3]);
        if (strcmp(argv[2], "rotate") == 0 && (argc == 4 || argc == 6 || argc == 8)) {
            const char *wait = option(argc, argv, 4, "--wait");
            int wait_s = wait ? atoi(wait) : 60;
            if (wait_s <= 0 || wait_s > 3600)
                return usage(stderr), EXIT_USAGE;
            return cmd_keys_rotate(self, argv[3], option(argc, argv, 4, "--restart"), wait_s);
        }
    }
    if (strcmp(command, "checkpoint-keygen") == 0 && argc == 2)
        return cmd_checkpoint_keygen(self);
    if (strcmp(command, "checkpoint") == 0 && argc == 2)
        return cmd_checkpoint(self);
    if (strcmp(command, "verify") == 0 && argc == 2)
        return cmd_verify(self);
    if (strcmp(command, "backup") == 0 && argc <= 3) {
        char *args[] = {"backup", argc == 3 ? argv[2] : "incr"};
        return cmd_backup_script(self, 2, args);
    }
    if (strcmp(command, "backup-verify") == 0 && argc == 2) {
        char *args[] = {"verify"};
        return cmd_backup_script(self, 1, args);
    }
    if (strcmp(command, "restore") == 0 && (argc == 4 || argc == 6) && option(argc, argv, 2, "--to")) {
        char *args[] = {"restore", "--to", (char *) option(argc, argv, 2, "--to"), "--target",
                        (char *) option(argc, argv, 2, "--target")};
        return cmd_backup_script(self, args[4] ? 5 : 3, args);
    }
    if ((strcmp(command, "demand") == 0 || strcmp(command, "bills") == 0) && argc >= 5 &&
        strcmp(argv[2], "generate") == 0) {
        if (option(argc, argv, 5, "--actor") || option(argc, argv, 5, "--role")) {
            say_error("--actor and --role are gone: a job now acts for the operator who logs in "
                      "(--operator USER, or NAGAR_OPERATOR_USER with NAGAR_OPERATOR_PASSWORD)");
            return EXIT_USAGE;
        }
        const char *wait = option(argc, argv, 5, "--wait");
        int wait_s = wait ? atoi(wait) : 3600;
        if (wait_s <= 0)
            return usage(stderr), EXIT_USAGE;
        const char *operator_user = option(argc, argv, 5, "--operator");
        return strcmp(command, "demand") == 0
                   ? cmd_demand_generate(self, argv[3], argv[4], operator_user, wait_s)
                   : cmd_bills_generate(self, argv[3], argv[4], operator_user, wait_s);
    }
    if (strcmp(command, "receipts") == 0 && argc >= 4 && strcmp(argv[2], "replay") == 0) {
        const char *ulb = option(argc, argv, 4, "--ulb"), *clerk = option(argc, argv, 4, "--clerk");
        if (!ulb || !clerk)
            return usage(stderr), EXIT_USAGE;
        return cmd_receipts_replay(self, argv[3], ulb, clerk, option(argc, argv, 4, "--operator"),
                                   option(argc, argv, 4, "--report"));
    }
    usage(stderr);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    /* Messages for the operator go to stdout/stderr as text; libnagar's
     * JSON log lines (bus, database) only at warn and above. */
    if (!getenv("NAGAR_LOG_LEVEL")) {
        setenv("NAGAR_LOG_LEVEL", "warn", 1);
        quiet_logs_set = true;
    }
    nagar_log_init("nagarctl");
    zsys_init();
    zsys_handler_set(NULL);
    if (sodium_init() < 0) {
        say_error("libsodium could not be initialised");
        return EXIT_ERROR;
    }
    ctl_t self = {0};
    if (ctl_init(&self) != 0)
        return EXIT_ERROR;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = dispatch(&self, argc, argv);
    nagar_config_destroy(&self.config);
    return rc;
}
