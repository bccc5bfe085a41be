/*
 * event_params.c — display params derived from an event's raw facts (see
 * event_params.h).
 */
#include "event_params.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "money.h"

#define IST_OFFSET_MS (330LL * 60 * 1000)
#define DAY_MS (86400LL * 1000)

static const char *param_value(const template_param_t *params, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(params[i].name, name) == 0)
            return params[i].value;
    return NULL;
}

static template_param_t *param_find(template_param_t *params, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(params[i].name, name) == 0)
            return &params[i];
    return NULL;
}

static bool blank(const char *text)
{
    while (*text == ' ' || *text == '\t')
        text++;
    return *text == '\0';
}

void notifications_event_params_rupees(int64_t paise, char *out, size_t out_size)
{
    char plain[NAGAR_MONEY_TEXT_MAX];
    nagar_money_format(paise, plain);            /* "-1234567.50" */
    const char *digits = plain[0] == '-' ? plain + 1 : plain;
    const char *point = strchr(digits, '.');
    size_t whole = point ? (size_t) (point - digits) : strlen(digits);
    char grouped[64];
    size_t n = 0;
    if (plain[0] == '-')
        grouped[n++] = '-';
    /* The last three digits form one group, every two before them another. */
    for (size_t i = 0; i < whole; i++) {
        size_t left = whole - i;
        if (i > 0 && (left == 3 || (left > 3 && (left - 3) % 2 == 0)))
            grouped[n++] = ',';
        grouped[n++] = digits[i];
    }
    grouped[n] = '\0';
    snprintf(out, out_size, "%s%s", grouped, point ? point : "");
}

static bool paise_parse(const char *text, int64_t *paise)
{
    if (!text[0] || strlen(text) > 20)
        return false;
    const char *p = text[0] == '-' ? text + 1 : text;
    if (!*p)
        return false;
    for (const char *c = p; *c; c++)
        if (*c < '0' || *c > '9')
            return false;
    errno = 0;
    char *end = NULL;
    long long value = strtoll(text, &end, 10);
    if (errno || *end)
        return false;
    *paise = value;
    return true;
}

/* Reserves a derived param; NULL when there is no room (nothing derived). */
static template_param_t *derived_slot(template_param_t *params, size_t *count, size_t capacity,
                                      event_params_storage_t *storage, const char *name,
                                      char **value)
{
    if (*count >= capacity || storage->used >= EVENT_PARAMS_DERIVED_MAX)
        return NULL;
    size_t k = storage->used++;
    snprintf(storage->names[k], sizeof storage->names[k], "%s", name);
    storage->values[k][0] = '\0';
    *value = storage->values[k];
    template_param_t *param = &params[(*count)++];
    *param = (template_param_t) {.name = storage->names[k], .value = storage->values[k]};
    return param;
}

static const char *kind_in_hindi(const char *kind)
{
    static const char *const WORDS[][2] = {
        {"birth", "जन्म"}, {"death", "मृत्यु"}, {"marriage", "विवाह"}};
    for (size_t i = 0; i < sizeof WORDS / sizeof WORDS[0]; i++)
        if (strcmp(kind, WORDS[i][0]) == 0)
            return WORDS[i][1];
    return NULL;
}

bool notifications_event_params_derive(ulb_names_t *ulb_names, const char *portal_url,
                                       const char *ulb, int64_t occurred_at_ms,
                                       const char *language, template_param_t *params,
                                       size_t *count, size_t capacity, const char *params_field,
                                       event_params_storage_t *storage, nagar_outcome_t *outcome)
{
    storage->used = 0;
    char *value;
    size_t given = *count;

    /* <x>_paise -> <x> in rupees. */
    for (size_t i = 0; i < given; i++) {
        const char *name = params[i].name;
        size_t length = strlen(name);
        if (length <= 6 || strcmp(name + length - 6, "_paise") != 0)
            continue;
        char display[48];
        snprintf(display, sizeof display, "%.*s", (int) (length - 6), name);
        if (param_value(params, *count, display))
            continue;
        int64_t paise;
        if (!paise_parse(params[i].value, &paise)) {
            nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, params_field,
                              "param %s must be a whole number of paise such as 125000, not "
                              "\"%.40s\"",
                              name, params[i].value);
            return false;
        }
        if (derived_slot(params, count, capacity, storage, display, &value))
            notifications_event_params_rupees(paise, value, EVENT_PARAMS_VALUE_MAX);
    }

    if (!param_value(params, *count, "date") && occurred_at_ms > 0 &&
        derived_slot(params, count, capacity, storage, "date", &value)) {
        int64_t days = (occurred_at_ms + IST_OFFSET_MS) / DAY_MS;
        char text[NAGAR_DATE_TEXT_MAX];
        nagar_date_format(nagar_date_from_days((int32_t) days), text);
        snprintf(value, EVENT_PARAMS_VALUE_MAX, "%s", text);
    }

    if (!param_value(params, *count, "account")) {
        const char *account = param_value(params, *count, "property_id");
        if (!account)
            account = param_value(params, *count, "connection_id");
        if (account && derived_slot(params, count, capacity, storage, "account", &value))
            snprintf(value, EVENT_PARAMS_VALUE_MAX, "%s", account);
    }

    const char *fy = param_value(params, *count, "fy");
    if (fy && !param_value(params, *count, "financial_year") &&
        derived_slot(params, count, capacity, storage, "financial_year", &value))
        snprintf(value, EVENT_PARAMS_VALUE_MAX, "%s", fy);

    if (!param_value(params, *count, "ulb_name") && ulb && ulb[0] &&
        derived_slot(params, count, capacity, storage, "ulb_name", &value)) {
        if (ulb_names)
            notifications_ulb_names_lookup(ulb_names, ulb, value);
        else
            snprintf(value, EVENT_PARAMS_VALUE_MAX, "%s", ulb);
    }

    /* The page of a property's notice and payment (property ids are checked
     * by their param type: digits and dashes, nothing a URL could hide). */
    const char *property = param_value(params, *count, "property_id");
    if (property && !param_value(params, *count, "link") &&
        derived_slot(params, count, capacity, storage, "link", &value)) {
        if (portal_url && portal_url[0])
            snprintf(value, EVENT_PARAMS_VALUE_MAX, "%s/property/%s", portal_url, property);
        else
            snprintf(value, EVENT_PARAMS_VALUE_MAX, "%s",
                     strcmp(language, "hi") == 0 ? "नगर पालिका कार्यालय" : "the municipal office");
    }

    /* A birth may be registered before the child is named (the name is
     * added later): the message then speaks of the child, not of a blank
     * ("शिशु का जन्म पंजीयन …", "the birth of the child …"). */
    template_param_t *kind = param_find(params, *count, "kind");
    template_param_t *name = param_find(params, *count, "name");
    if (kind && name && strcmp(kind->value, "birth") == 0 && blank(name->value))
        name->value = strcmp(language, "hi") == 0 ? "शिशु" : "the child";

    if (kind && strcmp(language, "hi") == 0 && kind_in_hindi(kind->value))
        kind->value = kind_in_hindi(kind->value);
    return true;
}
