/*
 * message_fields.h — reading and writing a protobuf message's scalar
 * fields by name, through its descriptor.
 *
 * Messages that differ between services only in their type (property
 * tax's and water charges' Receipt, OnlineOrder, VerifyLedgerReply) are
 * handled by one piece of code that names the fields it needs. A field
 * that is missing, repeated or of another type reads as "" or 0 and
 * refuses to be set (false): the caller checks what it must have.
 */
#ifndef NAGAR_MESSAGE_FIELDS_H
#define NAGAR_MESSAGE_FIELDS_H

#include <stdbool.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* The string field name ("" when unset or absent). */
const char *nagar_message_text(const ProtobufCMessage *message, const char *name);
/* Where the string field name is stored, or NULL. */
char **nagar_message_text_slot(ProtobufCMessage *message, const char *name);
/* The int64 field name (0 when absent). */
int64_t nagar_message_int(const ProtobufCMessage *message, const char *name);

/* Setters; a string is borrowed, not copied. */
bool nagar_message_set_text(ProtobufCMessage *message, const char *name, const char *value);
bool nagar_message_set_int(ProtobufCMessage *message, const char *name, int64_t value);
bool nagar_message_set_bool(ProtobufCMessage *message, const char *name, bool value);

#endif
