/*
 * delivery.h — the delivery loop and delivery status.
 *
 * notifications_delivery_tick runs from the bus worker's tick: it claims due messages
 * (SELECT ... FOR UPDATE SKIP LOCKED, so any number of notifications
 * processes share the queue without sending a message twice), applies the
 * rules for non-essential messages (opt-out: suppressed; quiet hours and
 * the per-recipient rate limit: deferred), starts their transfers on a
 * curl multi handle and advances every transfer in flight for at most the
 * tick budget — transfers outlive a tick, so a slow provider never holds
 * the worker past its heartbeat. A claimed message carries a lease
 * (timeout + 30 s); a process that dies mid-send leaves it to be claimed
 * again when the lease ends.
 *
 * Outcomes: sent; a transient failure is retried after
 * base * 2^(attempt-1) ms (capped), with full jitter over the upper half;
 * after NAGAR_NOTIFY_MAX_ATTEMPTS attempts, or on a permanent rejection,
 * the message is dead (dead-lettered, kept with its last error).
 *
 * Settings:
 *   NAGAR_NOTIFY_HTTP_TIMEOUT_MS     whole transfer, HTTP and SMTP (10000)
 *   NAGAR_NOTIFY_CONNECT_TIMEOUT_MS  connection set-up (3000)
 *   NAGAR_NOTIFY_MAX_ATTEMPTS        attempts before dead (6)
 *   NAGAR_NOTIFY_RETRY_BASE_MS       first retry delay (30000)
 *   NAGAR_NOTIFY_RETRY_MAX_MS        longest retry delay (3600000)
 *   NAGAR_NOTIFY_MAX_IN_FLIGHT       transfers at once per process (16)
 *   NAGAR_NOTIFY_TICK_BUDGET_MS      longest a tick may advance transfers (300, <= 1000)
 *   NAGAR_NOTIFY_RATE_PER_RECIPIENT  non-essential messages per address per window (5)
 *   NAGAR_NOTIFY_RATE_WINDOW_S       that window (3600)
 *   NAGAR_NOTIFY_QUIET_HOURS         IST window with no non-essential messages,
 *                                    "21:00-08:00" (default); "off" for none
 *
 *   message.list  ListMessagesRequest -> ListMessagesReply   staff: ULB staff see
 *                 their ULB's messages, STATE_ADMIN every ULB's and the state's (OTP)
 */
#ifndef NAGAR_NOTIFY_DELIVERY_H
#define NAGAR_NOTIFY_DELIVERY_H

#include "notify.h"

/* Reads the settings and opens the channels. NULL with the reason. */
delivery_t *notifications_delivery_new(notify_t *owner, char *error, size_t error_size);
void notifications_delivery_destroy(delivery_t **self_p);

/* One bounded slice of delivery work. */
void notifications_delivery_tick(delivery_t *self);

/* Whether messages of channel ("sms", "email") can be delivered. */
bool notifications_delivery_has_channel(delivery_t *self, const char *channel);

int notifications_message_list(nagar_worker_call_t *call, const ProtobufCMessage *request,
                               void *arg);

#endif
