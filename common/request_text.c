/*
 * request_text.c — the text a request brings is taken trimmed (see
 * request_text.h).
 */
#include "request_text.h"

#include <stdbool.h>
#include <string.h>

/* The white space at text[i], in bytes (0 when none): ASCII white space or
 * U+00A0 (0xC2 0xA0). */
static size_t space_at(const char *text, size_t i)
{
    unsigned char c = (unsigned char) text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')
        return 1;
    if (c == 0xC2 && (unsigned char) text[i + 1] == 0xA0)
        return 2;
    return 0;
}

/* The white space ending at text[end - 1], in bytes (0 when none). */
static size_t space_before(const char *text, size_t end)
{
    if (end >= 1 && space_at(text, end - 1) == 1)
        return 1;
    if (end >= 2 && space_at(text, end - 2) == 2)
        return 2;
    return 0;
}

static void trim(char *text)
{
    size_t length = strlen(text), start = 0, step;
    while ((step = space_at(text, start)) > 0)
        start += step;
    size_t end = length;
    while (end > start && (step = space_before(text, end)) > 0)
        end -= step;
    if (start == 0 && end == length)
        return;   /* nothing to trim: never write (it may be the shared "") */
    memmove(text, text + start, end - start);
    text[end - start] = '\0';
}

static bool keeps_spaces(const ProtobufCFieldDescriptor *field)
{
    size_t length = strlen(field->name);
    return strcmp(field->name, "password") == 0 ||
           (length > 9 && strcmp(field->name + length - 9, "_password") == 0);
}

void nagar_request_trim_text(ProtobufCMessage *message)
{
    const ProtobufCMessageDescriptor *type = message->descriptor;
    for (unsigned i = 0; i < type->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &type->fields[i];
        if (field->type != PROTOBUF_C_TYPE_STRING && field->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (field->type == PROTOBUF_C_TYPE_STRING && keeps_spaces(field))
            continue;
        char *member = (char *) message + field->offset;
        /* A oneof's members share storage: only the one set is there. */
        if ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *) ((const char *) message + field->quantifier_offset) != field->id)
            continue;
        size_t count = 1;
        void **items = (void **) member;
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            count = *(const size_t *) ((const char *) message + field->quantifier_offset);
            items = *(void ***) member;
        }
        for (size_t k = 0; k < count; k++) {
            if (!items[k])
                continue;
            if (field->type == PROTOBUF_C_TYPE_STRING)
                trim(items[k]);
            else
                nagar_request_trim_text(items[k]);
        }
    }
}
