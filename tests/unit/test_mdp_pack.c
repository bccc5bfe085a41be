/*
 * test_mdp_pack.c — the packed transport extension (common/mdp_pack.h):
 * what the packer writes unpacks to exactly the frames that went in (empty
 * ones included), and every malformed, truncated or oversized packed frame
 * is refused with a reason, without reading a byte past its end (each
 * input is an exact-size heap copy, so ASan sees any over-read).
 *
 * The second half drives the real bus client with NAGAR_BUS_PACKED on
 * against a ROUTER socket in this process (inproc, no CURVE) that plays
 * the broker: the request must leave as one packed frame, and both a
 * packed and a plain answer must complete it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "bus.h"
#include "bus_client.h"
#include "mdp.h"
#include "mdp_frames.h"
#include "mdp_pack.h"
#include "tests/proto/echo.pb-c.h"

/* An exact-size heap copy: reading past size is an ASan error. */
static uint8_t *exact_copy(const void *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    assert_non_null(copy);
    if (size)
        memcpy(copy, data, size);
    return copy;
}

/* Unpacks data[0..size) from an exact-size copy; returns the count. */
static int unpack_copy(const void *data, size_t size, char *error, size_t error_size)
{
    uint8_t *copy = exact_copy(data, size);
    nagar_mdp_part_t parts[NAGAR_MDP_PACK_MAX_FRAMES];
    error[0] = '\0';
    int count = nagar_mdp_unpack_parts(copy, size, parts, error, error_size);
    free(copy);
    return count;
}

static void assert_part(const nagar_mdp_part_t *part, const void *data, size_t size)
{
    assert_int_equal(part->size, size);
    if (size)
        assert_memory_equal(part->data, data, size);
}

static void test_round_trip_with_empty_frames(void **state)
{
    (void) state;
    nagar_mdp_packer_t *packer = nagar_mdp_packer_new(0);
    assert_non_null(packer);
    const uint8_t binary[] = { 0xff, 'N', 'G', 'P', 0x01, 0x00, 0x00 };
    assert_int_equal(nagar_mdp_packer_add(packer, "", 0), 0);
    assert_int_equal(nagar_mdp_packer_add(packer, MDP_WORKER, 6), 0);
    assert_int_equal(nagar_mdp_packer_add(packer, MDP_REQUEST, 1), 0);
    assert_int_equal(nagar_mdp_packer_add(packer, binary, sizeof binary), 0);
    assert_int_equal(nagar_mdp_packer_add(packer, "", 0), 0);
    assert_int_equal(nagar_mdp_packer_add(packer, "body", 4), 0);
    assert_int_equal(nagar_mdp_packer_add(packer, NULL, 0), 0);
    assert_int_equal(nagar_mdp_packer_frames(packer), 7);

    size_t size = 0;
    const uint8_t *data = nagar_mdp_packer_data(packer, &size);
    assert_non_null(data);
    /* Header, 7 lengths, 6 + 1 + 7 + 4 bytes of frames. */
    assert_int_equal(size, NAGAR_MDP_PACK_HEADER_SIZE + 7 * NAGAR_MDP_PACK_LENGTH_SIZE + 18);
    assert_memory_equal(data, "\xff" "NGP\x01\x07", 6);
    assert_true(nagar_mdp_is_packed(data, size));

    uint8_t *copy = exact_copy(data, size);
    nagar_mdp_part_t parts[NAGAR_MDP_PACK_MAX_FRAMES];
    char error[256];
    assert_int_equal(nagar_mdp_unpack_parts(copy, size, parts, error, sizeof error), 7);
    assert_part(&parts[0], "", 0);
    assert_part(&parts[1], MDP_WORKER, 6);
    assert_part(&parts[2], MDP_REQUEST, 1);
    assert_part(&parts[3], binary, sizeof binary);
    assert_part(&parts[4], "", 0);
    assert_part(&parts[5], "body", 4);
    assert_part(&parts[6], "", 0);

    zmsg_t *message = nagar_mdp_unpack(copy, size, error, sizeof error);
    assert_non_null(message);
    assert_int_equal(zmsg_size(message), 7);
    assert_int_equal(zframe_size(zmsg_first(message)), 0);
    assert_true(zframe_streq(zmsg_next(message), MDP_WORKER));
    /* Packing the unpacked message again gives the same bytes. */
    zframe_t *again = nagar_mdp_pack(message);
    assert_non_null(again);
    assert_int_equal(zframe_size(again), size);
    assert_memory_equal(zframe_data(again), copy, size);
    zframe_destroy(&again);
    zmsg_destroy(&message);
    free(copy);

    /* Reset starts over; the old frames are gone. */
    nagar_mdp_packer_reset(packer);
    assert_int_equal(nagar_mdp_packer_frames(packer), 0);
    assert_null(nagar_mdp_packer_data(packer, &size));
    assert_int_equal(size, 0);
    assert_int_equal(nagar_mdp_packer_add(packer, "x", 1), 0);
    data = nagar_mdp_packer_data(packer, &size);
    assert_int_equal(unpack_copy(data, size, error, sizeof error), 1);
    nagar_mdp_packer_destroy(&packer);
    assert_null(packer);
    nagar_mdp_packer_destroy(&packer);     /* twice is harmless */
}

static void test_large_frame_and_reset_after_it(void **state)
{
    (void) state;
    nagar_mdp_packer_t *packer = nagar_mdp_packer_new(0);
    size_t big_size = 700 * 1024;            /* grows the buffer past what reset keeps */
    uint8_t *big = malloc(big_size);
    for (size_t i = 0; i < big_size; i++)
        big[i] = (uint8_t) (i * 7);
    assert_int_equal(nagar_mdp_packer_add(packer, "", 0), 0);
    assert_int_equal(nagar_mdp_packer_add(packer, big, big_size), 0);
    size_t size;
    const uint8_t *data = nagar_mdp_packer_data(packer, &size);
    nagar_mdp_part_t parts[NAGAR_MDP_PACK_MAX_FRAMES];
    char error[256];
    assert_int_equal(nagar_mdp_unpack_parts(data, size, parts, error, sizeof error), 2);
    assert_part(&parts[1], big, big_size);
    nagar_mdp_packer_reset(packer);
    assert_int_equal(nagar_mdp_packer_add(packer, "after", 5), 0);
    data = nagar_mdp_packer_data(packer, &size);
    assert_int_equal(nagar_mdp_unpack_parts(data, size, parts, error, sizeof error), 1);
    assert_part(&parts[0], "after", 5);
    free(big);
    nagar_mdp_packer_destroy(&packer);
}

static void test_packer_limits(void **state)
{
    (void) state;
    nagar_mdp_packer_t *packer = nagar_mdp_packer_new(0);
    for (int i = 0; i < NAGAR_MDP_PACK_MAX_FRAMES; i++)
        assert_int_equal(nagar_mdp_packer_add(packer, "f", 1), 0);
    size_t size;
    const uint8_t *data = nagar_mdp_packer_data(packer, &size);
    char error[256];
    assert_int_equal(unpack_copy(data, size, error, sizeof error), NAGAR_MDP_PACK_MAX_FRAMES);
    /* Frame 65 fails the message, and it stays failed until reset. */
    assert_int_equal(nagar_mdp_packer_add(packer, "f", 1), -1);
    assert_null(nagar_mdp_packer_data(packer, &size));
    assert_int_equal(nagar_mdp_packer_add(packer, "", 0), -1);
    assert_int_equal(nagar_mdp_packer_send(packer, NULL, 0), -1);
    nagar_mdp_packer_reset(packer);
    assert_int_equal(nagar_mdp_packer_add(packer, "f", 1), 0);
    assert_non_null(nagar_mdp_packer_data(packer, &size));
    nagar_mdp_packer_destroy(&packer);

    /* A packer of at most 20 bytes: header 6 + (4 + 4) + (4 + 2) = 20 fits,
     * one byte more does not. */
    packer = nagar_mdp_packer_new(20);
    assert_int_equal(nagar_mdp_packer_add(packer, "abcd", 4), 0);
    assert_int_equal(nagar_mdp_packer_add(packer, "ef", 2), 0);
    data = nagar_mdp_packer_data(packer, &size);
    assert_int_equal(size, 20);
    assert_int_equal(nagar_mdp_packer_add(packer, "", 0), -1);
    assert_null(nagar_mdp_packer_data(packer, &size));
    nagar_mdp_packer_reset(packer);
    assert_int_equal(nagar_mdp_packer_add(packer, "0123456789abc", 13), -1);
    nagar_mdp_packer_destroy(&packer);

    /* A packer smaller than its own header packs nothing. */
    packer = nagar_mdp_packer_new(3);
    assert_int_equal(nagar_mdp_packer_add(packer, "", 0), -1);
    nagar_mdp_packer_destroy(&packer);

    /* No frame, nothing to send. */
    packer = nagar_mdp_packer_new(0);
    assert_null(nagar_mdp_packer_data(packer, &size));
    assert_int_equal(nagar_mdp_packer_send(packer, NULL, 0), -1);
    nagar_mdp_packer_destroy(&packer);

    zmsg_t *empty = zmsg_new();
    assert_null(nagar_mdp_pack(empty));
    for (int i = 0; i <= NAGAR_MDP_PACK_MAX_FRAMES; i++)
        zmsg_addstr(empty, "");
    assert_null(nagar_mdp_pack(empty));
    zmsg_destroy(&empty);
}

static void test_is_packed(void **state)
{
    (void) state;
    assert_false(nagar_mdp_is_packed("", 0));
    assert_false(nagar_mdp_is_packed("\xff" "NG", 3));
    assert_true(nagar_mdp_is_packed("\xff" "NGP", 4));
    assert_false(nagar_mdp_is_packed("\xfe" "NGP\x01\x01", 6));
    assert_false(nagar_mdp_is_packed("MDPC01", 6));
}

/* A valid packed [""]["MDPC01"]["echo"]["body"]. */
static const uint8_t VALID[] = {
    0xff, 'N', 'G', 'P', 0x01, 0x04,
    0, 0, 0, 0,
    0, 0, 0, 6, 'M', 'D', 'P', 'C', '0', '1',
    0, 0, 0, 4, 'e', 'c', 'h', 'o',
    0, 0, 0, 4, 'b', 'o', 'd', 'y',
};

static void expect_rejected(const void *data, size_t size, const char *reason)
{
    char error[256];
    assert_int_equal(unpack_copy(data, size, error, sizeof error), -1);
    if (!strstr(error, reason))
        fail_msg("expected \"%s\" in the error, got \"%s\"", reason, error);
    uint8_t *copy = exact_copy(data, size);
    assert_null(nagar_mdp_unpack(copy, size, error, sizeof error));
    free(copy);
}

static void test_valid_reference_unpacks(void **state)
{
    (void) state;
    char error[256];
    assert_int_equal(unpack_copy(VALID, sizeof VALID, error, sizeof error), 4);
}

static void test_every_truncation_is_rejected(void **state)
{
    (void) state;
    char error[256];
    for (size_t size = 0; size < sizeof VALID; size++)
        if (unpack_copy(VALID, size, error, sizeof error) != -1)
            fail_msg("a packed frame cut to %zu of %zu bytes was accepted", size, sizeof VALID);
    expect_rejected(VALID, 3, "magic");
    expect_rejected(VALID, 5, "header");
    expect_rejected(VALID, 8, "inside the length of frame 1");
    expect_rejected(VALID, 16, "frame 2 of 4 claims 6 bytes but only 2 are left");
}

/* VALID with `length` bytes from `offset` set to `value`, and what the
 * refusal must name. */
typedef struct {
    size_t offset;
    size_t length;
    uint8_t value;
    const char *reason;
} changed_bytes_t;

static void expect_each_change_rejected(const changed_bytes_t *changes, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint8_t bad[sizeof VALID];
        memcpy(bad, VALID, sizeof bad);
        memset(bad + changes[i].offset, changes[i].value, changes[i].length);
        expect_rejected(bad, sizeof bad, changes[i].reason);
    }
}

static void test_malformed_headers_are_rejected(void **state)
{
    (void) state;
    static const changed_bytes_t changes[] = {
        {0, 1, 0xfe, "magic"},
        {4, 1, 0x02, "version 2"},
        {4, 1, 0x00, "version 0"},
        {5, 1, 0, "claims 0 frames"},
        {5, 1, NAGAR_MDP_PACK_MAX_FRAMES + 1, "claims 65 frames"},
        {5, 1, 0xff, "claims 255 frames"},
        /* Count says 5 where 4 are present: runs out inside frame 5's length. */
        {5, 1, 5, "frame 5 of 5"},
        /* Count says 3 where 4 are present: bytes left over. */
        {5, 1, 3, "8 bytes follow"},
    };
    expect_each_change_rejected(changes, sizeof changes / sizeof changes[0]);

    /* A header and nothing else. */
    expect_rejected("\xff" "NGP\x01\x01", 6, "inside the length of frame 1");
}

static void test_oversized_lengths_are_rejected(void **state)
{
    (void) state;
    static const changed_bytes_t changes[] = {
        /* The body claims 4 GiB - 1. */
        {28, 4, 0xff, "claims 4294967295 bytes"},
        /* The delimiter claims the whole rest plus one. */
        {9, 1, (uint8_t) (sizeof VALID - 10 + 1), "frame 1 of 4"},
        /* A length running to exactly the end leaves later frames nothing. */
        {9, 1, (uint8_t) (sizeof VALID - 10), "frame 2 of 4"},
    };
    expect_each_change_rejected(changes, sizeof changes / sizeof changes[0]);
    /* One byte of trailing garbage. */
    uint8_t longer[sizeof VALID + 1];
    memcpy(longer, VALID, sizeof VALID);
    longer[sizeof VALID] = 0;
    expect_rejected(longer, sizeof longer, "1 bytes follow");
}

static void test_input_above_the_maximum_is_rejected(void **state)
{
    (void) state;
    /* Address space, not memory: the pages are never touched but the first. */
    size_t size = NAGAR_MDP_PACK_MAX_BYTES + 1;
    uint8_t *huge = mmap(NULL, size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (huge == MAP_FAILED)
        skip();
    memcpy(huge, VALID, sizeof VALID);
    nagar_mdp_part_t parts[NAGAR_MDP_PACK_MAX_FRAMES];
    char error[256];
    assert_int_equal(nagar_mdp_unpack_parts(huge, size, parts, error, sizeof error), -1);
    assert_non_null(strstr(error, "at most"));
    munmap(huge, size);
}

static void test_unpack_message_in_place(void **state)
{
    (void) state;
    char error[256];
    /* A plain message is left alone. */
    zmsg_t *plain = nagar_mdp_client_request_new("echo", "body", 4);
    assert_int_equal(nagar_mdp_unpack_message(plain, error, sizeof error), 0);
    assert_int_equal(zmsg_size(plain), 4);

    /* Its packed form becomes the same frames. */
    zframe_t *packed_frame = nagar_mdp_pack(plain);
    zmsg_t *packed = zmsg_new();
    zmsg_append(packed, &packed_frame);
    assert_int_equal(nagar_mdp_unpack_message(packed, error, sizeof error), 1);
    assert_int_equal(zmsg_size(packed), 4);
    for (zframe_t *a = zmsg_first(plain), *b = zmsg_first(packed); a;
         a = zmsg_next(plain), b = zmsg_next(packed))
        assert_true(zframe_eq(a, b));
    zmsg_destroy(&packed);

    /* Two frames, the first with the magic, is not a packed message. */
    zmsg_t *two = zmsg_new();
    zmsg_addmem(two, VALID, sizeof VALID);
    zmsg_addstr(two, "x");
    assert_int_equal(nagar_mdp_unpack_message(two, error, sizeof error), 0);
    assert_int_equal(zmsg_size(two), 2);
    zmsg_destroy(&two);

    /* A broken packed frame is refused and left as it was. */
    zmsg_t *broken = zmsg_new();
    zmsg_addmem(broken, VALID, sizeof VALID - 1);
    assert_int_equal(nagar_mdp_unpack_message(broken, error, sizeof error), -1);
    assert_int_equal(zmsg_size(broken), 1);
    assert_int_equal(zframe_size(zmsg_first(broken)), sizeof VALID - 1);
    assert_non_null(strstr(error, "frame 4 of 4"));
    zmsg_destroy(&broken);
    zmsg_destroy(&plain);
}

/* ---- the bus client, packed, against an in-process broker ----------------- */

typedef struct {
    int calls;
    nagar_status_code_t code;
    char text[64];
} outcome_t;

static void record_outcome(const nagar_bus_result_t *result, void *arg)
{
    outcome_t *outcome = arg;
    outcome->calls++;
    outcome->code = result->code;
    outcome->text[0] = '\0';
    Nagar__Test__EchoReply *reply = result->code == NAGAR__STATUS_CODE__OK
        ? nagar__test__echo_reply__unpack(NULL, result->payload_size, result->payload) : NULL;
    if (reply) {
        snprintf(outcome->text, sizeof outcome->text, "%s", reply->text);
        nagar__test__echo_reply__free_unpacked(reply, NULL);
    }
}

/* The fake broker reads one request: it must be [address][one packed
 * frame] holding [""][MDPC01][echo][nagar.Request]. Returns the address
 * and the request id. */
static zframe_t *receive_packed_request(zsock_t *router, char *request_id, size_t id_size)
{
    zmsg_t *message = zmsg_recv(router);
    assert_non_null(message);
    assert_int_equal(zmsg_size(message), 2);
    zframe_t *address = zmsg_pop(message);
    zframe_t *packed = zmsg_first(message);
    char error[256];
    zmsg_t *inner = nagar_mdp_unpack(zframe_data(packed), zframe_size(packed), error,
                                     sizeof error);
    assert_non_null(inner);
    assert_int_equal(zmsg_size(inner), 4);
    assert_int_equal(zframe_size(zmsg_first(inner)), 0);
    assert_true(zframe_streq(zmsg_next(inner), MDP_CLIENT));
    assert_true(zframe_streq(zmsg_next(inner), "echo"));
    zframe_t *body = zmsg_next(inner);
    Nagar__Request *request = nagar_envelope_request_unpack(zframe_data(body),
                                                            zframe_size(body));
    assert_non_null(request);
    snprintf(request_id, id_size, "%s", request->context->request_id);
    nagar__request__free_unpacked(request, NULL);
    zmsg_destroy(&inner);
    zmsg_destroy(&message);
    return address;
}

static void send_echo_reply(zsock_t *router, zframe_t *address, const char *request_id,
                            const char *text, bool packed)
{
    Nagar__Test__EchoReply echo = NAGAR__TEST__ECHO_REPLY__INIT;
    echo.text = (char *) text;
    size_t payload_size = nagar__test__echo_reply__get_packed_size(&echo);
    uint8_t *payload = malloc(payload_size + 1);
    nagar__test__echo_reply__pack(&echo, payload);
    size_t body_size;
    uint8_t *body = nagar_envelope_reply_pack(request_id, NAGAR__STATUS_CODE__OK, NULL, NULL,
                                              payload, payload_size, false, &body_size);
    zmsg_t *reply = nagar_mdp_client_request_new("echo", body, body_size);
    if (packed) {
        zframe_t *one = nagar_mdp_pack(reply);
        zmsg_destroy(&reply);
        reply = zmsg_new();
        zmsg_append(reply, &one);
    }
    zframe_t *to = zframe_dup(address);
    zmsg_prepend(reply, &to);
    assert_int_equal(zmsg_send(&reply, router), 0);
    free(body);
    free(payload);
}

static void test_packed_client_against_fake_broker(void **state)
{
    (void) state;
    char error[256];
    unsetenv("NAGAR_CONFIG");
    nagar_config_t *config = nagar_config_new(NULL, error, sizeof error);
    assert_non_null(config);
    nagar_bus_options_t options = { .insecure = true, .packed = true };
    snprintf(options.endpoint, sizeof options.endpoint, "inproc://mdp-pack-test");
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    assert_int_equal(zsock_bind(router, "%s", options.endpoint), 0);
    zsock_set_rcvtimeo(router, 2000);
    nagar_bus_client_t *client = nagar_bus_client_new(&options, config, error, sizeof error);
    assert_non_null(client);

    Nagar__Test__EchoRequest echo = NAGAR__TEST__ECHO_REQUEST__INIT;
    echo.text = "hello";
    nagar_bus_call_t call = { .service = "echo", .method = "echo", .request = &echo.base,
                              .timeout_ms = 3000 };
    /* One answered packed, one answered plain: the client takes both. */
    for (int i = 0; i < 2; i++) {
        bool packed_answer = i == 0;
        outcome_t outcome = { 0 };
        assert_int_equal(nagar_bus_client_send(client, &call, record_outcome, &outcome), 0);
        char request_id[128];
        zframe_t *address = receive_packed_request(router, request_id, sizeof request_id);
        send_echo_reply(router, address, request_id, packed_answer ? "packed" : "plain",
                        packed_answer);
        zframe_destroy(&address);
        for (int polls = 0; polls < 50 && outcome.calls == 0; polls++)
            nagar_bus_client_poll(client, 100);
        assert_int_equal(outcome.calls, 1);
        assert_int_equal(outcome.code, NAGAR__STATUS_CODE__OK);
        assert_string_equal(outcome.text, packed_answer ? "packed" : "plain");
    }

    /* A malformed packed answer is dropped; the request then times out. */
    outcome_t outcome = { 0 };
    call.timeout_ms = 300;
    call.max_attempts = 1;
    assert_int_equal(nagar_bus_client_send(client, &call, record_outcome, &outcome), 0);
    char request_id[128];
    zframe_t *address = receive_packed_request(router, request_id, sizeof request_id);
    zmsg_t *broken = zmsg_new();
    zframe_t *to = zframe_dup(address);
    zmsg_append(broken, &to);
    zmsg_addmem(broken, VALID, sizeof VALID - 2);
    assert_int_equal(zmsg_send(&broken, router), 0);
    zframe_destroy(&address);
    for (int polls = 0; polls < 50 && outcome.calls == 0; polls++)
        nagar_bus_client_poll(client, 100);
    assert_int_equal(outcome.calls, 1);
    assert_int_equal(outcome.code, NAGAR__STATUS_CODE__DEADLINE_EXCEEDED);

    nagar_bus_client_destroy(&client);
    zsock_destroy(&router);
    nagar_config_destroy(&config);
}

/* nagar_mdp_receive_parts: a whole message, nothing, and a message of too
 * many frames read to its end and dropped without disturbing the next. */
static void test_receive_parts(void **state)
{
    (void) state;
    zsock_t *writer = zsock_new_pair("@inproc://test_receive_parts");
    zsock_t *reader = zsock_new_pair(">inproc://test_receive_parts");
    assert_non_null(writer);
    assert_non_null(reader);
    void *handle = zsock_resolve(reader);
    zmq_msg_t parts[4];
    assert_int_equal(nagar_mdp_receive_parts(handle, parts, 4), 0);

    zstr_sendm(writer, "");
    zstr_sendm(writer, "two");
    zstr_send(writer, "three");
    zclock_sleep(20);
    int count = nagar_mdp_receive_parts(handle, parts, 4);
    assert_int_equal(count, 3);
    assert_int_equal(zmq_msg_size(&parts[0]), 0);
    assert_memory_equal(zmq_msg_data(&parts[2]), "three", 5);
    for (int i = 0; i < count; i++)
        zmq_msg_close(&parts[i]);

    for (int i = 0; i < 9; i++)
        zstr_sendm(writer, "x");
    zstr_send(writer, "last");
    zstr_send(writer, "after");
    zclock_sleep(20);
    assert_int_equal(nagar_mdp_receive_parts(handle, parts, 4), -1);
    count = nagar_mdp_receive_parts(handle, parts, 4);
    assert_int_equal(count, 1);
    assert_memory_equal(zmq_msg_data(&parts[0]), "after", 5);
    zmq_msg_close(&parts[0]);
    assert_int_equal(nagar_mdp_receive_parts(handle, parts, 4), 0);
    zsock_destroy(&reader);
    zsock_destroy(&writer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_with_empty_frames),
        cmocka_unit_test(test_large_frame_and_reset_after_it),
        cmocka_unit_test(test_packer_limits),
        cmocka_unit_test(test_is_packed),
        cmocka_unit_test(test_valid_reference_unpacks),
        cmocka_unit_test(test_every_truncation_is_rejected),
        cmocka_unit_test(test_malformed_headers_are_rejected),
        cmocka_unit_test(test_oversized_lengths_are_rejected),
        cmocka_unit_test(test_input_above_the_maximum_is_rejected),
        cmocka_unit_test(test_unpack_message_in_place),
        cmocka_unit_test(test_packed_client_against_fake_broker),
        cmocka_unit_test(test_receive_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
