/* Unit tests for buffer.h: growth, the terminator, the limit, sticky failure, take;
 * a wiped buffer keeps its bytes across growth and zeroes them on reset; growable arrays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buffer.h"

static void appends_grow_and_stay_terminated(void **state)
{
    (void) state;
    nagar_buffer_t *buffer = nagar_buffer_new(0);
    assert_non_null(buffer);
    assert_int_equal(nagar_buffer_size(buffer), 0);
    assert_string_equal(nagar_buffer_text(buffer), "");
    /* Far past the first allocation, in odd-sized pieces. */
    char piece[37];
    for (size_t i = 0; i < sizeof piece; i++)
        piece[i] = (char) ('a' + i % 26);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(nagar_buffer_append(buffer, piece, sizeof piece), 0);
    assert_int_equal(nagar_buffer_size(buffer), 37000);
    const uint8_t *data = nagar_buffer_data(buffer);
    assert_memory_equal(data + 36963, piece, sizeof piece);
    assert_int_equal(data[37000], '\0');
    assert_false(nagar_buffer_failed(buffer));
    nagar_buffer_destroy(&buffer);
    assert_null(buffer);
    nagar_buffer_destroy(&buffer);   /* twice is harmless */
}

static void appendf_formats(void **state)
{
    (void) state;
    nagar_buffer_t *buffer = nagar_buffer_new(0);
    assert_int_equal(nagar_buffer_appendf(buffer, "%s=%d", "count", 42), 0);
    assert_int_equal(nagar_buffer_appendf(buffer, "%s", ""), 0);
    assert_int_equal(nagar_buffer_appendf(buffer, ";%05.1f\n", 2.25), 0);
    assert_string_equal(nagar_buffer_text(buffer), "count=42;002.2\n");
    /* Longer than the first allocation in one go. */
    char long_text[5000];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    assert_int_equal(nagar_buffer_appendf(buffer, "[%s]", long_text), 0);
    assert_int_equal(nagar_buffer_size(buffer), 15 + 5001);
    assert_int_equal(nagar_buffer_text(buffer)[15 + 5000], ']');
    nagar_buffer_destroy(&buffer);
}

static void the_limit_fails_and_failure_sticks(void **state)
{
    (void) state;
    nagar_buffer_t *buffer = nagar_buffer_new(10);
    assert_int_equal(nagar_buffer_append(buffer, "0123456789", 10), 0);
    assert_false(nagar_buffer_failed(buffer));
    assert_int_equal(nagar_buffer_append(buffer, "x", 1), -1);
    assert_true(nagar_buffer_failed(buffer));
    assert_true(nagar_buffer_over_limit(buffer));
    /* What it held stays; nothing more goes in, nothing is handed out. */
    assert_string_equal(nagar_buffer_text(buffer), "0123456789");
    assert_int_equal(nagar_buffer_append(buffer, "", 0), -1);
    assert_int_equal(nagar_buffer_appendf(buffer, "y"), -1);
    assert_null(nagar_buffer_take(buffer, NULL));
    /* Reset clears it for another use. */
    nagar_buffer_reset(buffer);
    assert_false(nagar_buffer_failed(buffer));
    assert_false(nagar_buffer_over_limit(buffer));
    assert_int_equal(nagar_buffer_size(buffer), 0);
    assert_string_equal(nagar_buffer_text(buffer), "");
    assert_int_equal(nagar_buffer_appendf(buffer, "%d", 12345), 0);
    assert_int_equal(nagar_buffer_appendf(buffer, "%d", 123456), -1);
    nagar_buffer_destroy(&buffer);
}

static void take_hands_over_the_bytes(void **state)
{
    (void) state;
    nagar_buffer_t *buffer = nagar_buffer_new(0);
    size_t size = 99;
    char *empty = nagar_buffer_take(buffer, &size);
    assert_non_null(empty);
    assert_int_equal(size, 0);
    assert_string_equal(empty, "");
    free(empty);
    assert_int_equal(nagar_buffer_append(buffer, "a\0b", 3), 0);
    uint8_t *bytes = nagar_buffer_take(buffer, &size);
    assert_int_equal(size, 3);
    assert_memory_equal(bytes, "a\0b", 4);   /* the terminator comes along */
    free(bytes);
    assert_int_equal(nagar_buffer_size(buffer), 0);
    assert_int_equal(nagar_buffer_append(buffer, "again", 5), 0);
    assert_string_equal(nagar_buffer_text(buffer), "again");
    nagar_buffer_destroy(&buffer);
}

static void a_wiped_buffer_keeps_its_bytes_and_zeroes_them_on_reset(void **state)
{
    (void) state;
    nagar_buffer_t *buffer = nagar_buffer_new_wiped(0);
    assert_non_null(buffer);
    /* Past the first capacity several times: every growth copies, then wipes the old. */
    for (int i = 0; i < 700; i++)
        assert_int_equal(nagar_buffer_appendf(buffer, "%05d-9876543210;", i), 0);
    assert_int_equal(nagar_buffer_size(buffer), 700 * 17);
    const char *text = nagar_buffer_text(buffer);
    assert_memory_equal(text, "00000-9876543210;00001-", 23);
    assert_memory_equal(text + 699 * 17, "00699-9876543210;", 18);
    /* reset zeroes what the buffer held, not just the first byte. */
    const uint8_t *held = nagar_buffer_data(buffer);
    size_t held_size = nagar_buffer_size(buffer);
    nagar_buffer_reset(buffer);
    assert_ptr_equal(nagar_buffer_data(buffer), held);
    for (size_t i = 0; i < held_size; i++)
        assert_int_equal(held[i], 0);
    assert_int_equal(nagar_buffer_append(buffer, "+911234567890", 13), 0);
    assert_string_equal(nagar_buffer_text(buffer), "+911234567890");
    char *taken = nagar_buffer_take(buffer, NULL);
    assert_string_equal(taken, "+911234567890");
    free(taken);
    nagar_buffer_destroy(&buffer);
    /* The limit holds as for any buffer. */
    buffer = nagar_buffer_new_wiped(8);
    assert_int_equal(nagar_buffer_append(buffer, "12345678", 8), 0);
    assert_int_equal(nagar_buffer_append(buffer, "9", 1), -1);
    assert_true(nagar_buffer_over_limit(buffer));
    nagar_buffer_destroy(&buffer);
    /* A writer's own failure sticks as an append's does, and is not the limit. */
    buffer = nagar_buffer_new_wiped(0);
    assert_int_equal(nagar_buffer_append(buffer, "ok", 2), 0);
    nagar_buffer_fail(buffer);
    assert_true(nagar_buffer_failed(buffer));
    assert_false(nagar_buffer_over_limit(buffer));
    assert_int_equal(nagar_buffer_append(buffer, "x", 1), -1);
    assert_null(nagar_buffer_take(buffer, NULL));
    nagar_buffer_destroy(&buffer);
}

static void arrays_grow_by_doubling(void **state)
{
    (void) state;
    typedef struct {
        int a;
        char b[20];
    } item_t;
    item_t *items = NULL;
    size_t count = 0, capacity = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(nagar_array_reserve(&items, count, &capacity, sizeof *items, 8), 0);
        assert_true(capacity > count);
        items[count++] = (item_t) {.a = i};
    }
    assert_int_equal(capacity, 1024);   /* 8, 16, ... 1024 */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(items[i].a, i);
    /* Room already: nothing moves. */
    item_t *before = items;
    assert_int_equal(nagar_array_reserve(&items, 500, &capacity, sizeof *items, 8), 0);
    assert_ptr_equal(items, before);
    /* A size that cannot be allocated leaves the array as it was. */
    size_t huge = SIZE_MAX / 4;
    assert_int_equal(nagar_array_reserve(&items, capacity, &capacity, huge, 8), -1);
    assert_ptr_equal(items, before);
    assert_int_equal(capacity, 1024);
    free(items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(appends_grow_and_stay_terminated),
        cmocka_unit_test(appendf_formats),
        cmocka_unit_test(the_limit_fails_and_failure_sticks),
        cmocka_unit_test(take_hands_over_the_bytes),
        cmocka_unit_test(a_wiped_buffer_keeps_its_bytes_and_zeroes_them_on_reset),
        cmocka_unit_test(arrays_grow_by_doubling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
