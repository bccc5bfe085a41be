/*
 * message_fields.c — protobuf fields by name (message_fields.h).
 */
#include "message_fields.h"

#include <stddef.h>

static const ProtobufCFieldDescriptor *field_named(const ProtobufCMessage *message,
                                                   const char *name, ProtobufCType type)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(message->descriptor, name);
    return field && field->type == type && field->label != PROTOBUF_C_LABEL_REPEATED ? field
                                                                                    : NULL;
}

static void *field_slot(ProtobufCMessage *message, const char *name, ProtobufCType type)
{
    const ProtobufCFieldDescriptor *field = field_named(message, name, type);
    return field ? (char *) message + field->offset : NULL;
}

char **nagar_message_text_slot(ProtobufCMessage *message, const char *name)
{
    return field_slot(message, name, PROTOBUF_C_TYPE_STRING);
}

const char *nagar_message_text(const ProtobufCMessage *message, const char *name)
{
    char **slot = nagar_message_text_slot((ProtobufCMessage *) message, name);
    return slot && *slot ? *slot : "";
}

int64_t nagar_message_int(const ProtobufCMessage *message, const char *name)
{
    const ProtobufCFieldDescriptor *field = field_named(message, name, PROTOBUF_C_TYPE_INT64);
    return field ? *(const int64_t *) ((const char *) message + field->offset) : 0;
}

bool nagar_message_set_text(ProtobufCMessage *message, const char *name, const char *value)
{
    char **slot = field_slot(message, name, PROTOBUF_C_TYPE_STRING);
    if (slot)
        *slot = (char *) value;
    return slot != NULL;
}

bool nagar_message_set_int(ProtobufCMessage *message, const char *name, int64_t value)
{
    int64_t *slot = field_slot(message, name, PROTOBUF_C_TYPE_INT64);
    if (slot)
        *slot = value;
    return slot != NULL;
}

bool nagar_message_set_bool(ProtobufCMessage *message, const char *name, bool value)
{
    protobuf_c_boolean *slot = field_slot(message, name, PROTOBUF_C_TYPE_BOOL);
    if (slot)
        *slot = value;
    return slot != NULL;
}
