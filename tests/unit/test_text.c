/* Unit tests for text.h: what counts as text a person may submit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "text.h"

static void next_decodes_every_length(void **state)
{
    (void) state;
    uint32_t code = 0;
    assert_int_equal(nagar_utf8_next("A", &code), 1);
    assert_int_equal(code, 'A');
    assert_int_equal(nagar_utf8_next("\xc3\xa9", &code), 2);           /* é */
    assert_int_equal(code, 0xe9);
    assert_int_equal(nagar_utf8_next("\xe0\xa4\xa8", &code), 3);       /* न */
    assert_int_equal(code, 0x928);
    assert_int_equal(nagar_utf8_next("\xf0\x9f\x98\x80", &code), 4);   /* U+1F600 */
    assert_int_equal(code, 0x1f600);
}

static void next_refuses_malformed(void **state)
{
    (void) state;
    static const char *const bad[] = {
        "\x80",                 /* a lone continuation byte */
        "\xc3",                 /* cut short by the end */
        "\xe0\xa4",             /* cut short */
        "\xc0\xaf",             /* overlong '/' */
        "\xe0\x80\xaf",         /* overlong */
        "\xf0\x80\x80\xaf",     /* overlong */
        "\xed\xa0\x80",         /* surrogate U+D800 */
        "\xf4\x90\x80\x80",     /* past U+10FFFF */
        "\xf8\x88\x80\x80\x80", /* 5-byte form */
        "\xff",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t code;
        assert_int_equal(nagar_utf8_next(bad[i], &code), 0);
        assert_false(nagar_utf8_valid(bad[i]));
    }
}

static void text_counts_characters_not_bytes(void **state)
{
    (void) state;
    const char *name = "\xe0\xa4\xb0\xe0\xa4\xbe\xe0\xa4\xae";   /* राम: 3 characters */
    assert_int_equal(nagar_utf8_length(name), 3);
    assert_true(nagar_text_valid(name, 3, 3, false));
    assert_false(nagar_text_valid(name, 4, 10, false));
    assert_false(nagar_text_valid(name, 1, 2, false));
    assert_true(nagar_text_valid("", 0, 5, false));
    assert_false(nagar_text_valid("", 1, 5, false));
    assert_false(nagar_text_valid(NULL, 0, 5, false));
}

static void digits_are_digits_only_within_the_bounds(void **state)
{
    (void) state;
    assert_true(nagar_text_digits("250858", 1, 10));
    assert_true(nagar_text_digits("1234567890", 1, 10));
    assert_false(nagar_text_digits("12345678901", 1, 10));
    assert_false(nagar_text_digits("", 1, 10));
    assert_true(nagar_text_digits("", 0, 10));
    assert_false(nagar_text_digits("25085a", 1, 10));
    assert_false(nagar_text_digits(" 250858", 1, 10));
    assert_false(nagar_text_digits("२५०", 1, 10));   /* Devanagari digits are not ASCII digits */
    assert_false(nagar_text_digits("12", 3, 10));
    assert_false(nagar_text_digits(NULL, 0, 10));
}

static void text_refuses_controls(void **state)
{
    (void) state;
    assert_false(nagar_text_valid("a\tb", 0, 10, false));
    assert_false(nagar_text_valid("a\x7f", 0, 10, false));
    assert_false(nagar_text_valid("a\xc2\x85", 0, 10, false));     /* C1 NEL */
    assert_false(nagar_text_valid("a\nb", 0, 10, false));
    assert_true(nagar_text_valid("a\nb", 0, 10, true));
    assert_false(nagar_text_valid("a\rb", 0, 10, true));
    assert_true(nagar_text_valid("a\xc2\xa0" "b", 0, 10, false));  /* NBSP is text */
    assert_true(nagar_utf8_valid("a\tb"));                        /* valid UTF-8 all the same */
}

static void plain_names_are_lower_case_identifiers(void **state)
{
    (void) state;
    assert_true(nagar_text_plain_name("property_tax", 63));
    assert_true(nagar_text_plain_name("_x9", 63));
    assert_true(nagar_text_plain_name("a", 1));
    assert_false(nagar_text_plain_name("", 63));
    assert_false(nagar_text_plain_name(NULL, 63));
    assert_false(nagar_text_plain_name("9lives", 63));        /* a digit first */
    assert_false(nagar_text_plain_name("Owner", 63));         /* upper case */
    assert_false(nagar_text_plain_name("a-b", 63));
    assert_false(nagar_text_plain_name("a b", 63));
    assert_false(nagar_text_plain_name("a;drop", 63));
    assert_false(nagar_text_plain_name("नाम", 63));
    /* The bound is in bytes and inclusive. */
    char name[66];
    memset(name, 'a', 65);
    name[65] = '\0';
    assert_false(nagar_text_plain_name(name, 63));
    name[63] = '\0';
    assert_true(nagar_text_plain_name(name, 63));
    assert_false(nagar_text_plain_name(name, 62));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(next_decodes_every_length),
        cmocka_unit_test(next_refuses_malformed),
        cmocka_unit_test(text_counts_characters_not_bytes),
        cmocka_unit_test(text_refuses_controls),
        cmocka_unit_test(digits_are_digits_only_within_the_bounds),
        cmocka_unit_test(plain_names_are_lower_case_identifiers),
    };
    return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
