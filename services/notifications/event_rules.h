/*
 * event_rules.h — what each event type allows: who may publish it, what
 * its record (subject) is, and the type of each raw param.
 *
 * The rules are rows of notifications.event_type (migration 003), so a new
 * event type is a migration, not a release:
 *
 *   publishers  {"<principal>": "<subject kind>"}: the services whose bus
 *               key may publish the type, and the kind of record its events
 *               are about ("property", "connection", "application"; "" for
 *               a direct send such as identity's OTP). A compromised
 *               certificates key cannot publish payment.received: it is not
 *               a key of the type.
 *   params      {"<raw param>": "<param type>"} (param_types.h). A param the
 *               type does not declare is refused, so no publisher can hand a
 *               display value (amount, ulb_name) of its own making to a
 *               template.
 *   essential   whether its messages ignore opt-out and quiet hours: the
 *               type's, never the publisher's say.
 */
#ifndef NAGAR_NOTIFY_EVENT_RULES_H
#define NAGAR_NOTIFY_EVENT_RULES_H

#include <jansson.h>

#include "notify.h"
#include "param_types.h"
#include "templates.h"

#define EVENT_RULES_PARAMS_MAX 32

typedef struct {
    bool known;                 /* the type exists */
    bool publisher;             /* the source named at load may publish it */
    bool recipient_required;    /* false: a ULB-wide fact may name nobody */
    bool essential;
    char subject_kind[32];      /* the source's record kind; "" = none */
    char publishers[200];       /* "property_tax, water_tax": for messages */
    json_t *params;             /* raw param name -> param type */
} event_rule_t;

/* Normalised param values while the params are used. */
typedef struct {
    char values[EVENT_RULES_PARAMS_MAX][PARAM_VALUE_MAX];
} event_rule_values_t;

/* Loads the rule of type for source (a principal). Returns 0 (rule->known
 * says whether the type exists) or -1 on a database error. */
int notifications_event_rule_load(notify_t *self, const char *type, const char *source,
                                  event_rule_t *rule);
void notifications_event_rule_clear(event_rule_t *rule);

/* Checks params (names, no duplicates, at most EVENT_RULES_PARAMS_MAX, each
 * declared by the type and of its param type for ulb) and fills out with
 * the normalised values, which live in values. Returns false with outcome
 * set (INVALID_ARGUMENT, field "<field_prefix>[i].name" or ".value")
 * otherwise. */
bool notifications_event_rule_check_params(const event_rule_t *rule, const char *type,
                                           const char *ulb, Nagar__Notifications__Param **params,
                                           size_t count, const char *field_prefix,
                                           template_param_t *out, event_rule_values_t *values,
                                           nagar_outcome_t *outcome);

/* Checks an event's subject ("<kind>:<id>") against the rule: the kind is
 * the one the type allows the source, the id has that kind's shape for ulb
 * (a property or connection id of the ULB, an application id), and any
 * param that names the record (<kind>_id, account) is that id. An empty
 * subject is valid only for a type whose recipient is optional. Returns
 * false with outcome set (INVALID_ARGUMENT, field_prefix ".subject" or the
 * param's field). */
bool notifications_event_rule_check_subject(const event_rule_t *rule, const char *type,
                                            const char *subject, const char *ulb,
                                            const template_param_t *params, size_t count,
                                            const char *field_prefix, nagar_outcome_t *outcome);

/* Whether text is a user id as identity makes them ("citizen:<uuid>",
 * "staff:<id>"): 3..100 of [A-Za-z0-9._:-] with a colon after a lowercase
 * prefix. */
bool notifications_event_rule_user_id_valid(const char *text);

/* Logs a refusal of a caller's event or message (who, what, which field,
 * why), as notifications.event_refused. */
void notifications_event_rule_log_refusal(const char *caller, const char *type,
                                          const nagar_outcome_t *outcome);

#endif
