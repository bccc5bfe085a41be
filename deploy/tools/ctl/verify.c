/*
 * verify.c — nagarctl verify, and the walk of every chain that verify and
 * checkpoint share: each service's own chain (the ledger of property tax
 * and water charges, the register of issued certificates; checkpoint name
 * "<service>") and the history of each tracked table per ULB
 * ("<service>.<table>"), each compared with its head in the pinned
 * checkpoint and printed as one line of a table.
 *
 * The walks are common/'s (chain.h for the ledger and the history,
 * certificate_chain.h for issued certificates), reading with each
 * service's *_reader role (SELECT only) and recomputing every hash: this file
 * decides what
 * to walk, from where, and how to report it.
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buffer.h"
#include "certificate_chain.h"
#include "checkpoint.h"
#include "ctl.h"
#include "db.h"
#include "history.h"
#include "ledger.h"
#include "verify.h"

typedef enum { CHAIN_LEDGER, CHAIN_CERTIFICATES } chain_kind_t;

/* The tables on each service's history: its money, ownership and
 * registrations, and the master data money is computed from (rate
 * schedules, water tariffs, certificate fee schedules: a rate lowered with
 * the triggers off would bill every property from it). */
static const char *const PROPERTY_TAX_TRACKED[] = {
    "property", "property_owner", "property_floor", "demand_bill", "demand", "payment",
    "allocation", "online_order", "assessment", "mutation", "mutation_application",
    "rate_version", "rate_slab", "alv_rate", NULL};
static const char *const WATER_TAX_TRACKED[] = {
    "connection", "meter_reading", "bill", "fee", "payment", "allocation", "online_order",
    "tariff_version", "tariff_flat", "tariff_slab", "tariff_category", "tariff_connection_fee",
    NULL};
static const char *const CERTIFICATES_TRACKED[] = {
    "application", "certificate", "correction", "fee_settlement", "fee_order", "fee_refund",
    "fee_schedule", NULL};

typedef struct {
    const char *name;               /* the service, its database and schema, its chain name */
    chain_kind_t kind;              /* its own chain: the ledger or issued certificates */
    bool optional;                  /* skipped when the service has no database or ledger yet */
    const char *const *tracked;     /* tables on the history (common/sql/history); verify
                                     * also checks any other the database has */
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
    if (nagar_array_reserve(&list->items, list->count, &list->capacity, sizeof *list->items,
                            32) != 0)
        return NULL;
    chain_t *chain = &list->items[list->count++];
    memset(chain, 0, sizeof *chain);
    ctl_fmt(chain->name, sizeof chain->name, "%s", name);
    ctl_fmt(chain->ulb, sizeof chain->ulb, "%s", ulb);
    chain->ok = true;
    return chain;
}

/* A service's database as its *_reader role (deploy/provision.sh: SELECT on
 * its tables, nothing else): NAGAR_CTL_CONNINFO_<SERVICE>, or nagar_<service>
 * on the configured host. */
static nagar_db_t *connect_service_db(ctl_t *self, const char *service, char *error,
                                      size_t error_size)
{
    char setting[128], dbname[96], role[96];
    ctl_fmt(setting, sizeof setting, "NAGAR_CTL_CONNINFO_%s", service);
    for (char *p = setting; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char) (*p - 'a' + 'A');
    ctl_fmt(dbname, sizeof dbname, "nagar_%s", service);
    ctl_fmt(role, sizeof role, "%s_reader", service);
    return ctl_connect_db(self, setting, dbname, role, error, error_size);
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
            ctl_fmt(name, sizeof name, "%s.%s", service, status->key[0]);
        else
            ctl_fmt(name, sizeof name, "%s", service);
        const nagar_checkpoint_head_t *pin = pinned ? nagar_checkpoint_find(pinned, name, ulb)
                                                    : NULL;
        if (pin && from_pinned && pin->seq > 0) {
            status->from_seq = pin->seq;
            memcpy(status->from_hash, pin->hash, sizeof status->from_hash);
        }
        chain_t *chain = chains_add(out, name, ulb);
        if (!chain) {
            ctl_fmt(error, error_size, "out of memory");
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
            ctl_fmt(chain->problem, sizeof chain->problem, "%s", status->problem);
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
            ctl_fmt(seq, sizeof seq, "%" PRId64, pin->seq);
            const char *values[] = {status->key[0], kind->key_parts > 1 ? status->key[1] : seq,
                                    seq};
            PGresult *res = nagar_db_exec(
                db, kind->key_parts > 1
                        ? "SELECT encode(hash, 'hex') FROM history WHERE tbl = $1 AND ulb = $2 "
                          "AND seq = $3::bigint"
                        : "SELECT encode(hash, 'hex') FROM ledger WHERE ulb = $1 AND seq = $2::bigint",
                kind->key_parts + 1, values);
            if (!res) {
                ctl_fmt(error, error_size, "reading row %s of %s %s failed: %s", seq, name, ulb,
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

/* Issued certificates' chains (common/certificate_chain.h), as chains. */
static int read_certificate_chains(nagar_db_t *db, nagar_checkpoint_t *pinned, chains_t *out,
                                   char *error, size_t error_size)
{
    nagar_certificate_chain_t *walked = NULL;
    size_t count = 0;
    if (nagar_certificate_chains_walk(db, pinned, &walked, &count, error, error_size) != 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        chain_t *chain = chains_add(out, NAGAR_CERTIFICATE_CHAIN_NAME, walked[i].ulb);
        if (!chain) {
            free(walked);
            ctl_fmt(error, error_size, "out of memory");
            return -1;
        }
        chain->ok = walked[i].ok;
        chain->length = walked[i].length;
        memcpy(chain->head, walked[i].head, sizeof chain->head);
        chain->pinned_found = walked[i].pinned_found;
        memcpy(chain->pinned, walked[i].pinned, sizeof chain->pinned);
        ctl_fmt(chain->problem, sizeof chain->problem, "%s", walked[i].problem);
    }
    free(walked);
    return 0;
}

/* Whether a checkpoint chain name belongs to service (itself or a table of it). */
static bool chain_of(const char *chain, const char *service)
{
    size_t length = strlen(service);
    return strncmp(chain, service, length) == 0 && (chain[length] == '\0' || chain[length] == '.');
}

/* Prints one chain's line, compared with its pinned head; adds a good
 * chain's head to next when given. */
static void report_chain(const chain_t *chain, nagar_checkpoint_t *pinned,
                         nagar_checkpoint_t *next, ctl_tally_t *tally)
{
    const nagar_checkpoint_head_t *pin =
        pinned ? nagar_checkpoint_find(pinned, chain->name, chain->ulb) : NULL;
    char pinned_text[32] = "-";
    if (pin)
        ctl_fmt(pinned_text, sizeof pinned_text, "%" PRId64, pin->seq);
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
            ctl_fmt(head.ledger, sizeof head.ledger, "%s", chain->name);
            ctl_fmt(head.ulb, sizeof head.ulb, "%s", chain->ulb);
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
                            nagar_checkpoint_t *pinned, ctl_tally_t *tally)
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

/* The tables whose rows verify compares with their history: the service's
 * list above (a table in it whose triggers are gone or disabled is named),
 * then every other table of the schema the database has history triggers
 * on, so that a table put on the history later is checked without being
 * added here (the certificate fee tables were on the history for months
 * while verify looked at three tables of six). A malloc'd NULL-terminated
 * array whose names point into *names (freed with PQclear); NULL with
 * error set when the catalogue cannot be read. */
static const char **tracked_tables(nagar_db_t *db, const ledger_def_t *def, PGresult **names,
                                   char *error, size_t error_size)
{
    const char *values[] = {def->name};
    *names = nagar_db_exec(
        db,
        "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 "
        "AND t.tgname IN (c.relname || '_history_insert', c.relname || '_history_update', "
        "c.relname || '_history_delete') AND c.relname ~ '^[a-z_][a-z0-9_]*$' ORDER BY 1",
        1, values);
    if (!*names) {
        snprintf(error, error_size, "reading the tables on %s's history failed: %s", def->name,
                 nagar_db_error(db));
        return NULL;
    }
    size_t listed = 0;
    while (def->tracked[listed])
        listed++;
    int found = PQntuples(*names);
    const char **tables = calloc(listed + (size_t) found + 1, sizeof *tables);
    if (!tables) {
        PQclear(*names);
        *names = NULL;
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    size_t count = 0;
    for (; count < listed; count++)
        tables[count] = def->tracked[count];
    for (int i = 0; i < found; i++) {
        const char *table = PQgetvalue(*names, i, 0);
        bool known = false;
        for (size_t k = 0; k < listed && !known; k++)
            known = strcmp(tables[k], table) == 0;
        if (!known)
            tables[count++] = table;
    }
    return tables;
}

/* Verifies every service's chains (its ledger or certificate chain, its
 * history) against their checkpoint heads and prints a table; when next is
 * given, the heads of good chains are added to it. A full verification
 * (findings given) also checks the records against each other (verify.h)
 * and walks every chain from its start; a checkpoint walks each chain from
 * its pinned row. */
void ctl_verify_all(ctl_t *self, nagar_checkpoint_t *pinned, nagar_checkpoint_t *next,
                    nagar_findings_t *findings, ctl_tally_t *tally)
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
            PGresult *names = NULL;
            const char **tables = tracked_tables(db, def, &names, error, sizeof error);
            int found = tables ? nagar_verify_history(db, def->name, tables, findings, error,
                                                      sizeof error)
                               : -1;
            free(tables);
            PQclear(names);
            if (found >= 0)
                found = nagar_verify_receipts(db, def->name, findings, error, sizeof error);
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

int ctl_verify(ctl_t *self)
{
    nagar_checkpoint_t *pinned = NULL;
    int rc = ctl_load_pinned(self, &pinned, false);
    if (rc != EXIT_OK)
        return rc;
    ctl_tally_t tally = {0};
    nagar_findings_t findings = {0};
    ctl_verify_all(self, pinned, NULL, &findings, &tally);
    nagar_checkpoint_destroy(&pinned);
    print_findings(&findings);
    nagar_findings_free(&findings);
    printf("\n%d chains checked, %d failed verification, %d records disagree, %d ledgers "
           "unreadable\n", tally.checked, tally.broken, tally.findings, tally.errors);
    if (tally.broken || tally.findings)
        return EXIT_TAMPER;
    return tally.errors ? EXIT_ERROR : EXIT_OK;
}
