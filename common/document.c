/*
 * document.c — bilingual A4 PDF documents with a QR code (see document.h).
 *
 * The description is kept as copies of the caller's strings; rendering
 * walks it once, top to bottom, measuring each block with Pango before
 * drawing it so that content longer than the page is refused instead of
 * running off the paper. The PDF goes into a growing memory buffer through
 * cairo's stream interface: documents are small (tens of KiB: the fonts
 * are subset) and are sent over the bus, never written to disk here.
 *
 * Pango chooses the font per script run: the family list puts Noto Sans
 * first and Noto Sans Devanagari second, so Latin text is set in Noto Sans
 * and Devanagari in its own face, shaped by HarfBuzz.
 */
#include "document.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<pango/pangocairo.h>) && __has_include(<qrencode.h>)
#define NAGAR_DOCUMENT_PANGO 1
#endif
#endif

#ifdef NAGAR_DOCUMENT_PANGO
#include <cairo-pdf.h>
#include <dlfcn.h>
#include <pango/pangocairo.h>
#include <qrencode.h>
#endif

#include "buffer.h"
#include "text.h"

struct nagar_document_t {
    char *metadata_title;
    char *titles[NAGAR_DOCUMENT_LINES_MAX];
    size_t title_count;
    char *lines[NAGAR_DOCUMENT_LINES_MAX];     /* full-width text under the titles */
    size_t line_count;
    char *labels_hi[NAGAR_DOCUMENT_FIELDS_MAX];
    char *labels_en[NAGAR_DOCUMENT_FIELDS_MAX];
    char *values[NAGAR_DOCUMENT_FIELDS_MAX];
    size_t field_count;
    char *footers[NAGAR_DOCUMENT_LINES_MAX];
    size_t footer_count;
    char *qr_payload;
    char *qr_caption;
    double label_width;         /* points; 0 = LABEL_WIDTH */
    char error[256];            /* the first limit a text broke; "" = none */
};

nagar_document_t *nagar_document_new(void)
{
    return calloc(1, sizeof(nagar_document_t));
}

void nagar_document_destroy(nagar_document_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    nagar_document_t *self = *self_p;
    free(self->metadata_title);
    for (size_t i = 0; i < self->title_count; i++)
        free(self->titles[i]);
    for (size_t i = 0; i < self->line_count; i++)
        free(self->lines[i]);
    for (size_t i = 0; i < self->field_count; i++) {
        free(self->labels_hi[i]);
        free(self->labels_en[i]);
        free(self->values[i]);
    }
    for (size_t i = 0; i < self->footer_count; i++)
        free(self->footers[i]);
    free(self->qr_payload);
    free(self->qr_caption);
    free(self);
    *self_p = NULL;
}

static int remember_error(nagar_document_t *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int remember_error(nagar_document_t *self, const char *format, ...)
{
    if (!self->error[0]) {
        va_list args;
        va_start(args, format);
        vsnprintf(self->error, sizeof self->error, format, args);
        va_end(args);
    }
    return -1;
}

/* Valid text (common/text.h), a newline only where allowed, at most max
 * bytes. */
static bool text_ok(const char *text, size_t max, bool newline_allowed)
{
    return text && strnlen(text, max + 1) <= max &&
           nagar_text_valid(text, 0, SIZE_MAX, newline_allowed);
}

static char *copy_checked(nagar_document_t *self, const char *what, const char *text, size_t max,
                          bool newline_allowed)
{
    if (!text_ok(text, max, newline_allowed)) {
        remember_error(self, "the %s is not valid UTF-8 text of at most %zu bytes without control "
                             "characters", what, max);
        return NULL;
    }
    char *copy = strdup(text);
    if (!copy)
        remember_error(self, "out of memory copying the %s", what);
    return copy;
}

int nagar_document_set_title_metadata(nagar_document_t *self, const char *title)
{
    char *copy = copy_checked(self, "document title", title, 256, false);
    if (!copy)
        return -1;
    free(self->metadata_title);
    self->metadata_title = copy;
    return 0;
}

/* Appends a checked copy of text (a `what`) to one of the document's lists
 * of lines (lines, *count); `plural` names the list in the refusal when it
 * holds NAGAR_DOCUMENT_LINES_MAX already. */
static int add_to_lines(nagar_document_t *self, char **lines, size_t *count, const char *what,
                        const char *plural, const char *text)
{
    if (*count == NAGAR_DOCUMENT_LINES_MAX)
        return remember_error(self, "a document has at most %d %s", NAGAR_DOCUMENT_LINES_MAX,
                              plural);
    char *copy = copy_checked(self, what, text, NAGAR_DOCUMENT_TEXT_MAX, false);
    if (!copy)
        return -1;
    lines[(*count)++] = copy;
    return 0;
}

int nagar_document_add_title(nagar_document_t *self, const char *text)
{
    return add_to_lines(self, self->titles, &self->title_count, "title line", "title lines",
                        text);
}

int nagar_document_add_line(nagar_document_t *self, const char *text)
{
    return add_to_lines(self, self->lines, &self->line_count, "line", "lines under its titles",
                        text);
}

int nagar_document_add_field(nagar_document_t *self, const char *label_hi, const char *label_en,
                             const char *value)
{
    if (self->field_count == NAGAR_DOCUMENT_FIELDS_MAX)
        return remember_error(self, "a document has at most %d fields",
                              NAGAR_DOCUMENT_FIELDS_MAX);
    if (label_hi && label_en && !label_hi[0] && !label_en[0])
        return remember_error(self, "field %zu has neither a Hindi nor an English label",
                              self->field_count + 1);
    char *hi = copy_checked(self, "Hindi label", label_hi, 256, false);
    char *en = hi ? copy_checked(self, "English label", label_en, 256, false) : NULL;
    char *value_copy = en ? copy_checked(self, "field value", value, NAGAR_DOCUMENT_TEXT_MAX, true)
                          : NULL;
    if (!value_copy) {
        free(hi);
        free(en);
        return -1;
    }
    self->labels_hi[self->field_count] = hi;
    self->labels_en[self->field_count] = en;
    self->values[self->field_count] = value_copy;
    self->field_count++;
    return 0;
}

int nagar_document_set_label_width(nagar_document_t *self, double points)
{
    if (!(points >= NAGAR_DOCUMENT_LABEL_WIDTH_MIN && points <= NAGAR_DOCUMENT_LABEL_WIDTH_MAX))
        return remember_error(self, "the label width must be %d to %d points, not %.1f",
                              NAGAR_DOCUMENT_LABEL_WIDTH_MIN, NAGAR_DOCUMENT_LABEL_WIDTH_MAX,
                              points);
    self->label_width = points;
    return 0;
}

int nagar_document_add_footer(nagar_document_t *self, const char *text)
{
    return add_to_lines(self, self->footers, &self->footer_count, "footer line", "footer lines",
                        text);
}

int nagar_document_set_qr(nagar_document_t *self, const char *payload, const char *caption)
{
    if (!payload || !payload[0] || strnlen(payload, NAGAR_DOCUMENT_QR_MAX + 1) >
                                       NAGAR_DOCUMENT_QR_MAX)
        return remember_error(self, "the QR payload must be 1 to %d bytes",
                              NAGAR_DOCUMENT_QR_MAX);
    char *payload_copy = copy_checked(self, "QR payload", payload, NAGAR_DOCUMENT_QR_MAX, false);
    char *caption_copy = payload_copy ? copy_checked(self, "QR caption", caption ? caption : "",
                                                     256, false)
                                      : NULL;
    if (!caption_copy) {
        free(payload_copy);
        return -1;
    }
    free(self->qr_payload);
    free(self->qr_caption);
    self->qr_payload = payload_copy;
    self->qr_caption = caption_copy;
    return 0;
}

#ifdef NAGAR_DOCUMENT_PANGO

/* A4 in PostScript points, and the page's layout. */
#define PAGE_WIDTH 595.276
#define PAGE_HEIGHT 841.890
#define MARGIN 48.0
#define LABEL_WIDTH 190.0
#define COLUMN_GAP 14.0
#define ROW_GAP 5.0
#define QR_SIDE_MAX 132.0
#define QR_MODULE_MAX 3.0
#define FONT_FAMILIES "Noto Sans, Noto Sans Devanagari"

/* cairo's stream writer: the PDF is collected in a buffer (buffer.h). */
static cairo_status_t pdf_write(void *closure, const unsigned char *data, unsigned int length)
{
    return nagar_buffer_append(closure, data, length) == 0 ? CAIRO_STATUS_SUCCESS
                                                           : CAIRO_STATUS_NO_MEMORY;
}

static PangoLayout *make_layout(cairo_t *cr, const char *text, double points, bool bold,
                                double width, PangoAlignment alignment)
{
    char font[96];
    snprintf(font, sizeof font, "%s%s %.2f", FONT_FAMILIES, bold ? " Bold" : "", points);
    PangoLayout *layout = pango_cairo_create_layout(cr);
    PangoFontDescription *description = pango_font_description_from_string(font);
    pango_layout_set_font_description(layout, description);
    pango_font_description_free(description);
    pango_layout_set_width(layout, (int) (width * PANGO_SCALE));
    pango_layout_set_wrap(layout, PANGO_WRAP_WORD_CHAR);
    pango_layout_set_alignment(layout, alignment);
    pango_layout_set_text(layout, text, -1);
    return layout;
}

static double layout_height(PangoLayout *layout)
{
    int width, height;
    pango_layout_get_size(layout, &width, &height);
    return (double) height / PANGO_SCALE;
}

static void draw_layout(cairo_t *cr, PangoLayout *layout, double x, double y, double gray)
{
    cairo_set_source_rgb(cr, gray, gray, gray);
    cairo_move_to(cr, x, y);
    pango_cairo_show_layout(cr, layout);
}

/* Draws the QR code with its top-left corner (quiet zone included) at x, y;
 * returns its side in points, or -1 when the payload cannot be encoded. */
static double draw_qr(cairo_t *cr, const char *payload, double x, double y, double *side_out,
                      bool draw)
{
    QRcode *code = QRcode_encodeData((int) strlen(payload), (const unsigned char *) payload, 0,
                                     QR_ECLEVEL_M);
    if (!code)
        return -1;
    int modules = code->width + 8;   /* four-module quiet zone each side */
    double module = QR_SIDE_MAX / modules;
    if (module > QR_MODULE_MAX)
        module = QR_MODULE_MAX;
    double side = module * modules;
    if (draw) {
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_rectangle(cr, x, y, side, side);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        for (int row = 0; row < code->width; row++)
            for (int column = 0; column < code->width; column++)
                if (code->data[row * code->width + column] & 1)
                    cairo_rectangle(cr, x + (column + 4) * module, y + (row + 4) * module,
                                    module, module);
        cairo_fill(cr);
    }
    QRcode_free(code);
    *side_out = side;
    return side;
}

/* Lays out (and when draw is set, draws) the whole page; returns the
 * lowest y used, or -1 when the QR payload cannot be encoded. Measuring and
 * drawing share this code so they can never disagree. */
static double lay_out_page(nagar_document_t *self, cairo_t *cr, double scale, bool draw)
{
    const double content_width = PAGE_WIDTH - 2 * MARGIN;
    double y = MARGIN + 6;
    if (draw) {
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        cairo_set_line_width(cr, 1.2);
        cairo_rectangle(cr, MARGIN - 18, MARGIN - 18, PAGE_WIDTH - 2 * MARGIN + 36,
                        PAGE_HEIGHT - 2 * MARGIN + 36);
        cairo_stroke(cr);
    }
    for (size_t i = 0; i < self->title_count; i++) {
        PangoLayout *layout = make_layout(cr, self->titles[i], (i == 0 ? 17 : 13) * scale, true,
                                          content_width, PANGO_ALIGN_CENTER);
        if (draw)
            draw_layout(cr, layout, MARGIN, y, 0);
        y += layout_height(layout) + 2;
        g_object_unref(layout);
    }
    y += 8;
    if (draw) {
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        cairo_set_line_width(cr, 0.8);
        cairo_move_to(cr, MARGIN, y);
        cairo_line_to(cr, PAGE_WIDTH - MARGIN, y);
        cairo_stroke(cr);
    }
    y += 10;
    for (size_t i = 0; i < self->line_count; i++) {
        PangoLayout *layout = make_layout(cr, self->lines[i], 9.5 * scale, false, content_width,
                                          PANGO_ALIGN_LEFT);
        if (draw)
            draw_layout(cr, layout, MARGIN, y, 0);
        y += layout_height(layout) + 1;
        g_object_unref(layout);
    }
    if (self->line_count)
        y += 8;

    const double label_width = self->label_width > 0 ? self->label_width : LABEL_WIDTH;
    const double value_x = MARGIN + label_width + COLUMN_GAP;
    const double value_width = content_width - label_width - COLUMN_GAP;
    for (size_t i = 0; i < self->field_count; i++) {
        char label[600];
        const char *hi = self->labels_hi[i], *en = self->labels_en[i];
        snprintf(label, sizeof label, "%s%s%s", hi, hi[0] && en[0] ? " / " : "", en);
        PangoLayout *label_layout = make_layout(cr, label, 9 * scale, false, label_width,
                                                PANGO_ALIGN_LEFT);
        PangoLayout *value_layout =
            make_layout(cr, self->values[i][0] ? self->values[i] : "\xe2\x80\x94",
                        10.5 * scale, false, value_width, PANGO_ALIGN_LEFT);
        double label_height = layout_height(label_layout);
        double value_height = layout_height(value_layout);
        if (draw) {
            draw_layout(cr, label_layout, MARGIN, y, 0.3);
            draw_layout(cr, value_layout, value_x, y, 0);
        }
        y += (label_height > value_height ? label_height : value_height) + ROW_GAP * scale / 2;
        if (draw) {
            cairo_set_source_rgb(cr, 0.82, 0.82, 0.82);
            cairo_set_line_width(cr, 0.5);
            cairo_move_to(cr, MARGIN, y);
            cairo_line_to(cr, PAGE_WIDTH - MARGIN, y);
            cairo_stroke(cr);
        }
        y += ROW_GAP * scale / 2;
        g_object_unref(label_layout);
        g_object_unref(value_layout);
    }
    y += 12;

    /* QR on the right, footer lines on the left of it. */
    double qr_side = 0, bottom = y;
    if (self->qr_payload) {
        if (draw_qr(cr, self->qr_payload, 0, 0, &qr_side, false) < 0)
            return -1;
        double qr_x = PAGE_WIDTH - MARGIN - qr_side;
        if (draw)
            draw_qr(cr, self->qr_payload, qr_x, y, &qr_side, true);
        bottom = y + qr_side;
        if (self->qr_caption[0]) {
            PangoLayout *caption = make_layout(cr, self->qr_caption, 7 * scale, false,
                                               QR_SIDE_MAX, PANGO_ALIGN_CENTER);
            if (draw)
                draw_layout(cr, caption, qr_x + qr_side / 2 - QR_SIDE_MAX / 2, bottom, 0.3);
            bottom += layout_height(caption);
            g_object_unref(caption);
        }
    }
    double footer_width = content_width - (self->qr_payload ? QR_SIDE_MAX + COLUMN_GAP : 0);
    double footer_y = y + 4;
    for (size_t i = 0; i < self->footer_count; i++) {
        PangoLayout *layout = make_layout(cr, self->footers[i], 8 * scale, false, footer_width,
                                          PANGO_ALIGN_LEFT);
        if (draw)
            draw_layout(cr, layout, MARGIN, footer_y, 0.25);
        footer_y += layout_height(layout) + 3;
        g_object_unref(layout);
    }
    return footer_y > bottom ? footer_y : bottom;
}

/* Lays out one document on its own page of cr's surface: measured first,
 * shrinking the type a step at a time for long content, so a page that
 * still overflows is refused before anything is drawn. */
static int render_page(nagar_document_t *self, cairo_t *cr, char *error, size_t error_size)
{
    if (self->error[0]) {
        snprintf(error, error_size, "%s", self->error);
        return -1;
    }
    if (self->title_count == 0 && self->field_count == 0 && self->line_count == 0) {
        snprintf(error, error_size, "the document has no title and no fields; nothing to render");
        return -1;
    }
    static const double scales[] = {1.0, 0.92, 0.85, 0.78, 0.72};
    double scale = 1.0, lowest = -1;
    for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++) {
        scale = scales[i];
        lowest = lay_out_page(self, cr, scale, false);
        if (lowest < 0 || lowest <= PAGE_HEIGHT - MARGIN)
            break;
    }
    if (lowest < 0) {
        snprintf(error, error_size, "the QR payload (%zu bytes) cannot be encoded as a QR code",
                 strlen(self->qr_payload));
        return -1;
    }
    if (lowest > PAGE_HEIGHT - MARGIN) {
        snprintf(error, error_size,
                 "the document's content is %.0f points taller than one A4 page; shorten the "
                 "field values or use fewer fields",
                 lowest - (PAGE_HEIGHT - MARGIN));
        return -1;
    }
    lay_out_page(self, cr, scale, true);
    cairo_show_page(cr);
    return 0;
}

int nagar_document_render_pages(nagar_document_t *const *documents, size_t count, uint8_t **pdf,
                                size_t *size, char *error, size_t error_size)
{
    *pdf = NULL;
    *size = 0;
    if (count == 0 || count > NAGAR_DOCUMENT_PAGES_MAX) {
        snprintf(error, error_size, "a PDF holds 1 to %d documents, not %zu",
                 NAGAR_DOCUMENT_PAGES_MAX, count);
        return -1;
    }
    nagar_buffer_t *buffer = nagar_buffer_new(0);
    if (!buffer) {
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    cairo_surface_t *surface =
        cairo_pdf_surface_create_for_stream(pdf_write, buffer, PAGE_WIDTH, PAGE_HEIGHT);
    cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "Nagar");
    if (documents[0]->metadata_title)
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE,
                                       documents[0]->metadata_title);
    cairo_t *cr = cairo_create(surface);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        char reason[256];
        if (render_page(documents[i], cr, reason, sizeof reason) != 0) {
            if (count > 1)
                snprintf(error, error_size, "page %zu: %s", i + 1, reason);
            else
                snprintf(error, error_size, "%s", reason);
            rc = -1;
        }
    }
    cairo_destroy(cr);
    cairo_surface_finish(surface);
    cairo_status_t status = cairo_surface_status(surface);
    cairo_surface_destroy(surface);
    bool failed = nagar_buffer_failed(buffer);
    if (rc == 0 && (status != CAIRO_STATUS_SUCCESS || failed)) {
        snprintf(error, error_size, "writing the PDF failed: %s",
                 failed ? "out of memory" : cairo_status_to_string(status));
        rc = -1;
    }
    if (rc == 0 && !(*pdf = nagar_buffer_take(buffer, size))) {
        snprintf(error, error_size, "out of memory");
        rc = -1;
    }
    nagar_buffer_destroy(&buffer);
    return rc;
}

int nagar_document_render_pdf(nagar_document_t *self, uint8_t **pdf, size_t *size, char *error,
                              size_t error_size)
{
    return nagar_document_render_pages(&self, 1, pdf, size, error, error_size);
}

void nagar_document_shutdown(void)
{
    pango_cairo_font_map_set_default(NULL);
    cairo_debug_reset_static_data();
    /* fontconfig's own configuration outlives Pango's font map; FcFini
     * frees it. fontconfig is always loaded (Pango's dependency) but not
     * always linked directly, so it is looked up rather than named. */
    void (*fc_fini)(void) = (void (*)(void)) dlsym(RTLD_DEFAULT, "FcFini");
    if (fc_fini)
        fc_fini();
}

bool nagar_document_available(void)
{
    return true;
}

#else

int nagar_document_render_pdf(nagar_document_t *self, uint8_t **pdf, size_t *size, char *error,
                              size_t error_size)
{
    return nagar_document_render_pages(&self, 1, pdf, size, error, error_size);
}

int nagar_document_render_pages(nagar_document_t *const *documents, size_t count, uint8_t **pdf,
                                size_t *size, char *error, size_t error_size)
{
    (void) documents;
    (void) count;
    *pdf = NULL;
    *size = 0;
    snprintf(error, error_size,
             "this build of libnagar has no PDF rendering: pangocairo and libqrencode were not "
             "among the Makefile's PKGS when common/document.c was compiled; install "
             "libpango1.0-dev libqrencode-dev fonts-noto-core and rebuild");
    return -1;
}

void nagar_document_shutdown(void)
{
}

bool nagar_document_available(void)
{
    return false;
}

#endif
