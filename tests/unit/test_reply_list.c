/* test_reply_list — unit tests for service.h's nagar_reply_list: the pointers point at
 * zeroed, aligned, distinct messages, a NULL follows the last, one free() releases it all,
 * and sizes that would overflow are refused. */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "service.h"

typedef struct {
    int64_t id;
    char *name;
    double amount;
    char tag[5];   /* an odd size, so items do not land on a multiple of 8 by luck */
} item_t;

static void pointers_point_at_zeroed_aligned_items(void **state)
{
    (void) state;
    item_t **items = nagar_reply_list(7, sizeof **items);
    assert_non_null(items);
    for (size_t i = 0; i < 7; i++) {
        assert_non_null(items[i]);
        assert_int_equal((uintptr_t) items[i] % alignof(max_align_t), 0);
        assert_int_equal(items[i]->id, 0);
        assert_null(items[i]->name);
        assert_int_equal(items[i]->tag[4], 0);
        if (i > 0)
            assert_int_equal((char *) items[i] - (char *) items[i - 1], sizeof(item_t));
        /* Writing one item leaves the pointers and the next item alone. */
        items[i]->id = (int64_t) i + 100;
        memset(items[i]->tag, 'x', sizeof items[i]->tag);
    }
    assert_null(items[7]);
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(items[i]->id, (int64_t) i + 100);
    free(items);
}

static void an_empty_list_is_one_null(void **state)
{
    (void) state;
    item_t **items = nagar_reply_list(0, sizeof **items);
    assert_non_null(items);
    assert_null(items[0]);
    free(items);
}

static void overflowing_sizes_are_refused(void **state)
{
    (void) state;
    assert_null(nagar_reply_list(SIZE_MAX / sizeof(void *), 8));
    assert_null(nagar_reply_list(SIZE_MAX / 64, 64));
    assert_null(nagar_reply_list(1000, SIZE_MAX / 100));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pointers_point_at_zeroed_aligned_items),
        cmocka_unit_test(an_empty_list_is_one_null),
        cmocka_unit_test(overflowing_sizes_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
