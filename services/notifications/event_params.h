/*
 * event_params.h — turning the raw facts of an event into what a person reads.
 *
 * Publishers send facts (amount_paise, property_id, the time it happened);
 * how those read in an SMS is notifications' business, so a change of
 * wording never needs a release of property tax. Before an event's
 * templates are rendered, each display param the event does not carry is
 * derived from its raw counterpart (services/notifications/README.md, "Event
 * contract", lists every event type's raw params):
 *
 *   <x>            from <x>_paise: rupees with two decimals and Indian digit
 *                  grouping (12500000 -> "1,25,000.00"); amount, fee, ...
 *   date           the event's occurred_at_ms as an IST calendar date
 *   account        property_id, else connection_id
 *   financial_year fy
 *   ulb_name       the ULB's name from identity (ulb_names.h); its LGD code
 *                  when identity cannot say
 *   kind           birth/death/marriage in Hindi for a Hindi reader
 *   name           of a birth registered before the child was named (blank):
 *                  "शिशु" / "the child", so the message reads as a sentence
 *   link           where a property's owner sees the demand notice and pays:
 *                  <NAGAR_PORTAL_URL>/property/<property_id>; without a
 *                  portal, the municipal office (in the reader's language)
 *
 * A param the publisher did send is never replaced (kind's translation
 * aside, which only swaps a known code for its Hindi word, and a birth's
 * blank name).
 */
#ifndef NAGAR_NOTIFY_EVENT_PARAMS_H
#define NAGAR_NOTIFY_EVENT_PARAMS_H

#include <stdint.h>

#include "notify.h"
#include "templates.h"
#include "ulb_names.h"

#define EVENT_PARAMS_DERIVED_MAX 8
#define EVENT_PARAMS_VALUE_MAX ULB_NAME_TEXT_MAX

/* Where derived names and values live while the params are used. */
typedef struct {
    char names[EVENT_PARAMS_DERIVED_MAX][48];
    char values[EVENT_PARAMS_DERIVED_MAX][EVENT_PARAMS_VALUE_MAX];
    size_t used;
} event_params_storage_t;

/* Appends derived params to params[0..*count) (capacity entries in all).
 * ulb_names may be NULL (then ulb_name is the code); portal_url is the
 * portal's address without a trailing '/' ("" none). Returns false with
 * outcome set (INVALID_ARGUMENT, field params_field) when a raw param is
 * malformed, e.g. amount_paise that is not a whole number. */
bool notifications_event_params_derive(ulb_names_t *ulb_names, const char *portal_url,
                                       const char *ulb, int64_t occurred_at_ms,
                                       const char *language, template_param_t *params,
                                       size_t *count, size_t capacity, const char *params_field,
                                       event_params_storage_t *storage, nagar_outcome_t *outcome);

/* Rupees from paise with Indian grouping: 12500000 -> "1,25,000.00",
 * -5 -> "-0.05". out needs EVENT_PARAMS_VALUE_MAX bytes. */
void notifications_event_params_rupees(int64_t paise, char *out, size_t out_size);

#endif
