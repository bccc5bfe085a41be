/*
 * verify.c — a service database's records against each other (verify.h).
 *
 * Each check is one statement answering rows of (check, table, key, ulb,
 * seq, problem) — only disagreements — built from compiled-in text with
 * the schema and the account column, which are checked to be plain
 * lower-case identifiers first. Seals are verified here with libsodium.
 */
#include "verify.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "certificate_seal.h"
#include "history.h"
#include "text.h"

#define KEYS_MAX 32
#define SQL_MAX 8192
#define NAME_MAX_BYTES 63      /* PostgreSQL's identifiers: NAMEDATALEN - 1 */
/* What a payment's mode may be (rule_counter_mode, and ONLINE). */
#define PAYMENT_MODES "'CASH', 'CHEQUE', 'DEMAND_DRAFT', 'UPI', 'ONLINE'"

void nagar_findings_free(nagar_findings_t *self)
{
    free(self->items);
    memset(self, 0, sizeof *self);
}

static int add(nagar_findings_t *out, const char *check, const char *table, const char *key,
               const char *ulb, int64_t seq, const char *problem)
{
    if (out->count == NAGAR_FINDINGS_MAX) {
        out->dropped++;
        return 0;
    }
    if (nagar_array_reserve(&out->items, out->count, &out->capacity, sizeof *out->items, 16) != 0)
        return -1;
    nagar_finding_t *f = &out->items[out->count++];
    memset(f, 0, sizeof *f);
    snprintf(f->check, sizeof f->check, "%s", check);
    snprintf(f->table, sizeof f->table, "%s", table);
    snprintf(f->key, sizeof f->key, "%s", key);
    snprintf(f->ulb, sizeof f->ulb, "%.15s", ulb);
    f->seq = seq;
    snprintf(f->problem, sizeof f->problem, "%s", problem);
    return 0;
}

/* Runs a check answering (check, table, key, ulb, seq, problem) rows. */
static int run_check(nagar_db_t *db, const char *sql, nagar_findings_t *out, const char *what,
                     char *error, size_t error_size)
{
    PGresult *res = nagar_db_exec(db, sql, 0, NULL);
    if (!res) {
        snprintf(error, error_size, "checking %s failed: %s", what, nagar_db_error(db));
        return -1;
    }
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++)
        if (add(out, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                PQgetvalue(res, i, 3), strtoll(PQgetvalue(res, i, 4), NULL, 10),
                PQgetvalue(res, i, 5)) != 0) {
            PQclear(res);
            snprintf(error, error_size, "out of memory");
            return -1;
        }
    PQclear(res);
    return rows;
}

int nagar_verify_accounts(nagar_db_t *db, const char *schema, const char *account_column,
                          nagar_charges_t charges, nagar_findings_t *out, char *error,
                          size_t error_size)
{
    bool property_tax = charges == NAGAR_CHARGES_DEMAND;
    if (!nagar_text_plain_name(schema, NAME_MAX_BYTES) ||
        !nagar_text_plain_name(account_column, NAME_MAX_BYTES)) {
        snprintf(error, error_size, "\"%.64s\" or \"%.64s\" is not a name", schema,
                 account_column);
        return -1;
    }
    char sql[SQL_MAX];
    /* The ledger's rows and heads against the rules ledger_append keeps (a
     * ULB of 1 to 10 digits, seq from 1 (a head's from 0: the chain walk
     * reads rows from 1 and would never see one below), an idempotency key
     * of 1 to 300 characters, a kind of 1 to 32 of A-Z and _, an account of
     * 1 to 64, a reference of at most 64, a detail of at most 4096 bytes, a
     * 32-byte hash): the tables' CHECK constraints until ledger 006,
     * checked here, where the owner cannot switch them off. */
    snprintf(sql, sizeof sql,
             "SELECT 'ledger', 'ledger', left(l.reference, 64), left(l.ulb, 15), l.seq,"
             " CASE WHEN l.ulb !~ '^[0-9]{1,10}$' THEN 'its ULB is not 1 to 10 digits'"
             "      WHEN l.seq < 1 THEN 'a row numbered below 1: the ledger never writes one'"
             "      WHEN char_length(l.idempotency_key) NOT BETWEEN 1 AND 300 THEN"
             "       format('its idempotency key is of %%s characters, not 1 to 300',"
             "              char_length(l.idempotency_key))"
             "      WHEN l.kind !~ '^[A-Z_]{1,32}$' THEN format('its kind \"%%s\" is not 1 to 32 "
             "of A-Z and _', left(l.kind, 40))"
             "      WHEN char_length(l.account) NOT BETWEEN 1 AND 64 THEN format('its account is "
             "of %%s characters, not 1 to 64', char_length(l.account))"
             "      WHEN char_length(l.reference) > 64 THEN format('its reference is of %%s "
             "characters, more than 64', char_length(l.reference))"
             "      WHEN octet_length(l.detail) > 4096 THEN format('its detail is of %%s bytes, "
             "more than 4096', octet_length(l.detail))"
             "      ELSE format('its hash is of %%s bytes, not 32', octet_length(l.hash)) END"
             " FROM \"%s\".ledger l"
             " WHERE l.ulb !~ '^[0-9]{1,10}$' OR l.seq < 1"
             "    OR char_length(l.idempotency_key) NOT BETWEEN 1 AND 300"
             "    OR l.kind !~ '^[A-Z_]{1,32}$' OR char_length(l.account) NOT BETWEEN 1 AND 64"
             "    OR char_length(l.reference) > 64 OR octet_length(l.detail) > 4096"
             "    OR octet_length(l.hash) <> 32 "
             "UNION ALL "
             "SELECT 'ledger', 'ledger_head', '-', left(h.ulb, 15), h.seq,"
             " CASE WHEN h.ulb !~ '^[0-9]{1,10}$' THEN 'the chain head''s ULB is not 1 to 10 "
             "digits'"
             "      WHEN h.seq < 0 THEN 'the chain head is numbered below 0'"
             "      ELSE format('the chain head''s hash is of %%s bytes, not 32', "
             "octet_length(h.hash)) END"
             " FROM \"%s\".ledger_head h"
             " WHERE h.ulb !~ '^[0-9]{1,10}$' OR h.seq < 0 OR octet_length(h.hash) <> 32 "
             "ORDER BY 2, 4, 5 LIMIT %d",
             schema, schema, NAGAR_FINDINGS_MAX);
    int rules = run_check(db, sql, out, "the ledger's rows", error, error_size);
    if (rules < 0)
        return rules;
    /* Payments against the ledger, both ways; allocations against payments. */
    snprintf(sql, sizeof sql,
             "SELECT 'payments', 'payment', p.receipt_no, p.ulb, p.ledger_seq,"
             " CASE WHEN l.seq IS NULL THEN format('ledger row %%s of ULB %%s, which it names, is "
             "not there', p.ledger_seq, p.ulb)"
             "      WHEN l.amount_paise <> p.amount_paise THEN format('its amount, %%s paise, "
             "differs from ledger row %%s''s %%s', p.amount_paise, l.seq, l.amount_paise)"
             "      WHEN l.reference <> p.receipt_no THEN format('ledger row %%s records receipt "
             "%%s', l.seq, l.reference)"
             "      WHEN l.account <> p.\"%s\" THEN format('ledger row %%s records account %%s, "
             "the payment %%s', l.seq, l.account, p.\"%s\")"
             "      ELSE format('another payment claims ledger row %%s', l.seq) END"
             " FROM \"%s\".payment p LEFT JOIN \"%s\".ledger l ON l.ulb = p.ulb AND l.seq = "
             "p.ledger_seq"
             " WHERE l.seq IS NULL OR l.amount_paise <> p.amount_paise OR l.reference <> "
             "p.receipt_no OR l.account <> p.\"%s\" OR EXISTS (SELECT FROM \"%s\".payment q "
             "WHERE q.ulb = p.ulb AND q.ledger_seq = p.ledger_seq AND q.id <> p.id) "
             "UNION ALL "
             "SELECT 'payments', 'ledger', l.reference, l.ulb, l.seq, format('ledger row %%s (%%s "
             "of %%s paise) has no payment', l.seq, l.kind, l.amount_paise)"
             " FROM \"%s\".ledger l WHERE l.kind IN ('PAYMENT', 'REVERSAL') AND NOT EXISTS "
             "(SELECT FROM \"%s\".payment p WHERE p.ulb = l.ulb AND p.ledger_seq = l.seq) "
             "UNION ALL "
             "SELECT 'allocations', 'payment', p.receipt_no, p.ulb, p.ledger_seq, "
             "format('its allocations add up to %%s paise, not its %%s', coalesce(a.total, 0), "
             "p.amount_paise)"
             " FROM \"%s\".payment p LEFT JOIN (SELECT payment_id, sum(amount_paise) AS total "
             "FROM \"%s\".allocation %s GROUP BY payment_id) a ON a.payment_id = p.id"
             " WHERE coalesce(a.total, 0) <> p.amount_paise "
             "UNION ALL "
             "SELECT 'allocations', 'allocation', a.\"%s\", a.ulb, 0, format('its credit is %%s "
             "paise: less than nothing', sum(a.amount_paise))"
             " FROM \"%s\".allocation a WHERE a.head = 'ADVANCE' GROUP BY a.\"%s\", a.ulb "
             "HAVING sum(a.amount_paise) < 0 "
             "ORDER BY 1, 2, 3 LIMIT %d",
             account_column, account_column, schema, schema, account_column, schema, schema,
             schema, schema, schema, property_tax ? "WHERE kind <> 'REBATE'" : "",
             account_column, schema, account_column, NAGAR_FINDINGS_MAX);
    int found = run_check(db, sql, out, "payments against the ledger", error, error_size);
    if (found < 0)
        return found;
    found += rules;
    /* A payment's mode and amount and, in property tax, an allocation's
     * kind and head, a payment's property and an allocation's payment
     * against the rules the rule functions keep: the tables' CHECK
     * constraints until property tax's migration 020 and their foreign keys
     * until 021 (water charges keep theirs), checked here, where the owner
     * cannot switch them off. An allocation settles a line of its
     * property's demand for its year, or is SURCHARGE (computed, never
     * demanded) or ADVANCE (credit): its head is checked against the
     * demand itself, not a list of heads kept here. */
    char property_tax_rules[4096] = "";
    if (property_tax)
        snprintf(property_tax_rules, sizeof property_tax_rules,
                 "UNION ALL "
                 "SELECT 'allocations', 'allocation', a.id::text, a.ulb, 0,"
                 " CASE WHEN p.id IS NULL THEN format('its payment %%s is not there', "
                 "a.payment_id)"
                 "      WHEN a.kind NOT IN ('CASH', 'REBATE') THEN format('its kind \"%%s\" is "
                 "not CASH or REBATE', left(a.kind, 20))"
                 "      ELSE format('it settles \"%%s\" of %%s-%%s, which property %%s was never "
                 "charged', left(a.head, 30), a.fy, lpad(((a.fy + 1) %% 100)::text, 2, '0'), "
                 "left(a.property_id, 40)) END"
                 " FROM \"%s\".allocation a LEFT JOIN \"%s\".payment p ON p.id = a.payment_id"
                 " WHERE p.id IS NULL OR a.kind NOT IN ('CASH', 'REBATE')"
                 "    OR (a.head NOT IN ('SURCHARGE', 'ADVANCE') AND NOT EXISTS (SELECT FROM"
                 " \"%s\".demand d WHERE d.property_id = a.property_id AND d.fy = a.fy"
                 " AND d.head = a.head)) "
                 "UNION ALL "
                 "SELECT 'payments', 'payment', p.receipt_no, p.ulb, p.ledger_seq,"
                 " format('its property %%s is not there', left(p.property_id, 40))"
                 " FROM \"%s\".payment p WHERE NOT EXISTS (SELECT FROM \"%s\".property x"
                 " WHERE x.property_id = p.property_id) ",
                 schema, schema, schema, schema, schema);
    snprintf(sql, sizeof sql,
             "SELECT 'payments', 'payment', p.receipt_no, p.ulb, p.ledger_seq,"
             " CASE WHEN p.mode NOT IN (" PAYMENT_MODES ") THEN format('its mode \"%%s\" is not "
             "CASH, CHEQUE, DEMAND_DRAFT, UPI or ONLINE', left(p.mode, 20))"
             "      ELSE 'its amount is 0 paise' END"
             " FROM \"%s\".payment p WHERE p.mode NOT IN (" PAYMENT_MODES ") OR p.amount_paise = 0 "
             "%sORDER BY 1, 2, 3 LIMIT %d",
             schema, property_tax_rules, NAGAR_FINDINGS_MAX);
    int kept = run_check(db, sql, out, "the payments' rules", error, error_size);
    if (kept < 0)
        return kept;
    found += kept;
    if (!property_tax) {
        /* Water charges: what allocations settle against each bill's heads
         * (ref "2025-05") and each fee (ref "FEE:<id>"), as wt_dues_lines
         * reads them. */
        snprintf(sql, sizeof sql,
                 "SELECT 'dues', 'allocation', jsonb_build_array(s.connection_id, s.ref, "
                 "s.head)::text, s.ulb, 0, format('allocations settle %%s paise of a %%s paise "
                 "charge', s.settled, coalesce(c.amount, 0))"
                 " FROM (SELECT connection_id, ulb, ref, head, sum(amount_paise) AS settled"
                 "        FROM \"%s\".allocation WHERE head <> 'ADVANCE' GROUP BY 1, 2, 3, 4) s"
                 " LEFT JOIN (SELECT b.connection_id, to_char(b.period, 'YYYY-MM') AS ref, "
                 "x.head, x.amount FROM \"%s\".bill b CROSS JOIN LATERAL (VALUES ('SURCHARGE', "
                 "b.surcharge_paise), ('WATER', b.water_paise - b.rebate_paise), ('SEWERAGE', "
                 "b.sewerage_paise), ('SOLID_WASTE', b.solid_waste_paise)) x(head, amount)"
                 "            UNION ALL SELECT connection_id, 'FEE:' || id, head, amount_paise "
                 "FROM \"%s\".fee) c"
                 " ON c.connection_id = s.connection_id AND c.ref = s.ref AND c.head = s.head"
                 " WHERE s.settled > coalesce(c.amount, 0) "
                 "ORDER BY 1, 2, 3 LIMIT %d",
                 schema, schema, schema, NAGAR_FINDINGS_MAX);
        int more = run_check(db, sql, out, "the bills", error, error_size);
        return more < 0 ? -1 : found + more;
    }
    /* Property tax: what allocations settle against the demand, and bills
     * against their demand rows. */
    snprintf(sql, sizeof sql,
             "SELECT 'demand', 'allocation', jsonb_build_array(s.property_id, s.fy, s.head)::text,"
             " s.ulb, 0, format('allocations settle %%s paise of a %%s paise demand', s.settled, "
             "coalesce(d.amount_paise, 0))"
             " FROM (SELECT property_id, ulb, fy, head, sum(amount_paise) AS settled"
             "        FROM \"%s\".allocation WHERE head NOT IN ('ADVANCE', 'SURCHARGE')"
             "       GROUP BY 1, 2, 3, 4) s"
             " LEFT JOIN \"%s\".demand d ON d.property_id = s.property_id AND d.fy = s.fy AND "
             "d.head = s.head"
             " WHERE s.settled > coalesce(d.amount_paise, 0) "
             "UNION ALL "
             "SELECT 'demand', 'demand_bill', jsonb_build_array(b.property_id, b.fy)::text, "
             "b.ulb, 0, format('its %%s of %%s paise is not its demand (%%s)', x.head, x.amount, "
             "coalesce(d.amount_paise::text, 'none'))"
             " FROM \"%s\".demand_bill b CROSS JOIN LATERAL (VALUES ('PROPERTY_TAX', "
             "b.property_tax_paise), ('EDUCATION_CESS', b.education_cess_paise), "
             "('URBAN_DEVELOPMENT_CESS', b.urban_development_cess_paise), ('SAMEKIT', "
             "b.samekit_paise)) x(head, amount)"
             " LEFT JOIN \"%s\".demand d ON d.property_id = b.property_id AND d.fy = b.fy AND "
             "d.head = x.head"
             " WHERE d.amount_paise IS DISTINCT FROM x.amount "
             "ORDER BY 1, 2, 3 LIMIT %d",
             schema, schema, schema, schema, NAGAR_FINDINGS_MAX);
    int more = run_check(db, sql, out, "the demand", error, error_size);
    return more < 0 ? -1 : found + more;
}

/* ---- receipts ----------------------------------------------------------------------------- */

int nagar_verify_receipts(nagar_db_t *db, const char *schema, nagar_findings_t *out, char *error,
                          size_t error_size)
{
    if (!nagar_text_plain_name(schema, NAME_MAX_BYTES)) {
        snprintf(error, error_size, "\"%.64s\" is not a name", schema);
        return -1;
    }
    /* The rules receipt_next keeps (a ULB of 1 to 10 digits, a year such as
     * 2026-27, a counter of 1 to 16 of A-Z and 0-9, a last number not below
     * 0): the table's CHECK constraints until receipt 002, checked here,
     * where the owner cannot switch them off. */
    char sql[SQL_MAX];
    snprintf(sql, sizeof sql,
             "SELECT 'receipts', 'receipt_counter', left(c.fy, 16) || '/' || left(c.counter, 20),"
             " left(c.ulb, 15), 0,"
             " CASE WHEN c.ulb !~ '^[0-9]{1,10}$' THEN 'its ULB is not 1 to 10 digits'"
             "      WHEN c.fy !~ '^[0-9]{4}-[0-9]{2}$' THEN format('its financial year \"%%s\" is "
             "not of the form 2026-27', left(c.fy, 16))"
             "      WHEN c.counter !~ '^[A-Z0-9]{1,16}$' THEN format('its counter \"%%s\" is not 1 "
             "to 16 of A-Z and 0-9', left(c.counter, 20))"
             "      ELSE format('its last number is %%s, below 0', c.last_no) END"
             " FROM \"%s\".receipt_counter c"
             " WHERE c.ulb !~ '^[0-9]{1,10}$' OR c.fy !~ '^[0-9]{4}-[0-9]{2}$'"
             "    OR c.counter !~ '^[A-Z0-9]{1,16}$' OR c.last_no < 0 "
             "ORDER BY 4, 3 LIMIT %d",
             schema, NAGAR_FINDINGS_MAX);
    return run_check(db, sql, out, "the receipt counters", error, error_size);
}

/* ---- certificates ------------------------------------------------------------------------ */

typedef struct {
    char key_id[NAGAR_SEAL_KEY_ID_MAX + 1];
    uint8_t key[32];
} key_t_;

static int load_keys(const char *dir, key_t_ keys[KEYS_MAX], int *count, char *error,
                     size_t error_size)
{
    *count = 0;
    DIR *handle = opendir(dir);
    if (!handle) {
        snprintf(error, error_size, "cannot read the certificate keys in %s", dir);
        return -1;
    }
    struct dirent *entry;
    while ((entry = readdir(handle)) != NULL && *count < KEYS_MAX) {
        size_t length = strlen(entry->d_name);
        if (length < 5 || strcmp(entry->d_name + length - 4, ".pub") != 0)
            continue;
        char path[4096], key_error[256];
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        if (nagar_seal_load_public_key(path, keys[*count].key_id, keys[*count].key, key_error,
                                       sizeof key_error) == 0)
            (*count)++;
    }
    closedir(handle);
    return 0;
}

int nagar_verify_certificates(nagar_db_t *db, const char *keys_dir, nagar_findings_t *out,
                              char *error, size_t error_size)
{
    /* Each certificate against its registration and the version before it. */
    char sql[SQL_MAX];
    snprintf(sql, sizeof sql,
             "SELECT 'certificates', 'certificate', c.certificate_id, c.ulb, c.seq,"
             " CASE WHEN a.application_id IS NULL THEN 'its application is not there'"
             "      WHEN a.state <> 2 THEN format('its application %%s is not registered', "
             "a.application_id)"
             "      WHEN a.registration_number <> c.registration_number THEN format('its "
             "application is registered as %%s, it says %%s', a.registration_number, "
             "c.registration_number)"
             "      WHEN a.ulb <> c.ulb OR a.kind <> c.kind THEN 'its application is of another "
             "ULB or kind'"
             "      ELSE format('version %%s does not supersede version %%s of the same "
             "registration', c.version, c.version - 1) END"
             " FROM certificates.certificate c"
             " LEFT JOIN certificates.application a ON a.application_id = c.application_id"
             " LEFT JOIN certificates.certificate s ON s.certificate_id = c.supersedes"
             " WHERE a.application_id IS NULL OR a.state <> 2 OR a.registration_number <> "
             "c.registration_number OR a.ulb <> c.ulb OR a.kind <> c.kind"
             "    OR (c.version = 1 AND c.supersedes IS NOT NULL)"
             "    OR (c.version > 1 AND (s.certificate_id IS NULL OR s.registration_number <> "
             "c.registration_number OR s.version <> c.version - 1))"
             " ORDER BY 3 LIMIT %d", NAGAR_FINDINGS_MAX);
    int found = run_check(db, sql, out, "certificates against registrations", error, error_size);
    if (found < 0)
        return -1;
    /* Each seal, with the published key it names, against the row. */
    key_t_ keys[KEYS_MAX];
    int key_count = 0;
    if (load_keys(keys_dir, keys, &key_count, error, error_size) != 0)
        return -1;
    char after[32] = "0";
    for (;;) {
        const char *values[] = {after};
        PGresult *res = nagar_db_exec(
            db,
            "SELECT seq, certificate_id, ulb, key_id, qr_payload, kind, registration_number, "
            "version, event_date::text FROM certificates.certificate WHERE seq > $1::bigint "
            "ORDER BY seq LIMIT 2000",
            1, values);
        if (!res) {
            snprintf(error, error_size, "reading the certificates failed: %s", nagar_db_error(db));
            return -1;
        }
        int rows = PQntuples(res);
        for (int i = 0; i < rows; i++) {
            snprintf(after, sizeof after, "%s", PQgetvalue(res, i, 0));
            const char *id = PQgetvalue(res, i, 1), *ulb = PQgetvalue(res, i, 2);
            const char *key_id = PQgetvalue(res, i, 3), *payload = PQgetvalue(res, i, 4);
            const key_t_ *key = NULL;
            for (int k = 0; k < key_count && !key; k++)
                if (strcmp(keys[k].key_id, key_id) == 0)
                    key = &keys[k];
            nagar_seal_t seal;
            char problem[256] = "";
            if (!key) {
                snprintf(problem, sizeof problem, "its seal names key %.40s, which is not "
                         "published", key_id);
            } else {
                nagar_seal_result_t result = nagar_seal_verify(payload, key_id, key->key, &seal);
                if (result != NAGAR_SEAL_OK)
                    snprintf(problem, sizeof problem, "its seal does not verify: %s",
                             nagar_seal_result_text(result));
                else if (strcmp(seal.certificate_id, id) != 0 || strcmp(seal.ulb, ulb) != 0 ||
                         seal.kind != atoi(PQgetvalue(res, i, 5)) ||
                         strcmp(seal.registration_number, PQgetvalue(res, i, 6)) != 0 ||
                         seal.version != (uint32_t) strtoul(PQgetvalue(res, i, 7), NULL, 10) ||
                         strcmp(seal.event_date, PQgetvalue(res, i, 8)) != 0)
                    snprintf(problem, sizeof problem, "the row differs from what its seal "
                             "signs: it was changed after it was issued");
            }
            if (problem[0] &&
                add(out, "certificates", "certificate", id, ulb, strtoll(after, NULL, 10),
                    problem) != 0) {
                PQclear(res);
                snprintf(error, error_size, "out of memory");
                return -1;
            }
            if (problem[0])
                found++;
        }
        PQclear(res);
        if (rows < 2000)
            break;
    }
    return found;
}

/* ---- history --------------------------------------------------------------------------------- */

int nagar_verify_history(nagar_db_t *db, const char *schema, const char *const *tables,
                         nagar_findings_t *out, char *error, size_t error_size)
{
    if (!nagar_text_plain_name(schema, NAME_MAX_BYTES)) {
        snprintf(error, error_size, "\"%.64s\" is not a name", schema);
        return -1;
    }
    /* In one pass over the entries and the heads: what the history's own
     * functions never write — a sequence number below 1 (a head's below 0:
     * the chain walk reads entries from 1 and would never see it), an op
     * other than the four, a hash not of 32 bytes (the rules the tables'
     * CHECK constraints held until history 006, checked here, where the
     * owner cannot switch them off) — and changes recorded with the
     * triggers on but made outside the rules: by a database role (the
     * owner's or the superuser's password), not a rule — whoever its
     * session claimed to be (history 008 keeps that in the reason, shown
     * here without control characters). A BASELINE entry is written only
     * by history_track, once, when a table is first tracked: so it opens
     * its chain (seq 1) and comes before every change recorded for its
     * table. One anywhere else is the owner re-stating rows it changed with
     * the triggers off (found by the outside-attack review, 2026-12-05). */
    char sql[SQL_MAX];
    snprintf(sql, sizeof sql,
             "SELECT * FROM ("
             "SELECT 'history', h.tbl, '-', h.ulb, h.seq,"
             " CASE WHEN h.seq < 1 THEN 'an entry numbered below 1: the history never writes one'"
             "      WHEN h.op NOT IN ('INSERT', 'UPDATE', 'DELETE', 'BASELINE') THEN"
             "       format('an entry of op \"%%s\": the history writes INSERT, UPDATE, DELETE or "
             "BASELINE only', left(h.op, 32))"
             "      WHEN octet_length(h.hash) <> 32 THEN format('an entry''s hash of %%s bytes, not "
             "32', octet_length(h.hash))"
             "      WHEN h.op = 'BASELINE' THEN format('a BASELINE entry, as %%s, that %%s: only "
             "the start of a table''s history is one', h.actor, CASE WHEN h.seq <> 1 THEN "
             "'does not open its chain' ELSE 'follows a change recorded for its table' END)"
             "      ELSE format('%%s made outside the rules, as %%s%%s', h.op, h.actor,"
             "       CASE WHEN h.reason <> '' THEN ' (reason: ' || regexp_replace(left(h.reason,"
             "        120), '[[:cntrl:]]', ' ', 'g') || ')' ELSE '' END) END"
             " FROM \"%s\".history h"
             " LEFT JOIN (SELECT c.tbl, min(c.recorded_us) AS first_us FROM \"%s\".history c"
             "             WHERE c.op <> 'BASELINE' GROUP BY c.tbl) first_change"
             "       ON first_change.tbl = h.tbl"
             " WHERE h.seq < 1 OR h.op NOT IN ('INSERT', 'UPDATE', 'DELETE', 'BASELINE')"
             "    OR octet_length(h.hash) <> 32 OR (h.actor LIKE 'db:%%' AND h.op <> 'BASELINE')"
             "    OR (h.op = 'BASELINE' AND (h.seq <> 1 OR h.recorded_us > first_change.first_us))"
             " UNION ALL "
             "SELECT 'history', hh.tbl, '-', hh.ulb, hh.seq,"
             " CASE WHEN hh.seq < 0 THEN 'the chain head is numbered below 0'"
             "      ELSE format('the chain head''s hash is of %%s bytes, not 32', "
             "octet_length(hh.hash)) END"
             " FROM \"%s\".history_head hh WHERE hh.seq < 0 OR octet_length(hh.hash) <> 32) f"
             " ORDER BY 2, 4, 5 LIMIT %d", schema, schema, schema, NAGAR_FINDINGS_MAX);
    int found = run_check(db, sql, out, "the history's entries", error, error_size);
    if (found < 0)
        return -1;
    for (size_t t = 0; tables[t]; t++) {
        char problem[256];
        int tracked = nagar_history_tracked(db, schema, tables[t], problem, sizeof problem);
        if (tracked < 0) {
            snprintf(error, error_size, "reading the triggers of %s.%s failed: %s", schema,
                     tables[t], nagar_db_error(db));
            return -1;
        }
        if (tracked == 0) {
            if (add(out, "history", tables[t], "-", "", 0, problem) != 0)
                return -1;
            found++;
        }
        nagar_history_mismatch_t *mismatches = NULL;
        size_t count = 0;
        if (nagar_history_check_rows(db, schema, tables[t], &mismatches, &count, error,
                                     error_size) < 0)
            return -1;
        for (size_t i = 0; i < count; i++)
            if (add(out, "history", tables[t], mismatches[i].key, mismatches[i].ulb,
                    mismatches[i].seq, mismatches[i].problem) != 0) {
                free(mismatches);
                return -1;
            }
        found += (int) count;
        free(mismatches);
    }
    return found;
}
