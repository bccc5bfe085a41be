/*
 * my_messages.c — message.mine, a citizen's own messages (see
 * my_messages.h). One indexed query (migration 009: message_user_idx) over
 * the messages queued for the signed-in user id.
 */
#include "my_messages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MINE_PAGE_DEFAULT 20
#define MINE_PAGE_MAX 50
#define TIME_TEXT(column)                                                                     \
    "coalesce(to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), '')"

/* The delivery states as the citizen sees them. */
static const char *status_text(const char *state)
{
    if (strcmp(state, "sent") == 0)
        return "SENT";
    if (strcmp(state, "dead") == 0)
        return "FAILED";
    if (strcmp(state, "suppressed") == 0)
        return "SUPPRESSED";
    if (strcmp(state, "sending") == 0)
        return "SENDING";
    return "QUEUED";
}

int notifications_message_mine(nagar_worker_call_t *call, const ProtobufCMessage *message,
                               void *arg)
{
    notify_t *self = arg;
    const Nagar__Notifications__ListMyMessagesRequest *request =
        (const Nagar__Notifications__ListMyMessagesRequest *) message;
    const char *user = nagar_actor_user(call);
    if (strcmp(notify_actor_role(call), "CITIZEN") != 0 || !user[0])
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "a citizen signed in reads their own messages; staff read "
                                      "delivery status (message.list)");
    if (request->language[0] && strcmp(request->language, "hi") != 0 &&
        strcmp(request->language, "en") != 0)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "language",
                                      "language must be \"hi\", \"en\" or empty (each "
                                      "message's own)");
    notify_page_t page;
    if (!notify_page_read(&page, call, request->page_size, request->page_token,
                          MINE_PAGE_DEFAULT, MINE_PAGE_MAX))
        return -1;
    const char *values[] = {user, request->language, page.after, page.limit};
    PGresult *rows = nagar_service_query(
        self->db, "message_mine",
        "SELECT m.id, m.type, CASE WHEN coalesce(nullif($2, ''), m.language) = 'en' "
        "THEN t.title_en ELSE t.title_hi END, m.channel, "
        "CASE WHEN char_length(m.address) > 4 THEN repeat('*', char_length(m.address) - 4) || "
        "right(m.address, 4) ELSE m.address END, m.subject, m.body, m.language, m.status, "
        TIME_TEXT("m.created_at") ", " TIME_TEXT("m.sent_at") " "
        "FROM notifications.message m JOIN notifications.event_type t ON t.type = m.type "
        "WHERE m.user_id = $1 AND m.type <> 'otp.login' AND m.seal_key_id IS NULL "
        "AND m.body_sealed IS NULL AND ($3::bigint = 0 OR m.id < $3::bigint) "
        "ORDER BY m.id DESC LIMIT $4::int",
        4, values);
    char next[64];
    int count;
    Nagar__Notifications__MyMessage **items =
        notify_page_list(self, call, &page, rows, sizeof **items, next, sizeof next, &count);
    if (!items)
        return -1;
    for (int i = 0; i < count; i++) {
        Nagar__Notifications__MyMessage *m = items[i];
        nagar__notifications__my_message__init(m);
        m->message_id = PQgetvalue(rows, i, 0);
        m->type = PQgetvalue(rows, i, 1);
        m->title = PQgetvalue(rows, i, 2);
        m->channel = notify_channel_value(PQgetvalue(rows, i, 3));
        m->address = PQgetvalue(rows, i, 4);
        m->subject = PQgetvalue(rows, i, 5);
        m->text = PQgetvalue(rows, i, 6);
        m->language = PQgetvalue(rows, i, 7);
        m->status = (char *) status_text(PQgetvalue(rows, i, 8));
        m->created_at = PQgetvalue(rows, i, 9);
        m->sent_at = PQgetvalue(rows, i, 10);
    }
    Nagar__Notifications__ListMyMessagesReply reply =
        NAGAR__NOTIFICATIONS__LIST_MY_MESSAGES_REPLY__INIT;
    return nagar_reply_page(call, &reply.base, "messages", items, (size_t) count, next, rows);
}
