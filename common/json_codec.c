/*
 * json_codec.c — strict proto3 JSON mapping over protobuf-c descriptors.
 *
 * Decoding runs in three steps so that nothing unbounded is ever
 * interpreted: the text's size is checked, jansson parses it (rejecting
 * duplicate keys, NUL characters and trailing garbage), then one walk checks
 * the limits (depth, string lengths, item counts) on the raw tree, and a
 * second walk follows the descriptor, building the message the way
 * protobuf-c's unpacker does so that protobuf_c_message_free_unpacked frees
 * it, partial or complete. Every pointer is stored in the message as soon as
 * it is allocated, which is what makes "on error, free the whole message"
 * correct at every step.
 *
 * Encoding is a plain walk of the descriptor into a jansson object.
 * See json_codec.h for the rules.
 */
#include "json_codec.h"

#include <ctype.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

const nagar_json_limits_t NAGAR_JSON_DEFAULT_LIMITS = {
    .max_bytes = 64 * 1024,
    .max_depth = 16,
    .max_string = 4096,
    .max_items = 1000,
};

/* Doubles represent every integer up to 2^53 exactly; above it a JSON number
 * for a 64-bit field may already have been rounded by whoever wrote it. */
#define EXACT_DOUBLE_INTEGER_LIMIT 9007199254740992.0

/* How many characters of a client's value an error message quotes. */
#define EXCERPT_CHARS 40

typedef struct {
    const nagar_json_limits_t *limits;
    nagar_json_error_t *error;
    char path[1024];  /* longer paths are cut; the error copy is cut anyway */
    size_t path_len;
} decoder_t;

/* ---- Text helpers ------------------------------------------------------- */

/* Copies src into dst, cutting at a UTF-8 character boundary and marking the
 * cut with "...", so that the result is always valid UTF-8 (the gateway puts
 * it in a JSON error body). */
static void copy_truncated(char *dst, size_t size, const char *src)
{
    size_t length = strlen(src);
    if (length < size) {
        memcpy(dst, src, length + 1);
        return;
    }
    size_t cut = size - 4;
    while (cut > 0 && ((unsigned char) src[cut] & 0xC0) == 0x80)
        cut--;
    memcpy(dst, src, cut);
    memcpy(dst + cut, "...", 4);
}

static size_t utf8_characters(const char *text, size_t bytes)
{
    size_t characters = 0;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char) text[i] & 0xC0) != 0x80)
            characters++;
    return characters;
}

/* "text" quoted, at most EXCERPT_CHARS characters, control characters shown
 * as '?' so that a message stays on one readable line. */
static void quote_excerpt(const char *text, size_t bytes, char *buffer, size_t size)
{
    size_t out = 0, characters = 0, i = 0;
    buffer[out++] = '"';
    while (i < bytes && out + 8 < size) {
        unsigned char c = (unsigned char) text[i];
        if ((c & 0xC0) != 0x80 && characters++ == EXCERPT_CHARS)
            break;
        buffer[out++] = c < 0x20 || c == 0x7F ? '?' : (char) c;
        i++;
    }
    /* Never end inside a multi-byte character. */
    while (i < bytes && out > 1 && ((unsigned char) text[i] & 0xC0) == 0x80) {
        out--;
        i--;
    }
    if (i < bytes) {
        memcpy(buffer + out, "...", 3);
        out += 3;
    }
    buffer[out++] = '"';
    buffer[out] = '\0';
}

/* What a client sent, for "got ..." in error messages. */
static void describe_value(const json_t *value, char *buffer, size_t size)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT: snprintf(buffer, size, "an object"); break;
    case JSON_ARRAY: snprintf(buffer, size, "a list"); break;
    case JSON_STRING:
        quote_excerpt(json_string_value(value), json_string_length(value), buffer, size);
        break;
    case JSON_INTEGER:
        snprintf(buffer, size, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        break;
    case JSON_REAL: {
        /* The shortest form that reads back the same: 1e+39, not 9.99...e+38. */
        double number = json_real_value(value);
        for (int precision = 15; precision <= 17; precision++) {
            snprintf(buffer, size, "%.*g", precision, number);
            if (strtod(buffer, NULL) == number)
                break;
        }
        break;
    }
    case JSON_TRUE: snprintf(buffer, size, "true"); break;
    case JSON_FALSE: snprintf(buffer, size, "false"); break;
    case JSON_NULL: snprintf(buffer, size, "null"); break;
    }
}

/* protoc's ToJsonName: drop each '_' and upper-case the letter after it. */
static int json_name_matches(const char *proto_name, const char *key)
{
    int upper_next = 0;
    for (; *proto_name; proto_name++) {
        if (*proto_name == '_') {
            upper_next = 1;
            continue;
        }
        char expected = upper_next ? (char) toupper((unsigned char) *proto_name) : *proto_name;
        upper_next = 0;
        if (*key++ != expected)
            return 0;
    }
    return *key == '\0';
}

/* The JSON name of proto_name, in stack when it fits, else malloc'd (the
 * caller frees it when it is not stack). NULL when out of memory. */
static char *json_name(const char *proto_name, char *stack, size_t size)
{
    size_t length = strlen(proto_name);
    char *name = length < size ? stack : malloc(length + 1);
    if (!name)
        return NULL;
    size_t out = 0;
    int upper_next = 0;
    for (const char *p = proto_name; *p; p++) {
        if (*p == '_') {
            upper_next = 1;
            continue;
        }
        name[out++] = upper_next ? (char) toupper((unsigned char) *p) : *p;
        upper_next = 0;
    }
    name[out] = '\0';
    return name;
}

/* ---- Errors and paths --------------------------------------------------- */

__attribute__((format(printf, 2, 3)))
static int fail(decoder_t *d, const char *format, ...)
{
    if (d->error) {
        char message[1024];
        va_list args;
        va_start(args, format);
        vsnprintf(message, sizeof message, format, args);
        va_end(args);
        copy_truncated(d->error->message, sizeof d->error->message, message);
        copy_truncated(d->error->path, sizeof d->error->path, d->path);
    }
    return -1;
}

static void path_append(decoder_t *d, const char *text)
{
    size_t length = strlen(text);
    size_t room = sizeof d->path - 1 - d->path_len;
    if (length > room)
        length = room;
    memcpy(d->path + d->path_len, text, length);
    d->path_len += length;
    d->path[d->path_len] = '\0';
}

/* Each push returns the length to restore with path_pop. */
static size_t path_push_key(decoder_t *d, const char *key)
{
    size_t saved = d->path_len;
    if (saved > 0)
        path_append(d, ".");
    path_append(d, key);
    return saved;
}

static size_t path_push_index(decoder_t *d, size_t index)
{
    size_t saved = d->path_len;
    char text[32];
    snprintf(text, sizeof text, "[%zu]", index);
    path_append(d, text);
    return saved;
}

static void path_pop(decoder_t *d, size_t saved)
{
    d->path_len = saved;
    d->path[saved] = '\0';
}

/* The common shape of a type error: "must be <rule>, got <value>". */
static int fail_must_be(decoder_t *d, const char *rule, const json_t *value)
{
    char got[96];
    describe_value(value, got, sizeof got);
    return fail(d, "must be %s, got %s", rule, got);
}

/* ---- Limits ------------------------------------------------------------- */

static int check_string_limits(decoder_t *d, const char *text, size_t bytes)
{
    if (strlen(text) != bytes)
        return fail(d, "must not contain NUL characters (\\u0000)");
    size_t characters = utf8_characters(text, bytes);
    if (characters > d->limits->max_string)
        return fail(d, "string is %zu characters long, more than the limit of %zu",
                    characters, d->limits->max_string);
    return 0;
}

/* Walks the raw tree before any interpretation, so that the bounds hold
 * even inside fields that will turn out to be unknown. */
static int check_limits(decoder_t *d, json_t *value, int depth)
{
    if (json_is_object(value) || json_is_array(value)) {
        if (depth > d->limits->max_depth)
            return fail(d, "nested deeper than %d levels of objects and lists",
                        d->limits->max_depth);
    }
    if (json_is_object(value)) {
        size_t members = json_object_size(value);
        if (members > d->limits->max_items)
            return fail(d, "object has %zu members, more than the limit of %zu", members,
                        d->limits->max_items);
        const char *key;
        size_t key_length;
        json_t *member;
        json_object_keylen_foreach(value, key, key_length, member) {
            size_t saved = path_push_key(d, key);
            if (check_string_limits(d, key, key_length) != 0
                || check_limits(d, member, depth + 1) != 0)
                return -1;
            path_pop(d, saved);
        }
    } else if (json_is_array(value)) {
        size_t items = json_array_size(value);
        if (items > d->limits->max_items)
            return fail(d, "list has %zu items, more than the limit of %zu", items,
                        d->limits->max_items);
        for (size_t i = 0; i < items; i++) {
            size_t saved = path_push_index(d, i);
            if (check_limits(d, json_array_get(value, i), depth + 1) != 0)
                return -1;
            path_pop(d, saved);
        }
    } else if (json_is_string(value)) {
        return check_string_limits(d, json_string_value(value), json_string_length(value));
    }
    return 0;
}

/* ---- Decoding scalars --------------------------------------------------- */

typedef struct {
    const char *rule;   /* what the value must be, for type errors */
    const char *range;  /* the same with its bounds, for range errors */
    uint64_t max_negative;  /* magnitude of the minimum (0 for unsigned) */
    uint64_t max_positive;
    int is_64_bit;
} integer_kind_t;

static const integer_kind_t INT32_KIND = {
    "a 32-bit integer (a number or a decimal string)",
    "a 32-bit integer between -2147483648 and 2147483647", 2147483648u, INT32_MAX, 0};
static const integer_kind_t UINT32_KIND = {
    "an unsigned 32-bit integer (a number or a decimal string)",
    "an unsigned 32-bit integer between 0 and 4294967295", 0, UINT32_MAX, 0};
static const integer_kind_t INT64_KIND = {
    "a 64-bit integer (a string or number)",
    "a 64-bit integer between -9223372036854775808 and 9223372036854775807",
    (uint64_t) INT64_MAX + 1, INT64_MAX, 1};
static const integer_kind_t UINT64_KIND = {
    "an unsigned 64-bit integer (a string or number)",
    "an unsigned 64-bit integer between 0 and 18446744073709551615", 0, UINT64_MAX, 1};

/* Parses -?(0|[1-9][0-9]*) exactly. Returns 0, -1 for bad syntax, -2 when
 * the magnitude does not fit in 64 bits. */
static int parse_decimal(const char *text, size_t length, int *negative, uint64_t *magnitude)
{
    size_t i = 0;
    *negative = 0;
    *magnitude = 0;
    if (i < length && text[i] == '-') {
        *negative = 1;
        i++;
    }
    if (i == length || !isdigit((unsigned char) text[i]))
        return -1;
    if (text[i] == '0' && i + 1 < length)
        return -1;  /* leading zeros are not decimal JSON */
    for (; i < length; i++) {
        if (!isdigit((unsigned char) text[i]))
            return -1;
        unsigned digit = (unsigned) (text[i] - '0');
        if (*magnitude > (UINT64_MAX - digit) / 10)
            return -2;
        *magnitude = *magnitude * 10 + digit;
    }
    return 0;
}

/* Reads an integer of the given kind as sign and magnitude. */
static int decode_integer(decoder_t *d, const integer_kind_t *kind, json_t *value,
                          int *negative, uint64_t *magnitude)
{
    if (json_is_integer(value)) {
        json_int_t number = json_integer_value(value);
        *negative = number < 0;
        *magnitude = number < 0 ? (uint64_t) (-(number + 1)) + 1 : (uint64_t) number;
    } else if (json_is_real(value)) {
        double number = json_real_value(value);
        if (!isfinite(number) || number != trunc(number))
            return fail_must_be(d, kind->rule, value);
        if (fabs(number) >= 18446744073709551616.0)
            return fail_must_be(d, kind->range, value);
        if (kind->is_64_bit && fabs(number) > EXACT_DOUBLE_INTEGER_LIMIT) {
            char got[96];
            describe_value(value, got, sizeof got);
            return fail(d, "must be %s; a JSON number this large is not exact, write it as "
                        "a string, got %s", kind->rule, got);
        }
        *negative = number < 0;
        *magnitude = (uint64_t) fabs(number);
    } else if (json_is_string(value)) {
        int rc = parse_decimal(json_string_value(value), json_string_length(value), negative,
                               magnitude);
        if (rc == -1)
            return fail_must_be(d, kind->rule, value);
        if (rc == -2)
            return fail_must_be(d, kind->range, value);
    } else {
        return fail_must_be(d, kind->rule, value);
    }
    if (*negative ? *magnitude > kind->max_negative : *magnitude > kind->max_positive)
        return fail_must_be(d, kind->range, value);
    return 0;
}

static int decode_signed(decoder_t *d, const integer_kind_t *kind, json_t *value,
                         int64_t *result)
{
    int negative;
    uint64_t magnitude;
    if (decode_integer(d, kind, value, &negative, &magnitude) != 0)
        return -1;
    /* -(m - 1) - 1 reaches INT64_MIN without overflowing. */
    *result = negative && magnitude > 0 ? -(int64_t) (magnitude - 1) - 1 : (int64_t) magnitude;
    return 0;
}

static int decode_unsigned(decoder_t *d, const integer_kind_t *kind, json_t *value,
                           uint64_t *result)
{
    int negative;
    if (decode_integer(d, kind, value, &negative, result) != 0)
        return -1;
    return 0;  /* "-0" is zero: the range check let only magnitude 0 through */
}

static int decode_floating(decoder_t *d, json_t *value, int is_float, double *result)
{
    if (json_is_number(value)) {
        *result = json_number_value(value);
    } else if (json_is_string(value) && strcmp(json_string_value(value), "NaN") == 0) {
        *result = NAN;
    } else if (json_is_string(value) && strcmp(json_string_value(value), "Infinity") == 0) {
        *result = INFINITY;
    } else if (json_is_string(value) && strcmp(json_string_value(value), "-Infinity") == 0) {
        *result = -INFINITY;
    } else {
        return fail_must_be(d, "a number or one of \"NaN\", \"Infinity\", \"-Infinity\"",
                            value);
    }
    if (is_float && isfinite(*result) && fabs(*result) > FLT_MAX)
        return fail_must_be(d, "a 32-bit float, at most 3.4028235e+38 in magnitude", value);
    return 0;
}

static int decode_bytes(decoder_t *d, json_t *value, ProtobufCBinaryData *result)
{
    if (!json_is_string(value))
        return fail_must_be(d, "a base64 string", value);
    const char *text = json_string_value(value);
    size_t length = json_string_length(value);
    if (length == 0)
        return 0;
    /* Padding is optional; when present it must complete the last quantum. */
    size_t unpadded = length;
    while (unpadded > 0 && text[unpadded - 1] == '=' && length - unpadded < 2)
        unpadded--;
    int url_safe = memchr(text, '-', length) || memchr(text, '_', length);
    size_t capacity = unpadded / 4 * 3 + 3;
    unsigned char *data = malloc(capacity);
    if (!data)
        return fail(d, "out of memory decoding %zu base64 characters", length);
    size_t data_length = 0;
    if ((unpadded != length && length % 4 != 0)
        || sodium_base642bin(data, capacity, text, unpadded, NULL, &data_length, NULL,
                             url_safe ? sodium_base64_VARIANT_URLSAFE_NO_PADDING
                                      : sodium_base64_VARIANT_ORIGINAL_NO_PADDING)
               != 0) {
        free(data);
        return fail_must_be(d, "base64 (standard or URL-safe alphabet, padding optional)",
                            value);
    }
    result->data = data;
    result->len = data_length;
    return 0;
}

static int decode_enum(decoder_t *d, const ProtobufCEnumDescriptor *type, json_t *value,
                       int32_t *result)
{
    const ProtobufCEnumValue *found = NULL;
    if (json_is_string(value))
        found = protobuf_c_enum_descriptor_get_value_by_name(type, json_string_value(value));
    else if (json_is_integer(value) && json_integer_value(value) >= INT32_MIN
             && json_integer_value(value) <= INT32_MAX)
        found = protobuf_c_enum_descriptor_get_value(type, (int) json_integer_value(value));
    if (found) {
        *result = found->value;
        return 0;
    }
    char names[160] = "";
    size_t used = 0;
    for (unsigned i = 0; i < type->n_values; i++) {
        const char *name = type->values[i].name;
        if (used + strlen(name) + 8 >= sizeof names) {
            snprintf(names + used, sizeof names - used, ", ...");
            break;
        }
        used += (size_t) snprintf(names + used, sizeof names - used, "%s\"%s\"",
                                  i ? ", " : "", name);
    }
    char got[96];
    describe_value(value, got, sizeof got);
    return fail(d, "must be one of %s (or its number), got %s", names, got);
}

/* ---- Decoding messages -------------------------------------------------- */

static ProtobufCMessage *message_new(const ProtobufCMessageDescriptor *type)
{
    ProtobufCMessage *message = calloc(1, type->sizeof_message);
    if (message)
        protobuf_c_message_init(type, message);
    return message;
}

static int decode_message(decoder_t *d, const ProtobufCMessageDescriptor *type,
                          json_t *object, ProtobufCMessage *message);

static size_t element_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return sizeof(uint32_t);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int32_t);  /* protobuf-c forces int size */
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    }
    return 0;
}

/* Decodes one value of field's type into the storage at destination (the
 * field itself, or one element of its array). */
static int decode_value(decoder_t *d, const ProtobufCFieldDescriptor *field, json_t *value,
                        void *destination)
{
    int64_t signed_value;
    uint64_t unsigned_value;
    double floating;

    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (decode_signed(d, &INT32_KIND, value, &signed_value) != 0)
            return -1;
        *(int32_t *) destination = (int32_t) signed_value;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (decode_unsigned(d, &UINT32_KIND, value, &unsigned_value) != 0)
            return -1;
        *(uint32_t *) destination = (uint32_t) unsigned_value;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (decode_signed(d, &INT64_KIND, value, &signed_value) != 0)
            return -1;
        *(int64_t *) destination = signed_value;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (decode_unsigned(d, &UINT64_KIND, value, &unsigned_value) != 0)
            return -1;
        *(uint64_t *) destination = unsigned_value;
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
        if (decode_floating(d, value, 1, &floating) != 0)
            return -1;
        *(float *) destination = (float) floating;
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (decode_floating(d, value, 0, &floating) != 0)
            return -1;
        *(double *) destination = floating;
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(value))
            return fail_must_be(d, "true or false", value);
        *(protobuf_c_boolean *) destination = json_is_true(value);
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        return decode_enum(d, field->descriptor, value, (int32_t *) destination);
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(value))
            return fail_must_be(d, "a string", value);
        char *copy = strndup(json_string_value(value), json_string_length(value));
        if (!copy)
            return fail(d, "out of memory copying a string of %zu bytes",
                        json_string_length(value));
        *(char **) destination = copy;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return decode_bytes(d, value, (ProtobufCBinaryData *) destination);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *type = field->descriptor;
        if (!json_is_object(value))
            return fail_must_be(d, "an object", value);
        ProtobufCMessage *child = message_new(type);
        if (!child)
            return fail(d, "out of memory allocating %s", type->name);
        *(ProtobufCMessage **) destination = child;  /* owned by the parent from here */
        return decode_message(d, type, value, child);
    }
    }
    return fail(d, "field type %d is not supported", (int) field->type);
}

static int decode_repeated(decoder_t *d, const ProtobufCFieldDescriptor *field, json_t *value,
                           ProtobufCMessage *message)
{
    if (!json_is_array(value))
        return fail_must_be(d, "a list", value);
    size_t items = json_array_size(value);
    if (items == 0)
        return 0;
    size_t size = element_size(field->type);
    char *array = calloc(items, size);
    if (!array)
        return fail(d, "out of memory allocating a list of %zu items", items);
    size_t *count = (size_t *) ((char *) message + field->quantifier_offset);
    *(void **) ((char *) message + field->offset) = array;
    /* Counted before each element is filled, so a half-built element is freed
     * too; a zeroed slot (NULL pointer, empty bytes) is safe to free. */
    for (size_t i = 0; i < items; i++) {
        size_t saved = path_push_index(d, i);
        json_t *item = json_array_get(value, i);
        *count = i + 1;
        if (json_is_null(item))
            return fail(d, "must not be null (a list cannot hold null)");
        if (decode_value(d, field, item, array + i * size) != 0)
            return -1;
        path_pop(d, saved);
    }
    return 0;
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *type,
                                                  const char *key)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(type, key);
    if (field)
        return field;
    for (unsigned i = 0; i < type->n_fields; i++)
        if (json_name_matches(type->fields[i].name, key))
            return &type->fields[i];
    return NULL;
}

/* Whether a proto2 optional field has a has_ flag at quantifier_offset
 * (strings and messages use NULL for "absent" instead). */
static int has_presence_flag(const ProtobufCFieldDescriptor *field)
{
    return field->label == PROTOBUF_C_LABEL_OPTIONAL
           && !(field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
           && field->type != PROTOBUF_C_TYPE_STRING && field->type != PROTOBUF_C_TYPE_MESSAGE;
}

static int decode_field(decoder_t *d, const ProtobufCMessageDescriptor *type,
                        const ProtobufCFieldDescriptor *field, const char *key, json_t *value,
                        ProtobufCMessage *message)
{
    char *base = (char *) message;
    if (field->label == PROTOBUF_C_LABEL_REPEATED)
        return decode_repeated(d, field, value, message);
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *oneof_case = (uint32_t *) (base + field->quantifier_offset);
        if (*oneof_case != 0) {
            const ProtobufCFieldDescriptor *other =
                protobuf_c_message_descriptor_get_field(type, *oneof_case);
            char stack[128];
            char *other_name = other ? json_name(other->name, stack, sizeof stack) : NULL;
            char quoted[200];
            quote_excerpt(key, strlen(key), quoted, sizeof quoted);
            int rc = fail(d, "%s cannot be set together with \"%s\": only one member of "
                          "a oneof may be set", quoted, other_name ? other_name : "?");
            if (other_name != stack)
                free(other_name);
            return rc;
        }
        /* Set first: the union is zeroed, so a member that fails half-built is
         * still freed correctly by protobuf_c_message_free_unpacked. */
        *oneof_case = field->id;
    }
    if (decode_value(d, field, value, base + field->offset) != 0)
        return -1;
    if (has_presence_flag(field))
        *(protobuf_c_boolean *) (base + field->quantifier_offset) = 1;
    return 0;
}

static int decode_message(decoder_t *d, const ProtobufCMessageDescriptor *type,
                          json_t *object, ProtobufCMessage *message)
{
    unsigned char *seen = calloc(type->n_fields + 1, 1);
    if (!seen)
        return fail(d, "out of memory decoding %s", type->name);
    int rc = 0;
    const char *key;
    json_t *value;
    json_object_foreach(object, key, value) {
        size_t saved = path_push_key(d, key);
        const ProtobufCFieldDescriptor *field = find_field(type, key);
        if (!field) {
            char quoted[200];
            quote_excerpt(key, strlen(key), quoted, sizeof quoted);
            rc = fail(d, "unknown field %s in %s", quoted, type->name);
            break;
        }
        size_t index = (size_t) (field - type->fields);
        if (seen[index]) {
            char stack[128];
            char *camel = json_name(field->name, stack, sizeof stack);
            const char *other = camel && strcmp(camel, key) == 0 ? field->name : camel;
            rc = fail(d, "field given twice, as \"%s\" and \"%s\"", other ? other : "?", key);
            if (camel != stack)
                free(camel);
            break;
        }
        seen[index] = 1;
        /* null means "absent": the field keeps its default. */
        if (!json_is_null(value) && decode_field(d, type, field, key, value, message) != 0) {
            rc = -1;
            break;
        }
        path_pop(d, saved);
    }
    for (unsigned i = 0; rc == 0 && i < type->n_fields; i++) {
        if (type->fields[i].label == PROTOBUF_C_LABEL_REQUIRED && !seen[i]) {
            char stack[128];
            char *name = json_name(type->fields[i].name, stack, sizeof stack);
            rc = fail(d, "required field \"%s\" of %s is missing", name ? name : "?",
                      type->name);
            if (name != stack)
                free(name);
        }
    }
    free(seen);
    return rc;
}

static int decode_document(decoder_t *d, const ProtobufCMessageDescriptor *type, json_t *root,
                           ProtobufCMessage **result)
{
    *result = NULL;
    if (!json_is_object(root)) {
        char got[96];
        describe_value(root, got, sizeof got);
        return fail(d, "the document must be a JSON object (%s), got %s", type->name, got);
    }
    if (check_limits(d, root, 1) != 0)
        return -1;
    ProtobufCMessage *message = message_new(type);
    if (!message)
        return fail(d, "out of memory allocating %s", type->name);
    if (decode_message(d, type, root, message) != 0) {
        protobuf_c_message_free_unpacked(message, NULL);
        return -1;
    }
    *result = message;
    return 0;
}

static void decoder_init(decoder_t *d, const nagar_json_limits_t *limits,
                         nagar_json_error_t *error)
{
    d->limits = limits ? limits : &NAGAR_JSON_DEFAULT_LIMITS;
    d->error = error;
    d->path[0] = '\0';
    d->path_len = 0;
    if (error) {
        error->path[0] = '\0';
        error->message[0] = '\0';
    }
}

ProtobufCMessage *nagar_json_decode(const ProtobufCMessageDescriptor *type, const char *json,
                                    size_t length, const nagar_json_limits_t *limits,
                                    nagar_json_error_t *error)
{
    decoder_t d;
    decoder_init(&d, limits, error);
    if (length > d.limits->max_bytes) {
        fail(&d, "document is %zu bytes, more than the limit of %zu bytes", length,
             d.limits->max_bytes);
        return NULL;
    }
    json_error_t parse_error;
    /* JSON_DECODE_ANY so that a scalar document gets our clearer message. */
    json_t *root = json_loadb(json, length, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                              &parse_error);
    if (!root) {
        const char *hint = "";
        if (json_error_code(&parse_error) == json_error_duplicate_key)
            hint = "; each field may appear only once";
        else if (json_error_code(&parse_error) == json_error_numeric_overflow)
            hint = "; write 64-bit integers as strings";
        fail(&d, "invalid JSON at line %d, column %d: %s%s", parse_error.line,
             parse_error.column, parse_error.text, hint);
        return NULL;
    }
    ProtobufCMessage *message;
    decode_document(&d, type, root, &message);
    json_decref(root);
    return message;
}

int nagar_json_decode_object(const ProtobufCMessageDescriptor *type, json_t *object,
                             const nagar_json_limits_t *limits, ProtobufCMessage **message,
                             nagar_json_error_t *error)
{
    decoder_t d;
    decoder_init(&d, limits, error);
    return decode_document(&d, type, object, message);
}

/* ---- Parameters --------------------------------------------------------- */

/* Whether a body value says the same as the URL parameter's text: the same
 * string, or an integer written as a JSON number in the body and as decimal
 * text in the URL. */
static bool param_matches(json_t *existing, const char *value)
{
    if (json_is_string(existing))
        return strcmp(json_string_value(existing), value) == 0;
    int negative;
    uint64_t magnitude;
    if (!json_is_integer(existing) || parse_decimal(value, strlen(value), &negative, &magnitude)
        || magnitude > (uint64_t) INT64_MAX)
        return false;
    json_int_t number = negative ? -(json_int_t) magnitude : (json_int_t) magnitude;
    return number == json_integer_value(existing);
}

int nagar_json_merge_param(json_t *object, const ProtobufCMessageDescriptor *type,
                           const char *name, const char *value, nagar_json_error_t *error)
{
    decoder_t d;
    decoder_init(&d, NULL, error);
    if (!nagar_utf8_valid(name))
        return fail(&d, "a URL parameter name is not valid UTF-8");
    path_push_key(&d, name);
    if (!nagar_utf8_valid(value))
        return fail(&d, "must be valid UTF-8 text");
    const ProtobufCFieldDescriptor *field = find_field(type, name);
    if (!field) {
        char quoted[200];
        quote_excerpt(name, strlen(name), quoted, sizeof quoted);
        return fail(&d, "unknown parameter %s for %s", quoted, type->name);
    }
    if (field->type == PROTOBUF_C_TYPE_MESSAGE)
        return fail(&d, "cannot be given as a URL parameter: send it in the JSON body");
    if (!json_is_object(object))
        return fail(&d, "parameters can only be merged into a JSON object");

    char stack[128];
    char *key = json_name(field->name, stack, sizeof stack);
    if (!key)
        return fail(&d, "out of memory");
    int rc = -1;
    json_t *converted = NULL;
    json_t *existing = json_object_get(object, key);
    if (!existing && strcmp(key, field->name) != 0)
        existing = json_object_get(object, field->name);
    if (existing && !json_is_array(existing) && field->label == PROTOBUF_C_LABEL_REPEATED) {
        fail(&d, "must be a list in the body when also given as a URL parameter");
        goto done;
    }
    if (field->type == PROTOBUF_C_TYPE_BOOL) {
        if (strcmp(value, "true") == 0)
            converted = json_true();
        else if (strcmp(value, "false") == 0)
            converted = json_false();
        else {
            char quoted[96];
            quote_excerpt(value, strlen(value), quoted, sizeof quoted);
            fail(&d, "must be true or false, got %s", quoted);
            goto done;
        }
    } else if ((field->type == PROTOBUF_C_TYPE_FLOAT || field->type == PROTOBUF_C_TYPE_DOUBLE)
               && strcmp(value, "NaN") != 0 && strcmp(value, "Infinity") != 0
               && strcmp(value, "-Infinity") != 0) {
        char *end = NULL;
        double number = strtod(value, &end);
        if (!*value || strspn(value, "0123456789+-.eE") != strlen(value) || *end
            || !isfinite(number)) {
            char quoted[96];
            quote_excerpt(value, strlen(value), quoted, sizeof quoted);
            fail(&d, "must be a number or one of \"NaN\", \"Infinity\", \"-Infinity\", got %s",
                 quoted);
            goto done;
        }
        converted = json_real(number);
    } else if (field->type == PROTOBUF_C_TYPE_ENUM) {
        int negative;
        uint64_t magnitude;
        if (parse_decimal(value, strlen(value), &negative, &magnitude) == 0
            && magnitude <= (uint64_t) INT64_MAX)
            converted = json_integer(negative ? -(json_int_t) magnitude : (json_int_t) magnitude);
        else
            converted = json_string(value);
    } else {
        converted = json_string(value);
    }
    if (!converted) {
        fail(&d, "must be valid UTF-8 text");
        goto done;
    }
    if (existing && field->label != PROTOBUF_C_LABEL_REPEATED) {
        /* What a GET answered can be PUT back: the body may repeat a path
         * or query parameter, with the same value. A different value is
         * two answers to one question. */
        bool same = json_equal(existing, converted) || param_matches(existing, value);
        if (!same)
            fail(&d, "given more than once with different values (in the URL, or in the URL "
                     "and the body)");
        rc = same ? 0 : -1;
        goto done;
    }
    if (field->label == PROTOBUF_C_LABEL_REPEATED) {
        if (!existing) {
            existing = json_array();
            if (!existing || json_object_set_new(object, key, existing) != 0) {
                fail(&d, "out of memory");
                goto done;
            }
        }
        rc = json_array_append_new(existing, converted);
    } else {
        rc = json_object_set_new(object, key, converted);
    }
    converted = NULL;  /* stolen by jansson, even on failure */
    if (rc != 0)
        fail(&d, "out of memory");
done:
    json_decref(converted);
    if (key != stack)
        free(key);
    return rc;
}

/* ---- Encoding ----------------------------------------------------------- */

static json_t *encode_message(const ProtobufCMessage *message, bool defaults);

static json_t *encode_64_bit(int is_signed, uint64_t bits)
{
    char text[32];
    if (is_signed)
        snprintf(text, sizeof text, "%" PRId64, (int64_t) bits);
    else
        snprintf(text, sizeof text, "%" PRIu64, bits);
    return json_string(text);
}

static json_t *encode_floating(double value)
{
    if (isnan(value))
        return json_string("NaN");
    if (isinf(value))
        return json_string(value > 0 ? "Infinity" : "-Infinity");
    return json_real(value);
}

static json_t *encode_value(const ProtobufCFieldDescriptor *field, const void *source,
                            bool defaults)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return json_integer(*(const int32_t *) source);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return json_integer(*(const uint32_t *) source);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: return encode_64_bit(1, *(const uint64_t *) source);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return encode_64_bit(0, *(const uint64_t *) source);
    case PROTOBUF_C_TYPE_FLOAT: return encode_floating(*(const float *) source);
    case PROTOBUF_C_TYPE_DOUBLE: return encode_floating(*(const double *) source);
    case PROTOBUF_C_TYPE_BOOL: return json_boolean(*(const protobuf_c_boolean *) source);
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t number = *(const int32_t *) source;
        const ProtobufCEnumValue *value =
            protobuf_c_enum_descriptor_get_value(field->descriptor, number);
        return value ? json_string(value->name) : json_integer(number);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *text = *(char *const *) source;
        return json_string(text ? text : "");  /* NULL for invalid UTF-8 */
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bytes = source;
        size_t size = sodium_base64_ENCODED_LEN(bytes->len, sodium_base64_VARIANT_ORIGINAL);
        char *text = malloc(size);
        if (!text)
            return NULL;
        sodium_bin2base64(text, size, bytes->data ? bytes->data : (const unsigned char *) "",
                          bytes->len, sodium_base64_VARIANT_ORIGINAL);
        json_t *result = json_string(text);
        free(text);
        return result;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *child = *(ProtobufCMessage *const *) source;
        return child ? encode_message(child, defaults) : json_object();
    }
    }
    return NULL;
}

/* Whether a singular proto3 field holds its default and is left out. */
static int is_default(const ProtobufCFieldDescriptor *field, const void *source)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *text = *(char *const *) source;
        return !text || !*text;
    }
    case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *) source)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE: return *(ProtobufCMessage *const *) source == NULL;
    case PROTOBUF_C_TYPE_FLOAT: {
        /* Bitwise, so that -0.0 survives a round trip as protobuf's binary does. */
        float zero = 0.0f;
        return memcmp(source, &zero, sizeof zero) == 0;
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double zero = 0.0;
        return memcmp(source, &zero, sizeof zero) == 0;
    }
    default: {
        static const unsigned char zeros[sizeof(uint64_t)];
        return memcmp(source, zeros, element_size(field->type)) == 0;
    }
    }
}

/* Whether field is written at all. With defaults, every field without
 * presence (proto3 scalars and lists) is written even when it holds its
 * default, so a client never has to guess what a missing field means;
 * unset messages and oneofs stay out either way. */
static int is_present(const ProtobufCMessage *message, const ProtobufCFieldDescriptor *field,
                      bool defaults)
{
    const char *base = (const char *) message;
    const void *source = base + field->offset;
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        if (*(const uint32_t *) (base + field->quantifier_offset) != field->id)
            return 0;
        return field->type != PROTOBUF_C_TYPE_MESSAGE || *(ProtobufCMessage *const *) source;
    }
    switch (field->label) {
    case PROTOBUF_C_LABEL_REPEATED:
        return defaults || *(const size_t *) (base + field->quantifier_offset) > 0;
    case PROTOBUF_C_LABEL_REQUIRED:
        return field->type != PROTOBUF_C_TYPE_MESSAGE || *(ProtobufCMessage *const *) source;
    case PROTOBUF_C_LABEL_OPTIONAL:
        if (has_presence_flag(field))
            return *(const protobuf_c_boolean *) (base + field->quantifier_offset);
        return *(void *const *) source != NULL;
    case PROTOBUF_C_LABEL_NONE:
    default:
        if (defaults && field->type != PROTOBUF_C_TYPE_MESSAGE)
            return 1;
        return !is_default(field, source);
    }
}

static json_t *encode_field(const ProtobufCMessage *message,
                            const ProtobufCFieldDescriptor *field, bool defaults)
{
    const char *base = (const char *) message;
    if (field->label != PROTOBUF_C_LABEL_REPEATED)
        return encode_value(field, base + field->offset, defaults);
    size_t count = *(const size_t *) (base + field->quantifier_offset);
    const char *array = *(const char *const *) (base + field->offset);
    size_t size = element_size(field->type);
    json_t *list = json_array();
    for (size_t i = 0; list && i < count; i++) {
        if (json_array_append_new(list, encode_value(field, array + i * size, defaults)) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    return list;
}

static json_t *encode_message(const ProtobufCMessage *message, bool defaults)
{
    const ProtobufCMessageDescriptor *type = message->descriptor;
    json_t *object = json_object();
    if (!object)
        return NULL;
    for (unsigned i = 0; i < type->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &type->fields[i];
        if (!is_present(message, field, defaults))
            continue;
        char stack[128];
        char *name = json_name(field->name, stack, sizeof stack);
        int rc = name ? json_object_set_new(object, name, encode_field(message, field, defaults))
                      : -1;
        if (name != stack)
            free(name);
        if (rc != 0) {  /* jansson refuses a NULL value: out of memory or bad UTF-8 */
            json_decref(object);
            return NULL;
        }
    }
    return object;
}

json_t *nagar_json_encode_object(const ProtobufCMessage *message)
{
    return message ? encode_message(message, false) : NULL;
}

static char *dump(json_t *object)
{
    if (!object)
        return NULL;
    char *text = json_dumps(object, JSON_COMPACT);
    json_decref(object);
    return text;
}

char *nagar_json_encode(const ProtobufCMessage *message)
{
    return dump(nagar_json_encode_object(message));
}

json_t *nagar_json_encode_object_with_defaults(const ProtobufCMessage *message)
{
    return message ? encode_message(message, true) : NULL;
}
