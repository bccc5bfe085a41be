/*
 * pb_json.c — the contract's messages between JSON and protobuf bytes, for
 * drills that speak to services on the bus directly (as a compromised
 * host's raw client would) with the payloads the gateway would make.
 *
 *   pb_json encode SYMBOL JSON     prints the protobuf, hex
 *   pb_json decode SYMBOL HEX      prints the message as JSON
 *
 * SYMBOL is a message type's descriptor symbol as the method tables name it
 * (e.g. nagar__property_tax__record_payment_request__descriptor), looked up
 * with dlsym: the binary links the whole library and exports it. The JSON is
 * the proto3 mapping the gateway accepts (common/json_codec.h). Exit 0, 1
 * when the input does not fit the type, 2 on usage.
 */
#include <dlfcn.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_codec.h"

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "encode") != 0 && strcmp(argv[1], "decode") != 0)) {
        fprintf(stderr, "usage: pb_json encode|decode DESCRIPTOR_SYMBOL JSON|HEX\n");
        return 2;
    }
    const ProtobufCMessageDescriptor *type = dlsym(RTLD_DEFAULT, argv[2]);
    if (!type || type->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC) {
        fprintf(stderr, "pb_json: no message descriptor %s\n", argv[2]);
        return 2;
    }
    if (strcmp(argv[1], "encode") == 0) {
        nagar_json_error_t error;
        ProtobufCMessage *message =
            nagar_json_decode(type, argv[3], strlen(argv[3]), NULL, &error);
        if (!message) {
            fprintf(stderr, "pb_json: %s: %s\n", error.path, error.message);
            return 1;
        }
        size_t size = protobuf_c_message_get_packed_size(message);
        uint8_t *packed = malloc(size + 1);
        char *hex = malloc(size * 2 + 1);
        protobuf_c_message_pack(message, packed);
        sodium_bin2hex(hex, size * 2 + 1, packed, size);
        printf("%s\n", hex);
        free(hex);
        free(packed);
        protobuf_c_message_free_unpacked(message, NULL);
        return 0;
    }
    size_t hex_length = strlen(argv[3]), size = 0;
    uint8_t *packed = malloc(hex_length / 2 + 1);
    if (sodium_hex2bin(packed, hex_length / 2 + 1, argv[3], hex_length, NULL, &size, NULL) != 0) {
        fprintf(stderr, "pb_json: not hex\n");
        free(packed);
        return 1;
    }
    ProtobufCMessage *message = protobuf_c_message_unpack(type, NULL, size, packed);
    free(packed);
    if (!message) {
        fprintf(stderr, "pb_json: the bytes are not a %s\n", type->name);
        return 1;
    }
    char *json = nagar_json_encode(message);
    printf("%s\n", json ? json : "null");
    free(json);
    protobuf_c_message_free_unpacked(message, NULL);
    return json ? 0 : 1;
}
