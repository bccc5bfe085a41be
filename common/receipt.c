/*
 * receipt.c — gap-free receipt numbers (receipt.h).
 *
 * One upsert: it creates the counter's row for the first receipt of the
 * year at that counter, or locks the row (exactly as SELECT ... FOR UPDATE
 * would) and increments it. The lock is what makes the numbers gap-free and
 * unique; it is released when the caller's transaction commits or rolls
 * back.
 */
#include "receipt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static PGresult *receipt_query(nagar_db_t *db, const char *name, const char *sql, int nparams,
                               const char *const *values)
{
    if (nagar_db_prepare(db, name, sql, nparams) != 0)
        return NULL;
    return nagar_db_exec(db, name, nparams, values);
}

int nagar_receipt_next(nagar_db_t *db, const char *ulb, const char *fy, const char *counter,
                       char out[NAGAR_RECEIPT_NO_MAX], int64_t *number)
{
    const char *values[] = {ulb, fy, counter};
    /* The upsert takes the counter row's lock (as SELECT ... FOR UPDATE
     * would) and holds it to the end of the caller's transaction, in one
     * round trip: the first receipt of a year at a counter creates the row. */
    PGresult *res = receipt_query(db, "nagar_receipt_counter_next",
                                  "INSERT INTO receipt_counter AS c (ulb, fy, counter, last_no) "
                                  "VALUES ($1, $2, $3, 1) ON CONFLICT (ulb, fy, counter) "
                                  "DO UPDATE SET last_no = c.last_no + 1 RETURNING last_no",
                                  3, values);
    if (!res)
        return -1;
    int64_t next = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    if (next <= 0)
        return -1;
    snprintf(out, NAGAR_RECEIPT_NO_MAX, "%s/%s/%s/%06" PRId64, ulb, fy, counter, next);
    if (number)
        *number = next;
    return 0;
}
