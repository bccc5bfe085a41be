/*
 * json_codec.h — strict JSON <-> protobuf, driven by protobuf-c descriptors.
 *
 * The gateway speaks JSON over HTTP and protobuf over the bus; this module is
 * the one place that translates, following the proto3 JSON mapping
 * (https://protobuf.dev/programming-guides/proto3/#json), strictly:
 *
 *   - names: lowerCamelCase of the proto field name on output ("snakeCaseName");
 *     on input the lowerCamelCase name or the original proto name, not both.
 *   - unknown fields, duplicate keys, wrong JSON types, out-of-range numbers,
 *     unknown enum names or numbers, bad base64, two members of one oneof,
 *     null inside a list, anything but an object at the top: rejected.
 *   - integers: JSON numbers (integral, in range) or decimal strings matching
 *     -?(0|[1-9][0-9]*) (no '+', spaces, fractions or exponents). 64-bit integers
 *     are written as strings; as JSON numbers they are accepted only up to 2^53
 *     in magnitude when written with a fraction or exponent (beyond that a
 *     double is not exact), and a number above 2^63-1 cannot be parsed at all:
 *     send such values as strings.
 *   - float/double: JSON numbers, or the strings "NaN", "Infinity", "-Infinity"
 *     (which is also how those values are written). A double is written with
 *     17 significant digits (jansson's precision), which round-trips exactly.
 *   - bool: true or false only. bytes: standard base64 with padding on output;
 *     standard or URL-safe, padded or not, on input.
 *   - enums: by name on output (the number if the value has no name); a
 *     defined name or a defined number on input.
 *   - null for a field means "absent" (the default).
 *   - on output proto3 defaults (0, "", false, empty list, unset message) are
 *     omitted (nagar_json_encode_with_defaults writes all but unset messages);
 *     a set oneof member is always written, even when it holds a default.
 *     proto2 optional fields with a has_ flag are written when set.
 *
 * Not supported: map<> fields (protobuf-c marks nothing as a map, so a map
 * would travel as a list of {"key","value"} objects — our protos must not use
 * maps) and the special JSON forms of the google.protobuf well-known types
 * (Timestamp, Duration, wrappers, Struct, Any are encoded as plain messages —
 * our protos do not import them).
 *
 * Limits bound every input before it is interpreted: the document's size in
 * bytes, the nesting of objects and arrays (the top-level object is level 1),
 * the length of any string in characters (key or value; for bytes fields this
 * is the base64 text), and the number of items in any array or members in any
 * object. Every rejection names the JSON path of the offending value, e.g.
 * "items[2].amountPaise", as the client wrote it ("" for the document itself,
 * which includes syntax errors and duplicate keys: their line and column are
 * in the message).
 *
 * Messages are built the way protobuf-c's unpacker builds them (system
 * allocator, every string and array malloc'd, defaults pointing at the
 * descriptor's default values), so protobuf_c_message_free_unpacked(m, NULL)
 * frees them.
 */
#ifndef NAGAR_JSON_CODEC_H
#define NAGAR_JSON_CODEC_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct {
    char path[256];     /* JSON path of the offending value; "" for the document */
    char message[256];  /* which rule was broken and by what value */
} nagar_json_error_t;

/* Values are taken literally (0 items allowed means no non-empty array). */
typedef struct {
    size_t max_bytes;   /* size of the JSON text (nagar_json_decode only) */
    int max_depth;      /* nesting of objects/arrays; the top object is 1 */
    size_t max_string;  /* characters (code points) in any string or key */
    size_t max_items;   /* items in any array, members in any object */
} nagar_json_limits_t;

/* 64 KiB, depth 16, 4096 characters, 1000 items. */
extern const nagar_json_limits_t NAGAR_JSON_DEFAULT_LIMITS;

/* Decodes length bytes of JSON text into a new message of type. limits may
 * be NULL for the defaults. Returns the message, to be freed with
 * protobuf_c_message_free_unpacked(m, NULL), or NULL with error (when not
 * NULL) filled in. */
ProtobufCMessage *nagar_json_decode(const ProtobufCMessageDescriptor *type, const char *json,
                                    size_t length, const nagar_json_limits_t *limits,
                                    nagar_json_error_t *error);

/* The same for a JSON object the caller already holds (the gateway's parsed
 * body with path and query parameters merged in, see nagar_json_merge_param).
 * object is borrowed. limits->max_bytes is not used (the caller bounded the
 * body). On success stores the new message in *message and returns 0; on
 * failure stores NULL and returns -1 with error filled in. */
int nagar_json_decode_object(const ProtobufCMessageDescriptor *type, json_t *object,
                             const nagar_json_limits_t *limits, ProtobufCMessage **message,
                             nagar_json_error_t *error);

/* Adds one URL path or query parameter to object (a request body) as the
 * top-level field name (lowerCamelCase or proto name) of type, converting
 * the text to the JSON the codec expects: "true"/"false" for bools, a number
 * or "NaN"/"Infinity"/"-Infinity" for floats, a name or decimal number for
 * enums, the text itself for strings, bytes and integers. A repeated field
 * may be given several times (appended in order). Rejects unknown names,
 * message fields, a non-repeated field given twice or also in the body, and
 * text that is not valid UTF-8. Returns 0, or -1 with error filled in (path =
 * name). */
int nagar_json_merge_param(json_t *object, const ProtobufCMessageDescriptor *type,
                           const char *name, const char *value, nagar_json_error_t *error);

/* The message as compact JSON, malloc'd: free() it. NULL when out of memory
 * or when a string field holds invalid UTF-8 (a bug in whoever built the
 * message). */
char *nagar_json_encode(const ProtobufCMessage *message);

/* The message as a new JSON object (a new reference), or NULL as above. */
json_t *nagar_json_encode_object(const ProtobufCMessage *message);

/* As nagar_json_encode_object, but every field without presence is written
 * even when it holds its default (0, "", false, an empty list; the proto3
 * JSON mapping's "always print fields with no presence"): what the gateway
 * answers, so that a client never guesses what an absent field means.
 * Unset messages and oneof members stay out. */
json_t *nagar_json_encode_object_with_defaults(const ProtobufCMessage *message);

#endif
