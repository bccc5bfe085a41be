/*
 * templates.h — message templates: master data per event type, language
 * (hi, en) and channel (sms, email), state-wide or overridden per ULB,
 * versioned (every save is a new version; the newest is used), with the
 * placeholders checked against the event type when saved.
 *
 *   template.save  SaveTemplateRequest -> Template       STATE_ADMIN (any ULB or the
 *                                                         state default), COMMISSIONER
 *                                                         (their ULB's override)
 *   template.list  ListTemplatesRequest -> ListTemplatesReply   staff
 *
 * Rendering picks, for a message in language L for ULB U, the newest
 * version of: U's override in L, the state default in L, then the same in
 * the other language. Placeholders are {{name}}; {{ulb}} (the LGD code) is
 * always available.
 */
#ifndef NAGAR_NOTIFY_TEMPLATES_H
#define NAGAR_NOTIFY_TEMPLATES_H

#include "notify.h"

#define TEMPLATE_SMS_BODY_MAX 1000
#define TEMPLATE_EMAIL_BODY_MAX 5000
#define TEMPLATE_RENDERED_MAX 8000

typedef struct {
    const char *name;
    const char *value;
    bool secret;           /* shown as ****** in the stored body */
} template_param_t;

typedef struct {
    char *subject;         /* rendered in full (subjects never carry secrets) */
    char *body;            /* what is delivered */
    char *body_redacted;   /* what is stored */
    char dlt_template_id[32];
    char language[3];
    int version;
} template_rendered_t;

int notifications_template_save(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                void *arg);
int notifications_template_list(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                void *arg);

/* Renders the newest template for type/channel ("sms" or "email"). Returns
 * 0 with out filled, 1 when no template exists for the channel, 2 when a
 * placeholder has no value (outcome set, field params_field), -1 on a
 * database error. */
int notifications_template_render(notify_t *self, const char *type, const char *ulb,
                                  const char *language, const char *channel,
                                  const template_param_t *params, size_t count,
                                  const char *params_field, template_rendered_t *out,
                                  nagar_outcome_t *outcome);
void notifications_template_rendered_clear(template_rendered_t *rendered);

/* Whether the event type is known (0 no, 1 yes, -1 database error). */
int notifications_template_type_exists(notify_t *self, const char *type);

#endif
