/*
 * buffer.c — a growable run of bytes (see buffer.h).
 *
 * Capacity doubles from BUFFER_FIRST, so n bytes appended in any pieces
 * cost O(n) copying; one byte more than the size is always allocated for
 * the terminator. A wiped buffer grows by copying into new memory and
 * zeroing the old (realloc could leave a copy behind in freed memory).
 */
#include "buffer.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUFFER_FIRST 1024

struct nagar_buffer_t {
    uint8_t *data;          /* NULL until the first append */
    size_t size;
    size_t capacity;        /* bytes allocated, the terminator's included */
    size_t limit;           /* 0: none */
    bool failed;
    bool over_limit;
    bool wiped;             /* zero the bytes before memory is freed or reused */
};

nagar_buffer_t *nagar_buffer_new(size_t limit)
{
    nagar_buffer_t *self = calloc(1, sizeof *self);
    if (self)
        self->limit = limit;
    return self;
}

nagar_buffer_t *nagar_buffer_new_wiped(size_t limit)
{
    nagar_buffer_t *self = nagar_buffer_new(limit);
    if (self)
        self->wiped = true;
    return self;
}

void nagar_buffer_destroy(nagar_buffer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->wiped && (*self_p)->data)
        sodium_memzero((*self_p)->data, (*self_p)->capacity);
    free((*self_p)->data);
    free(*self_p);
    *self_p = NULL;
}

/* Makes room for extra more bytes and the terminator. */
static int reserve(nagar_buffer_t *self, size_t extra)
{
    if (self->failed)
        return -1;
    if (extra > SIZE_MAX - 1 - self->size ||
        (self->limit && self->size + extra > self->limit)) {
        self->failed = true;
        self->over_limit = self->limit != 0;
        return -1;
    }
    size_t needed = self->size + extra + 1;
    if (needed <= self->capacity)
        return 0;
    size_t capacity = self->capacity ? self->capacity : BUFFER_FIRST;
    while (capacity < needed)
        capacity = capacity > SIZE_MAX / 2 ? needed : capacity * 2;
    uint8_t *grown = self->wiped ? malloc(capacity) : realloc(self->data, capacity);
    if (!grown) {
        self->failed = true;
        return -1;
    }
    if (self->wiped && self->data) {
        memcpy(grown, self->data, self->size + 1);
        sodium_memzero(self->data, self->capacity);
        free(self->data);
    }
    self->data = grown;
    self->capacity = capacity;
    return 0;
}

int nagar_buffer_append(nagar_buffer_t *self, const void *data, size_t size)
{
    if (reserve(self, size) != 0)
        return -1;
    if (size)
        memcpy(self->data + self->size, data, size);
    self->size += size;
    self->data[self->size] = '\0';
    return 0;
}

int nagar_buffer_appendf(nagar_buffer_t *self, const char *format, ...)
{
    if (self->failed)
        return -1;
    va_list args;
    va_start(args, format);
    int length = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (length < 0) {
        self->failed = true;
        return -1;
    }
    if (reserve(self, (size_t) length) != 0)
        return -1;
    va_start(args, format);
    vsnprintf((char *) self->data + self->size, (size_t) length + 1, format, args);
    va_end(args);
    self->size += (size_t) length;
    return 0;
}

const uint8_t *nagar_buffer_data(nagar_buffer_t *self)
{
    return self->data ? self->data : (const uint8_t *) "";
}

const char *nagar_buffer_text(nagar_buffer_t *self)
{
    return (const char *) nagar_buffer_data(self);
}

size_t nagar_buffer_size(nagar_buffer_t *self)
{
    return self->size;
}

bool nagar_buffer_failed(nagar_buffer_t *self)
{
    return self->failed;
}

void nagar_buffer_fail(nagar_buffer_t *self)
{
    self->failed = true;
}

bool nagar_buffer_over_limit(nagar_buffer_t *self)
{
    return self->over_limit;
}

void *nagar_buffer_take(nagar_buffer_t *self, size_t *size)
{
    if (self->failed)
        return NULL;
    uint8_t *data = self->data;
    if (!data && !(data = calloc(1, 1)))
        return NULL;
    if (size)
        *size = self->size;
    self->data = NULL;
    self->size = self->capacity = 0;
    return data;
}

void nagar_buffer_reset(nagar_buffer_t *self)
{
    if (self->data && self->wiped)
        sodium_memzero(self->data, self->capacity);
    self->size = 0;
    if (self->data)
        self->data[0] = '\0';
    self->failed = self->over_limit = false;
}

int nagar_array_reserve(void *items_p, size_t count, size_t *capacity, size_t item_size,
                        size_t first)
{
    if (count < *capacity)
        return 0;
    size_t grown_capacity = *capacity ? *capacity : (first ? first : 1);
    while (grown_capacity <= count) {
        if (grown_capacity > SIZE_MAX / 2)
            return -1;
        grown_capacity *= 2;
    }
    if (item_size && grown_capacity > SIZE_MAX / item_size)
        return -1;
    void **items = items_p;
    void *grown = realloc(*items, grown_capacity * item_size);
    if (!grown)
        return -1;
    *items = grown;
    *capacity = grown_capacity;
    return 0;
}
