/* Unit tests for request_text.h: every string of a request is taken trimmed,
 * passwords excepted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tests/proto/echo.pb-c.h"
#include "proto/identity.pb-c.h"
#include "request_text.h"

/* Packs message and unpacks it again, as a worker receives it. */
static ProtobufCMessage *received(const ProtobufCMessage *message)
{
    size_t size = protobuf_c_message_get_packed_size(message);
    uint8_t *data = malloc(size ? size : 1);
    assert_non_null(data);
    protobuf_c_message_pack(message, data);
    ProtobufCMessage *copy = protobuf_c_message_unpack(message->descriptor, NULL, size, data);
    free(data);
    assert_non_null(copy);
    return copy;
}

static void strings_are_trimmed_at_both_ends(void **state)
{
    (void) state;
    Nagar__Test__Inner inner = NAGAR__TEST__INNER__INIT, item = NAGAR__TEST__INNER__INIT;
    inner.name = "\t Asha \r\n";
    item.name = "\xc2\xa0" "250858" "\xc2\xa0";   /* no-break spaces, pasted */
    char *tags[] = {"  a  ", "b", "   "};
    item.tags = tags;
    item.n_tags = 3;
    Nagar__Test__Inner *items[] = {&item};
    Nagar__Test__Everything sent = NAGAR__TEST__EVERYTHING__INIT;
    sent.text = "  Ramesh  Verma  ";   /* inside spaces stay */
    sent.inner = &inner;
    sent.items = items;
    sent.n_items = 1;
    sent.choice_case = NAGAR__TEST__EVERYTHING__CHOICE_CHOICE_TEXT;
    sent.choice_text = " chosen ";
    sent.blob.data = (uint8_t *) "  raw  ";
    sent.blob.len = 7;

    Nagar__Test__Everything *got = (Nagar__Test__Everything *) received(&sent.base);
    nagar_request_trim_text(&got->base);
    assert_string_equal(got->text, "Ramesh  Verma");
    assert_string_equal(got->inner->name, "Asha");
    assert_string_equal(got->items[0]->name, "250858");
    assert_string_equal(got->items[0]->tags[0], "a");
    assert_string_equal(got->items[0]->tags[1], "b");
    assert_string_equal(got->items[0]->tags[2], "");   /* only spaces: empty */
    assert_string_equal(got->choice_text, "chosen");
    /* Bytes are data, not text. */
    assert_int_equal(got->blob.len, 7);
    assert_memory_equal(got->blob.data, "  raw  ", 7);
    protobuf_c_message_free_unpacked(&got->base, NULL);
}

static void a_oneof_message_member_is_walked_and_unset_fields_untouched(void **state)
{
    (void) state;
    Nagar__Test__Inner inner = NAGAR__TEST__INNER__INIT;
    inner.name = " inside ";
    Nagar__Test__Everything sent = NAGAR__TEST__EVERYTHING__INIT;
    sent.choice_case = NAGAR__TEST__EVERYTHING__CHOICE_CHOICE_INNER;
    sent.choice_inner = &inner;
    Nagar__Test__Everything *got = (Nagar__Test__Everything *) received(&sent.base);
    nagar_request_trim_text(&got->base);
    assert_string_equal(got->choice_inner->name, "inside");
    assert_string_equal(got->text, "");       /* unset: the shared "", not written */
    assert_null(got->inner);
    protobuf_c_message_free_unpacked(&got->base, NULL);
}

static void passwords_are_left_as_sent(void **state)
{
    (void) state;
    Nagar__Identity__StaffLoginRequest sent = NAGAR__IDENTITY__STAFF_LOGIN_REQUEST__INIT;
    sent.username = " meena.joshi ";
    sent.password = "  spaces count here  ";
    Nagar__Identity__StaffLoginRequest *got =
        (Nagar__Identity__StaffLoginRequest *) received(&sent.base);
    nagar_request_trim_text(&got->base);
    assert_string_equal(got->username, "meena.joshi");
    assert_string_equal(got->password, "  spaces count here  ");
    protobuf_c_message_free_unpacked(&got->base, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strings_are_trimmed_at_both_ends),
        cmocka_unit_test(a_oneof_message_member_is_walked_and_unset_fields_untouched),
        cmocka_unit_test(passwords_are_left_as_sent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
