/*
 * certificates.h — what every part of nagar-certificates shares: the
 * service's state (one database connection, the sealing key and the public
 * keys it verifies with, the outbox relay), who may read what, validation
 * helpers that name the offending field, ids, page tokens, where
 * idempotency records live and the audit trail. Outcomes, failures, the
 * actor and idempotency themselves are common/service.h.
 *
 * The domain lives next door: birth.c, death.c and marriage.c (the report
 * of each kind: its checks and its lines on the certificate), workflow.c
 * (applications and the registrar's decisions), issue.c (signed
 * certificates, corrections, PDF and verification), search.c, fees.c
 * (late-registration windows and fees). main.c wires them.
 */
#ifndef NAGAR_CERTIFICATES_H
#define NAGAR_CERTIFICATES_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "bus_client.h"
#include "bus_worker.h"
#include "certificate_seal.h"
#include "config.h"
#include "date.h"
#include "db.h"
#include "document.h"
#include "outbox.h"
#include "proto/certificates.pb-c.h"
#include "service.h"
#include "service_rules.h"

#define CERT_SERVICE "certificates"
#define CERT_KEYS_MAX 16
#define CERT_ID_MAX 40
#define CERT_NAME_MAX 100          /* characters in a person's name */
#define CERT_ADDRESS_MAX 300
#define CERT_REASON_MAX 500
#define CERT_PAGE_DEFAULT 20
#define CERT_PAGE_MAX 100

typedef struct {
    char key_id[NAGAR_SEAL_KEY_ID_MAX + 1];
    uint8_t public_key[32];
} cert_public_key_t;

typedef struct {
    nagar_config_t *config;
    nagar_db_t *db;
    nagar_sealer_t *sealer;
    cert_public_key_t keys[CERT_KEYS_MAX];  /* the sealer's own and older ones */
    int key_count;
    nagar_bus_client_t *bus;                /* for the outbox relay; NULL when off */
    nagar_outbox_relay_t *relay;
    char verify_url[256];                   /* printed on certificates */
    nagar_rules_t rules;                    /* the rules of sql/fee.sql (fee_payment.c) */
    nagar_payment_provider_t *provider;     /* fees paid online; NULL: refused */
} certificates_t;

/* Is the actor (nagar_actor_* of common/service.h) staff of ulb? */
bool cert_actor_is_staff_of(nagar_worker_call_t *call, const char *ulb);

/* May the actor read a record of ulb made by applicant? Staff of that ULB,
 * state admins, and the citizen who applied. */
bool cert_may_read(nagar_worker_call_t *call, const char *ulb, const char *applicant);

/* Validation. Each check sets the outcome (INVALID_ARGUMENT naming path)
 * and returns false when the value breaks the rule. Lengths are in
 * characters of valid UTF-8 without control characters. */
bool cert_text_valid(const char *text, size_t min, size_t max);
bool cert_check_text(nagar_outcome_t *outcome, const char *path, const char *text, size_t min,
                     size_t max, const char *what);
bool cert_check_date(nagar_outcome_t *outcome, const char *path, const char *text,
                     nagar_date_t today, bool required, nagar_date_t *date);
bool cert_check_mobile(nagar_outcome_t *outcome, const char *path, const char *mobile);
bool cert_ulb_valid(const char *ulb);    /* 1..10 digits */
/* "prefix.name" into out. */
const char *cert_path(char *out, size_t size, const char *prefix, const char *name);

/* A new random id: prefix and 16 characters of Crockford base32 (80 bits). */
void cert_new_id(const char *prefix, char out[CERT_ID_MAX + 1]);

/* Whose records a listing shows: a state admin's, any ULB's (asked_ulb,
 * or all); a citizen's, their own (*user; asked_ulb filters); staff of a
 * ULB, that ULB's. NULL in *ulb / *user means no filter. what names the
 * records in refusals ("applications"). false when the call has been
 * answered: a bad ulb, another ULB asked for by staff, any other role. */
bool cert_list_scope(nagar_worker_call_t *call, const char *asked_ulb, const char *what,
                     const char **ulb, const char **user);

/* Keyset pages of a listing, newest first: an opaque token holds the last
 * shown row's cursor (its seq or id); the query asks for one row more than
 * the page shows, and that row says another page follows. */
typedef struct {
    uint32_t size;           /* rows a page shows */
    char cursor[32];         /* "" on the first page */
    char limit[16];          /* size + 1, the query's LIMIT */
} cert_page_t;

/* Reads pageSize (0: CERT_PAGE_DEFAULT; at most CERT_PAGE_MAX) and
 * pageToken into page. false when one is bad: the call has been answered
 * (INVALID_ARGUMENT naming the field). */
bool cert_page_read(cert_page_t *page, nagar_worker_call_t *call, uint32_t page_size,
                    const char *page_token);
/* The cursor as a query parameter: NULL on the first page. */
const char *cert_page_after(const cert_page_t *page);
/* How many of result's rows the page shows; the next page's token (from
 * the cursor in column of the last row shown) in next, "" on the last. */
int cert_page_rows(const cert_page_t *page, PGresult *result, int column, char *next,
                   size_t next_size);

/* Where certificates keeps idempotency records (certificates.idempotency),
 * for nagar_idempotency_check/store of common/service.h. */
extern const nagar_idempotency_t cert_idempotency;

/* The idempotency part of a mutation's work (nagar_keyed_work_t of
 * common/service.h), for the certificates service. */
#define CERT_KEYED_WORK(self_, call_, request_)                                             \
    {.records = &cert_idempotency, .db = (self_)->db, .service = CERT_SERVICE,              \
     .call = (call_), .request = (request_)}

/* Appends an audit row inside the caller's transaction; detail is stolen. */
/* Runs one of the rule functions of sql/registration.sql — the only way
 * the service changes an application, a registration, a certificate or a
 * correction — as "SELECT sql" with $1 the actor (the verified one, as
 * common/service_rules.h's nagar_rules_actor_json) followed by values.
 * Returns the result; NULL with *rc 1 and the outcome set when the rule
 * refused (SQLSTATE NR...), NULL with *rc -1 on a database error. */
PGresult *cert_rule(certificates_t *self, nagar_worker_call_t *call, const char *name,
                    const char *sql, int nvalues, const char *const *values,
                    nagar_outcome_t *outcome, int *rc);

int cert_audit(certificates_t *self, nagar_worker_call_t *call, const char *action,
               const char *subject, const char *ulb, json_t *detail);

/* Queues an event about application application_id in the outbox inside
 * the caller's transaction. applicant is the user id of who applied: a
 * citizen's is the event's person; a staff member's is not (notifications
 * then asks the record: the informant's mobile). params are name/value
 * pairs, NULL-terminated. Events never carry a contact. */
int cert_event(certificates_t *self, const char *type, const char *ulb,
               const char *application_id, const char *applicant, const char *const *params);

/* ---- the three kinds of report ------------------------------------------ */

/* What the workflow needs to know about a report once it passed its checks. */
typedef struct {
    nagar_date_t event_date;
    char subject_name[257];     /* child (may be ""), deceased, "groom & bride" */
    char parent_names[420];     /* for search: father and mother (births) */
    char informant_mobile[11];
} cert_subject_t;

typedef struct {
    Nagar__Certificates__EventKind kind;
    const char *name;                               /* "birth" */
    char letter;                                    /* 'B' in registration numbers */
    const ProtobufCMessageDescriptor *report_type;
    /* Checks report (at JSON path prefix) against the rules; fills subject. */
    bool (*validate)(const ProtobufCMessage *report, const char *prefix, nagar_date_t today,
                     nagar_outcome_t *outcome, cert_subject_t *subject);
    /* Adds the report's labelled fields to a certificate. */
    int (*render)(nagar_document_t *document, const ProtobufCMessage *report);
    const char *title_hi, *title_en;                /* "जन्म प्रमाण-पत्र", "Birth Certificate" */
    const char *legal_hi, *legal_en;                /* the law it is issued under */
} cert_kind_t;

extern const cert_kind_t CERT_KIND_BIRTH;          /* birth.c */
extern const cert_kind_t CERT_KIND_DEATH;          /* death.c */
extern const cert_kind_t CERT_KIND_MARRIAGE;       /* marriage.c */
const cert_kind_t *cert_kind(int kind);             /* NULL for an unknown kind */

/* The report field of an Application/Certificate/Correction-like message
 * for kind: "birth", "death" or "marriage" (the JSON names). */
ProtobufCMessage *cert_report_from_json(const cert_kind_t *kind, const char *json);
char *cert_report_to_json(const ProtobufCMessage *report);
/* Points the one report field of an Application, Certificate or
 * Correction (birth, death or marriage, by kind) at report. */
void cert_report_attach(const cert_kind_t *kind, ProtobufCMessage *report,
                        Nagar__Certificates__BirthReport **birth,
                        Nagar__Certificates__DeathReport **death,
                        Nagar__Certificates__MarriageReport **marriage);
/* Runs the named sql (one parameter, id) that finds at most one row into
 * *row: 0 when found, 1 when not (*row NULL), -1 when the database failed.
 * How an application, a certificate and a correction are read by id. */
int cert_query_one(certificates_t *self, const char *name, const char *sql, const char *id,
                   PGresult **row);
/* Frees what a view read from the database owns besides its message (an
 * application's, a certificate's or a correction's): the row its strings
 * point into, the report decoded from the stored JSON and the fee
 * settlement. Each may be NULL. */
void cert_stored_free(PGresult *row, ProtobufCMessage *report,
                      Nagar__Certificates__FeeSettlement *fee);

/* Shared checks for report parts. */
bool cert_check_informant(nagar_outcome_t *outcome, const char *prefix,
                          const Nagar__Certificates__Informant *informant);
/* sex is required (INVALID_ARGUMENT at prefix.sex when unspecified). */
bool cert_check_sex(nagar_outcome_t *outcome, const char *prefix, Nagar__Certificates__Sex sex);
/* The place of the event ("birth", "death"): its kind is required, and
 * its name (what describes it) 1..200 characters. */
bool cert_check_place(nagar_outcome_t *outcome, const char *prefix, const char *event,
                      Nagar__Certificates__PlaceKind kind, const char *name, const char *what);
const char *cert_sex_hi(Nagar__Certificates__Sex sex);
const char *cert_sex_en(Nagar__Certificates__Sex sex);
const char *cert_place_kind_text(Nagar__Certificates__PlaceKind kind);
/* "पुरुष / Male" and "<kind>: <name>" into out, as certificates print them. */
const char *cert_sex_text(char *out, size_t size, Nagar__Certificates__Sex sex);
const char *cert_place_text(char *out, size_t size, Nagar__Certificates__PlaceKind kind,
                            const char *name);
/* The law birth and death certificates are issued under (RBD Act 1969 as
 * amended in 2023, MP rules 2024), in Hindi and English. */
extern const char CERT_RBD_LEGAL_HI[];
extern const char CERT_RBD_LEGAL_EN[];

/* Handlers (main.c's method table). */
int certificates_birth_apply(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int certificates_birth_set_child_name(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                      void *arg);
int certificates_death_apply(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int certificates_marriage_apply(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                void *arg);

#endif
