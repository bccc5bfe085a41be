/*
 * otp.c — one-time passwords for citizen login (see otp.h).
 *
 * Requests for one number (and for one client address) are serialised by
 * transaction-scoped advisory locks, so two identity processes cannot both
 * let a fourth code through. Failed guesses are committed even though the
 * call fails: the attempt counter is the brute-force defence, and a
 * rollback would hand out unlimited guesses.
 */
#include "otp.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "key_file.h"
#include "log.h"
#include "proto/notifications.pb-c.h"
#include "session.h"

#define OTP_DIGITS 6
#define SALT_BYTES 16

static void code_hash(const uint8_t key[IDENTITY_OTP_KEY_BYTES], const unsigned char *salt,
                      const char *mobile, const char *code, unsigned char out[32])
{
    crypto_generichash_state state;
    crypto_generichash_init(&state, key, IDENTITY_OTP_KEY_BYTES, 32);
    crypto_generichash_update(&state, salt, SALT_BYTES);
    crypto_generichash_update(&state, (const unsigned char *) mobile, strlen(mobile));
    crypto_generichash_update(&state, (const unsigned char *) code, strlen(code));
    crypto_generichash_final(&state, out, 32);
}

/* One JSON line, one write(2) with O_APPEND, so concurrent writers never
 * interleave within a line. */
static int sink_deliver(identity_t *self, const char *mobile, const char *code)
{
    char at[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char line[160];
    int length = snprintf(line, sizeof line, "{\"mobile\":\"%s\",\"otp\":\"%s\",\"at\":\"%s\"}\n",
                          mobile, code, at);
    int fd = open(self->otp_sink_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        nagar_log_error("identity.otp_sink_failed", "cannot open the OTP sink %s: %s",
                        self->otp_sink_path, strerror(errno));
        sodium_memzero(line, sizeof line);
        return -1;
    }
    ssize_t written = write(fd, line, (size_t) length);
    int saved = errno;
    close(fd);
    sodium_memzero(line, sizeof line);
    if (written != length) {
        nagar_log_error("identity.otp_sink_failed", "cannot write the OTP sink %s: %s",
                        self->otp_sink_path, strerror(saved));
        return -1;
    }
    return 0;
}

/* Hands the code to nagar-notifications (message.send, template otp.login,
 * the code a secret param: notifications stores it only sealed until sent).
 * Waits for the acknowledgement, keeping the worker's heartbeats going;
 * the client's deadline bounds the wait. One random idempotency key
 * per code, so the client's retries cannot send it twice. */
static int notifications_deliver(identity_t *self, nagar_worker_call_t *call, const char *mobile,
                                 const char *code)
{
    char minutes[24], key[40], id[33];
    snprintf(minutes, sizeof minutes, "%ld", (self->otp_ttl_s + 59) / 60);
    nagar_bus_new_id(id);
    snprintf(key, sizeof key, "otp:%s", id);
    Nagar__Notifications__Param otp_param = NAGAR__NOTIFICATIONS__PARAM__INIT;
    otp_param.name = "otp";
    otp_param.value = (char *) code;
    Nagar__Notifications__Param minutes_param = NAGAR__NOTIFICATIONS__PARAM__INIT;
    minutes_param.name = "minutes";
    minutes_param.value = minutes;
    Nagar__Notifications__Param *params[] = {&otp_param, &minutes_param};
    char *secret[] = {"otp"};
    Nagar__Notifications__Recipient recipient = NAGAR__NOTIFICATIONS__RECIPIENT__INIT;
    recipient.mobile = (char *) mobile;
    recipient.language = "hi";
    Nagar__Notifications__SendMessageRequest request =
        NAGAR__NOTIFICATIONS__SEND_MESSAGE_REQUEST__INIT;
    request.type = "otp.login";
    request.recipient = &recipient;
    request.n_params = 2;
    request.params = params;
    request.n_secret_params = 1;
    request.secret_params = secret;
    request.essential = true;
    request.expires_in_seconds = (uint32_t) self->otp_ttl_s;
    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
    context.idempotency_key = key;
    context.request_id = (char *) nagar_worker_call_context(call)->request_id;
    nagar_bus_call_t bus_call = {.service = "notifications", .method = "message.send",
                                 .context = &context, .request = &request.base,
                                 .timeout_ms = (int) self->otp_send_timeout_ms};
    /* The wait keeps the worker's heartbeats going (main.c's
     * nagar_service_keep_worker_alive_on_bus). */
    char message[256];
    nagar_status_code_t status = nagar_bus_client_call(self->notify_client, &bus_call, NULL, NULL,
                                                       message, sizeof message, NULL, 0);
    if (status != NAGAR__STATUS_CODE__OK) {
        nagar_log_error("identity.otp_notify_failed",
                        "notifications did not accept the one-time password: %s: %s",
                        nagar_status_name(status), message);
        return -1;
    }
    return 0;
}

/* One OTP transaction for a mobile: otp.request (client_ip) or
 * otp.verify (otp; the tokens it issues). */
typedef struct {
    identity_t *self;
    nagar_worker_call_t *call;
    const char *mobile;
    const char *client_ip;        /* otp.request */
    const char *otp;              /* otp.verify */
    session_tokens_t tokens;      /* otp.verify */
    nagar_outcome_t outcome;
} otp_work_t;

static int request_work(nagar_db_t *db, void *arg)
{
    (void) db;
    otp_work_t *work = arg;
    identity_t *self = work->self;
    nagar_outcome_reset(&work->outcome);

    /* Always number first, then address: one order, no deadlock. */
    char lock_number[64], lock_address[96];
    snprintf(lock_number, sizeof lock_number, "identity.otp.mobile:%s", work->mobile);
    snprintf(lock_address, sizeof lock_address, "identity.otp.ip:%s", work->client_ip);
    for (int i = 0; i < (work->client_ip[0] ? 2 : 1); i++) {
        const char *lock_values[] = {i == 0 ? lock_number : lock_address};
        PGresult *locked = nagar_service_query(self->db, "otp_lock",
                                               "SELECT pg_advisory_xact_lock(hashtext($1))", 1,
                                               lock_values);
        if (!locked)
            return -1;
        PQclear(locked);
    }
    PGresult *result;

    char window[24], ttl[24];
    snprintf(window, sizeof window, "%ld", self->otp_window_s);
    snprintf(ttl, sizeof ttl, "%ld", self->otp_ttl_s);
    const char *count_values[] = {work->mobile, work->client_ip, window};
    result = nagar_service_query(
        self->db, "otp_counts",
        "SELECT (SELECT count(*) FROM identity.otp WHERE mobile = $1 "
        "          AND created_at > now() - make_interval(secs => $3::int)), "
        "       (SELECT coalesce(floor(extract(epoch FROM now() - max(created_at))), 1e9)::bigint "
        "          FROM identity.otp WHERE mobile = $1), "
        "       (SELECT count(*) FROM identity.otp WHERE $2 <> '' AND client_ip = $2 "
        "          AND created_at > now() - make_interval(secs => $3::int))",
        3, count_values);
    if (!result)
        return -1;
    long per_number = strtol(PQgetvalue(result, 0, 0), NULL, 10);
    long since_last = strtol(PQgetvalue(result, 0, 1), NULL, 10);
    long per_ip = strtol(PQgetvalue(result, 0, 2), NULL, 10);
    PQclear(result);

    if (since_last < self->otp_resend_s) {
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__RESOURCE_EXHAUSTED, "mobile",
                          "resend limit: one code per number every %ld seconds; try again in "
                          "%ld seconds",
                          self->otp_resend_s, self->otp_resend_s - since_last);
        return 1;
    }
    if (per_number >= self->otp_per_number) {
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__RESOURCE_EXHAUSTED, "mobile",
                          "per-number limit: at most %ld codes per number in %ld minutes; try "
                          "again later",
                          self->otp_per_number, self->otp_window_s / 60);
        return 1;
    }
    if (per_ip >= self->otp_per_ip) {
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__RESOURCE_EXHAUSTED, NULL,
                          "per-address limit: at most %ld codes per client address in %ld "
                          "minutes; try again later",
                          self->otp_per_ip, self->otp_window_s / 60);
        return 1;
    }

    /* Only the newest code of a number is valid. */
    const char *mobile_values[] = {work->mobile};
    result = nagar_service_query(
        self->db, "otp_supersede",
        "UPDATE identity.otp SET dead = true WHERE mobile = $1 AND NOT dead", 1, mobile_values);
    if (!result)
        return -1;
    PQclear(result);

    char code[OTP_DIGITS + 1];
    snprintf(code, sizeof code, "%06" PRIu32, randombytes_uniform(1000000));
    unsigned char salt[SALT_BYTES], hash[32];
    randombytes_buf(salt, sizeof salt);
    code_hash(self->otp_key, salt, work->mobile, code, hash);
    char salt_hex[SALT_BYTES * 2 + 1], hash_hex[65];
    sodium_bin2hex(salt_hex, sizeof salt_hex, salt, sizeof salt);
    sodium_bin2hex(hash_hex, sizeof hash_hex, hash, sizeof hash);
    const char *insert_values[] = {work->mobile, work->client_ip, salt_hex, hash_hex, ttl};
    result = nagar_service_query(
        self->db, "otp_insert",
        "INSERT INTO identity.otp (mobile, client_ip, salt, code_hash, expires_at) "
        "VALUES ($1, $2, decode($3, 'hex'), decode($4, 'hex'), "
        "now() + make_interval(secs => $5::int))",
        5, insert_values);
    if (!result) {
        sodium_memzero(code, sizeof code);
        return -1;
    }
    PQclear(result);

    /* Delivered before commit: a code that could not be sent is not kept. */
    int delivered = self->otp_via_notifications
                        ? notifications_deliver(self, work->call, work->mobile, code)
                        : sink_deliver(self, work->mobile, code);
    sodium_memzero(code, sizeof code);
    if (delivered != 0) {
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                          "the one-time password could not be delivered; try again later");
        return 1;
    }
    return 0;
}

/* Answers a request whose mobile is not an Indian mobile number. */
static int mobile_refused(nagar_worker_call_t *call)
{
    return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "mobile",
                                  "mobile must be a 10-digit Indian mobile number starting "
                                  "with 6, 7, 8 or 9 (no +91 or spaces)");
}

int identity_otp_request(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__RequestOtpRequest *request =
        (const Nagar__Identity__RequestOtpRequest *) message;
    if (!identity_mobile_valid(request->mobile))
        return mobile_refused(call);
    const char *client_ip = nagar_worker_call_context(call)->client_ip;
    if (!client_ip)
        client_ip = "";
    if (!identity_text_valid(client_ip, 0, 64))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "context.clientIp",
                                      "the request context's client address is not printable "
                                      "text of at most 64 characters");
    if (!self->otp_via_notifications && !self->otp_sink_path[0])
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "one-time passwords cannot be delivered: no delivery "
                                      "channel is configured (NAGAR_IDENTITY_OTP_VIA, "
                                      "NAGAR_OTP_SINK_FILE)");

    otp_work_t work = {.self = self, .call = call, .mobile = request->mobile,
                           .client_ip = client_ip};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, request_work, &work);
    if (rc != 0) {
        if (rc == 1 && work.outcome.code == NAGAR__STATUS_CODE__RESOURCE_EXHAUSTED)
            nagar_log_warn("identity.otp_rate_limited", "%s", work.outcome.message);
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, rc, &work.outcome);
    }
    nagar_log_info("identity.otp_sent", "one-time password sent");
    Nagar__Identity__RequestOtpReply reply = NAGAR__IDENTITY__REQUEST_OTP_REPLY__INIT;
    reply.expires_in_seconds = (uint32_t) self->otp_ttl_s;
    reply.resend_after_seconds = (uint32_t) self->otp_resend_s;
    return nagar_worker_call_reply(call, &reply.base);
}

static int verify_work(nagar_db_t *db, void *arg)
{
    (void) db;
    otp_work_t *work = arg;
    identity_t *self = work->self;
    nagar_outcome_reset(&work->outcome);
    identity_session_tokens_clear(&work->tokens);

    const char *values[] = {work->mobile};
    PGresult *result = nagar_service_query(
        self->db, "otp_pending",
        "SELECT id, encode(salt, 'hex'), encode(code_hash, 'hex'), attempts, expires_at <= now() "
        "FROM identity.otp WHERE mobile = $1 AND NOT dead ORDER BY id DESC LIMIT 1 FOR UPDATE",
        1, values);
    if (!result)
        return -1;
    if (PQntuples(result) != 1) {
        PQclear(result);
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__UNAUTHENTICATED, "otp",
                          "no one-time password is pending for this number (none requested, "
                          "already used, or out of attempts); request a new one");
        return 1;
    }
    char id[24];
    snprintf(id, sizeof id, "%s", PQgetvalue(result, 0, 0));
    unsigned char salt[SALT_BYTES], stored[32], presented[32];
    size_t salt_size = 0, stored_size = 0;
    int bad_row =
        sodium_hex2bin(salt, sizeof salt, PQgetvalue(result, 0, 1), SALT_BYTES * 2, NULL,
                       &salt_size, NULL) != 0 ||
        sodium_hex2bin(stored, sizeof stored, PQgetvalue(result, 0, 2), 64, NULL, &stored_size,
                       NULL) != 0;
    long attempts = strtol(PQgetvalue(result, 0, 3), NULL, 10);
    bool expired = strcmp(PQgetvalue(result, 0, 4), "t") == 0;
    PQclear(result);
    if (bad_row || salt_size != SALT_BYTES || stored_size != 32)
        return -1;

    if (expired) {
        const char *id_values[] = {id};
        result = nagar_service_query(self->db, "otp_kill",
                                     "UPDATE identity.otp SET dead = true WHERE id = $1::bigint", 1,
                                     id_values);
        if (!result)
            return -1;
        PQclear(result);
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__UNAUTHENTICATED, "otp",
                          "the one-time password has expired; request a new one");
        return 0;
    }

    code_hash(self->otp_key, salt, work->mobile, work->otp, presented);
    if (sodium_memcmp(presented, stored, sizeof stored) != 0) {
        attempts++;
        bool dead = attempts >= self->otp_max_attempts;
        char attempts_text[24];
        snprintf(attempts_text, sizeof attempts_text, "%ld", attempts);
        const char *update_values[] = {id, attempts_text, dead ? "true" : "false"};
        result = nagar_service_query(
            self->db, "otp_attempt",
            "UPDATE identity.otp SET attempts = $2::smallint, dead = $3::boolean "
            "WHERE id = $1::bigint",
            3, update_values);
        if (!result)
            return -1;
        PQclear(result);
        nagar_log_warn("identity.otp_wrong", "wrong one-time password (attempt %ld of %ld)",
                       attempts, self->otp_max_attempts);
        if (dead)
            nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__UNAUTHENTICATED, "otp",
                              "wrong one-time password; that was the last attempt, the code "
                              "is no longer valid; request a new one");
        else
            nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__UNAUTHENTICATED, "otp",
                              "wrong one-time password; %ld attempt%s left",
                              self->otp_max_attempts - attempts,
                              self->otp_max_attempts - attempts == 1 ? "" : "s");
        return 0;   /* commit the attempt */
    }

    const char *id_values[] = {id};
    result = nagar_service_query(self->db, "otp_kill",
                                 "UPDATE identity.otp SET dead = true WHERE id = $1::bigint", 1,
                                 id_values);
    if (!result)
        return -1;
    PQclear(result);
    result = nagar_service_query(
        self->db, "citizen_upsert",
        "INSERT INTO identity.citizen (user_id, mobile) "
        "VALUES ('citizen:' || gen_random_uuid(), $1) "
        "ON CONFLICT (mobile) DO UPDATE SET last_login_at = now() RETURNING user_id",
        1, values);
    if (!result)
        return -1;
    char user_id[96];
    snprintf(user_id, sizeof user_id, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    return identity_session_create(self, work->call, user_id, "CITIZEN", "", &work->tokens);
}

int identity_otp_verify(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__VerifyOtpRequest *request =
        (const Nagar__Identity__VerifyOtpRequest *) message;
    if (!identity_mobile_valid(request->mobile))
        return mobile_refused(call);
    if (!nagar_text_digits(request->otp, OTP_DIGITS, OTP_DIGITS))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "otp",
                                      "otp must be the 6 digits that were sent");
    otp_work_t work = {.self = self, .call = call, .mobile = request->mobile,
                          .otp = request->otp};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, verify_work, &work);
    if (rc == 0 && work.outcome.code != NAGAR__STATUS_CODE__OK)
        rc = 1;
    if (rc != 0) {
        identity_session_tokens_clear(&work.tokens);
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, rc, &work.outcome);
    }
    json_t *fields = json_pack("{s:s}", "user_id", work.tokens.user_id);
    nagar_log_write(NAGAR_LOG_INFO, "identity.citizen_login", fields, "citizen logged in");
    rc = identity_session_reply(call, &work.tokens);
    identity_session_tokens_clear(&work.tokens);
    return rc;
}

int identity_otp_keygen(const char *path, char *error, size_t error_size)
{
    if (sodium_init() < 0) {
        snprintf(error, error_size, "libsodium failed to initialise");
        return -1;
    }
    uint8_t key[IDENTITY_OTP_KEY_BYTES];
    randombytes_buf(key, sizeof key);
    int rc = nagar_key_file_write(path, key, sizeof key, 0600, error, error_size);
    sodium_memzero(key, sizeof key);
    return rc;
}

int identity_otp_key_load(const char *path, uint8_t key[IDENTITY_OTP_KEY_BYTES], char *error,
                          size_t error_size)
{
    if (nagar_key_file_read(path, key, IDENTITY_OTP_KEY_BYTES, error, error_size) == 0)
        return 0;
    size_t used = strlen(error);
    if (used < error_size)
        snprintf(error + used, error_size - used,
                 " (the OTP key; create it with nagar-identity otp-keygen FILE)");
    return -1;
}
