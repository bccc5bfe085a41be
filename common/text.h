/*
 * text.h — UTF-8 text as Nagar accepts it from people: valid UTF-8 and no
 * control characters.
 *
 * Names, addresses, reasons, template bodies and document fields all come
 * from forms and counters and end up in databases, PDFs, SMS and e-mail.
 * One definition of "valid" keeps them agreeing: well-formed UTF-8 (no
 * overlong forms, no surrogates, nothing past U+10FFFF), no C0 controls,
 * DEL or C1 controls (U+0080..U+009F), and a newline only where a caller
 * allows one. Lengths are in characters (code points), as people count.
 */
#ifndef NAGAR_TEXT_H
#define NAGAR_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes the character text starts with: returns its length in bytes
 * (1..4) and sets *code, or returns 0 when text does not start with a
 * well-formed UTF-8 character (a NUL byte decodes as length 1, code 0). */
int nagar_utf8_next(const char *text, uint32_t *code);

/* Whether text is well-formed UTF-8 throughout (controls allowed). */
bool nagar_utf8_valid(const char *text);

/* Characters in text, which must be valid UTF-8. */
size_t nagar_utf8_length(const char *text);

/* Valid text of min..max characters without control characters; a newline
 * only when newlines is true. NULL is not valid text. */
bool nagar_text_valid(const char *text, size_t min, size_t max, bool newlines);

/* min..max ASCII digits and nothing else (an LGD code is 1..10); NULL is
 * not. Each service used to carry its own copy of this loop. */
bool nagar_text_digits(const char *text, size_t min, size_t max);

/* A lower-case name of 1..max bytes, ^[a-z_][a-z0-9_]*$: what may be
 * spliced into SQL as an identifier (a table, a column, max 63 as
 * PostgreSQL's NAMEDATALEN - 1) or stand as a template parameter's name.
 * NULL is not. */
bool nagar_text_plain_name(const char *name, size_t max);

#endif
