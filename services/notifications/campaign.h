/*
 * campaign.h — reminder campaigns over the message queue, and opt-out.
 *
 *   campaign.start           StartCampaignRequest -> Campaign
 *   campaign.add_recipients  AddRecipientsRequest -> AddRecipientsReply
 *   campaign.status          CampaignStatusRequest -> Campaign
 *       callers: gateway (STATE_ADMIN, or the ULB's COMMISSIONER / REVENUE_OFFICER),
 *       batch, and property_tax or water_tax for a campaign of their own kind
 *   optout.set               SetOptOutRequest -> OptOut      caller: gateway
 *       a CITIZEN for their own user id; staff for a mobile or e-mail at the counter
 *
 * A campaign is (ulb, kind, cycle): starting it again returns the same
 * campaign. Recipients arrive in batches of up to 500, each named by its
 * account (the params' account: a property or connection of the ULB) and,
 * when known, the owner's user id, never a contact; params are typed as
 * due.reminder.<kind> declares them (event_rules.h), and a recipient
 * refused for them is kept as failed with the reason. Recipients are unique
 * per campaign by account: adding one twice adds nothing, and the message
 * table's unique index (campaign, channel, address) makes sure a person
 * owning two accounts hears once. The worker's tick turns pending
 * recipients into events at the campaign's per-minute rate (with at most a
 * minute of saved-up credit); the resolver (recipients.h) finds each
 * account's owner and contact, and delivery treats the messages like any
 * other non-essential message. All state is in the database, so a restarted
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

int notifications_campaign_start(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                 void *arg);
int notifications_campaign_add_recipients(nagar_worker_call_t *call,
                                          const ProtobufCMessage *request, void *arg);
int notifications_campaign_status(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                  void *arg);
int notifications_optout_set(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

/* Queues the next recipients of running campaigns; bounded by the batch. */
void notifications_campaign_tick(notify_t *self);

#endif
