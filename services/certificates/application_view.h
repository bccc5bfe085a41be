/*
 * application_view.h — an application read from the database, as the
 * Application message with the report and fee settlement decoded.
 *
 * Shared by the workflow (workflow.c: submit, read, list, decide) and by
 * corrections (issue.c), which reads the application a certificate was
 * issued for; kept apart from both so that neither needs the other for it.
 */
#ifndef NAGAR_CERTIFICATES_APPLICATION_VIEW_H
#define NAGAR_CERTIFICATES_APPLICATION_VIEW_H

#include <stdbool.h>

#include "certificates.h"

/* An application read from the database, as a message. */
typedef struct {
    Nagar__Certificates__Application message;
    ProtobufCMessage *report;   /* decoded from the stored JSON; owned */
    Nagar__Certificates__FeeSettlement *fee;   /* how its fee was settled, or NULL; owned */
    PGresult *row;              /* the strings the message points into; owned */
    const cert_kind_t *kind;
} app_view_t;

/* Loads application_id (locked FOR UPDATE when lock is set). Returns 0,
 * 1 when there is no such application, -1 on a database error or a stored
 * report that does not decode. */
int certificates_app_view_load(certificates_t *self, const char *application_id, bool lock,
                               app_view_t *view);
/* certificates_app_view_load for the caller of call: an application it may not see
 * (cert_may_read) is answered exactly like one that does not exist, so the
 * answer tells nothing about other people's applications. Returns 0; 1
 * with outcome NOT_FOUND on applicationId; -1 on a database error. */
int certificates_app_view_load_visible(certificates_t *self, nagar_worker_call_t *call,
                                       const char *application_id, bool lock, app_view_t *view,
                                       nagar_outcome_t *outcome);
void certificates_app_view_clear(app_view_t *view);
/* The stored report JSON of a loaded view. */
const char *certificates_app_view_report_json(const app_view_t *view);

/* The select list of a view, over certificates.application AS a. */
extern const char APP_VIEW_COLUMNS[];
/* Fills view from row of result selected with APP_VIEW_COLUMNS (the view
 * then owns result unless it is shared among several views). 0 or -1 when
 * the stored report or fee settlement does not decode. */
int certificates_app_view_fill(app_view_t *view, PGresult *result, int row);
/* The column of such a result holding the paging key (seq). */
extern const int APP_VIEW_SEQ_COLUMN;

#endif
