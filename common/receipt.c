/*
 * receipt.c — gap-free receipt numbers (receipt.h): one call of
 * receipt_next() of common/sql/receipt, which takes the number and writes
 * it in the one format.
 */
#include "receipt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    PGresult *res = receipt_query(db, "nagar_receipt_next", "SELECT receipt_next($1, $2, $3)", 3,
                                  values);
    if (!res)
        return -1;
    const char *text = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";
    const char *last = strrchr(text, '/');
    int64_t next = last ? strtoll(last + 1, NULL, 10) : 0;
    if (next > 0)
        snprintf(out, NAGAR_RECEIPT_NO_MAX, "%s", text);
    PQclear(res);
    if (next <= 0)
        return -1;
    if (number)
        *number = next;
    return 0;
}
