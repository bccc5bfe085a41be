/*
 * fuzz_json_codec.c — libFuzzer harness for the JSON <-> protobuf codec.
 *
 * Feeds arbitrary bytes to nagar_json_decode as a nagar.test.Everything (the
 * message with every field shape). Whatever is accepted must survive
 * encode -> decode unchanged (compared by protobuf wire bytes, which cover
 * every field), and every rejection must come with a NUL-terminated path and
 * a non-empty message. ASan/UBSan catch the memory errors; leaks are caught
 * by LeakSanitizer at exit of each run.
 *
 * Build (see the report of the codec for the exact line; `make fuzz` wraps it):
 *   clang -fsanitize=fuzzer,address,undefined ... tests/fuzz/fuzz_json_codec.c
 *         common/json_codec.c $(BUILD)/gen/tests/proto/echo.pb-c.c ...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_codec.h"
#include "tests/proto/echo.pb-c.h"

static uint8_t *pack(const ProtobufCMessage *message, size_t *size)
{
    *size = protobuf_c_message_get_packed_size(message);
    uint8_t *bytes = malloc(*size + 1);
    if (!bytes)
        abort();
    protobuf_c_message_pack(message, bytes);
    return bytes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const ProtobufCMessageDescriptor *type = &nagar__test__everything__descriptor;
    nagar_json_error_t error;
    ProtobufCMessage *first = nagar_json_decode(type, (const char *) data, size, NULL, &error);
    if (!first) {
        if (!memchr(error.path, '\0', sizeof error.path)
            || !memchr(error.message, '\0', sizeof error.message) || !error.message[0])
            abort();  /* every rejection must explain itself */
        return 0;
    }

    char *json = nagar_json_encode(first);
    if (!json) {
        fprintf(stderr, "accepted input could not be encoded\n");
        abort();
    }
    ProtobufCMessage *second = nagar_json_decode(type, json, strlen(json), NULL, &error);
    if (!second) {
        /* Only the byte limit may be exceeded by our own output: 64-bit
         * numbers become quoted strings. Every other limit is preserved. */
        if (error.path[0] == '\0' && strncmp(error.message, "document is ", 12) == 0)
            goto done;
        fprintf(stderr, "re-decoding our own output failed at \"%s\": %s\n%s\n", error.path,
                error.message, json);
        abort();
    }

    size_t first_size, second_size;
    uint8_t *first_bytes = pack(first, &first_size);
    uint8_t *second_bytes = pack(second, &second_size);
    if (first_size != second_size || memcmp(first_bytes, second_bytes, first_size) != 0) {
        fprintf(stderr, "round trip changed the message:\n%s\n", json);
        abort();
    }

    /* Encoding is deterministic: the second encoding is the same text. */
    char *again = nagar_json_encode(second);
    if (!again || strcmp(json, again) != 0) {
        fprintf(stderr, "encoding is not stable:\n%s\n%s\n", json, again ? again : "(null)");
        abort();
    }
    free(again);
    free(first_bytes);
    free(second_bytes);
    protobuf_c_message_free_unpacked(second, NULL);
done:
    free(json);
    protobuf_c_message_free_unpacked(first, NULL);
    return 0;
}
