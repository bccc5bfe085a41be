/* test_reply_list — unit tests for service.h's listing replies: nagar_reply_list (the
 * pointers point at zeroed, aligned, distinct messages, a NULL follows the last, one free()
 * releases it all, sizes that would overflow are refused); nagar_reply_page_set (a reply's
 * list and next page token found by name through its descriptor, for any reply type, and a
 * name that is not such a field refused); nagar_message_from_row (a row's columns into the
 * fields of the same name: one reader fills identity's and certificates' AuditEntry alike,
 * values that do not parse and fields it cannot fill refused). */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/certificates.pb-c.h"
#include "proto/identity.pb-c.h"
#include "service.h"
#include "tests/proto/echo.pb-c.h"

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

/* ---- nagar_reply_page_set -------------------------------------------------- */

static void a_reply_gets_its_list_and_token_by_name(void **state)
{
    (void) state;
    Nagar__Identity__AuditEntry **entries = nagar_reply_list(2, sizeof **entries);
    assert_non_null(entries);
    for (int i = 0; i < 2; i++) {
        nagar__identity__audit_entry__init(entries[i]);
        entries[i]->id = 10 - i;
        entries[i]->action = i ? "staff.disable" : "staff.create";
    }
    Nagar__Identity__ListAuditReply reply = NAGAR__IDENTITY__LIST_AUDIT_REPLY__INIT;
    assert_int_equal(nagar_reply_page_set(&reply.base, "entries", entries, 2, "MTA"), 0);
    assert_int_equal(reply.n_entries, 2);
    assert_ptr_equal(reply.entries, entries);
    assert_string_equal(reply.next_page_token, "MTA");

    /* What goes on the wire is the list and the token. */
    uint8_t wire[256];
    size_t size = protobuf_c_message_pack(&reply.base, wire);
    Nagar__Identity__ListAuditReply *back = nagar__identity__list_audit_reply__unpack(NULL, size,
                                                                                      wire);
    assert_non_null(back);
    assert_int_equal(back->n_entries, 2);
    assert_int_equal(back->entries[1]->id, 9);
    assert_string_equal(back->entries[1]->action, "staff.disable");
    assert_string_equal(back->next_page_token, "MTA");
    nagar__identity__list_audit_reply__free_unpacked(back, NULL);

    /* Another reply type, the same call; a NULL token leaves the field alone. */
    Nagar__Certificates__AuditEntry **none = nagar_reply_list(0, sizeof **none);
    Nagar__Certificates__ListAuditReply other = NAGAR__CERTIFICATES__LIST_AUDIT_REPLY__INIT;
    other.next_page_token = "kept";
    assert_int_equal(nagar_reply_page_set(&other.base, "entries", none, 0, NULL), 0);
    assert_int_equal(other.n_entries, 0);
    assert_ptr_equal(other.entries, none);
    assert_string_equal(other.next_page_token, "kept");
    free(none);
    free(entries);
}

static void a_name_that_is_not_a_list_of_messages_is_refused(void **state)
{
    (void) state;
    void *items = nagar_reply_list(1, sizeof(Nagar__Test__Inner));
    assert_non_null(items);
    Nagar__Identity__ListAuditReply reply = NAGAR__IDENTITY__LIST_AUDIT_REPLY__INIT;
    assert_int_equal(nagar_reply_page_set(&reply.base, "entry", items, 1, ""), -1);
    assert_int_equal(nagar_reply_page_set(&reply.base, "next_page_token", items, 1, ""), -1);
    assert_int_equal(nagar_reply_page_set(&reply.base, NULL, items, 1, ""), -1);
    assert_int_equal(nagar_reply_page_set(NULL, "entries", items, 1, ""), -1);
    assert_int_equal(reply.n_entries, 0);
    assert_null(reply.entries);

    Nagar__Test__Everything everything = NAGAR__TEST__EVERYTHING__INIT;
    assert_int_equal(nagar_reply_page_set(&everything.base, "numbers", items, 1, NULL), -1);
    assert_int_equal(nagar_reply_page_set(&everything.base, "inner", items, 1, NULL), -1);
    /* A list without a next_page_token: fine without a token, refused with one. */
    assert_int_equal(nagar_reply_page_set(&everything.base, "items", items, 1, "x"), -1);
    assert_int_equal(everything.n_items, 0);
    assert_int_equal(nagar_reply_page_set(&everything.base, "items", items, 1, NULL), 0);
    assert_int_equal(everything.n_items, 1);
    free(items);
}

/* ---- nagar_message_from_row ------------------------------------------------- */

/* A result as libpq would hand it over: columns named, every value text
 * (NULL for SQL NULL). */
static PGresult *rows_of(int columns, const char *const *names, int count,
                         const char *const *values)
{
    PGresult *rows = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(rows);
    PGresAttDesc attributes[16];
    assert_true(columns <= 16);
    for (int c = 0; c < columns; c++)
        attributes[c] = (PGresAttDesc){.name = (char *) names[c], .format = 0, .typid = 25,
                                       .typlen = -1, .atttypmod = -1};
    assert_int_equal(PQsetResultAttrs(rows, columns, attributes), 1);
    for (int r = 0; r < count; r++)
        for (int c = 0; c < columns; c++) {
            const char *value = values[r * columns + c];
            assert_int_equal(PQsetvalue(rows, r, c, (char *) value,
                                        value ? (int) strlen(value) : -1), 1);
        }
    return rows;
}

static const char *const AUDIT_COLUMNS[] = {"id", "at", "actor", "actor_role", "action",
                                            "subject", "ulb", "detail", "seq"};

static void one_reader_fills_both_audit_entries(void **state)
{
    (void) state;
    const char *values[] = {"9007199254740993", "2026-12-05T14:00:00Z", "staff:a1",
                            "REGISTRAR", "certificate.issue", "BR-1", "802401",
                            "{\"version\": 2}", "77",
                            "2", "2026-12-05T14:01:00.250Z", "staff:b2", NULL, "staff.create",
                            "staff:c3", NULL, "{}", "78"};
    PGresult *rows = rows_of(9, AUDIT_COLUMNS, 2, values);

    Nagar__Certificates__AuditEntry certificates = NAGAR__CERTIFICATES__AUDIT_ENTRY__INIT;
    assert_int_equal(nagar_message_from_row(&certificates.base, rows, 0), 0);
    assert_int_equal(certificates.id, 9007199254740993LL);
    assert_string_equal(certificates.at, "2026-12-05T14:00:00Z");
    assert_string_equal(certificates.actor, "staff:a1");
    assert_string_equal(certificates.actor_role, "REGISTRAR");
    assert_string_equal(certificates.action, "certificate.issue");
    assert_string_equal(certificates.subject, "BR-1");
    assert_string_equal(certificates.ulb, "802401");
    assert_string_equal(certificates.detail, "{\"version\": 2}");

    /* Identity's entry has no actor_role or ulb and numbers action 4, not 5: the same
     * reader goes by name. A NULL leaves the field's default. */
    Nagar__Identity__AuditEntry identity = NAGAR__IDENTITY__AUDIT_ENTRY__INIT;
    assert_int_equal(nagar_message_from_row(&identity.base, rows, 1), 0);
    assert_int_equal(identity.id, 2);
    assert_string_equal(identity.at, "2026-12-05T14:01:00.250Z");
    assert_string_equal(identity.actor, "staff:b2");
    assert_string_equal(identity.action, "staff.create");
    assert_string_equal(identity.subject, "staff:c3");
    assert_string_equal(identity.detail, "{}");
    Nagar__Certificates__AuditEntry second = NAGAR__CERTIFICATES__AUDIT_ENTRY__INIT;
    assert_int_equal(nagar_message_from_row(&second.base, rows, 1), 0);
    assert_string_equal(second.actor_role, "");
    assert_string_equal(second.ulb, "");

    /* A row that is not there. */
    assert_int_equal(nagar_message_from_row(&identity.base, rows, 2), -1);
    assert_int_equal(nagar_message_from_row(&identity.base, rows, -1), -1);
    PQclear(rows);
}

static void numbers_and_flags_are_parsed_whole(void **state)
{
    (void) state;
    static const char *const names[] = {"text", "i32", "i64", "u32", "u64", "s32", "flag"};
    const char *values[] = {"plain", "-2147483648", "-9223372036854775808", "4294967295",
                            "18446744073709551615", "2147483647", "t"};
    PGresult *rows = rows_of(7, names, 1, values);
    Nagar__Test__Everything message = NAGAR__TEST__EVERYTHING__INIT;
    assert_int_equal(nagar_message_from_row(&message.base, rows, 0), 0);
    assert_string_equal(message.text, "plain");
    assert_int_equal(message.i32, INT32_MIN);
    assert_true(message.i64 == INT64_MIN);
    assert_int_equal(message.u32, UINT32_MAX);
    assert_true(message.u64 == UINT64_MAX);
    assert_int_equal(message.s32, INT32_MAX);
    assert_true(message.flag);
    PQclear(rows);

    /* Each of these alone is refused: out of range, not a whole number, a sign on an
     * unsigned field, a bool that is not "t" or "f". */
    static const char *const bad[][2] = {
        {"i32", "2147483648"}, {"i32", "12x"},  {"i64", ""},  {"i64", "9223372036854775808"},
        {"u32", "-1"},         {"u32", "4294967296"},          {"u64", "-0"}, {"flag", "yes"},
        {"flag", "true"},      {"s32", " 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        PGresult *one = rows_of(1, &bad[i][0], 1, &bad[i][1]);
        Nagar__Test__Everything target = NAGAR__TEST__EVERYTHING__INIT;
        if (nagar_message_from_row(&target.base, one, 0) != -1)
            fail_msg("%s = \"%s\" was taken", bad[i][0], bad[i][1]);
        PQclear(one);
    }
}

static void fields_it_cannot_fill_are_refused(void **state)
{
    (void) state;
    /* A column named like a float, bytes, an enum, a message, a repeated or a oneof field. */
    static const char *const names[] = {"ratio", "blob", "colour", "inner", "numbers",
                                        "choice_text"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *value = "1";
        PGresult *one = rows_of(1, &names[i], 1, &value);
        Nagar__Test__Everything target = NAGAR__TEST__EVERYTHING__INIT;
        if (nagar_message_from_row(&target.base, one, 0) != -1)
            fail_msg("a column %s was taken", names[i]);
        PQclear(one);
    }
    /* Columns no field is named for are passed over. */
    static const char *const other[] = {"seq", "ratio_text"};
    const char *values[] = {"5", "0.5"};
    PGresult *rows = rows_of(2, other, 1, values);
    Nagar__Test__Everything target = NAGAR__TEST__EVERYTHING__INIT;
    assert_int_equal(nagar_message_from_row(&target.base, rows, 0), 0);
    assert_int_equal(target.ratio, 0);
    PQclear(rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pointers_point_at_zeroed_aligned_items),
        cmocka_unit_test(an_empty_list_is_one_null),
        cmocka_unit_test(overflowing_sizes_are_refused),
        cmocka_unit_test(a_reply_gets_its_list_and_token_by_name),
        cmocka_unit_test(a_name_that_is_not_a_list_of_messages_is_refused),
        cmocka_unit_test(one_reader_fills_both_audit_entries),
        cmocka_unit_test(numbers_and_flags_are_parsed_whole),
        cmocka_unit_test(fields_it_cannot_fill_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
