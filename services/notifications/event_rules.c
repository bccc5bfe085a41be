/*
 * event_rules.c — loading an event type's rules and checking a publisher's
 * params against them (see event_rules.h).
 */
#include "event_rules.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "text.h"

int notifications_event_rule_load(notify_t *self, const char *type, const char *source,
                                  event_rule_t *rule)
{
    memset(rule, 0, sizeof *rule);
    const char *values[] = {type};
    PGresult *result = nagar_service_query(
        self->db, "event_type_rule",
        "SELECT recipient_required, essential, publishers::text, params::text "
        "FROM notifications.event_type WHERE type = $1",
        1, values);
    if (!result)
        return -1;
    if (PQntuples(result) != 1) {
        PQclear(result);
        return 0;
    }
    rule->known = true;
    rule->recipient_required = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
    rule->essential = strcmp(PQgetvalue(result, 0, 1), "t") == 0;
    json_t *publishers = json_loads(PQgetvalue(result, 0, 2), 0, NULL);
    rule->params = json_loads(PQgetvalue(result, 0, 3), 0, NULL);
    PQclear(result);
    if (!json_is_object(publishers) || !json_is_object(rule->params)) {
        json_decref(publishers);
        notifications_event_rule_clear(rule);
        return -1;
    }
    const char *principal;
    json_t *kind;
    size_t used = 0;
    json_object_foreach(publishers, principal, kind) {
        int n = snprintf(rule->publishers + used, sizeof rule->publishers - used, "%s%s",
                         used ? ", " : "", principal);
        if (n > 0 && (size_t) n < sizeof rule->publishers - used)
            used += (size_t) n;
        if (source && strcmp(principal, source) == 0 && json_is_string(kind)) {
            rule->publisher = true;
            snprintf(rule->subject_kind, sizeof rule->subject_kind, "%s",
                     json_string_value(kind));
        }
    }
    json_decref(publishers);
    return 0;
}

void notifications_event_rule_clear(event_rule_t *rule)
{
    json_decref(rule->params);
    rule->params = NULL;
    rule->known = rule->publisher = false;
}

bool notifications_event_rule_check_params(const event_rule_t *rule, const char *type,
                                           const char *ulb, Nagar__Notifications__Param **params,
                                           size_t count, const char *field_prefix,
                                           template_param_t *out, event_rule_values_t *values,
                                           nagar_outcome_t *outcome)
{
    char field[96];
    if (count > EVENT_RULES_PARAMS_MAX) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field_prefix,
                          "at most %d params are allowed", EVENT_RULES_PARAMS_MAX);
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        const char *name = params[i]->name;
        snprintf(field, sizeof field, "%s[%zu].name", field_prefix, i);
        if (!nagar_text_plain_name(name, 40)) {
            nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                              "a param name is 1 to 40 of [a-z0-9_], starting with a letter "
                              "or _");
            return false;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(params[j]->name, name) == 0) {
                nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                                  "param \"%s\" is given twice", name);
                return false;
            }
        const char *param_type = json_string_value(json_object_get(rule->params, name));
        if (!param_type) {
            nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                              "event type %s has no param \"%s\"; its templates' display "
                              "values (amount, account, date, ulb_name) are derived by "
                              "notifications from the raw facts",
                              type, name);
            return false;
        }
        snprintf(field, sizeof field, "%s[%zu].value", field_prefix, i);
        const char *broken =
            notifications_param_type_check(param_type, params[i]->value, ulb, values->values[i]);
        if (broken) {
            nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                              "param %s (%s) must be %s", name, param_type, broken);
            return false;
        }
        out[i] = (template_param_t) {.name = name, .value = values->values[i]};
    }
    return true;
}

bool notifications_event_rule_user_id_valid(const char *text)
{
    size_t length = strnlen(text, 101), prefix = 0;
    if (length < 3 || length > 100)
        return false;
    while (prefix < length && text[prefix] >= 'a' && text[prefix] <= 'z')
        prefix++;
    if (prefix < 1 || prefix > 16 || text[prefix] != ':' || !text[prefix + 1])
        return false;
    for (size_t i = prefix + 1; i < length; i++) {
        char c = text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == ':'))
            return false;
    }
    return true;
}

/* The param type a record id of each kind has. */
static const char *subject_id_type(const char *kind)
{
    if (strcmp(kind, "property") == 0)
        return "property_id";
    if (strcmp(kind, "connection") == 0)
        return "connection_id";
    if (strcmp(kind, "application") == 0)
        return "record_id";
    return NULL;
}

bool notifications_event_rule_check_subject(const event_rule_t *rule, const char *type,
                                            const char *subject, const char *ulb,
                                            const template_param_t *params, size_t count,
                                            const char *field_prefix, nagar_outcome_t *outcome)
{
    char field[96];
    snprintf(field, sizeof field, "%s.subject", field_prefix);
    if (!subject[0]) {
        if (!rule->recipient_required)
            return true;
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                          "%s is about a %s record: subject must be \"%s:<id>\"", type,
                          rule->subject_kind, rule->subject_kind);
        return false;
    }
    size_t kind_length = strlen(rule->subject_kind);
    const char *id_type = subject_id_type(rule->subject_kind);
    char normalised[PARAM_VALUE_MAX];
    if (!kind_length || strncmp(subject, rule->subject_kind, kind_length) != 0 ||
        subject[kind_length] != ':' || !id_type) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                          "events of type %s from this publisher are about a %s record: "
                          "subject must be \"%s:<id>\"",
                          type, rule->subject_kind[0] ? rule->subject_kind : "(no)",
                          rule->subject_kind);
        return false;
    }
    const char *id = subject + kind_length + 1;
    const char *broken = notifications_param_type_check(id_type, id, ulb, normalised);
    if (!broken && strcmp(rule->subject_kind, "application") == 0 && id[0] != 'A')
        broken = "an application id (A and 16 characters of Crockford base32)";
    if (broken || strcmp(normalised, id) != 0) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                          "the %s id of subject must be %s", rule->subject_kind,
                          broken ? broken : "given as it is kept");
        return false;
    }
    /* A param naming the record must name the same record. */
    char own[48];
    snprintf(own, sizeof own, "%s_id", rule->subject_kind);
    for (size_t i = 0; i < count; i++)
        if ((strcmp(params[i].name, own) == 0 || strcmp(params[i].name, "account") == 0) &&
            strcmp(params[i].value, id) != 0) {
            snprintf(field, sizeof field, "%s.params[%zu].value", field_prefix, i);
            nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                              "param %s must be the id of the event's subject (%s)",
                              params[i].name, subject);
            return false;
        }
    return true;
}

/* At most REFUSALS_PER_WINDOW lines per window, then one line saying how
 * many were left out: a flood of bad events cannot fill the disk. */
#define REFUSALS_PER_WINDOW 20
#define REFUSAL_WINDOW_MS 10000

void notifications_event_rule_log_refusal(const char *caller, const char *type,
                                          const nagar_outcome_t *outcome)
{
    static int64_t window_start;
    static int logged, dropped;
    int64_t now = zclock_mono();
    if (now - window_start >= REFUSAL_WINDOW_MS) {
        if (dropped > 0) {
            json_t *fields = json_pack("{s:i}", "not_logged", dropped);
            nagar_log_write(NAGAR_LOG_WARN, "notifications.event_refused", fields,
                            "%d more refusals in the last window were not logged", dropped);
        }
        window_start = now;
        logged = dropped = 0;
    }
    if (logged >= REFUSALS_PER_WINDOW) {
        dropped++;
        return;
    }
    logged++;
    json_t *fields =
        json_pack("{s:s, s:s, s:s, s:s}", "caller", caller, "type", type ? type : "", "field",
                  outcome->field[0] ? outcome->field : "", "code",
                  nagar_status_name(outcome->code));
    nagar_log_write(NAGAR_LOG_WARN, "notifications.event_refused", fields,
                    "refused %s from %s: %s", type ? type : "a message", caller,
                    outcome->message);
}
