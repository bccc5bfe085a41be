/*
 * test_bus_framing.c — MDP/0.1 framing and nagar.Request / nagar.Reply
 * envelopes (common/mdp_frames.h), and the broker-free parts of bus.h,
 * tested without a broker: what the client and worker put on the wire must
 * be exactly what mdp.h says, and what they accept must be no more.
 *
 * The second half drives the real client and worker against a ROUTER
 * socket in this process (inproc, no CURVE) that plays the broker, so reply
 * matching, retries, deadlines and the worker's checks are tested frame by
 * frame without a broker process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <pthread.h>

#include "bus.h"
#include "bus_client.h"
#include "bus_worker.h"
#include "log.h"
#include "mdp_frames.h"
#include "tests/proto/echo.pb-c.h"

static void assert_frame_text(zframe_t *frame, const char *text)
{
    assert_non_null(frame);
    assert_int_equal(zframe_size(frame), strlen(text));
    assert_memory_equal(zframe_data(frame), text, strlen(text));
}

static void test_client_request_frames(void **state)
{
    (void) state;
    zmsg_t *message = nagar_mdp_client_request_new("echo", "body", 4);
    assert_non_null(message);
    assert_int_equal(zmsg_size(message), 4);
    assert_frame_text(zmsg_first(message), "");
    assert_frame_text(zmsg_next(message), "MDPC01");
    assert_frame_text(zmsg_next(message), "echo");
    assert_frame_text(zmsg_next(message), "body");
    zmsg_destroy(&message);
}

static void test_client_request_rejects_bad_service(void **state)
{
    (void) state;
    assert_null(nagar_mdp_client_request_new("", "x", 1));
    assert_null(nagar_mdp_client_request_new(NULL, "x", 1));
    char longest[MDP_SERVICE_NAME_MAX + 2];
    memset(longest, 's', sizeof longest - 1);
    longest[MDP_SERVICE_NAME_MAX + 1] = '\0';
    assert_null(nagar_mdp_client_request_new(longest, "x", 1));
    longest[MDP_SERVICE_NAME_MAX] = '\0';
    zmsg_t *message = nagar_mdp_client_request_new(longest, "x", 1);
    assert_non_null(message);
    zmsg_destroy(&message);
}

static void test_client_reply_parse(void **state)
{
    (void) state;
    /* A broker reply has the same shape as a client request. */
    zmsg_t *message = nagar_mdp_client_request_new("echo", "reply", 5);
    zframe_t *service = NULL, *body = NULL;
    char error[256];
    assert_int_equal(nagar_mdp_client_reply_parse(message, &service, &body, error, sizeof error),
                     0);
    assert_frame_text(service, "echo");
    assert_frame_text(body, "reply");
    zmsg_destroy(&message);
}

static void test_client_reply_parse_rejects(void **state)
{
    (void) state;
    char error[256];
    zframe_t *service = NULL, *body = NULL;

    zmsg_t *three = zmsg_new();
    zmsg_addstr(three, "");
    zmsg_addstr(three, "MDPC01");
    zmsg_addstr(three, "echo");
    assert_int_equal(nagar_mdp_client_reply_parse(three, &service, &body, error, sizeof error), -1);
    assert_non_null(strstr(error, "3 frames"));
    zmsg_destroy(&three);

    zmsg_t *wrong_protocol = zmsg_new();
    zmsg_addstr(wrong_protocol, "");
    zmsg_addstr(wrong_protocol, "MDPW01");
    zmsg_addstr(wrong_protocol, "echo");
    zmsg_addstr(wrong_protocol, "body");
    assert_int_equal(nagar_mdp_client_reply_parse(wrong_protocol, &service, &body, error,
                                                  sizeof error), -1);
    assert_non_null(strstr(error, "MDPC01"));
    zmsg_destroy(&wrong_protocol);

    zmsg_t *no_delimiter = zmsg_new();
    zmsg_addstr(no_delimiter, "x");
    zmsg_addstr(no_delimiter, "MDPC01");
    zmsg_addstr(no_delimiter, "echo");
    zmsg_addstr(no_delimiter, "body");
    assert_int_equal(nagar_mdp_client_reply_parse(no_delimiter, &service, &body, error,
                                                  sizeof error), -1);
    assert_non_null(strstr(error, "delimiter"));
    zmsg_destroy(&no_delimiter);
}

static void test_worker_commands(void **state)
{
    (void) state;
    zmsg_t *ready = nagar_mdp_worker_ready_new("echo");
    assert_int_equal(zmsg_size(ready), 4);
    assert_frame_text(zmsg_first(ready), "");
    assert_frame_text(zmsg_next(ready), "MDPW01");
    assert_frame_text(zmsg_next(ready), "\001");
    assert_frame_text(zmsg_next(ready), "echo");
    zmsg_destroy(&ready);
    assert_null(nagar_mdp_worker_ready_new(""));

    zmsg_t *heartbeat = nagar_mdp_worker_heartbeat_new();
    assert_int_equal(zmsg_size(heartbeat), 3);
    zmsg_first(heartbeat);
    zmsg_next(heartbeat);
    assert_frame_text(zmsg_next(heartbeat), "\004");
    zmsg_destroy(&heartbeat);

    zmsg_t *disconnect = nagar_mdp_worker_disconnect_new();
    assert_int_equal(zmsg_size(disconnect), 3);
    zmsg_first(disconnect);
    zmsg_next(disconnect);
    assert_frame_text(zmsg_next(disconnect), "\005");
    zmsg_destroy(&disconnect);

    zframe_t *address = zframe_new("\000\x6b\x8b\x45\x67", 5);
    zmsg_t *reply = nagar_mdp_worker_reply_new(address, "answer", 6);
    assert_int_equal(zmsg_size(reply), 6);
    assert_frame_text(zmsg_first(reply), "");
    assert_frame_text(zmsg_next(reply), "MDPW01");
    assert_frame_text(zmsg_next(reply), "\003");
    zframe_t *copied = zmsg_next(reply);
    assert_true(zframe_eq(copied, address));
    assert_frame_text(zmsg_next(reply), "");
    assert_frame_text(zmsg_next(reply), "answer");
    zmsg_destroy(&reply);
    zframe_destroy(&address);
}

static void test_worker_ready_credit(void **state)
{
    (void) state;
    /* Credit 1 is plain RFC 7: no extra frame. */
    zmsg_t *ready = nagar_mdp_worker_ready_credit_new("echo", 1);
    assert_int_equal(zmsg_size(ready), 4);
    zmsg_destroy(&ready);
    ready = nagar_mdp_worker_ready_credit_new("echo", 8);
    assert_int_equal(zmsg_size(ready), 5);
    assert_frame_text(zmsg_first(ready), "");
    assert_frame_text(zmsg_next(ready), "MDPW01");
    assert_frame_text(zmsg_next(ready), "\001");
    assert_frame_text(zmsg_next(ready), "echo");
    assert_frame_text(zmsg_next(ready), "credit=8");
    zmsg_destroy(&ready);
    ready = nagar_mdp_worker_ready_credit_new("echo", 256);
    assert_frame_text(zmsg_last(ready), "credit=256");
    zmsg_destroy(&ready);
    assert_null(nagar_mdp_worker_ready_credit_new("echo", 0));
    assert_null(nagar_mdp_worker_ready_credit_new("echo", 257));
    assert_null(nagar_mdp_worker_ready_credit_new("", 8));

    assert_int_equal(nagar_mdp_credit_parse("credit=1", 8), 1);
    assert_int_equal(nagar_mdp_credit_parse("credit=8", 8), 8);
    assert_int_equal(nagar_mdp_credit_parse("credit=256", 10), 256);
    const char *refused[] = { "credit=0", "credit=257", "credit=", "credit=08", "credit=-1",
                              "credit=1x", "credit=1000", "Credit=8", "credit 8", "8", "" };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        assert_int_equal(nagar_mdp_credit_parse(refused[i], strlen(refused[i])), 0);
    assert_int_equal(nagar_mdp_credit_parse(NULL, 0), 0);
    /* Bounded by size, not by a terminator. */
    assert_int_equal(nagar_mdp_credit_parse("credit=12", 8), 1);
}

static void test_request_peek(void **state)
{
    (void) state;
    char request_id[33];
    int64_t deadline = 0;
    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
    context.request_id = "r-peek-1";
    context.idempotency_key = "key";
    context.client_ip = "10.0.0.1";
    context.deadline_unix_ms = 1764300000123;
    context.authorization = "v1.k1.claims.signature";
    size_t size = 0;
    uint8_t *body = nagar_envelope_request_pack("echo", &context, (const uint8_t *) "\x0a\x01x",
                                                3, &size);
    assert_int_equal(nagar_envelope_request_peek(body, size, request_id, sizeof request_id,
                                                 &deadline), 0);
    assert_string_equal(request_id, "r-peek-1");
    assert_true(deadline == 1764300000123);

    /* Truncated to fit; a negative deadline survives the varint. */
    char short_id[4];
    assert_int_equal(nagar_envelope_request_peek(body, size, short_id, sizeof short_id,
                                                 &deadline), 0);
    assert_string_equal(short_id, "r-p");
    free(body);
    context.deadline_unix_ms = -5;
    context.request_id = "";
    body = nagar_envelope_request_pack("echo", &context, NULL, 0, &size);
    assert_int_equal(nagar_envelope_request_peek(body, size, request_id, sizeof request_id,
                                                 &deadline), 0);
    assert_string_equal(request_id, "");
    assert_true(deadline == -5);

    /* Every truncation of a valid body is refused or reads a prefix; none
     * reads past the end (ASan would say). */
    for (size_t cut = 0; cut < size; cut++)
        nagar_envelope_request_peek(body, cut, request_id, sizeof request_id, &deadline);
    free(body);

    /* No context: nothing to read. */
    body = nagar_envelope_request_pack("echo", NULL, NULL, 0, &size);
    assert_int_equal(nagar_envelope_request_peek(body, size, request_id, sizeof request_id,
                                                 &deadline), 0);
    assert_string_equal(request_id, "");
    assert_true(deadline == 0);
    free(body);

    /* Not a nagar.Request: refused, nothing read. */
    const uint8_t bad_type[] = { 0x08, 0x01 };              /* method as a varint */
    const uint8_t overlong[] = { 0x12, 0x05, 0x0a, 0x01 };  /* context longer than the data */
    const uint8_t group[] = { 0x0b };                       /* wire type 3 */
    const uint8_t zero_field[] = { 0x00, 0x01 };
    const uint8_t endless[] = { 0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    const struct { const uint8_t *data; size_t size; } refused[] = {
        { bad_type, sizeof bad_type }, { overlong, sizeof overlong }, { group, sizeof group },
        { zero_field, sizeof zero_field }, { endless, sizeof endless },
        { (const uint8_t *) "hello", 5 },
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(request_id, sizeof request_id, "stale");
        deadline = 42;
        assert_int_equal(nagar_envelope_request_peek(refused[i].data, refused[i].size,
                                                     request_id, sizeof request_id, &deadline),
                         -1);
        assert_string_equal(request_id, "");
        assert_true(deadline == 0);
    }
}

/* [""]["MDPW01"][command] + extra frames, as the broker would send. */
static zmsg_t *broker_message(const char *command, int extra, const char *const *frames)
{
    zmsg_t *message = zmsg_new();
    zmsg_addmem(message, "", 0);
    zmsg_addstr(message, "MDPW01");
    zmsg_addmem(message, command, 1);
    for (int i = 0; i < extra; i++)
        zmsg_addmem(message, frames[i], strlen(frames[i]));
    return message;
}

static void test_worker_parse_request(void **state)
{
    (void) state;
    char error[256];
    nagar_mdp_worker_message_t parsed;

    const char *secure[] = { "CLIENT", "", "body", "gateway" };
    zmsg_t *message = broker_message("\002", 4, secure);
    assert_int_equal(nagar_mdp_worker_message_parse(message, &parsed, error, sizeof error), 0);
    assert_int_equal(parsed.command, NAGAR_MDP_REQUEST);
    assert_frame_text(parsed.client_address, "CLIENT");
    assert_frame_text(parsed.body, "body");
    assert_frame_text(parsed.caller, "gateway");
    char caller[NAGAR_MDP_PRINCIPAL_MAX + 1];
    assert_int_equal(nagar_mdp_caller_name(parsed.caller, caller, sizeof caller), 0);
    assert_string_equal(caller, "gateway");
    zmsg_destroy(&message);

    /* Security off: no principal frame, the caller is anonymous. */
    message = broker_message("\002", 3, secure);
    assert_int_equal(nagar_mdp_worker_message_parse(message, &parsed, error, sizeof error), 0);
    assert_null(parsed.caller);
    assert_int_equal(nagar_mdp_caller_name(parsed.caller, caller, sizeof caller), 0);
    assert_string_equal(caller, "anonymous");
    zmsg_destroy(&message);
}

static void test_worker_parse_rejects(void **state)
{
    (void) state;
    char error[256];
    nagar_mdp_worker_message_t parsed;

    const char *short_request[] = { "CLIENT", "" };
    zmsg_t *message = broker_message("\002", 2, short_request);
    assert_int_equal(nagar_mdp_worker_message_parse(message, &parsed, error, sizeof error), -1);
    assert_non_null(strstr(error, "REQUEST"));
    zmsg_destroy(&message);

    const char *no_empty[] = { "CLIENT", "x", "body" };
    message = broker_message("\002", 3, no_empty);
    assert_int_equal(nagar_mdp_worker_message_parse(message, &parsed, error, sizeof error), -1);
    zmsg_destroy(&message);

    const char *too_many[] = { "CLIENT", "", "body", "caller", "extra" };
    message = broker_message("\002", 5, too_many);
    assert_int_equal(nagar_mdp_worker_message_parse(message, &parsed, error, sizeof error), -1);
    zmsg_destroy(&message);

    /* READY and REPLY travel only from worker to broker. */
    message = broker_message("\001", 0, NULL);
    assert_int_equal(nagar_mdp_worker_message_parse(message, &parsed, error, sizeof error), -1);
    assert_non_null(strstr(error, "0x01"));
    zmsg_destroy(&message);

    const char *junk[] = { "junk" };
    message = broker_message("\004", 1, junk);
    assert_int_equal(nagar_mdp_worker_message_parse(message, &parsed, error, sizeof error), -1);
    assert_non_null(strstr(error, "HEARTBEAT"));
    zmsg_destroy(&message);

    message = broker_message("\004", 0, NULL);
    assert_int_equal(nagar_mdp_worker_message_parse(message, &parsed, error, sizeof error), 0);
    assert_int_equal(parsed.command, NAGAR_MDP_HEARTBEAT);
    zmsg_destroy(&message);

    message = broker_message("\005", 0, NULL);
    assert_int_equal(nagar_mdp_worker_message_parse(message, &parsed, error, sizeof error), 0);
    assert_int_equal(parsed.command, NAGAR_MDP_DISCONNECT);
    zmsg_destroy(&message);

    zmsg_t *client_protocol = zmsg_new();
    zmsg_addstr(client_protocol, "");
    zmsg_addstr(client_protocol, "MDPC01");
    zmsg_addmem(client_protocol, "\004", 1);
    assert_int_equal(nagar_mdp_worker_message_parse(client_protocol, &parsed, error, sizeof error),
                     -1);
    zmsg_destroy(&client_protocol);

    zmsg_t *long_command = zmsg_new();
    zmsg_addstr(long_command, "");
    zmsg_addstr(long_command, "MDPW01");
    zmsg_addstr(long_command, "\004\004");
    assert_int_equal(nagar_mdp_worker_message_parse(long_command, &parsed, error, sizeof error),
                     -1);
    zmsg_destroy(&long_command);
}

static void test_caller_name_rejects(void **state)
{
    (void) state;
    char caller[NAGAR_MDP_PRINCIPAL_MAX + 1];
    zframe_t *empty = zframe_new("", 0);
    assert_int_equal(nagar_mdp_caller_name(empty, caller, sizeof caller), -1);
    zframe_destroy(&empty);
    zframe_t *spaced = zframe_new("two words", 9);
    assert_int_equal(nagar_mdp_caller_name(spaced, caller, sizeof caller), -1);
    zframe_destroy(&spaced);
    zframe_t *control = zframe_new("a\nb", 3);
    assert_int_equal(nagar_mdp_caller_name(control, caller, sizeof caller), -1);
    zframe_destroy(&control);
    char big[NAGAR_MDP_PRINCIPAL_MAX + 1];
    memset(big, 'p', sizeof big);
    zframe_t *too_long = zframe_new(big, sizeof big);
    assert_int_equal(nagar_mdp_caller_name(too_long, caller, sizeof caller), -1);
    zframe_destroy(&too_long);
    zframe_t *longest = zframe_new(big, NAGAR_MDP_PRINCIPAL_MAX);
    assert_int_equal(nagar_mdp_caller_name(longest, caller, sizeof caller), 0);
    assert_int_equal(strlen(caller), NAGAR_MDP_PRINCIPAL_MAX);
    zframe_destroy(&longest);
}

static void test_request_envelope_round_trip(void **state)
{
    (void) state;
    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
    context.request_id = "0123456789abcdef0123456789abcdef";
    context.idempotency_key = "key-1";
    context.authorization = "v1.k1.Y2xhaW1z.c2ln";
    context.deadline_unix_ms = 1790000000123;
    const uint8_t payload[] = { 0x0a, 0x02, 'h', 'i', 0x00, 0xff };
    size_t size = 0;
    uint8_t *packed = nagar_envelope_request_pack("payment.record", &context, payload,
                                                  sizeof payload, &size);
    assert_non_null(packed);
    Nagar__Request *request = nagar_envelope_request_unpack(packed, size);
    assert_non_null(request);
    assert_string_equal(request->method, "payment.record");
    assert_string_equal(request->context->request_id, context.request_id);
    assert_string_equal(request->context->idempotency_key, "key-1");
    assert_string_equal(request->context->authorization, "v1.k1.Y2xhaW1z.c2ln");
    assert_int_equal(request->context->deadline_unix_ms, 1790000000123);
    assert_int_equal(request->payload.len, sizeof payload);
    assert_memory_equal(request->payload.data, payload, sizeof payload);
    nagar__request__free_unpacked(request, NULL);
    free(packed);

    /* No context, no payload: still a valid, empty-ish request. */
    packed = nagar_envelope_request_pack("ping", NULL, NULL, 0, &size);
    request = nagar_envelope_request_unpack(packed, size);
    assert_non_null(request);
    assert_string_equal(request->method, "ping");
    assert_null(request->context);
    assert_int_equal(request->payload.len, 0);
    nagar__request__free_unpacked(request, NULL);
    free(packed);
}

static void test_reply_envelope_round_trip(void **state)
{
    (void) state;
    size_t size = 0;
    uint8_t *packed = nagar_envelope_reply_pack("rid", NAGAR__STATUS_CODE__OK, NULL, NULL,
                                                (const uint8_t *) "pay", 3, true, &size);
    Nagar__Reply *reply = nagar_envelope_reply_unpack(packed, size);
    assert_non_null(reply);
    assert_string_equal(reply->request_id, "rid");
    assert_int_equal(nagar_envelope_reply_code(reply), NAGAR__STATUS_CODE__OK);
    assert_int_equal(reply->payload.len, 3);
    assert_memory_equal(reply->payload.data, "pay", 3);
    assert_true(reply->replayed);
    nagar__reply__free_unpacked(reply, NULL);
    free(packed);

    /* An error carries message and field, and never a payload. */
    packed = nagar_envelope_reply_pack("rid2", NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                       "share must be positive", "owners[1].share",
                                       (const uint8_t *) "pay", 3, false, &size);
    reply = nagar_envelope_reply_unpack(packed, size);
    assert_non_null(reply);
    assert_int_equal(nagar_envelope_reply_code(reply), NAGAR__STATUS_CODE__INVALID_ARGUMENT);
    assert_string_equal(reply->status->message, "share must be positive");
    assert_string_equal(reply->status->field, "owners[1].share");
    assert_int_equal(reply->payload.len, 0);
    assert_false(reply->replayed);
    nagar__reply__free_unpacked(reply, NULL);
    free(packed);

    /* A reply without status (an old or minimal peer) reads as OK. */
    Nagar__Reply bare = NAGAR__REPLY__INIT;
    bare.request_id = "r3";
    uint8_t buffer[64];
    size = nagar__reply__pack(&bare, buffer);
    reply = nagar_envelope_reply_unpack(buffer, size);
    assert_non_null(reply);
    assert_null(reply->status);
    assert_int_equal(nagar_envelope_reply_code(reply), NAGAR__STATUS_CODE__OK);
    nagar__reply__free_unpacked(reply, NULL);
}

static void test_envelope_rejects_garbage(void **state)
{
    (void) state;
    /* Field 1 as a length-delimited string that runs past the end. */
    const uint8_t truncated[] = { 0x0a, 0x10, 'a', 'b' };
    assert_null(nagar_envelope_reply_unpack(truncated, sizeof truncated));
    assert_null(nagar_envelope_request_unpack(truncated, sizeof truncated));
    /* Wire type 7 does not exist. */
    const uint8_t bad_wire_type[] = { 0x0f, 0x00 };
    assert_null(nagar_envelope_reply_unpack(bad_wire_type, sizeof bad_wire_type));
}

static void test_new_id(void **state)
{
    (void) state;
    char first[33], second[33];
    nagar_bus_new_id(first);
    nagar_bus_new_id(second);
    assert_int_equal(strlen(first), 32);
    for (int i = 0; i < 32; i++)
        assert_non_null(strchr("0123456789abcdef", first[i]));
    assert_string_not_equal(first, second);
}

static void test_options_load(void **state)
{
    (void) state;
    char error[512];
    nagar_bus_options_t options;
    unsetenv("NAGAR_CONFIG");
    setenv("NAGAR_BUS_ENDPOINT", "tcp://127.0.0.1:7000", 1);
    setenv("NAGAR_BUS_INSECURE", "0", 1);
    unsetenv("NAGAR_BUS_CERT");
    unsetenv("NAGAR_BUS_BROKER_KEY");
    unsetenv("NAGAR_BUS_PACKED");
    nagar_config_t *config = nagar_config_new(NULL, error, sizeof error);
    assert_non_null(config);
    /* Security on without a certificate is an error, not plain text. */
    assert_int_equal(nagar_bus_options_load(&options, config, error, sizeof error), -1);
    assert_non_null(strstr(error, "NAGAR_BUS_CERT"));

    setenv("NAGAR_BUS_CERT", "/keys/secret/gateway.cert", 1);
    assert_int_equal(nagar_bus_options_load(&options, config, error, sizeof error), -1);
    assert_non_null(strstr(error, "NAGAR_BUS_BROKER_KEY"));

    setenv("NAGAR_BUS_BROKER_KEY", "/keys/broker.pub", 1);
    assert_int_equal(nagar_bus_options_load(&options, config, error, sizeof error), 0);
    assert_string_equal(options.endpoint, "tcp://127.0.0.1:7000");
    assert_string_equal(options.certificate_path, "/keys/secret/gateway.cert");
    assert_false(options.insecure);

    setenv("NAGAR_BUS_ENDPOINT", "127.0.0.1:7000", 1);
    assert_int_equal(nagar_bus_options_load(&options, config, error, sizeof error), -1);
    assert_non_null(strstr(error, "tcp://"));

    setenv("NAGAR_BUS_ENDPOINT", "tcp://127.0.0.1:7000", 1);
    setenv("NAGAR_BUS_INSECURE", "maybe", 1);
    assert_int_equal(nagar_bus_options_load(&options, config, error, sizeof error), -1);

    setenv("NAGAR_BUS_INSECURE", "1", 1);
    unsetenv("NAGAR_BUS_CERT");
    unsetenv("NAGAR_BUS_BROKER_KEY");
    assert_int_equal(nagar_bus_options_load(&options, config, error, sizeof error), 0);
    assert_true(options.insecure);

    /* NAGAR_BUS_PACKED (mdp_pack.h): on by default, then 0 or 1, nothing else. */
    assert_true(options.packed);
    setenv("NAGAR_BUS_PACKED", "0", 1);
    assert_int_equal(nagar_bus_options_load(&options, config, error, sizeof error), 0);
    assert_false(options.packed);
    setenv("NAGAR_BUS_PACKED", "1", 1);
    assert_int_equal(nagar_bus_options_load(&options, config, error, sizeof error), 0);
    assert_true(options.packed);
    setenv("NAGAR_BUS_PACKED", "sometimes", 1);
    assert_int_equal(nagar_bus_options_load(&options, config, error, sizeof error), -1);
    assert_non_null(strstr(error, "NAGAR_BUS_PACKED"));
    unsetenv("NAGAR_BUS_PACKED");
    nagar_config_destroy(&config);
}

/* ZMQ_EVENTS is asked only of an unchecked socket, and "no input" clears
 * the mark: a message that comes after is for the descriptor to announce. */
static void test_socket_has_input_asks_only_unchecked(void **state)
{
    (void) state;
    zsock_t *server = zsock_new_pair("@inproc://nagar-test-has-input");
    zsock_t *client = zsock_new_pair(">inproc://nagar-test-has-input");
    assert_non_null(server);
    assert_non_null(client);
    bool unchecked = true;
    assert_false(nagar_bus_socket_has_input(client, &unchecked));
    assert_false(unchecked);

    assert_int_equal(zstr_send(server, "hello"), 0);
    zmq_pollitem_t item = {.socket = zsock_resolve(client), .events = ZMQ_POLLIN};
    assert_int_equal(zmq_poll(&item, 1, 5000), 1);
    /* Checked since: not asked, though a message waits. */
    assert_false(nagar_bus_socket_has_input(client, &unchecked));
    assert_false(unchecked);
    /* Marked again (sent on, or its descriptor fired): asked, and it stays
     * marked until a read leaves nothing. */
    unchecked = true;
    assert_true(nagar_bus_socket_has_input(client, &unchecked));
    assert_true(unchecked);
    char *text = zstr_recv(client);
    assert_string_equal(text, "hello");
    free(text);
    assert_false(nagar_bus_socket_has_input(client, &unchecked));
    assert_false(unchecked);
    zsock_destroy(&client);
    zsock_destroy(&server);
}

static void test_connect_refuses_missing_certificate(void **state)
{
    (void) state;
    nagar_bus_options_t options = { 0 };
    snprintf(options.endpoint, sizeof options.endpoint, "tcp://127.0.0.1:1");
    snprintf(options.certificate_path, sizeof options.certificate_path,
             "/nonexistent/secret/x.cert");
    snprintf(options.broker_key_path, sizeof options.broker_key_path, "/nonexistent/broker.pub");
    char error[512];
    zsock_t *socket = nagar_bus_connect(&options, error, sizeof error);
    assert_null(socket);
    assert_non_null(strstr(error, "/nonexistent/secret/x.cert"));

    /* A public-only certificate is no identity either. */
    char directory[] = "/tmp/nagar_bus_test_XXXXXX";
    assert_non_null(mkdtemp(directory));
    char path[256];
    snprintf(path, sizeof path, "%s/peer.cert", directory);
    zcert_t *cert = zcert_new();
    assert_int_equal(zcert_save_public(cert, path), 0);
    snprintf(options.certificate_path, sizeof options.certificate_path, "%s", path);
    socket = nagar_bus_connect(&options, error, sizeof error);
    assert_null(socket);
    assert_non_null(strstr(error, "no secret key"));

    /* With the secret saved too, only the broker key is missing. */
    assert_int_equal(zcert_save_secret(cert, path), 0);
    socket = nagar_bus_connect(&options, error, sizeof error);
    assert_null(socket);
    assert_non_null(strstr(error, "/nonexistent/broker.pub"));

    char broker_path[256];
    snprintf(broker_path, sizeof broker_path, "%s/broker.pub", directory);
    zcert_t *broker = zcert_new();
    assert_int_equal(zcert_save_public(broker, broker_path), 0);
    snprintf(options.broker_key_path, sizeof options.broker_key_path, "%s", broker_path);
    socket = nagar_bus_connect(&options, error, sizeof error);
    assert_non_null(socket);
    char *server_key = zsock_curve_serverkey(socket);
    assert_string_equal(server_key, zcert_public_txt(broker));
    free(server_key);
    zsock_destroy(&socket);
    zcert_destroy(&broker);
    zcert_destroy(&cert);
    unlink(path);
    unlink(broker_path);
    rmdir(directory);
}

/* ---- the client against an in-process broker ---------------------------- */

typedef struct {
    zsock_t *router;
    nagar_config_t *config;
    nagar_bus_options_t options;
} fake_broker_t;

static int endpoint_counter = 0;

static void fake_broker_start(fake_broker_t *fake)
{
    memset(fake, 0, sizeof *fake);
    snprintf(fake->options.endpoint, sizeof fake->options.endpoint, "inproc://bus-test-%d",
             ++endpoint_counter);
    fake->options.insecure = true;
    fake->router = zsock_new(ZMQ_ROUTER);
    assert_int_equal(zsock_bind(fake->router, "%s", fake->options.endpoint), 0);
    zsock_set_rcvtimeo(fake->router, 2000);
    char error[256];
    unsetenv("NAGAR_CONFIG");
    fake->config = nagar_config_new(NULL, error, sizeof error);
    assert_non_null(fake->config);
}

static void fake_broker_stop(fake_broker_t *fake)
{
    zsock_destroy(&fake->router);
    nagar_config_destroy(&fake->config);
}

/* A client of the fake broker, made while the environment setting
 * name=value is in force (name NULL: none), as a process reads it at start. */
static nagar_bus_client_t *fake_broker_client(fake_broker_t *fake, const char *name,
                                              const char *value)
{
    if (name)
        setenv(name, value, 1);
    char error[256];
    nagar_bus_client_t *client = nagar_bus_client_new(&fake->options, fake->config, error,
                                                      sizeof error);
    if (name)
        unsetenv(name);
    assert_non_null(client);
    return client;
}

/* One client request as the broker's ROUTER sees it. */
typedef struct {
    zframe_t *address;
    char service[MDP_SERVICE_NAME_MAX + 1];
    Nagar__Request *request;
} received_request_t;

static void receive_client_request(fake_broker_t *fake, received_request_t *out)
{
    zmsg_t *message = zmsg_recv(fake->router);
    assert_non_null(message);
    assert_int_equal(zmsg_size(message), 5);
    out->address = zmsg_pop(message);
    zframe_t *service = NULL, *body = NULL;
    char error[256];
    assert_int_equal(nagar_mdp_client_reply_parse(message, &service, &body, error, sizeof error),
                     0);
    snprintf(out->service, sizeof out->service, "%.*s", (int) zframe_size(service),
             (char *) zframe_data(service));
    out->request = nagar_envelope_request_unpack(zframe_data(body), zframe_size(body));
    assert_non_null(out->request);
    zmsg_destroy(&message);
}

static void received_request_free(received_request_t *received)
{
    zframe_destroy(&received->address);
    nagar__request__free_unpacked(received->request, NULL);
}

static void send_client_reply(fake_broker_t *fake, zframe_t *address, const char *request_id,
                              nagar_status_code_t code, const char *text)
{
    Nagar__Test__EchoReply echo = NAGAR__TEST__ECHO_REPLY__INIT;
    echo.text = (char *) text;
    uint8_t payload[256];
    size_t payload_size = nagar__test__echo_reply__pack(&echo, payload);
    size_t size = 0;
    uint8_t *body = nagar_envelope_reply_pack(request_id, code, code ? text : NULL, NULL, payload,
                                              payload_size, false, &size);
    zmsg_t *message = nagar_mdp_client_request_new("echo", body, size);
    free(body);
    zmsg_pushmem(message, zframe_data(address), zframe_size(address));
    assert_int_equal(zmsg_send(&message, fake->router), 0);
}

typedef struct {
    int calls;
    nagar_status_code_t code;
    int attempts;
    char text[64];
    char message[512];
    char request_id[65];
} client_outcome_t;

static void record_outcome(const nagar_bus_result_t *result, void *arg)
{
    client_outcome_t *outcome = arg;
    outcome->calls++;
    outcome->code = result->code;
    outcome->attempts = result->attempts;
    snprintf(outcome->message, sizeof outcome->message, "%s", result->message);
    snprintf(outcome->request_id, sizeof outcome->request_id, "%s", result->request_id);
    if (result->code == NAGAR__STATUS_CODE__OK) {
        Nagar__Test__EchoReply *reply =
            nagar__test__echo_reply__unpack(NULL, result->payload_size, result->payload);
        assert_non_null(reply);
        snprintf(outcome->text, sizeof outcome->text, "%s", reply->text);
        nagar__test__echo_reply__free_unpacked(reply, NULL);
    }
}

/* Polls until outcome has its callback or about two seconds pass. */
static void poll_until_done(nagar_bus_client_t *client, client_outcome_t *outcome)
{
    for (int i = 0; i < 200 && !outcome->calls; i++)
        nagar_bus_client_poll(client, 10);
    assert_int_equal(outcome->calls, 1);
}

/* Lets the client run until the fake broker has a request waiting (a retry
 * after its back-off), for at most about two seconds. */
static void poll_until_resent(nagar_bus_client_t *client, fake_broker_t *fake)
{
    for (int i = 0; i < 400 && !(zsock_events(fake->router) & ZMQ_POLLIN); i++)
        nagar_bus_client_poll(client, 5);
    assert_true(zsock_events(fake->router) & ZMQ_POLLIN);
}

static void test_client_matches_replies_out_of_order(void **state)
{
    (void) state;
    fake_broker_t fake;
    fake_broker_start(&fake);
    nagar_bus_client_t *client = fake_broker_client(&fake, NULL, NULL);
    Nagar__Test__EchoRequest request = NAGAR__TEST__ECHO_REQUEST__INIT;
    nagar_bus_call_t call = { .service = "echo", .method = "echo", .request = &request.base };
    client_outcome_t outcomes[3] = { 0 };
    for (int i = 0; i < 3; i++)
        assert_int_equal(nagar_bus_client_send(client, &call, record_outcome, &outcomes[i]), 0);
    assert_int_equal(nagar_bus_client_in_flight(client), 3);
    received_request_t received[3];
    for (int i = 0; i < 3; i++) {
        receive_client_request(&fake, &received[i]);
        assert_string_equal(received[i].service, "echo");
        assert_string_equal(received[i].request->method, "echo");
        assert_int_equal(strlen(received[i].request->context->request_id), 32);
        assert_true(received[i].request->context->deadline_unix_ms > nagar_bus_now_ms());
    }
    const char *texts[3] = { "zero", "one", "two" };
    for (int i = 2; i >= 0; i--)
        send_client_reply(&fake, received[i].address, received[i].request->context->request_id,
                          NAGAR__STATUS_CODE__OK, texts[i]);
    for (int i = 0; i < 100 && nagar_bus_client_in_flight(client) > 0; i++)
        nagar_bus_client_poll(client, 10);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(outcomes[i].calls, 1);
        assert_int_equal(outcomes[i].code, NAGAR__STATUS_CODE__OK);
        assert_string_equal(outcomes[i].text, texts[i]);
        assert_string_equal(outcomes[i].request_id, received[i].request->context->request_id);
        received_request_free(&received[i]);
    }
    nagar_bus_client_destroy(&client);
    assert_null(client);
    fake_broker_stop(&fake);
}

static void test_client_retries_with_same_id_and_key(void **state)
{
    (void) state;
    fake_broker_t fake;
    fake_broker_start(&fake);
    nagar_bus_client_t *client = fake_broker_client(&fake, "NAGAR_BUS_RETRY_BASE_MS", "5");
    Nagar__Test__EchoRequest request = NAGAR__TEST__ECHO_REQUEST__INIT;
    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
    context.request_id = "req-1";
    context.idempotency_key = "key-1";
    nagar_bus_call_t call = {
        .service = "echo", .method = "echo", .request = &request.base, .context = &context,
        .timeout_ms = 2000, .max_attempts = 3,
    };
    client_outcome_t outcome = { 0 };
    assert_int_equal(nagar_bus_client_send(client, &call, record_outcome, &outcome), 0);
    /* A second request with the same id while the first is in flight is refused. */
    client_outcome_t duplicate = { 0 };
    assert_int_equal(nagar_bus_client_send(client, &call, record_outcome, &duplicate), -1);

    received_request_t first, second, third;
    receive_client_request(&fake, &first);
    send_client_reply(&fake, first.address, "req-1", NAGAR__STATUS_CODE__UNAVAILABLE, "no workers");
    poll_until_resent(client, &fake);
    assert_int_equal(outcome.calls, 0);
    receive_client_request(&fake, &second);
    assert_string_equal(second.request->context->request_id, "req-1");
    assert_string_equal(second.request->context->idempotency_key, "key-1");
    assert_int_equal(second.request->context->deadline_unix_ms,
                     first.request->context->deadline_unix_ms);
    send_client_reply(&fake, second.address, "req-1", NAGAR__STATUS_CODE__RESOURCE_EXHAUSTED,
                      "busy");
    poll_until_resent(client, &fake);
    receive_client_request(&fake, &third);
    assert_string_equal(third.request->context->idempotency_key, "key-1");
    /* Third and last attempt fails too: the caller gets that failure. */
    send_client_reply(&fake, third.address, "req-1", NAGAR__STATUS_CODE__UNAVAILABLE,
                      "worker lost");
    poll_until_done(client, &outcome);
    assert_int_equal(outcome.code, NAGAR__STATUS_CODE__UNAVAILABLE);
    assert_string_equal(outcome.message, "worker lost");
    assert_int_equal(outcome.attempts, 3);
    assert_int_equal(duplicate.calls, 0);
    received_request_free(&first);
    received_request_free(&second);
    received_request_free(&third);
    nagar_bus_client_destroy(&client);
    fake_broker_stop(&fake);
}

static void test_client_does_not_retry_past_deadline_or_other_errors(void **state)
{
    (void) state;
    fake_broker_t fake;
    fake_broker_start(&fake);
    nagar_bus_client_t *client = fake_broker_client(&fake, "NAGAR_BUS_RETRY_BASE_MS", "5000");
    Nagar__Test__EchoRequest request = NAGAR__TEST__ECHO_REQUEST__INIT;
    nagar_bus_call_t call = {
        .service = "echo", .method = "echo", .request = &request.base, .timeout_ms = 1000,
        .max_attempts = 5,
    };
    /* The back-off (2.5-5 s) would overrun the 1 s deadline: fail now. */
    client_outcome_t outcome = { 0 };
    int64_t started = zclock_mono();
    assert_int_equal(nagar_bus_client_send(client, &call, record_outcome, &outcome), 0);
    received_request_t received;
    receive_client_request(&fake, &received);
    send_client_reply(&fake, received.address, received.request->context->request_id,
                      NAGAR__STATUS_CODE__UNAVAILABLE, "no workers");
    poll_until_done(client, &outcome);
    assert_int_equal(outcome.code, NAGAR__STATUS_CODE__UNAVAILABLE);
    assert_int_equal(outcome.attempts, 1);
    assert_true(zclock_mono() - started < 900);
    received_request_free(&received);

    /* PERMISSION_DENIED is an answer, not a transient failure. */
    client_outcome_t denied = { 0 };
    assert_int_equal(nagar_bus_client_send(client, &call, record_outcome, &denied), 0);
    receive_client_request(&fake, &received);
    send_client_reply(&fake, received.address, received.request->context->request_id,
                      NAGAR__STATUS_CODE__PERMISSION_DENIED, "not you");
    poll_until_done(client, &denied);
    assert_int_equal(denied.code, NAGAR__STATUS_CODE__PERMISSION_DENIED);
    assert_int_equal(denied.attempts, 1);
    received_request_free(&received);
    nagar_bus_client_destroy(&client);
    fake_broker_stop(&fake);
}

static void test_client_deadline_then_late_reply_dropped(void **state)
{
    (void) state;
    fake_broker_t fake;
    fake_broker_start(&fake);
    nagar_bus_client_t *client = fake_broker_client(&fake, NULL, NULL);
    Nagar__Test__EchoRequest request = NAGAR__TEST__ECHO_REQUEST__INIT;
    nagar_bus_call_t call = {
        .service = "echo", .method = "echo", .request = &request.base, .timeout_ms = 100,
    };
    client_outcome_t outcome = { 0 };
    int64_t started = zclock_mono();
    assert_int_equal(nagar_bus_client_send(client, &call, record_outcome, &outcome), 0);
    int next = nagar_bus_client_next_timeout_ms(client);
    assert_true(next > 50 && next <= 100);
    received_request_t received;
    receive_client_request(&fake, &received);
    poll_until_done(client, &outcome);
    int64_t waited = zclock_mono() - started;
    assert_int_equal(outcome.code, NAGAR__STATUS_CODE__DEADLINE_EXCEEDED);
    assert_true(waited >= 100 && waited < 600);
    assert_non_null(strstr(outcome.message, "within 100 ms"));
    assert_int_equal(nagar_bus_client_in_flight(client), 0);
    assert_int_equal(nagar_bus_client_next_timeout_ms(client), -1);
    /* The worker's answer arrives after all: nobody is called back. */
    send_client_reply(&fake, received.address, received.request->context->request_id,
                      NAGAR__STATUS_CODE__OK, "late");
    int callbacks = 0;
    for (int i = 0; i < 10; i++)
        callbacks += nagar_bus_client_poll(client, 10);
    assert_int_equal(callbacks, 0);
    assert_int_equal(outcome.calls, 1);
    received_request_free(&received);

    /* An inherited deadline already past: answered without sending. */
    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
    context.deadline_unix_ms = nagar_bus_now_ms() - 10;
    call.context = &context;
    client_outcome_t expired = { 0 };
    assert_int_equal(nagar_bus_client_send(client, &call, record_outcome, &expired), 0);
    assert_int_equal(expired.calls, 0);
    nagar_bus_client_dispatch(client);
    assert_int_equal(expired.calls, 1);
    assert_int_equal(expired.code, NAGAR__STATUS_CODE__DEADLINE_EXCEEDED);
    assert_int_equal(expired.attempts, 0);
    nagar_bus_client_destroy(&client);
    fake_broker_stop(&fake);
}

static void test_client_destroy_completes_in_flight(void **state)
{
    (void) state;
    fake_broker_t fake;
    fake_broker_start(&fake);
    nagar_bus_client_t *client = fake_broker_client(&fake, "NAGAR_BUS_CLIENT_MAX_IN_FLIGHT", "2");
    Nagar__Test__EchoRequest request = NAGAR__TEST__ECHO_REQUEST__INIT;
    nagar_bus_call_t call = { .service = "echo", .method = "echo", .request = &request.base };
    client_outcome_t outcomes[3] = { 0 };
    assert_int_equal(nagar_bus_client_send(client, &call, record_outcome, &outcomes[0]), 0);
    assert_int_equal(nagar_bus_client_send(client, &call, record_outcome, &outcomes[1]), 0);
    assert_int_equal(nagar_bus_client_send(client, &call, record_outcome, &outcomes[2]), -1);
    nagar_bus_call_t bad = { .service = "", .method = "echo", .request = &request.base };
    assert_int_equal(nagar_bus_client_send(client, &bad, record_outcome, &outcomes[2]), -1);
    nagar_bus_client_destroy(&client);
    assert_null(client);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(outcomes[i].calls, 1);
        assert_int_equal(outcomes[i].code, NAGAR__STATUS_CODE__UNAVAILABLE);
    }
    assert_int_equal(outcomes[2].calls, 0);
    fake_broker_stop(&fake);
}

/* ---- the worker against an in-process broker ---------------------------- */

typedef struct {
    char log_request_id[65];
    int handled;
} worker_probe_t;

static int probe_echo(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    worker_probe_t *probe = arg;
    probe->handled++;
    snprintf(probe->log_request_id, sizeof probe->log_request_id, "%s", nagar_log_request_id());
    const Nagar__Test__EchoRequest *request = (const Nagar__Test__EchoRequest *) message;
    if (strcmp(request->text, "forget") == 0)
        return 0;   /* returns without answering */
    if (strcmp(request->text, "replayed") == 0)
        nagar_worker_call_set_replayed(call, true);
    Nagar__Test__EchoReply reply = NAGAR__TEST__ECHO_REPLY__INIT;
    reply.text = request->text;
    reply.caller = (char *) nagar_worker_call_caller(call);
    return nagar_worker_call_reply(call, &reply.base);
}

static void *run_worker(void *worker)
{
    nagar_worker_run(worker);
    return NULL;
}

/* Sends a REQUEST to the worker, as the broker would. */
static void worker_send_request(fake_broker_t *fake, zframe_t *worker_address, const char *method,
                                const char *caller, const char *request_id, int64_t deadline,
                                const uint8_t *payload, size_t payload_size)
{
    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
    context.request_id = (char *) request_id;
    context.deadline_unix_ms = deadline;
    size_t size = 0;
    uint8_t *body = nagar_envelope_request_pack(method, &context, payload, payload_size, &size);
    zmsg_t *message = zmsg_new();
    zmsg_addmem(message, zframe_data(worker_address), zframe_size(worker_address));
    zmsg_addmem(message, "", 0);
    zmsg_addstr(message, "MDPW01");
    zmsg_addmem(message, "\002", 1);
    zmsg_addstr(message, "CLIENTADDR");
    zmsg_addmem(message, "", 0);
    zmsg_addmem(message, body, size);
    if (caller)
        zmsg_addstr(message, caller);
    free(body);
    assert_int_equal(zmsg_send(&message, fake->router), 0);
}

/* The worker's next REPLY (heartbeats skipped), unpacked. */
static Nagar__Reply *worker_next_reply(fake_broker_t *fake)
{
    while (true) {
        zmsg_t *reply = zmsg_recv(fake->router);
        assert_non_null(reply);
        zframe_t *address = zmsg_pop(reply);
        zframe_destroy(&address);
        zmsg_first(reply);
        zmsg_next(reply);
        zframe_t *command = zmsg_next(reply);
        if (zframe_data(command)[0] == NAGAR_MDP_HEARTBEAT) {
            zmsg_destroy(&reply);
            continue;
        }
        assert_int_equal(zframe_data(command)[0], NAGAR_MDP_REPLY);
        assert_int_equal(zmsg_size(reply), 6);
        assert_frame_text(zmsg_next(reply), "CLIENTADDR");
        assert_frame_text(zmsg_next(reply), "");
        zframe_t *reply_body = zmsg_next(reply);
        Nagar__Reply *unpacked = nagar_envelope_reply_unpack(zframe_data(reply_body),
                                                             zframe_size(reply_body));
        assert_non_null(unpacked);
        zmsg_destroy(&reply);
        return unpacked;
    }
}

/* Sends a REQUEST to the worker and returns its unpacked reply. */
static Nagar__Reply *worker_round_trip(fake_broker_t *fake, zframe_t *worker_address,
                                       const char *method, const char *caller,
                                       const char *request_id, int64_t deadline,
                                       const uint8_t *payload, size_t payload_size)
{
    worker_send_request(fake, worker_address, method, caller, request_id, deadline, payload,
                        payload_size);
    return worker_next_reply(fake);
}

static void test_worker_checks_and_answers(void **state)
{
    (void) state;
    fake_broker_t fake;
    fake_broker_start(&fake);
    setenv("NAGAR_BUS_HEARTBEAT_MS", "50", 1);
    static const char *const callers[] = { "gateway", NULL };
    worker_probe_t probe = { 0 };
    const nagar_method_t methods[] = {
        { "echo", &nagar__test__echo_request__descriptor, callers, probe_echo },
        { NULL, NULL, NULL, NULL },
    };
    char error[256];
    nagar_worker_t *worker = nagar_worker_new(&fake.options, fake.config, "echo", methods, &probe,
                                              error, sizeof error);
    unsetenv("NAGAR_BUS_HEARTBEAT_MS");
    assert_non_null(worker);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, run_worker, worker), 0);

    zmsg_t *ready = zmsg_recv(fake.router);
    assert_non_null(ready);
    zframe_t *worker_address = zmsg_pop(ready);
    assert_frame_text(zmsg_first(ready), "");
    assert_frame_text(zmsg_next(ready), "MDPW01");
    assert_frame_text(zmsg_next(ready), "\001");
    assert_frame_text(zmsg_next(ready), "echo");
    /* The credit extension (mdp.h): NAGAR_BUS_WORKER_CREDIT's default. */
    char credit[32];
    snprintf(credit, sizeof credit, "%s%d", NAGAR_MDP_CREDIT_PREFIX, NAGAR_MDP_CREDIT_DEFAULT);
    assert_frame_text(zmsg_next(ready), credit);
    assert_null(zmsg_next(ready));
    zmsg_destroy(&ready);

    Nagar__Test__EchoRequest echo = NAGAR__TEST__ECHO_REQUEST__INIT;
    echo.text = "hi";
    uint8_t payload[64];
    size_t payload_size = nagar__test__echo_request__pack(&echo, payload);
    int64_t later = nagar_bus_now_ms() + 5000;

    Nagar__Reply *reply = worker_round_trip(&fake, worker_address, "echo", "gateway", "r-ok",
                                            later, payload, payload_size);
    assert_int_equal(nagar_envelope_reply_code(reply), NAGAR__STATUS_CODE__OK);
    assert_string_equal(reply->request_id, "r-ok");
    assert_false(reply->replayed);
    Nagar__Test__EchoReply *answer =
        nagar__test__echo_reply__unpack(NULL, reply->payload.len, reply->payload.data);
    assert_string_equal(answer->text, "hi");
    assert_string_equal(answer->caller, "gateway");
    nagar__test__echo_reply__free_unpacked(answer, NULL);
    nagar__reply__free_unpacked(reply, NULL);
    /* Every log line of the call carried the request id. */
    assert_string_equal(probe.log_request_id, "r-ok");

    reply = worker_round_trip(&fake, worker_address, "echo", "water_tax", "r-denied", later,
                              payload, payload_size);
    assert_int_equal(nagar_envelope_reply_code(reply), NAGAR__STATUS_CODE__PERMISSION_DENIED);
    assert_non_null(strstr(reply->status->message, "'water_tax'"));
    nagar__reply__free_unpacked(reply, NULL);

    /* Without the broker's principal frame the caller is anonymous. */
    reply = worker_round_trip(&fake, worker_address, "echo", NULL, "r-anon", later, payload,
                              payload_size);
    assert_int_equal(nagar_envelope_reply_code(reply), NAGAR__STATUS_CODE__PERMISSION_DENIED);
    assert_non_null(strstr(reply->status->message, "'anonymous'"));
    nagar__reply__free_unpacked(reply, NULL);

    reply = worker_round_trip(&fake, worker_address, "nope", "gateway", "r-unknown", later,
                              payload, payload_size);
    assert_int_equal(nagar_envelope_reply_code(reply), NAGAR__STATUS_CODE__NOT_FOUND);
    assert_string_equal(reply->status->message, "unknown method 'nope' on service 'echo'");
    assert_string_equal(reply->status->field, "method");
    nagar__reply__free_unpacked(reply, NULL);

    const uint8_t garbage[] = { 0x0a, 0x10, 'x' };
    reply = worker_round_trip(&fake, worker_address, "echo", "gateway", "r-garbage", later,
                              garbage, sizeof garbage);
    assert_int_equal(nagar_envelope_reply_code(reply), NAGAR__STATUS_CODE__INVALID_ARGUMENT);
    assert_string_equal(reply->status->field, "payload");
    nagar__reply__free_unpacked(reply, NULL);

    int handled_before = probe.handled;
    reply = worker_round_trip(&fake, worker_address, "echo", "gateway", "r-late",
                              nagar_bus_now_ms() - 1, payload, payload_size);
    assert_int_equal(nagar_envelope_reply_code(reply), NAGAR__STATUS_CODE__DEADLINE_EXCEEDED);
    assert_int_equal(probe.handled, handled_before);
    nagar__reply__free_unpacked(reply, NULL);

    echo.text = "forget";
    payload_size = nagar__test__echo_request__pack(&echo, payload);
    reply = worker_round_trip(&fake, worker_address, "echo", "gateway", "r-forget", later,
                              payload, payload_size);
    assert_int_equal(nagar_envelope_reply_code(reply), NAGAR__STATUS_CODE__INTERNAL);
    nagar__reply__free_unpacked(reply, NULL);

    echo.text = "replayed";
    payload_size = nagar__test__echo_request__pack(&echo, payload);
    reply = worker_round_trip(&fake, worker_address, "echo", "gateway", "r-replayed", later,
                              payload, payload_size);
    assert_int_equal(nagar_envelope_reply_code(reply), NAGAR__STATUS_CODE__OK);
    assert_true(reply->replayed);
    nagar__reply__free_unpacked(reply, NULL);

    /* Credit: requests sent back to back (as the broker does up to the
     * credit) are all handled, one at a time, and answered in order. */
    const char *pipelined[] = { "r-p1", "r-p2", "r-p3", "r-p4" };
    for (int i = 0; i < 4; i++)
        worker_send_request(&fake, worker_address, "echo", "gateway", pipelined[i], later,
                            payload, payload_size);
    for (int i = 0; i < 4; i++) {
        reply = worker_next_reply(&fake);
        assert_string_equal(reply->request_id, pipelined[i]);
        assert_int_equal(nagar_envelope_reply_code(reply), NAGAR__STATUS_CODE__OK);
        nagar__reply__free_unpacked(reply, NULL);
    }

    /* The worker heartbeats while idle. */
    zmsg_t *heartbeat = zmsg_recv(fake.router);
    assert_non_null(heartbeat);
    assert_int_equal(zmsg_size(heartbeat), 4);
    zmsg_destroy(&heartbeat);

    /* Stopping drains (mdp.h): the worker says DISCONNECT "drain", and
     * leaves once the broker has said DISCONNECT (nothing is held). */
    nagar_worker_stop(worker);
    bool draining = false;
    for (int i = 0; i < 20 && !draining; i++) {
        zmsg_t *message = zmsg_recv(fake.router);
        if (!message)
            break;
        if (zmsg_size(message) == 5) {
            zmsg_first(message);
            zmsg_next(message);
            zmsg_next(message);
            zframe_t *command = zmsg_next(message);
            draining = zframe_size(command) == 1 && zframe_data(command)[0] == NAGAR_MDP_DISCONNECT
                       && zframe_streq(zmsg_last(message), MDP_DRAIN);
        }
        zmsg_destroy(&message);
    }
    assert_true(draining);
    zmsg_t *disconnect = zmsg_new();
    zmsg_addmem(disconnect, zframe_data(worker_address), zframe_size(worker_address));
    zmsg_addmem(disconnect, "", 0);
    zmsg_addstr(disconnect, MDP_WORKER);
    zmsg_addmem(disconnect, MDP_DISCONNECT, 1);
    assert_int_equal(zmsg_send(&disconnect, fake.router), 0);
    pthread_join(thread, NULL);
    nagar_worker_destroy(&worker);
    assert_null(worker);
    zframe_destroy(&worker_address);
    fake_broker_stop(&fake);
}

static void test_worker_new_rejects_bad_tables(void **state)
{
    (void) state;
    fake_broker_t fake;
    fake_broker_start(&fake);
    char error[256];
    const nagar_method_t empty[] = { { NULL, NULL, NULL, NULL } };
    assert_null(nagar_worker_new(&fake.options, fake.config, "echo", empty, NULL, error,
                                 sizeof error));
    assert_non_null(strstr(error, "empty"));
    const nagar_method_t no_callers[] = {
        { "echo", &nagar__test__echo_request__descriptor, NULL, probe_echo },
        { NULL, NULL, NULL, NULL },
    };
    assert_null(nagar_worker_new(&fake.options, fake.config, "echo", no_callers, NULL, error,
                                 sizeof error));
    assert_non_null(strstr(error, "callers"));
    static const char *const anyone[] = { "*", NULL };
    const nagar_method_t good[] = {
        { "echo", &nagar__test__echo_request__descriptor, anyone, probe_echo },
        { NULL, NULL, NULL, NULL },
    };
    assert_null(nagar_worker_new(&fake.options, fake.config, "", good, NULL, error,
                                 sizeof error));
    fake_broker_stop(&fake);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_request_frames),
        cmocka_unit_test(test_client_request_rejects_bad_service),
        cmocka_unit_test(test_client_reply_parse),
        cmocka_unit_test(test_client_reply_parse_rejects),
        cmocka_unit_test(test_worker_commands),
        cmocka_unit_test(test_worker_ready_credit),
        cmocka_unit_test(test_request_peek),
        cmocka_unit_test(test_worker_parse_request),
        cmocka_unit_test(test_worker_parse_rejects),
        cmocka_unit_test(test_caller_name_rejects),
        cmocka_unit_test(test_request_envelope_round_trip),
        cmocka_unit_test(test_reply_envelope_round_trip),
        cmocka_unit_test(test_envelope_rejects_garbage),
        cmocka_unit_test(test_new_id),
        cmocka_unit_test(test_options_load),
        cmocka_unit_test(test_socket_has_input_asks_only_unchecked),
        cmocka_unit_test(test_connect_refuses_missing_certificate),
        cmocka_unit_test(test_client_matches_replies_out_of_order),
        cmocka_unit_test(test_client_retries_with_same_id_and_key),
        cmocka_unit_test(test_client_does_not_retry_past_deadline_or_other_errors),
        cmocka_unit_test(test_client_deadline_then_late_reply_dropped),
        cmocka_unit_test(test_client_destroy_completes_in_flight),
        cmocka_unit_test(test_worker_checks_and_answers),
        cmocka_unit_test(test_worker_new_rejects_bad_tables),
    };
    return cmocka_run_group_tests_name("bus_framing", tests, NULL, NULL);
}
