/*
 * history.h — checking the hash-chained history of a service's money,
 * ownership and registrations (the history module, common/sql/history).
 *
 * Every statement that changes a tracked table adds, through triggers, one
 * entry per ULB to the chain of (table, ULB): the rows before and after as
 * JSON arrays (of objects, or of the rows' text for a table of bulk
 * statements, history 004), who, on which request, why, when. Two checks
 * need nothing but the stored rows:
 *
 *   - the chains themselves (nagar_history_chain with chain.h): a changed,
 *     removed or inserted entry breaks its chain;
 *   - nagar_history_check_rows: every current row of a tracked table equals
 *     the last image of its key on the history, every key the history holds
 *     (not deleted) is still there, and every UPDATE or DELETE entry found
 *     the row the entry before it left. A row changed, added or removed with
 *     the triggers disabled — the owner's way round the history — is named
 *     by table, key, ULB and the seq of the entry it departs from, even when
 *     a later change through the triggers covered it.
 *
 * The comparison runs in the database with built-in functions only (the
 * JSON of the row as it is against the JSON the history stored, or its
 * text read back through the table's row type), with the session's time
 * zone at UTC and dates in ISO order, as the triggers write them.
 */
#ifndef NAGAR_HISTORY_H
#define NAGAR_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain.h"
#include "db.h"

#define NAGAR_HISTORY_KEY_MAX 160
#define NAGAR_HISTORY_PROBLEM_MAX 200
#define NAGAR_HISTORY_MISMATCHES_MAX 100

/* How the history is stored, for chain.h: one chain per (table, ULB). */
extern const nagar_chain_kind_t nagar_history_chain;

/* One current row that departs from the history. */
typedef struct {
    char key[NAGAR_HISTORY_KEY_MAX];     /* the row's primary key, as a JSON array */
    char ulb[16];
    int64_t seq;                         /* the entry it departs from; 0: none */
    char problem[NAGAR_HISTORY_PROBLEM_MAX];
} nagar_history_mismatch_t;

/* Compares the current rows of schema.table with their last history
 * images. *mismatches (malloc'd, caller frees) gets at most
 * NAGAR_HISTORY_MISMATCHES_MAX of them, *count their number. Returns the
 * number found (0: all match), or -1 with the reason in error (an unknown
 * table, no primary key, the database). */
int nagar_history_check_rows(nagar_db_t *db, const char *schema, const char *table,
                             nagar_history_mismatch_t **mismatches, size_t *count, char *error,
                             size_t error_size);

/* Whether schema.table still has its three history triggers, enabled.
 * Returns 1 yes, 0 no (problem says which is missing or disabled), -1 on a
 * database error. */
int nagar_history_tracked(nagar_db_t *db, const char *schema, const char *table, char *problem,
                          size_t problem_size);

#endif
