/*
 * my_messages.h — a citizen's own messages (message.mine): what this
 * service sent them, newest first, for the portal's "my messages" screen
 * (web/README.md, "What the portal waits for").
 *
 * Whose messages they are is the signed-in citizen's user id as the
 * service verified it from their token (nagar_actor_user), never a
 * parameter: a message is theirs when it was queued for their account
 * (notifications.message.user_id, set when the event named them or the
 * record's person had an account). A message that went to a number on a
 * record before its person had an account is not listed. OTPs and any
 * message with a secret (a sealed body) are never listed; nor are
 * addresses in clear (the last four characters only), delivery errors or
 * provider ids. Each message has its type's title in the language asked
 * (or the message's own), its channel, subject and text as sent, status and
 * times. Paged by an opaque token, at most 50 a page.
 */
#ifndef NOTIFY_MY_MESSAGES_H
#define NOTIFY_MY_MESSAGES_H

#include "notify.h"

/* message.mine: ListMyMessagesRequest -> ListMyMessagesReply; citizens only. */
int notifications_message_mine(nagar_worker_call_t *call, const ProtobufCMessage *request,
                               void *arg);

#endif
