/*
 * audit.c — appending to and reading the audit log (see audit.h).
 *
 * The log is read newest first and paged by id, so a page token is just
 * the last id seen; its rows become AuditEntry messages by their columns'
 * names (service.h's nagar_reply_rows, which certificates' trail shares).
 * A commissioner sees the rows of their own ULB only; the scope is a SQL
 * condition, not a filter applied after reading.
 */
#include "audit.h"

#define AUDIT_PAGE_DEFAULT 50
#define AUDIT_PAGE_MAX 200

int identity_audit_append(identity_t *self, nagar_worker_call_t *call, const char *actor,
                          const char *actor_role, const char *action, const char *subject,
                          const char *ulb, json_t *detail)
{
    static const nagar_audit_t trail = {
        .service = IDENTITY_SERVICE,
        .insert_sql = "INSERT INTO identity.audit (actor, actor_role, action, subject, ulb, "
                      "detail, request_id, client_ip) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, "
                      "$8)",
    };
    return nagar_audit_append(&trail, self->db, call, actor, actor_role, action, subject, ulb,
                              detail);
}

static bool audit_id_valid(const char *id)
{
    return nagar_text_digits(id, 1, 18);
}

int identity_audit_list(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__ListAuditRequest *request =
        (const Nagar__Identity__ListAuditRequest *) message;

    bool state_admin = nagar_actor_is(call, "STATE_ADMIN");
    bool commissioner = nagar_actor_is(call, "COMMISSIONER");
    if (!state_admin && !commissioner)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "reading the audit log needs the STATE_ADMIN or "
                                      "COMMISSIONER role");
    if (!identity_text_valid(request->subject, 0, 200))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "subject",
                                      "subject must be at most 200 printable characters");
    identity_page_t page;   /* before the id */
    if (identity_page_read(&page, call, request->page_size, request->page_token,
                           AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX, 1, audit_id_valid) != 0)
        return -1;
    if (commissioner && !nagar_actor_ulb(call)[0])
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "a commissioner's token must name their ULB");

    const char *values[] = {
        request->subject,
        page.after ? page.parts[0] : NULL,
        commissioner ? nagar_actor_ulb(call) : NULL,
        page.limit,
    };
    PGresult *result = nagar_service_query(
        self->db, "audit_list",
        "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS at, "
        "actor, action, subject, detail::text AS detail FROM identity.audit "
        "WHERE ($1 = '' OR subject = $1) AND ($2::bigint IS NULL OR id < $2::bigint) "
        "AND ($3::text IS NULL OR ulb = $3) ORDER BY id DESC LIMIT $4::int",
        4, values);
    if (!result)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);

    char next[512];
    static const int token_columns[] = {0};   /* id */
    int shown = identity_page_end(result, &page, token_columns, 1, next, sizeof next);
    Nagar__Identity__ListAuditReply reply = NAGAR__IDENTITY__LIST_AUDIT_REPLY__INIT;
    return nagar_reply_rows(call, &reply.base, "entries", result, shown, next);
}
