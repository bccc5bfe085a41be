/*
 * buffer.h — a growable run of bytes: what a PDF stream, an HTTP body, a
 * curl answer or a metrics page is collected into.
 *
 * Every copy of "realloc when it does not fit" in the tree was the same
 * dozen lines with its own small differences (one forgot the terminator,
 * one had no bound); this is the one place that does it. The bytes are
 * always followed by a NUL that is not counted, so text can be read as a
 * C string. A buffer may be given a limit: an append that would pass it
 * fails, as does one that runs out of memory. A failure is sticky — every
 * later append fails too — so that a writer can append a whole page and
 * check once at the end, and a half-written page is never mistaken for a
 * whole one. A buffer made by nagar_buffer_new_wiped holds text that must
 * not outlive it in memory (a message's text and address, a secret): its
 * bytes are zeroed before memory is given back — on growth, reset and
 * destroy. nagar_array_reserve grows arrays of structs the same way.
 */
#ifndef NAGAR_BUFFER_H
#define NAGAR_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nagar_buffer_t nagar_buffer_t;

/* An empty buffer that holds at most limit bytes (0: no limit but memory).
 * NULL when out of memory. */
nagar_buffer_t *nagar_buffer_new(size_t limit);
/* The same, for bytes that must be wiped: every byte the buffer held is
 * zeroed before its memory is freed or reused (growth, reset, destroy).
 * What nagar_buffer_take hands over is the caller's to wipe. */
nagar_buffer_t *nagar_buffer_new_wiped(size_t limit);
/* Frees the buffer and its bytes; *self_p becomes NULL. */
void nagar_buffer_destroy(nagar_buffer_t **self_p);

/* Appends size bytes. Returns 0, or -1 when out of memory or past the
 * limit (the buffer is then failed and keeps what it held). */
int nagar_buffer_append(nagar_buffer_t *self, const void *data, size_t size);
/* Appends printf-style text (without its terminator). Returns 0 or -1. */
int nagar_buffer_appendf(nagar_buffer_t *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* The bytes held, followed by a NUL; "" while empty. Valid until the next
 * append, take, reset or destroy. */
const uint8_t *nagar_buffer_data(nagar_buffer_t *self);
const char *nagar_buffer_text(nagar_buffer_t *self);
size_t nagar_buffer_size(nagar_buffer_t *self);
/* Whether an append has failed since new or reset. */
bool nagar_buffer_failed(nagar_buffer_t *self);
/* Fails the buffer as an append that ran out of memory would: for a writer
 * whose own step (an escape, an encoding) failed mid-page. */
void nagar_buffer_fail(nagar_buffer_t *self);
/* Whether that failure was the limit (not memory). */
bool nagar_buffer_over_limit(nagar_buffer_t *self);

/* Hands the bytes over (malloc'd, NUL-terminated, caller frees; *size set
 * when size is given) and leaves the buffer empty and not failed. NULL
 * when out of memory, or when the buffer had failed. */
void *nagar_buffer_take(nagar_buffer_t *self, size_t *size);
/* Empties the buffer and clears a failure; keeps its memory (zeroed, for a
 * wiped buffer). */
void nagar_buffer_reset(nagar_buffer_t *self);

/* ---- growable arrays ------------------------------------------------------ */

/* Room for one more item in an array of item_size-byte items at *items_p
 * (a T ** passed as void *) that holds count of *capacity: when full it
 * doubles, starting at first. Returns 0, or -1 when out of memory (the
 * array as it was). The one copy of "realloc when the list is full" for
 * arrays of structs, as the buffer is for bytes. */
int nagar_array_reserve(void *items_p, size_t count, size_t *capacity, size_t item_size,
                        size_t first);

#endif
