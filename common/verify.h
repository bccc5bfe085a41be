/*
 * verify.h — the checks of a service database that go beyond its hash
 * chains: every record of money, ownership and registration against the
 * others it must agree with. nagarctl verify runs them after walking the
 * chains (chain.h); each disagreement is a finding that names the table,
 * the key, the ULB and the chain sequence it concerns.
 *
 *   accounts (property tax, water charges)
 *     - every payment against its ledger row: the row exists, records the
 *       same amount, receipt and account, and no other payment claims it;
 *       every PAYMENT or REVERSAL row of the ledger has its payment;
 *     - every payment's mode is CASH, CHEQUE, DEMAND_DRAFT, UPI or ONLINE
 *       and its amount not 0; (property tax) every allocation's head is one
 *       of the demand's, SURCHARGE or ADVANCE, its kind CASH or REBATE,
 *       its payment there, and every payment's property there;
 *     - every payment's allocations add up to its amount (rebates aside);
 *     - no head is settled beyond its demand, no credit is negative, and
 *       (property tax) every bill's heads are its demand rows;
 *   receipts (every service that numbers receipts, common/sql/receipt)
 *     - every receipt counter keeps receipt_next's rules: a ULB of 1 to 10
 *       digits, a year such as 2026-27, a counter of 1 to 16 of A-Z and
 *       0-9, a last number not below 0;
 *   certificates
 *     - every issued certificate against its registration (registered, same
 *       number, ULB and kind), versions that supersede the current one in
 *       order, and its QR seal, verified with the published public key;
 *   history (common/sql/history)
 *     - every tracked table still has its history triggers, enabled, and
 *       every current row equals its last image on the history (history.h);
 *     - no change was made outside the rules (an entry whose actor is a
 *       database role, db:<role>: someone with the owner's or the
 *       superuser's password, triggers on).
 *
 * Everything runs with built-in functions of the database and hashes and
 * signatures checked here; nothing trusts a function an owner could have
 * replaced.
 */
#ifndef NAGAR_VERIFY_H
#define NAGAR_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

#define NAGAR_FINDINGS_MAX 1000

typedef struct {
    char check[24];       /* "payments", "allocations", "demand", "receipts", "certificates",
                           * "history" */
    char table[48];
    char key[160];
    char ulb[16];
    int64_t seq;          /* the ledger or history sequence it concerns; 0: none */
    char problem[256];
} nagar_finding_t;

typedef struct {
    nagar_finding_t *items;
    size_t count;
    size_t capacity;
    size_t dropped;       /* findings beyond NAGAR_FINDINGS_MAX, counted only */
} nagar_findings_t;

void nagar_findings_free(nagar_findings_t *self);

/* What an account's allocations settle, beside payments and the ledger. */
typedef enum {
    NAGAR_CHARGES_DEMAND,      /* property tax: demand per (property, fy, head), bills */
    NAGAR_CHARGES_BILLS,       /* water charges: bills per (connection, period, head), fees */
} nagar_charges_t;

/* The accounts of schema (payment, allocation, ledger; account column
 * account_column): payments against the ledger both ways, allocations
 * against payments, credit never below nothing, and what allocations settle
 * against the charges (the dues are the charges less what is settled, so
 * none may be settled beyond its charge). Returns the number of findings
 * added, or -1 with the reason in error. */
int nagar_verify_accounts(nagar_db_t *db, const char *schema, const char *account_column,
                          nagar_charges_t charges, nagar_findings_t *out, char *error,
                          size_t error_size);

/* The receipt counters of schema against receipt_next's rules. Returns as
 * above. */
int nagar_verify_receipts(nagar_db_t *db, const char *schema, nagar_findings_t *out, char *error,
                          size_t error_size);

/* Issued certificates against registrations and seals; keys_dir holds the
 * public keys (<key_id>.pub) they were sealed with. Returns as above. */
int nagar_verify_certificates(nagar_db_t *db, const char *keys_dir, nagar_findings_t *out,
                              char *error, size_t error_size);

/* The history of the tracked tables of schema (NULL-terminated). Returns as
 * above. */
int nagar_verify_history(nagar_db_t *db, const char *schema, const char *const *tables,
                         nagar_findings_t *out, char *error, size_t error_size);

#endif
