/*
 * receipt.h — gap-free receipt numbers per ULB, financial year and counter.
 *
 * A receipt number is "<ulb>/<fy>/<counter>/<number>", the number counting
 * 1, 2, 3, ... for each (ULB, financial year, counter) with no gaps:
 * receipt_next() of common/sql/receipt (the module the service installs)
 * row-locks and increments the counter's row of table receipt_counter
 * inside the payment's own transaction (the lock SELECT ... FOR UPDATE
 * would take, held to commit), so a payment that rolls back returns its
 * number, and concurrent payments at one counter queue on that row for the
 * rest of their transactions. The format is written there, once. Online
 * payments use counter "ONLINE".
 */
#ifndef NAGAR_RECEIPT_H
#define NAGAR_RECEIPT_H

#include <stdint.h>

#include "db.h"

#define NAGAR_RECEIPT_NO_MAX 64

/* Takes the next number inside the caller's open transaction: ulb an LGD
 * code, fy "2026-27", counter 1..16 of A-Z 0-9. Writes the receipt number
 * into out and the bare number into *number (may be NULL). Returns 0, or -1
 * with the database error in nagar_db_error(db). */
int nagar_receipt_next(nagar_db_t *db, const char *ulb, const char *fy, const char *counter,
                       char out[NAGAR_RECEIPT_NO_MAX], int64_t *number);

#endif
