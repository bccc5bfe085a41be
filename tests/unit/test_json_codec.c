/* Unit tests for json_codec.h: the proto3 JSON mapping the gateway relies on,
 * exercised on nagar.test.Everything, which has every field shape. Every
 * rejection is checked for its exact path and message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_codec.h"
#include "tests/proto/echo.pb-c.h"

typedef Nagar__Test__Everything everything_t;
typedef Nagar__Test__Inner inner_t;
#define EVERYTHING (&nagar__test__everything__descriptor)

/* ---- Helpers ------------------------------------------------------------ */

static char *xstrdup(const char *text)
{
    char *copy = strdup(text);
    assert_non_null(copy);
    return copy;
}

static inner_t *inner_new(const char *name, int64_t amount, size_t n_tags, const char *const *tags)
{
    inner_t *inner = malloc(sizeof *inner);
    assert_non_null(inner);
    nagar__test__inner__init(inner);
    if (name)
        inner->name = xstrdup(name);
    inner->amount_paise = amount;
    if (n_tags) {
        inner->tags = calloc(n_tags, sizeof *inner->tags);
        assert_non_null(inner->tags);
        for (size_t i = 0; i < n_tags; i++)
            inner->tags[i] = xstrdup(tags[i]);
        inner->n_tags = n_tags;
    }
    return inner;
}

static void free_message(void *message)
{
    protobuf_c_message_free_unpacked((ProtobufCMessage *) message, NULL);
}

/* Decodes json (which must be accepted) with the given limits. */
static everything_t *decode_with(const nagar_json_limits_t *limits, const char *json,
                                 size_t length)
{
    nagar_json_error_t error;
    ProtobufCMessage *message = nagar_json_decode(EVERYTHING, json, length, limits, &error);
    if (!message)
        fail_msg("rejected %.200s: path \"%s\": %s", json, error.path, error.message);
    assert_ptr_equal(message->descriptor, EVERYTHING);
    return (everything_t *) message;
}

static everything_t *decode(const char *json)
{
    return decode_with(NULL, json, strlen(json));
}

/* Checks a rejection: exact path, and the message either equal (exact) or
 * containing the fragment. */
static void check_rejected(const nagar_json_limits_t *limits, const char *json, size_t length,
                           const char *path, const char *message, int exact)
{
    nagar_json_error_t error;
    memset(&error, 'x', sizeof error);
    ProtobufCMessage *decoded = nagar_json_decode(EVERYTHING, json, length, limits, &error);
    if (decoded) {
        free_message(decoded);
        fail_msg("accepted %.200s, expected rejection at \"%s\"", json, path);
    }
    assert_non_null(memchr(error.path, '\0', sizeof error.path));
    assert_non_null(memchr(error.message, '\0', sizeof error.message));
    int message_ok = exact ? strcmp(error.message, message) == 0
                           : strstr(error.message, message) != NULL;
    if (strcmp(error.path, path) != 0 || !message_ok)
        fail_msg("for %.200s\n  path    \"%s\" (want \"%s\")\n  message \"%s\"\n  (want %s \"%s\")",
                 json, error.path, path, error.message, exact ? "exactly" : "containing",
                 message);
}

typedef struct {
    const char *json;
    const char *path;
    const char *message;  /* exact */
} rejection_t;

static void check_rejections(const rejection_t *cases, size_t count)
{
    for (size_t i = 0; i < count; i++)
        check_rejected(NULL, cases[i].json, strlen(cases[i].json), cases[i].path,
                       cases[i].message, 1);
}

#define CHECK_REJECTIONS(cases) check_rejections(cases, sizeof cases / sizeof cases[0])

static char *encode(const void *message)
{
    char *json = nagar_json_encode((const ProtobufCMessage *) message);
    assert_non_null(json);
    return json;
}

static void assert_encodes_to(const void *message, const char *expected)
{
    char *json = encode(message);
    if (strcmp(json, expected) != 0)
        fail_msg("encoded\n  %s\nexpected\n  %s", json, expected);
    free(json);
}

static void assert_inner_equal(const inner_t *a, const inner_t *b)
{
    if (!a || !b) {
        assert_ptr_equal(a, b);
        return;
    }
    assert_string_equal(a->name, b->name);
    assert_true(a->amount_paise == b->amount_paise);
    assert_int_equal(a->n_tags, b->n_tags);
    for (size_t i = 0; i < a->n_tags; i++)
        assert_string_equal(a->tags[i], b->tags[i]);
}

static void assert_everything_equal(const everything_t *a, const everything_t *b)
{
    assert_string_equal(a->text, b->text);
    assert_true(a->i32 == b->i32);
    assert_true(a->i64 == b->i64);
    assert_true(a->u32 == b->u32);
    assert_true(a->u64 == b->u64);
    assert_true(a->s32 == b->s32);
    assert_true(a->s64 == b->s64);
    assert_true(a->f32 == b->f32);
    assert_true(a->f64 == b->f64);
    assert_true(a->sf32 == b->sf32);
    assert_true(a->sf64 == b->sf64);
    assert_int_equal(a->flag, b->flag);
    assert_memory_equal(&a->ratio, &b->ratio, sizeof a->ratio);
    assert_memory_equal(&a->measure, &b->measure, sizeof a->measure);
    assert_int_equal(a->blob.len, b->blob.len);
    if (a->blob.len)
        assert_memory_equal(a->blob.data, b->blob.data, a->blob.len);
    assert_int_equal(a->colour, b->colour);
    assert_inner_equal(a->inner, b->inner);
    assert_int_equal(a->n_items, b->n_items);
    for (size_t i = 0; i < a->n_items; i++)
        assert_inner_equal(a->items[i], b->items[i]);
    assert_int_equal(a->n_numbers, b->n_numbers);
    for (size_t i = 0; i < a->n_numbers; i++)
        assert_true(a->numbers[i] == b->numbers[i]);
    assert_int_equal(a->n_colours, b->n_colours);
    for (size_t i = 0; i < a->n_colours; i++)
        assert_int_equal(a->colours[i], b->colours[i]);
    assert_string_equal(a->snake_case_name, b->snake_case_name);
    assert_int_equal(a->choice_case, b->choice_case);
    if (a->choice_case == NAGAR__TEST__EVERYTHING__CHOICE_CHOICE_TEXT)
        assert_string_equal(a->choice_text, b->choice_text);
    if (a->choice_case == NAGAR__TEST__EVERYTHING__CHOICE_CHOICE_INNER)
        assert_inner_equal(a->choice_inner, b->choice_inner);

    /* And the protobuf wire bytes, which cover anything the above missed. */
    size_t size_a = protobuf_c_message_get_packed_size(&a->base);
    size_t size_b = protobuf_c_message_get_packed_size(&b->base);
    assert_int_equal(size_a, size_b);
    uint8_t *packed_a = malloc(size_a + 1), *packed_b = malloc(size_b + 1);
    assert_non_null(packed_a);
    assert_non_null(packed_b);
    protobuf_c_message_pack(&a->base, packed_a);
    protobuf_c_message_pack(&b->base, packed_b);
    assert_memory_equal(packed_a, packed_b, size_a);
    free(packed_a);
    free(packed_b);
}

static const char *const TAGS[] = { "first", "दूसरा" };

/* Every field set, to extremes where a type has them. */
static everything_t *everything_full(int choose_inner)
{
    everything_t *m = malloc(sizeof *m);
    assert_non_null(m);
    nagar__test__everything__init(m);
    m->text = xstrdup("नगर \"quoted\" \\ / \n\t end");
    m->i32 = INT32_MIN;
    m->i64 = INT64_MIN;
    m->u32 = UINT32_MAX;
    m->u64 = UINT64_MAX;
    m->s32 = -123456;
    m->s64 = INT64_MAX;
    m->f32 = 4000000000u;
    m->f64 = UINT64_MAX - 1;
    m->sf32 = -7;
    m->sf64 = INT64_MIN + 1;
    m->flag = 1;
    m->ratio = 0.1f;
    m->measure = -1234.5678e-100;
    static const uint8_t blob[] = { 0x00, 0xff, 0xfb, 0x10, 0x80 };
    m->blob.data = malloc(sizeof blob);
    assert_non_null(m->blob.data);
    memcpy(m->blob.data, blob, sizeof blob);
    m->blob.len = sizeof blob;
    m->colour = NAGAR__TEST__COLOUR__GREEN;
    m->inner = inner_new("inner", -5, 2, TAGS);
    m->n_items = 3;
    m->items = calloc(3, sizeof *m->items);
    assert_non_null(m->items);
    m->items[0] = inner_new("a", 1, 0, NULL);
    m->items[1] = inner_new(NULL, 0, 0, NULL);  /* an empty message is still an item */
    m->items[2] = inner_new("c", INT64_MAX, 1, TAGS);
    static const int64_t numbers[] = { INT64_MIN, -1, 0, 1, INT64_MAX };
    m->n_numbers = 5;
    m->numbers = malloc(sizeof numbers);
    assert_non_null(m->numbers);
    memcpy(m->numbers, numbers, sizeof numbers);
    m->n_colours = 3;
    m->colours = calloc(3, sizeof *m->colours);
    assert_non_null(m->colours);
    m->colours[0] = NAGAR__TEST__COLOUR__RED;
    m->colours[1] = NAGAR__TEST__COLOUR__COLOUR_UNSPECIFIED;
    m->colours[2] = NAGAR__TEST__COLOUR__GREEN;
    m->snake_case_name = xstrdup("snake");
    if (choose_inner) {
        m->choice_case = NAGAR__TEST__EVERYTHING__CHOICE_CHOICE_INNER;
        m->choice_inner = inner_new("chosen", 42, 0, NULL);
    } else {
        m->choice_case = NAGAR__TEST__EVERYTHING__CHOICE_CHOICE_TEXT;
        m->choice_text = xstrdup("picked");
    }
    return m;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("%s\ndoes not contain\n%s", haystack, needle);
}

/* ---- Round trips and output --------------------------------------------- */

static void round_trip_of_everything_with_text_choice(void **state)
{
    (void) state;
    everything_t *m = everything_full(0);
    char *json = encode(m);
    assert_contains(json, "\"text\":\"नगर \\\"quoted\\\" \\\\ / \\n\\t end\"");
    assert_contains(json, "\"i32\":-2147483648,\"i64\":\"-9223372036854775808\"");
    assert_contains(json, "\"u32\":4294967295,\"u64\":\"18446744073709551615\"");
    assert_contains(json, "\"s32\":-123456,\"s64\":\"9223372036854775807\"");
    assert_contains(json, "\"f32\":4000000000,\"f64\":\"18446744073709551614\"");
    assert_contains(json, "\"sf32\":-7,\"sf64\":\"-9223372036854775807\"");
    assert_contains(json, "\"flag\":true");
    assert_contains(json, "\"blob\":\"AP/7EIA=\"");
    assert_contains(json, "\"colour\":\"GREEN\"");
    assert_contains(json, "\"inner\":{\"name\":\"inner\",\"amountPaise\":\"-5\","
                          "\"tags\":[\"first\",\"दूसरा\"]}");
    assert_contains(json, "\"items\":[{\"name\":\"a\",\"amountPaise\":\"1\"},{},"
                          "{\"name\":\"c\",\"amountPaise\":\"9223372036854775807\","
                          "\"tags\":[\"first\"]}]");
    assert_contains(json, "\"numbers\":[\"-9223372036854775808\",\"-1\",\"0\",\"1\","
                          "\"9223372036854775807\"]");
    assert_contains(json, "\"colours\":[\"RED\",\"COLOUR_UNSPECIFIED\",\"GREEN\"]");
    assert_contains(json, "\"choiceText\":\"picked\"");
    assert_contains(json, "\"snakeCaseName\":\"snake\"");
    assert_null(strstr(json, "choiceInner"));
    assert_null(strstr(json, "snake_case_name"));

    everything_t *back = decode(json);
    assert_everything_equal(m, back);
    free(json);
    free_message(back);
    free_message(m);
}

static void round_trip_of_everything_with_message_choice(void **state)
{
    (void) state;
    everything_t *m = everything_full(1);
    char *json = encode(m);
    assert_contains(json, "\"choiceInner\":{\"name\":\"chosen\",\"amountPaise\":\"42\"}");
    assert_null(strstr(json, "choiceText"));
    everything_t *back = decode(json);
    assert_int_equal(back->choice_case, NAGAR__TEST__EVERYTHING__CHOICE_CHOICE_INNER);
    assert_everything_equal(m, back);

    /* Encoding what was decoded gives the same text again. */
    char *again = encode(back);
    assert_string_equal(json, again);
    free(again);
    free(json);
    free_message(back);
    free_message(m);
}

static void encodes_exact_compact_text_in_field_order(void **state)
{
    (void) state;
    everything_t m = NAGAR__TEST__EVERYTHING__INIT;
    inner_t inner = NAGAR__TEST__INNER__INIT;
    char *tags[] = { "x" };
    inner.name = "n";
    inner.amount_paise = 12;
    inner.n_tags = 1;
    inner.tags = tags;
    m.text = "hi";
    m.i64 = -5;
    m.colour = NAGAR__TEST__COLOUR__RED;
    m.inner = &inner;
    m.snake_case_name = "s";
    assert_encodes_to(&m, "{\"text\":\"hi\",\"i64\":\"-5\",\"colour\":\"RED\",\"inner\":"
                          "{\"name\":\"n\",\"amountPaise\":\"12\",\"tags\":[\"x\"]},"
                          "\"snakeCaseName\":\"s\"}");
}

static void defaults_are_omitted_but_set_oneof_members_are_written(void **state)
{
    (void) state;
    everything_t m = NAGAR__TEST__EVERYTHING__INIT;
    assert_encodes_to(&m, "{}");

    /* Zero, "", false, empty lists and an empty blob are all defaults. */
    m.text = "";
    m.flag = 0;
    m.n_items = 0;
    m.blob.len = 0;
    assert_encodes_to(&m, "{}");

    /* A set message is written even when empty: presence is its meaning. */
    inner_t inner = NAGAR__TEST__INNER__INIT;
    m.inner = &inner;
    assert_encodes_to(&m, "{\"inner\":{}}");
    m.inner = NULL;

    /* A oneof member holding its default is still written. */
    m.choice_case = NAGAR__TEST__EVERYTHING__CHOICE_CHOICE_TEXT;
    m.choice_text = "";
    assert_encodes_to(&m, "{\"choiceText\":\"\"}");
    m.choice_case = NAGAR__TEST__EVERYTHING__CHOICE_CHOICE_INNER;
    m.choice_inner = &inner;
    assert_encodes_to(&m, "{\"choiceInner\":{}}");

    /* And decoding it back keeps the choice. */
    everything_t *back = decode("{\"choiceText\":\"\"}");
    assert_int_equal(back->choice_case, NAGAR__TEST__EVERYTHING__CHOICE_CHOICE_TEXT);
    assert_string_equal(back->choice_text, "");
    free_message(back);
    back = decode("{\"choiceInner\":{}}");
    assert_int_equal(back->choice_case, NAGAR__TEST__EVERYTHING__CHOICE_CHOICE_INNER);
    assert_non_null(back->choice_inner);
    free_message(back);
}

static void special_floats_and_negative_zero(void **state)
{
    (void) state;
    everything_t *m = decode("{\"ratio\":\"NaN\",\"measure\":\"-Infinity\"}");
    assert_true(isnan(m->ratio));
    assert_true(isinf(m->measure) && m->measure < 0);
    assert_encodes_to(m, "{\"ratio\":\"NaN\",\"measure\":\"-Infinity\"}");
    free_message(m);

    m = decode("{\"ratio\":\"Infinity\",\"measure\":-0.0}");
    assert_true(isinf(m->ratio) && m->ratio > 0);
    assert_true(m->measure == 0 && signbit(m->measure));
    assert_encodes_to(m, "{\"ratio\":\"Infinity\",\"measure\":-0.0}");
    free_message(m);

    m = decode("{\"ratio\":3,\"measure\":1e-300}");
    assert_true(m->ratio == 3.0f);
    assert_true(m->measure == 1e-300);
    free_message(m);
}

static void unknown_enum_numbers_are_written_as_numbers(void **state)
{
    (void) state;
    everything_t m = NAGAR__TEST__EVERYTHING__INIT;
    m.colour = (Nagar__Test__Colour) 7;
    assert_encodes_to(&m, "{\"colour\":7}");
}

static void encoding_invalid_utf8_fails(void **state)
{
    (void) state;
    everything_t m = NAGAR__TEST__EVERYTHING__INIT;
    m.text = "ok \xff";
    assert_null(nagar_json_encode(&m.base));
    assert_null(nagar_json_encode_object(&m.base));
    assert_null(nagar_json_encode(NULL));
}

static void encode_object_returns_a_json_object(void **state)
{
    (void) state;
    everything_t m = NAGAR__TEST__EVERYTHING__INIT;
    m.u64 = 7;
    json_t *object = nagar_json_encode_object(&m.base);
    assert_non_null(object);
    assert_true(json_is_object(object));
    assert_string_equal(json_string_value(json_object_get(object, "u64")), "7");
    json_decref(object);
}

/* ---- Accepted input forms ----------------------------------------------- */

static void accepts_camel_case_and_original_names(void **state)
{
    (void) state;
    everything_t *m = decode("{\"snakeCaseName\":\"a\",\"inner\":{\"amountPaise\":5}}");
    assert_string_equal(m->snake_case_name, "a");
    assert_true(m->inner->amount_paise == 5);
    free_message(m);
    m = decode("{\"snake_case_name\":\"b\",\"inner\":{\"amount_paise\":\"6\"},"
               "\"choice_text\":\"c\"}");
    assert_string_equal(m->snake_case_name, "b");
    assert_true(m->inner->amount_paise == 6);
    assert_int_equal(m->choice_case, NAGAR__TEST__EVERYTHING__CHOICE_CHOICE_TEXT);
    assert_string_equal(m->choice_text, "c");
    free_message(m);
}

static void accepts_integers_as_numbers_and_strings(void **state)
{
    (void) state;
    everything_t *m = decode("{\"i32\":\"-5\",\"u32\":\"4294967295\",\"i64\":-5,\"u64\":18,"
                             "\"s32\":3.0,\"sf64\":1e3,\"f32\":\"0\",\"f64\":\"-0\","
                             "\"s64\":\"-9223372036854775808\",\"sf32\":-2147483648}");
    assert_int_equal(m->i32, -5);
    assert_true(m->u32 == UINT32_MAX);
    assert_true(m->i64 == -5);
    assert_true(m->u64 == 18);
    assert_int_equal(m->s32, 3);
    assert_true(m->sf64 == 1000);
    assert_true(m->f32 == 0);
    assert_true(m->f64 == 0);
    assert_true(m->s64 == INT64_MIN);
    assert_true(m->sf32 == INT32_MIN);
    free_message(m);

    m = decode("{\"i64\":9223372036854775807,\"s64\":-9223372036854775808,"
               "\"u64\":\"18446744073709551615\",\"sf64\":9007199254740992.0,"
               "\"numbers\":[\"1\",2,-3.0]}");
    assert_true(m->i64 == INT64_MAX);
    assert_true(m->s64 == INT64_MIN);
    assert_true(m->u64 == UINT64_MAX);
    assert_true(m->sf64 == 9007199254740992LL);
    assert_int_equal(m->n_numbers, 3);
    assert_true(m->numbers[0] == 1 && m->numbers[1] == 2 && m->numbers[2] == -3);
    free_message(m);
}

static void accepts_enum_names_and_defined_numbers(void **state)
{
    (void) state;
    everything_t *m = decode("{\"colour\":2,\"colours\":[1,\"GREEN\",0,\"COLOUR_UNSPECIFIED\"]}");
    assert_int_equal(m->colour, NAGAR__TEST__COLOUR__GREEN);
    assert_int_equal(m->n_colours, 4);
    assert_int_equal(m->colours[0], NAGAR__TEST__COLOUR__RED);
    assert_int_equal(m->colours[1], NAGAR__TEST__COLOUR__GREEN);
    assert_int_equal(m->colours[2], NAGAR__TEST__COLOUR__COLOUR_UNSPECIFIED);
    assert_int_equal(m->colours[3], NAGAR__TEST__COLOUR__COLOUR_UNSPECIFIED);
    free_message(m);
}

static void accepts_standard_and_url_safe_base64(void **state)
{
    (void) state;
    static const char *const forms[] = { "+/8=", "+/8", "-_8", "-_8=" };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char json[64];
        snprintf(json, sizeof json, "{\"blob\":\"%s\"}", forms[i]);
        everything_t *m = decode(json);
        assert_int_equal(m->blob.len, 2);
        assert_int_equal(m->blob.data[0], 0xfb);
        assert_int_equal(m->blob.data[1], 0xff);
        assert_encodes_to(m, "{\"blob\":\"+/8=\"}");
        free_message(m);
    }
    everything_t *m = decode("{\"blob\":\"\"}");
    assert_int_equal(m->blob.len, 0);
    assert_null(m->blob.data);
    free_message(m);
    m = decode("{\"blob\":\"YWJjZA==\"}");
    assert_int_equal(m->blob.len, 4);
    assert_memory_equal(m->blob.data, "abcd", 4);
    free_message(m);
}

static void null_means_absent(void **state)
{
    (void) state;
    everything_t *m = decode(
        "{\"text\":null,\"i32\":null,\"i64\":null,\"u64\":null,\"flag\":null,\"ratio\":null,"
        "\"measure\":null,\"blob\":null,\"colour\":null,\"inner\":null,\"items\":null,"
        "\"numbers\":null,\"colours\":null,\"choiceText\":null,"
        "\"choiceInner\":{\"name\":null,\"tags\":null},\"snakeCaseName\":null}");
    assert_string_equal(m->text, "");
    assert_ptr_equal(m->text, protobuf_c_empty_string);  /* the default, not a copy */
    assert_int_equal(m->i32, 0);
    assert_true(m->i64 == 0 && m->u64 == 0);
    assert_int_equal(m->flag, 0);
    assert_null(m->blob.data);
    assert_int_equal(m->colour, NAGAR__TEST__COLOUR__COLOUR_UNSPECIFIED);
    assert_null(m->inner);
    assert_int_equal(m->n_items, 0);
    assert_null(m->items);
    assert_int_equal(m->n_numbers, 0);
    assert_int_equal(m->n_colours, 0);
    /* A null oneof member is absent, so the other one may be set. */
    assert_int_equal(m->choice_case, NAGAR__TEST__EVERYTHING__CHOICE_CHOICE_INNER);
    assert_string_equal(m->choice_inner->name, "");
    assert_int_equal(m->choice_inner->n_tags, 0);
    assert_encodes_to(m, "{\"choiceInner\":{}}");
    free_message(m);

    static const rejection_t cases[] = {
        { "{\"numbers\":[\"1\",null]}", "numbers[1]", "must not be null (a list cannot hold null)" },
        { "{\"items\":[null]}", "items[0]", "must not be null (a list cannot hold null)" },
        { "{\"inner\":{\"tags\":[\"a\",null]}}", "inner.tags[1]",
          "must not be null (a list cannot hold null)" },
        { "null", "", "the document must be a JSON object (nagar.test.Everything), got null" },
    };
    CHECK_REJECTIONS(cases);
}

static void decoded_message_is_independent_of_the_text(void **state)
{
    (void) state;
    char json[] = "{\"text\":\"abc\",\"items\":[{\"name\":\"n\"}]}";
    everything_t *m = decode(json);
    memset(json, 'z', sizeof json - 1);
    assert_string_equal(m->text, "abc");
    assert_string_equal(m->items[0]->name, "n");
    free_message(m);
}

/* ---- Rejections --------------------------------------------------------- */

static void rejects_unknown_fields_with_their_path(void **state)
{
    (void) state;
    static const rejection_t cases[] = {
        { "{\"fooBar\":1}", "fooBar", "unknown field \"fooBar\" in nagar.test.Everything" },
        { "{\"inner\":{\"nope\":1}}", "inner.nope", "unknown field \"nope\" in nagar.test.Inner" },
        { "{\"items\":[{},{\"name\":\"a\",\"x\":null}]}", "items[1].x",
          "unknown field \"x\" in nagar.test.Inner" },
        { "{\"choiceInner\":{\"name\":\"x\",\"bad\":1}}", "choiceInner.bad",
          "unknown field \"bad\" in nagar.test.Inner" },
        /* Names are case-sensitive and only the two documented spellings exist. */
        { "{\"Text\":\"a\"}", "Text", "unknown field \"Text\" in nagar.test.Everything" },
        { "{\"snakeCase_name\":\"a\"}", "snakeCase_name",
          "unknown field \"snakeCase_name\" in nagar.test.Everything" },
        { "{\"SnakeCaseName\":\"a\"}", "SnakeCaseName",
          "unknown field \"SnakeCaseName\" in nagar.test.Everything" },
        { "{\"amount_paise\":1}", "amount_paise",
          "unknown field \"amount_paise\" in nagar.test.Everything" },
    };
    CHECK_REJECTIONS(cases);
}

static void rejects_wrong_json_types(void **state)
{
    (void) state;
    static const rejection_t cases[] = {
        { "{\"text\":12}", "text", "must be a string, got 12" },
        { "{\"text\":[\"a\"]}", "text", "must be a string, got a list" },
        { "{\"flag\":\"true\"}", "flag", "must be true or false, got \"true\"" },
        { "{\"flag\":1}", "flag", "must be true or false, got 1" },
        { "{\"inner\":[]}", "inner", "must be an object, got a list" },
        { "{\"inner\":\"x\"}", "inner", "must be an object, got \"x\"" },
        { "{\"items\":{}}", "items", "must be a list, got an object" },
        { "{\"items\":[1]}", "items[0]", "must be an object, got 1" },
        { "{\"numbers\":\"1\"}", "numbers", "must be a list, got \"1\"" },
        { "{\"i32\":true}", "i32", "must be a 32-bit integer (a number or a decimal string), got true" },
        { "{\"u32\":{}}", "u32",
          "must be an unsigned 32-bit integer (a number or a decimal string), got an object" },
        { "{\"i64\":false}", "i64", "must be a 64-bit integer (a string or number), got false" },
        { "{\"blob\":12}", "blob", "must be a base64 string, got 12" },
        { "{\"colour\":true}", "colour",
          "must be one of \"COLOUR_UNSPECIFIED\", \"RED\", \"GREEN\" (or its number), got true" },
        { "{\"measure\":\"1.5\"}", "measure",
          "must be a number or one of \"NaN\", \"Infinity\", \"-Infinity\", got \"1.5\"" },
        { "{\"ratio\":\"nan\"}", "ratio",
          "must be a number or one of \"NaN\", \"Infinity\", \"-Infinity\", got \"nan\"" },
        { "{\"measure\":true}", "measure",
          "must be a number or one of \"NaN\", \"Infinity\", \"-Infinity\", got true" },
        { "{\"inner\":{\"name\":5}}", "inner.name", "must be a string, got 5" },
        { "{\"inner\":{\"tags\":[\"a\",2]}}", "inner.tags[1]", "must be a string, got 2" },
        { "{\"items\":[{\"name\":\"a\"},{\"amountPaise\":\"1\"},{\"amountPaise\":\"12x\"}]}",
          "items[2].amountPaise", "must be a 64-bit integer (a string or number), got \"12x\"" },
        { "{\"choiceInner\":{\"amountPaise\":true}}", "choiceInner.amountPaise",
          "must be a 64-bit integer (a string or number), got true" },
        { "{\"choiceText\":7}", "choiceText", "must be a string, got 7" },
        /* The exact example of the specification of this module. */
        { "{\"i64\":\"12x\"}", "i64", "must be a 64-bit integer (a string or number), got \"12x\"" },
    };
    CHECK_REJECTIONS(cases);
}

static void rejects_bad_and_out_of_range_32_bit_integers(void **state)
{
    (void) state;
    static const rejection_t cases[] = {
        { "{\"i32\":2147483648}", "i32",
          "must be a 32-bit integer between -2147483648 and 2147483647, got 2147483648" },
        { "{\"i32\":-2147483649}", "i32",
          "must be a 32-bit integer between -2147483648 and 2147483647, got -2147483649" },
        { "{\"s32\":\"2147483648\"}", "s32",
          "must be a 32-bit integer between -2147483648 and 2147483647, got \"2147483648\"" },
        { "{\"sf32\":1e10}", "sf32",
          "must be a 32-bit integer between -2147483648 and 2147483647, got 10000000000" },
        { "{\"i32\":1.5}", "i32", "must be a 32-bit integer (a number or a decimal string), got 1.5" },
        { "{\"i32\":\"1.5\"}", "i32",
          "must be a 32-bit integer (a number or a decimal string), got \"1.5\"" },
        { "{\"i32\":\"01\"}", "i32",
          "must be a 32-bit integer (a number or a decimal string), got \"01\"" },
        { "{\"i32\":\" 1\"}", "i32",
          "must be a 32-bit integer (a number or a decimal string), got \" 1\"" },
        { "{\"i32\":\"+1\"}", "i32",
          "must be a 32-bit integer (a number or a decimal string), got \"+1\"" },
        { "{\"i32\":\"\"}", "i32", "must be a 32-bit integer (a number or a decimal string), got \"\"" },
        { "{\"i32\":\"1e2\"}", "i32",
          "must be a 32-bit integer (a number or a decimal string), got \"1e2\"" },
        { "{\"i32\":\"-\"}", "i32",
          "must be a 32-bit integer (a number or a decimal string), got \"-\"" },
        { "{\"u32\":-1}", "u32",
          "must be an unsigned 32-bit integer between 0 and 4294967295, got -1" },
        { "{\"u32\":4294967296}", "u32",
          "must be an unsigned 32-bit integer between 0 and 4294967295, got 4294967296" },
        { "{\"f32\":\"-1\"}", "f32",
          "must be an unsigned 32-bit integer between 0 and 4294967295, got \"-1\"" },
    };
    CHECK_REJECTIONS(cases);
}

static void rejects_bad_and_out_of_range_64_bit_integers(void **state)
{
    (void) state;
    static const rejection_t cases[] = {
        { "{\"i64\":\"9223372036854775808\"}", "i64",
          "must be a 64-bit integer between -9223372036854775808 and 9223372036854775807, "
          "got \"9223372036854775808\"" },
        { "{\"s64\":\"-9223372036854775809\"}", "s64",
          "must be a 64-bit integer between -9223372036854775808 and 9223372036854775807, "
          "got \"-9223372036854775809\"" },
        { "{\"sf64\":\"99999999999999999999999\"}", "sf64",
          "must be a 64-bit integer between -9223372036854775808 and 9223372036854775807, "
          "got \"99999999999999999999999\"" },
        { "{\"i64\":\"1.5\"}", "i64", "must be a 64-bit integer (a string or number), got \"1.5\"" },
        { "{\"i64\":1.5}", "i64", "must be a 64-bit integer (a string or number), got 1.5" },
        { "{\"i64\":\"+1\"}", "i64", "must be a 64-bit integer (a string or number), got \"+1\"" },
        { "{\"i64\":\" 1\"}", "i64", "must be a 64-bit integer (a string or number), got \" 1\"" },
        { "{\"i64\":\"1 \"}", "i64", "must be a 64-bit integer (a string or number), got \"1 \"" },
        { "{\"i64\":\"\"}", "i64", "must be a 64-bit integer (a string or number), got \"\"" },
        { "{\"i64\":\"0x10\"}", "i64", "must be a 64-bit integer (a string or number), got \"0x10\"" },
        { "{\"i64\":1e17}", "i64",
          "must be a 64-bit integer (a string or number); a JSON number this large is not "
          "exact, write it as a string, got 1e+17" },
        { "{\"u64\":\"-1\"}", "u64",
          "must be an unsigned 64-bit integer between 0 and 18446744073709551615, got \"-1\"" },
        { "{\"u64\":-1}", "u64",
          "must be an unsigned 64-bit integer between 0 and 18446744073709551615, got -1" },
        { "{\"u64\":\"18446744073709551616\"}", "u64",
          "must be an unsigned 64-bit integer between 0 and 18446744073709551615, "
          "got \"18446744073709551616\"" },
        { "{\"f64\":\"-5\"}", "f64",
          "must be an unsigned 64-bit integer between 0 and 18446744073709551615, got \"-5\"" },
        { "{\"numbers\":[\"1\",\"9223372036854775808\"]}", "numbers[1]",
          "must be a 64-bit integer between -9223372036854775808 and 9223372036854775807, "
          "got \"9223372036854775808\"" },
    };
    CHECK_REJECTIONS(cases);
    /* A JSON number past 2^63-1 cannot even be parsed; the message says what to do. */
    const char *big = "{\"u64\":18446744073709551615}";
    check_rejected(NULL, big, strlen(big), "", "write 64-bit integers as strings", 0);
    check_rejected(NULL, big, strlen(big), "", "invalid JSON at line 1, column 27", 0);
}

static void rejects_bad_enums_floats_and_base64(void **state)
{
    (void) state;
    static const rejection_t cases[] = {
        { "{\"colour\":\"BLUE\"}", "colour",
          "must be one of \"COLOUR_UNSPECIFIED\", \"RED\", \"GREEN\" (or its number), got \"BLUE\"" },
        { "{\"colour\":\"red\"}", "colour",
          "must be one of \"COLOUR_UNSPECIFIED\", \"RED\", \"GREEN\" (or its number), got \"red\"" },
        { "{\"colour\":7}", "colour",
          "must be one of \"COLOUR_UNSPECIFIED\", \"RED\", \"GREEN\" (or its number), got 7" },
        { "{\"colour\":1.0}", "colour",
          "must be one of \"COLOUR_UNSPECIFIED\", \"RED\", \"GREEN\" (or its number), got 1" },
        { "{\"colour\":\"1\"}", "colour",
          "must be one of \"COLOUR_UNSPECIFIED\", \"RED\", \"GREEN\" (or its number), got \"1\"" },
        { "{\"colours\":[\"RED\",\"PURPLE\"]}", "colours[1]",
          "must be one of \"COLOUR_UNSPECIFIED\", \"RED\", \"GREEN\" (or its number), "
          "got \"PURPLE\"" },
        { "{\"ratio\":1e39}", "ratio",
          "must be a 32-bit float, at most 3.4028235e+38 in magnitude, got 1e+39" },
        { "{\"blob\":\"!!!!\"}", "blob",
          "must be base64 (standard or URL-safe alphabet, padding optional), got \"!!!!\"" },
        { "{\"blob\":\"a\"}", "blob",
          "must be base64 (standard or URL-safe alphabet, padding optional), got \"a\"" },
        { "{\"blob\":\"YWJjZA=\"}", "blob",
          "must be base64 (standard or URL-safe alphabet, padding optional), got \"YWJjZA=\"" },
        { "{\"blob\":\"YW=JjZA==\"}", "blob",
          "must be base64 (standard or URL-safe alphabet, padding optional), got \"YW=JjZA==\"" },
        { "{\"blob\":\"YWJj ZA==\"}", "blob",
          "must be base64 (standard or URL-safe alphabet, padding optional), got \"YWJj ZA==\"" },
        { "{\"blob\":\"YQ===\"}", "blob",
          "must be base64 (standard or URL-safe alphabet, padding optional), got \"YQ===\"" },
        /* Non-zero bits after the last byte: not a canonical encoding. */
        { "{\"blob\":\"abd\"}", "blob",
          "must be base64 (standard or URL-safe alphabet, padding optional), got \"abd\"" },
        /* The two alphabets mixed. */
        { "{\"blob\":\"+_8=\"}", "blob",
          "must be base64 (standard or URL-safe alphabet, padding optional), got \"+_8=\"" },
    };
    CHECK_REJECTIONS(cases);
}

static void rejects_duplicates_and_oneof_conflicts(void **state)
{
    (void) state;
    const char *dup = "{\"text\":\"a\",\"text\":\"b\"}";
    check_rejected(NULL, dup, strlen(dup), "",
                   "invalid JSON at line 1, column 18: duplicate object key near '\"text\"'; "
                   "each field may appear only once", 1);
    const char *nested = "{\"inner\":{\"name\":\"a\",\"name\":\"b\"}}";
    check_rejected(NULL, nested, strlen(nested), "", "duplicate object key", 0);

    static const rejection_t cases[] = {
        /* The same field under its two spellings is a duplicate too. */
        { "{\"snakeCaseName\":\"a\",\"snake_case_name\":\"b\"}", "snake_case_name",
          "field given twice, as \"snakeCaseName\" and \"snake_case_name\"" },
        { "{\"inner\":{\"amount_paise\":1,\"amountPaise\":null}}", "inner.amountPaise",
          "field given twice, as \"amount_paise\" and \"amountPaise\"" },
        /* Two members of one oneof: the second is named. */
        { "{\"choiceText\":\"a\",\"choiceInner\":{}}", "choiceInner",
          "\"choiceInner\" cannot be set together with \"choiceText\": only one member of a "
          "oneof may be set" },
        { "{\"choiceInner\":{\"name\":\"x\"},\"choice_text\":\"\"}", "choice_text",
          "\"choice_text\" cannot be set together with \"choiceInner\": only one member of a "
          "oneof may be set" },
    };
    CHECK_REJECTIONS(cases);
}

static void rejects_documents_that_are_not_one_object(void **state)
{
    (void) state;
    static const rejection_t cases[] = {
        { "[]", "", "the document must be a JSON object (nagar.test.Everything), got a list" },
        { "\"x\"", "", "the document must be a JSON object (nagar.test.Everything), got \"x\"" },
        { "1", "", "the document must be a JSON object (nagar.test.Everything), got 1" },
        { "true", "", "the document must be a JSON object (nagar.test.Everything), got true" },
        { "{\"text\":\"a\"} x", "",
          "invalid JSON at line 1, column 14: end of file expected near 'x'" },
        { "{}{}", "", "invalid JSON at line 1, column 3: end of file expected near '{'" },
        { "", "", "invalid JSON at line 1, column 0: unexpected token near end of file" },
        { "{\"text\":}", "", "invalid JSON at line 1, column 9: unexpected token near '}'" },
        { "{\"text\":\"a\\u0000b\"}", "",
          "invalid JSON at line 1, column 18: \\u0000 is not allowed without JSON_ALLOW_NUL "
          "near '\"a\\u0000b\"'" },
    };
    CHECK_REJECTIONS(cases);
    /* A NUL byte inside the text, and invalid UTF-8, are rejected by the parser. */
    static const char with_nul[] = "{\"text\":\"a\0b\"}";
    check_rejected(NULL, with_nul, sizeof with_nul - 1, "", "invalid JSON at line 1", 0);
    const char *bad_utf8 = "{\"text\":\"\xff\"}";
    check_rejected(NULL, bad_utf8, strlen(bad_utf8), "", "invalid JSON at line 1", 0);
    /* The error argument is optional. */
    assert_null(nagar_json_decode(EVERYTHING, "[]", 2, NULL, NULL));
}

/* ---- Limits ------------------------------------------------------------- */

static char *repeat(const char *prefix, const char *unit, size_t count, const char *suffix)
{
    size_t size = strlen(prefix) + strlen(unit) * count + strlen(suffix) + 1;
    char *text = malloc(size);
    assert_non_null(text);
    strcpy(text, prefix);
    char *end = text + strlen(prefix);
    for (size_t i = 0; i < count; i++) {
        memcpy(end, unit, strlen(unit));
        end += strlen(unit);
    }
    strcpy(end, suffix);
    return text;
}

static void rejects_too_deep_documents(void **state)
{
    (void) state;
    nagar_json_limits_t limits = NAGAR_JSON_DEFAULT_LIMITS;
    limits.max_depth = 2;
    const char *shallow = "{\"inner\":{\"name\":\"x\"},\"numbers\":[\"1\"]}";
    free_message(decode_with(&limits, shallow, strlen(shallow)));
    const char *deep = "{\"items\":[{\"name\":\"x\"}]}";
    check_rejected(&limits, deep, strlen(deep), "items[0]",
                   "nested deeper than 2 levels of objects and lists", 1);

    /* With the default depth of 16, the bound holds even inside unknown fields:
     * the object at level 17 is inner + 15 times .x. */
    char *objects = repeat("{\"inner\":", "{\"x\":", 20, "1");
    char *closed = repeat(objects, "}", 21, "");
    char *path = repeat("inner", ".x", 15, "");
    check_rejected(NULL, closed, strlen(closed), path,
                   "nested deeper than 16 levels of objects and lists", 1);
    free(objects);
    free(closed);
    free(path);

    char *arrays = repeat("{\"numbers\":", "[", 20, "");
    char *arrays_closed = repeat(arrays, "]", 20, "}");
    char *array_path = repeat("numbers", "[0]", 15, "");
    check_rejected(NULL, arrays_closed, strlen(arrays_closed), array_path,
                   "nested deeper than 16 levels of objects and lists", 1);
    free(arrays);
    free(arrays_closed);
    free(array_path);
}

static void rejects_too_large_documents(void **state)
{
    (void) state;
    /* Exactly 64 KiB is allowed (whitespace counts), one byte more is not. */
    char *padded = repeat("{\"text\":\"a\"}", " ", 65536 - 12, "");
    assert_int_equal(strlen(padded), 65536);
    everything_t *m = decode(padded);
    assert_string_equal(m->text, "a");
    free_message(m);
    free(padded);
    padded = repeat("{\"text\":\"a\"}", " ", 65537 - 12, "");
    check_rejected(NULL, padded, strlen(padded), "",
                   "document is 65537 bytes, more than the limit of 65536 bytes", 1);
    free(padded);

    nagar_json_limits_t limits = NAGAR_JSON_DEFAULT_LIMITS;
    limits.max_bytes = 10;
    check_rejected(&limits, "{\"text\":\"ab\"}", 13, "",
                   "document is 13 bytes, more than the limit of 10 bytes", 1);
}

static void rejects_too_long_strings(void **state)
{
    (void) state;
    char *ok = repeat("{\"text\":\"", "a", 4096, "\"}");
    everything_t *m = decode(ok);
    assert_int_equal(strlen(m->text), 4096);
    free_message(m);
    free(ok);
    char *too_long = repeat("{\"text\":\"", "a", 4097, "\"}");
    check_rejected(NULL, too_long, strlen(too_long), "text",
                   "string is 4097 characters long, more than the limit of 4096", 1);
    free(too_long);

    /* Characters, not bytes: 4096 Devanagari letters are 12288 bytes. */
    char *letters = repeat("{\"inner\":{\"tags\":[\"", "ह", 4096, "\"]}}");
    m = decode(letters);
    assert_int_equal(strlen(m->inner->tags[0]), 3 * 4096);
    free_message(m);
    free(letters);
    letters = repeat("{\"inner\":{\"tags\":[\"", "ह", 4097, "\"]}}");
    check_rejected(NULL, letters, strlen(letters), "inner.tags[0]",
                   "string is 4097 characters long, more than the limit of 4096", 1);
    free(letters);

    /* Keys are strings too, and base64 text counts as written. */
    char *key = repeat("{\"", "k", 4097, "\":1}");
    char *key_path = repeat("", "k", 252, "...");  /* the path is cut at 255 bytes */
    check_rejected(NULL, key, strlen(key), key_path,
                   "string is 4097 characters long, more than the limit of 4096", 1);
    free(key);
    free(key_path);
    char *blob = repeat("{\"blob\":\"", "AAAA", 1025, "\"}");
    check_rejected(NULL, blob, strlen(blob), "blob",
                   "string is 4100 characters long, more than the limit of 4096", 1);
    free(blob);
}

static void rejects_too_many_items(void **state)
{
    (void) state;
    char *ok = repeat("{\"numbers\":[0", ",1", 999, "]}");
    everything_t *m = decode(ok);
    assert_int_equal(m->n_numbers, 1000);
    assert_true(m->numbers[999] == 1);
    free_message(m);
    free(ok);
    char *too_many = repeat("{\"numbers\":[0", ",1", 1000, "]}");
    check_rejected(NULL, too_many, strlen(too_many), "numbers",
                   "list has 1001 items, more than the limit of 1000", 1);
    free(too_many);
    char *tags = repeat("{\"items\":[{},{\"tags\":[\"a\"", ",\"b\"", 1000, "]}]}");
    check_rejected(NULL, tags, strlen(tags), "items[1].tags",
                   "list has 1001 items, more than the limit of 1000", 1);
    free(tags);

    nagar_json_limits_t limits = NAGAR_JSON_DEFAULT_LIMITS;
    limits.max_items = 2;
    const char *members = "{\"text\":\"a\",\"i32\":1,\"flag\":true}";
    check_rejected(&limits, members, strlen(members), "",
                   "object has 3 members, more than the limit of 2", 1);
}

static void long_paths_and_values_are_cut_to_valid_utf8(void **state)
{
    (void) state;
    /* A 300-character unknown key of 3-byte letters overflows both fields. */
    char *json = repeat("{\"inner\":{\"", "ह", 300, "\":1}}");
    nagar_json_error_t error;
    assert_null(nagar_json_decode(EVERYTHING, json, strlen(json), NULL, &error));
    size_t path_length = strlen(error.path);
    assert_true(path_length <= 255 && path_length >= 250);
    assert_int_equal(strncmp(error.path, "inner.ह", strlen("inner.ह")), 0);
    assert_string_equal(error.path + path_length - 3, "...");
    assert_int_equal((path_length - 3 - strlen("inner.")) % 3, 0);  /* whole letters */
    char expected[256];
    char *letters = repeat("", "ह", 40, "");
    snprintf(expected, sizeof expected, "unknown field \"%s...\" in nagar.test.Inner", letters);
    assert_string_equal(error.message, expected);
    free(letters);
    free(json);

    /* Control characters in a quoted value are shown as '?'. */
    const char *control = "{\"i64\":\"1\\n2\"}";
    check_rejected(NULL, control, strlen(control), "i64",
                   "must be a 64-bit integer (a string or number), got \"1?2\"", 1);
}

/* ---- The gateway's entry points ----------------------------------------- */

static void decode_object_merges_url_parameters(void **state)
{
    (void) state;
    nagar_json_error_t error;
    json_t *body = json_loads("{\"text\":\"hello\",\"numbers\":[\"7\"]}", 0, NULL);
    assert_non_null(body);
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "i64", "-42", &error), 0);
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "flag", "true", &error), 0);
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "measure", "1.5", &error), 0);
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "ratio", "-Infinity", &error), 0);
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "colour", "GREEN", &error), 0);
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "colours", "1", &error), 0);
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "colours", "GREEN", &error), 0);
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "numbers", "8", &error), 0);
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "snake_case_name", "s", &error), 0);
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "blob", "-_8", &error), 0);

    ProtobufCMessage *message = NULL;
    assert_int_equal(nagar_json_decode_object(EVERYTHING, body, NULL, &message, &error), 0);
    everything_t *m = (everything_t *) message;
    assert_string_equal(m->text, "hello");
    assert_true(m->i64 == -42);
    assert_int_equal(m->flag, 1);
    assert_true(m->measure == 1.5);
    assert_true(isinf(m->ratio) && m->ratio < 0);
    assert_int_equal(m->colour, NAGAR__TEST__COLOUR__GREEN);
    assert_int_equal(m->n_colours, 2);
    assert_int_equal(m->colours[0], NAGAR__TEST__COLOUR__RED);
    assert_int_equal(m->colours[1], NAGAR__TEST__COLOUR__GREEN);
    assert_int_equal(m->n_numbers, 2);
    assert_true(m->numbers[0] == 7 && m->numbers[1] == 8);
    assert_string_equal(m->snake_case_name, "s");
    assert_int_equal(m->blob.len, 2);
    /* The body is borrowed, not consumed. */
    assert_int_equal(body->refcount, 1);
    free_message(m);

    /* Parameters that cannot be merged, each with its name as the path. */
    struct {
        const char *name, *value, *message;
    } bad[] = {
        { "text", "again", "given more than once with different values (in the URL, or in "
                           "the URL and the body)" },
        { "i64", "1", "given more than once with different values (in the URL, or in the URL "
                      "and the body)" },
        { "flag", "yes", "must be true or false, got \"yes\"" },
        { "u32", "\xff", "must be valid UTF-8 text" },
        { "inner", "x", "cannot be given as a URL parameter: send it in the JSON body" },
        { "nope", "1", "unknown parameter \"nope\" for nagar.test.Everything" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(nagar_json_merge_param(body, EVERYTHING, bad[i].name, bad[i].value,
                                                &error), -1);
        assert_string_equal(error.path, bad[i].name);
        assert_string_equal(error.message, bad[i].message);
    }
    /* What a GET answered can be PUT back: the body repeating a parameter
     * with the same value (a string, an integer as text or number, a bool)
     * is one value. */
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "text", "hello", &error), 0);
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "i64", "-42", &error), 0);
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "flag", "true", &error), 0);
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "flag", "false", &error), -1);
    assert_string_equal(error.path, "flag");
    json_decref(body);

    body = json_object();
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "flag", "yes", &error), -1);
    assert_string_equal(error.message, "must be true or false, got \"yes\"");
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "measure", "0x10", &error), -1);
    assert_string_equal(error.path, "measure");
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "measure", " 1", &error), -1);
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "measure", "inf", &error), -1);
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "measure", "", &error), -1);
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "\xff", "1", &error), -1);
    assert_string_equal(error.path, "");
    /* Integers stay text and are checked by the decoder, with the path. */
    assert_int_equal(nagar_json_merge_param(body, EVERYTHING, "u64", "-1", &error), 0);
    assert_int_equal(nagar_json_decode_object(EVERYTHING, body, NULL, &message, &error), -1);
    assert_null(message);
    assert_string_equal(error.path, "u64");
    json_decref(body);
}

static void decode_object_checks_shape_and_limits(void **state)
{
    (void) state;
    nagar_json_error_t error;
    ProtobufCMessage *message = (ProtobufCMessage *) 1;
    json_t *list = json_array();
    assert_int_equal(nagar_json_decode_object(EVERYTHING, list, NULL, &message, &error), -1);
    assert_null(message);
    assert_string_equal(error.path, "");
    json_decref(list);

    nagar_json_limits_t limits = NAGAR_JSON_DEFAULT_LIMITS;
    limits.max_items = 1;
    json_t *body = json_pack("{s:[i,i]}", "numbers", 1, 2);
    assert_int_equal(nagar_json_decode_object(EVERYTHING, body, &limits, &message, &error), -1);
    assert_string_equal(error.path, "numbers");
    assert_string_equal(error.message, "list has 2 items, more than the limit of 1");
    json_decref(body);

    /* A string built with an embedded NUL cannot reach a C string field. */
    body = json_object();
    json_object_set_new(body, "text", json_stringn("a\0b", 3));
    assert_int_equal(nagar_json_decode_object(EVERYTHING, body, NULL, &message, &error), -1);
    assert_string_equal(error.path, "text");
    assert_string_equal(error.message, "must not contain NUL characters (\\u0000)");
    json_decref(body);
}

/* Failures after parts of the message were built must free those parts:
 * run under ASan/valgrind, these leak or crash if anything is mishandled. */
static void partial_messages_are_freed_on_rejection(void **state)
{
    (void) state;
    static const rejection_t cases[] = {
        { "{\"text\":\"a\",\"items\":[{\"name\":\"a\",\"tags\":[\"x\"]},{\"nope\":1}]}",
          "items[1].nope", "unknown field \"nope\" in nagar.test.Inner" },
        { "{\"choiceInner\":{\"name\":\"x\",\"tags\":[\"t\"],\"bad\":1}}", "choiceInner.bad",
          "unknown field \"bad\" in nagar.test.Inner" },
        { "{\"choiceText\":\"x\",\"text\":12}", "text", "must be a string, got 12" },
        { "{\"blob\":\"AAAA\",\"numbers\":[\"1\",\"x\"]}", "numbers[1]",
          "must be a 64-bit integer (a string or number), got \"x\"" },
        { "{\"inner\":{\"name\":\"n\",\"tags\":[\"a\",\"b\",3]}}", "inner.tags[2]",
          "must be a string, got 3" },
        { "{\"items\":[{\"name\":\"a\"},{\"name\":\"b\",\"amountPaise\":\"z\"}]}",
          "items[1].amountPaise", "must be a 64-bit integer (a string or number), got \"z\"" },
        { "{\"blob\":\"AAAA\",\"choiceText\":\"x\",\"choiceInner\":{\"name\":\"y\"}}",
          "choiceInner",
          "\"choiceInner\" cannot be set together with \"choiceText\": only one member of a "
          "oneof may be set" },
    };
    CHECK_REJECTIONS(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_of_everything_with_text_choice),
        cmocka_unit_test(round_trip_of_everything_with_message_choice),
        cmocka_unit_test(encodes_exact_compact_text_in_field_order),
        cmocka_unit_test(defaults_are_omitted_but_set_oneof_members_are_written),
        cmocka_unit_test(special_floats_and_negative_zero),
        cmocka_unit_test(unknown_enum_numbers_are_written_as_numbers),
        cmocka_unit_test(encoding_invalid_utf8_fails),
        cmocka_unit_test(encode_object_returns_a_json_object),
        cmocka_unit_test(accepts_camel_case_and_original_names),
        cmocka_unit_test(accepts_integers_as_numbers_and_strings),
        cmocka_unit_test(accepts_enum_names_and_defined_numbers),
        cmocka_unit_test(accepts_standard_and_url_safe_base64),
        cmocka_unit_test(null_means_absent),
        cmocka_unit_test(decoded_message_is_independent_of_the_text),
        cmocka_unit_test(rejects_unknown_fields_with_their_path),
        cmocka_unit_test(rejects_wrong_json_types),
        cmocka_unit_test(rejects_bad_and_out_of_range_32_bit_integers),
        cmocka_unit_test(rejects_bad_and_out_of_range_64_bit_integers),
        cmocka_unit_test(rejects_bad_enums_floats_and_base64),
        cmocka_unit_test(rejects_duplicates_and_oneof_conflicts),
        cmocka_unit_test(rejects_documents_that_are_not_one_object),
        cmocka_unit_test(rejects_too_deep_documents),
        cmocka_unit_test(rejects_too_large_documents),
        cmocka_unit_test(rejects_too_long_strings),
        cmocka_unit_test(rejects_too_many_items),
        cmocka_unit_test(long_paths_and_values_are_cut_to_valid_utf8),
        cmocka_unit_test(decode_object_merges_url_parameters),
        cmocka_unit_test(decode_object_checks_shape_and_limits),
        cmocka_unit_test(partial_messages_are_freed_on_rejection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
