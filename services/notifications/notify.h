/*
 * notify.h — what every part of nagar-notifications shares: the service's
 * state (one database connection, the delivery engine, settings), staff
 * checks, input validation, where idempotency records live and the sealing
 * of secret message bodies. Outcomes, failures, the actor and idempotency
 * themselves are common/service.h.
 *
 * The domain lives next door: events.c (event.deliver, message.send and
 * the queueing of messages), recipients.c (resolving an event to its
 * person, event.list, event.retry), event_rules.c and param_types.c (who
 * may publish what, typed params), templates.c (master data and rendering),
 * delivery.c (the delivery loop and message.list), channel_*.c (SMS over
 * HTTP, e-mail over SMTP, a development file), campaign.c (reminder
 * campaigns, optout.set). main.c wires them.
 */
#ifndef NAGAR_NOTIFY_H
#define NAGAR_NOTIFY_H

#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "bus_worker.h"
#include "config.h"
#include "db.h"
#include "proto/notifications.pb-c.h"
#include "service.h"

#define NOTIFY_SEAL_KEY_BYTES crypto_secretbox_KEYBYTES

typedef struct delivery_t delivery_t;
typedef struct ulb_names_t ulb_names_t;
typedef struct recipients_t recipients_t;

/* The citizen portal's address (NAGAR_PORTAL_URL): messages link to
 * <it>/property/<id>, which must fit a derived param (event_params.h). */
#define NOTIFY_PORTAL_URL_MAX 151

typedef struct {
    nagar_config_t *config;
    nagar_db_t *db;
    delivery_t *delivery;
    ulb_names_t *ulb_names;             /* display names of ULBs (ulb_names.h) */
    recipients_t *recipients;           /* the resolver of pending events (recipients.h) */
    uint8_t seal_key[NOTIFY_SEAL_KEY_BYTES];
    char seal_key_id[17];               /* hex of 8 bytes of a hash of the key */
    long campaign_per_minute;           /* default throttle */
    long campaign_batch;                /* most recipients queued per tick */
    char portal_url[NOTIFY_PORTAL_URL_MAX]; /* NAGAR_PORTAL_URL, no trailing '/'; "" unset */
} notify_t;

#define NOTIFY_SERVICE "notifications"

/* The actor's role, "" unless a user is signed in (the rest of the actor
 * is nagar_actor_* of common/service.h). */
const char *notify_actor_role(nagar_worker_call_t *call);
bool notify_actor_is_staff(nagar_worker_call_t *call);   /* a ULB or state staff role */

/* Validation; lengths in Unicode characters of valid UTF-8. */
bool notify_text_valid(const char *text, size_t min, size_t max);   /* no control chars */
bool notify_body_text_valid(const char *text, size_t min, size_t max); /* allows \n */
bool notify_mobile_valid(const char *text);     /* ^[6-9][0-9]{9}$ */
bool notify_email_valid(const char *text);
bool notify_ulb_valid(const char *text);        /* ^[0-9]{1,10}$ */
bool notify_name_valid(const char *text, size_t max);   /* ^[a-z][a-z0-9_.]*$ */
size_t notify_utf8_length(const char *text);

/* Where notifications keeps idempotency records, for
 * nagar_idempotency_check/store of common/service.h. Calls without an
 * actor (services) own their keys by bus principal. */
extern const nagar_idempotency_t notify_idempotency;

/* Seals text with the service key: hex of nonce || ciphertext, malloc'd. */
char *notify_seal(notify_t *self, const char *text);
/* Opens what notify_seal made; NULL when it was sealed with another key or
 * was altered. Free with notify_free_secret. */
char *notify_unseal(notify_t *self, const char *hex);
void notify_free_secret(char *text);

/* Keyed BLAKE2b (the seal key) of bytes, as 64 hex characters. */
void notify_keyed_hash_hex(notify_t *self, const void *data, size_t size, char out[65]);

/* A stored channel name ("sms", "email") as the API's enum. */
Nagar__Notifications__Channel notify_channel_value(const char *name);

/* Keyset pages of a listing, newest first: a page token is an opaque
 * base64url of the last id shown; the query asks for one row more than
 * the page shows, and that row says whether another page follows. */
typedef struct {
    int size;            /* rows a page shows */
    char after[24];      /* list ids below this ("0": from the newest) */
    char limit[16];      /* size + 1, the query's LIMIT */
} notify_page_t;

/* Reads a listing's pageSize (0: page_default; at most page_max) and
 * pageToken into page. false when one is bad: the call has then been
 * answered, INVALID_ARGUMENT naming the field. */
bool notify_page_read(notify_page_t *page, nagar_worker_call_t *call, uint32_t page_size,
                      const char *page_token, int page_default, int page_max);
/* How many of the query's rows the page shows, and the next page's token
 * (from the id in column 0 of the last row shown) in next; "" on the last
 * page. */
int notify_page_rows(const notify_page_t *page, PGresult *rows, char *next, size_t next_size);
/* A listing's page as its reply list: notify_page_rows, then count
 * zeroed items of item_size (nagar_reply_list). When the query failed
 * (rows NULL) or memory ran out, answers the call, clears rows and
 * returns NULL: the handler returns -1. */
void *notify_page_list(notify_t *self, nagar_worker_call_t *call, const notify_page_t *page,
                       PGresult *rows, size_t item_size, char *next, size_t next_size,
                       int *count);

#endif
