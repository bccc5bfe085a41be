/*
 * request_text.h — the text a request brings is taken trimmed.
 *
 * People type references, names and reasons at counters and in forms, and
 * paste them from elsewhere: " 250858", "Ramesh Verma  ", a cheque number of
 * only spaces. Every worker trims white space (ASCII white space and U+00A0,
 * the no-break space that copy and paste brings) from both ends of every
 * string field of a request before anything else looks at it, so a
 * reference of only spaces is an empty one and is refused where one is
 * required, and what is stored is what was meant. Passwords are the
 * exception: a field named "password" or "*_password" is left as sent.
 */
#ifndef NAGAR_REQUEST_TEXT_H
#define NAGAR_REQUEST_TEXT_H

#include <protobuf-c/protobuf-c.h>

/* Trims every string field of message and of the messages inside it, in
 * place (unpacked strings are the message's own; an empty one is never
 * written to). */
void nagar_request_trim_text(ProtobufCMessage *message);

#endif
