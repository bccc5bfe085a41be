/*
 * operations.c — the operations page; see operations.h.
 */
#include "operations.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_codec.h"
#include "proto/operations.pb-c.h"
#include "proto/witness.pb-c.h"
#include "status.h"

#define OPS_SERVICES_MAX 32

static const char QUARANTINE_NOTE[] =
    "Not every service's quarantine is known yet: the gateway asks each broker (mmi.quarantine) "
    "once a readiness round, and a broker that does not answer, or is too old to say, leaves "
    "it UNKNOWN. nagarctl status shows quarantines with the operator's reason.";

static void iso_utc(int64_t ms, char *out, size_t size)
{
    time_t seconds = (time_t) (ms / 1000);
    struct tm tm;
    if (!gmtime_r(&seconds, &tm) || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, size, "%s", "");
}

bool gateway_operations_route(const gateway_route_t *route)
{
    return route->reply_type == &nagar__operations__operations_status__descriptor;
}

char *gateway_operations_answer(gateway_ready_t *ready, const nagar_bus_result_t *witness,
                                int64_t now_ms)
{
    Nagar__Operations__OperationsStatus page = NAGAR__OPERATIONS__OPERATIONS_STATUS__INIT;
    Nagar__Operations__ServiceState states[OPS_SERVICES_MAX];
    Nagar__Operations__ServiceState *listed[OPS_SERVICES_MAX];
    Nagar__Operations__CheckpointState checkpoint = NAGAR__OPERATIONS__CHECKPOINT_STATE__INIT;
    char checked_at[32], created_at[32], detail[512] = "";

    page.broker_reachable = gateway_ready_broker_reachable(ready);
    size_t count = 0;
    bool quarantine_known = true;
    for (const char *const *s = gateway_route_services(); *s && count < OPS_SERVICES_MAX; s++) {
        int state = gateway_ready_service(ready, *s);
        int quarantined = gateway_ready_quarantined(ready, *s);
        nagar__operations__service_state__init(&states[count]);
        states[count].name = (char *) *s;
        states[count].worker = state == 1 ? "OK" : state == 0 ? "NO_WORKER" : "NOT_PROBED";
        states[count].quarantine = quarantined == 1 ? "QUARANTINED"
                                   : quarantined == 0 ? "NONE" : "UNKNOWN";
        quarantine_known = quarantine_known && quarantined >= 0;
        listed[count] = &states[count];
        count++;
    }
    page.n_services = count;
    page.services = listed;
    page.quarantine_known = quarantine_known;
    page.quarantine_note = quarantine_known ? "" : (char *) QUARANTINE_NOTE;
    iso_utc(now_ms, checked_at, sizeof checked_at);
    page.checked_at = checked_at;

    Nagar__Witness__CheckpointSummary *summary = NULL;
    if (witness->code == NAGAR__STATUS_CODE__OK)
        summary = nagar__witness__checkpoint_summary__unpack(NULL, witness->payload_size,
                                                             witness->payload);
    if (summary) {
        checkpoint.status = summary->signature_ok ? "VERIFIED" : "BAD_SIGNATURE";
        checkpoint.created_us = summary->created_us;
        iso_utc(summary->created_us / 1000, created_at, sizeof created_at);
        checkpoint.created_at = created_at;
        checkpoint.age_seconds = (now_ms - summary->created_us / 1000) / 1000;
        checkpoint.heads = summary->heads;
        checkpoint.chains = summary->chains;
        checkpoint.stored_at = summary->stored_at;
        snprintf(detail, sizeof detail, "%s",
                 summary->signature_ok
                     ? "nagarctl checkpoint signs only a state whose chains verify: this is the "
                       "latest successful verification. A failed one signs nothing (see the "
                       "checkpointer's log) and shows here as an ageing checkpoint."
                     : "the latest stored checkpoint does not verify with the published "
                       "checkpoint key: it was altered or signed by another key; run "
                       "nagarctl verify");
    } else if (witness->code == NAGAR__STATUS_CODE__NOT_FOUND) {
        checkpoint.status = "NONE";
        snprintf(detail, sizeof detail, "no checkpoint has been signed yet: %s",
                 witness->message);
    } else {
        checkpoint.status = "UNAVAILABLE";
        snprintf(detail, sizeof detail, "the witness did not answer (%s): %.400s",
                 witness->code == NAGAR__STATUS_CODE__OK ? "an unreadable reply"
                                                         : nagar_status_name(witness->code),
                 witness->message);
    }
    checkpoint.detail = detail;
    page.checkpoint = &checkpoint;

    json_t *object = nagar_json_encode_object_with_defaults(&page.base);
    char *text = object ? json_dumps(object, JSON_COMPACT) : NULL;
    json_decref(object);
    if (summary)
        nagar__witness__checkpoint_summary__free_unpacked(summary, NULL);
    return text;
}
