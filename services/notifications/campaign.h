/*
 * campaign.h — reminder campaigns over the message queue, and opt-out.
 *
 *   campaign.start           StartCampaignRequest -> Campaign
 *   campaign.add_recipients  AddRecipientsRequest -> AddRecipientsReply
 *   campaign.status          CampaignStatusRequest -> Campaign
 *       callers: gateway (STATE_ADMIN, or the ULB's COMMISSIONER / REVENUE_OFFICER),
 *       batch, property_tax, water_tax (services feeding their defaulters)
 *   optout.set               SetOptOutRequest -> OptOut      caller: gateway
 *       a CITIZEN for their own user id; staff for a mobile or e-mail at the counter
 *
 * A campaign is (ulb, kind, cycle): starting it again returns the same
 * campaign. Recipients arrive in batches of up to 500 and are unique per
 * campaign by person (mobile, else e-mail): adding one twice adds nothing,
 * and the message table's unique index (campaign, channel, address) is a
 * second fence. The worker's tick turns pending recipients into queued
 * messages at the campaign's per-minute rate (with at most a minute of
 * saved-up credit), from where delivery treats them like any other
 * non-essential message. All state is in the database, so a restarted
 * notifications continues where it stopped, and a second process shares
 * the work (campaign rows are claimed with SKIP LOCKED).
 *
 *   NAGAR_NOTIFY_CAMPAIGN_PER_MINUTE  default throttle (60)
 *   NAGAR_NOTIFY_CAMPAIGN_BATCH       most recipients queued per tick (100)
 */
#ifndef NAGAR_NOTIFY_CAMPAIGN_H
#define NAGAR_NOTIFY_CAMPAIGN_H

#include "notify.h"

#define CAMPAIGN_BATCH_MAX 500

int campaign_start(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int campaign_add_recipients(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int campaign_status(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int optout_set(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

/* Queues the next recipients of running campaigns; bounded by the batch. */
void campaign_tick(notify_t *self);

#endif
