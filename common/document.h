/*
 * document.h — printable documents: a bilingual (Hindi + English) A4 PDF
 * built from a small description, with an optional QR code.
 *
 * Certificates, receipts, bills and notices all have the same shape: a few
 * title lines, optionally a few lines of text under them, a list of
 * labelled fields (label in Hindi and English, one value), a few footer
 * lines, and a QR code that carries a signed payload or a link. Several
 * documents can be printed as the pages of one PDF. This
 * module renders that shape and nothing else, so every printable document
 * of Nagar looks alike and shapes Devanagari the same way.
 *
 *     nagar_document_t *doc = nagar_document_new();
 *     nagar_document_add_title(doc, "जन्म प्रमाण-पत्र");
 *     nagar_document_add_title(doc, "Birth Certificate");
 *     nagar_document_add_field(doc, "नाम", "Name", "Asha Verma");
 *     nagar_document_add_footer(doc, "Issued under section 12 of the RBD Act, 1969");
 *     nagar_document_set_qr(doc, payload);
 *     uint8_t *pdf; size_t size;
 *     if (nagar_document_render_pdf(doc, &pdf, &size, error, sizeof error) == 0) ...
 *     free(pdf);
 *     nagar_document_destroy(&doc);
 *
 * Text is laid out with Pango on a cairo PDF surface, in "Noto Sans" with
 * "Noto Sans Devanagari" for Devanagari (Debian: fonts-noto-core), so
 * conjuncts and vowel signs are shaped by HarfBuzz and the PDF carries the
 * Unicode text (pdftotext reads it back). The QR code (libqrencode, byte
 * mode, error correction level M) is drawn as vector squares with the
 * four-module quiet zone the standard asks for.
 *
 * Limits: every text is valid UTF-8 of at most NAGAR_DOCUMENT_TEXT_MAX
 * bytes without control characters (a newline is allowed in field values);
 * at most NAGAR_DOCUMENT_LINES_MAX title lines, lines under them and footer
 * lines each, NAGAR_DOCUMENT_FIELDS_MAX fields; a QR payload of at most
 * NAGAR_DOCUMENT_QR_MAX bytes. Long content is set in smaller type (down to
 * about 70 %); content that still does not fit on one page is an error,
 * never silently cut.
 *
 * Built only when pangocairo is among the Makefile's PKGS; without it the
 * module compiles, and nagar_document_render_pdf fails with an error that
 * says so.
 */
#ifndef NAGAR_DOCUMENT_H
#define NAGAR_DOCUMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NAGAR_DOCUMENT_TEXT_MAX 4096
#define NAGAR_DOCUMENT_LINES_MAX 8
#define NAGAR_DOCUMENT_FIELDS_MAX 40
#define NAGAR_DOCUMENT_QR_MAX 1024

typedef struct nagar_document_t nagar_document_t;

nagar_document_t *nagar_document_new(void);
void nagar_document_destroy(nagar_document_t **self_p);

/* Document metadata (PDF Title), e.g. "Birth Certificate 802462/B/2026/7". */
int nagar_document_set_title_metadata(nagar_document_t *self, const char *title);

/* A centred heading line; the first is the largest. */
int nagar_document_add_title(nagar_document_t *self, const char *text);

/* A line of text under the titles, across the page (who and what the
 * document is about, when that is more than a field's value holds). */
int nagar_document_add_line(nagar_document_t *self, const char *text);

/* One labelled field: "label_hi / label_en" on the left, value on the right.
 * Either label may be "" (not both). An empty value prints as "—". */
int nagar_document_add_field(nagar_document_t *self, const char *label_hi, const char *label_en,
                             const char *value);

/* The width of the labels' column, in points (default 190 of the 499 the
 * page has): wider for documents of many short figures, such as a demand
 * notice, whose bilingual labels then fit on one line. */
#define NAGAR_DOCUMENT_LABEL_WIDTH_MIN 100
#define NAGAR_DOCUMENT_LABEL_WIDTH_MAX 330
int nagar_document_set_label_width(nagar_document_t *self, double points);

/* A small line under the fields (legal basis, issuing authority). */
int nagar_document_add_footer(nagar_document_t *self, const char *text);

/* The QR code's content (replaces an earlier one), with a caption printed
 * under it ("" for none). */
int nagar_document_set_qr(nagar_document_t *self, const char *payload, const char *caption);

/* Every add/set above returns 0, or -1 when the text breaks a limit; the
 * first such failure is kept and reported by render. */

/* Renders one A4 page. On success stores a malloc'd PDF in *pdf (caller
 * frees) and its size, and returns 0; otherwise -1 with the reason in
 * error (a text that broke a limit, content longer than a page, fonts or
 * QR encoding failing, a build without pangocairo). */
int nagar_document_render_pdf(nagar_document_t *self, uint8_t **pdf, size_t *size, char *error,
                              size_t error_size);

/* Renders documents[0..count) as one PDF, one A4 page each, each laid out
 * as nagar_document_render_pdf lays out its one (a batch of notices to print
 * at once); the PDF's metadata title is the first document's. At most
 * NAGAR_DOCUMENT_PAGES_MAX documents. Returns 0, or -1 with the reason
 * ("page 3: ..." when one of several failed). */
#define NAGAR_DOCUMENT_PAGES_MAX 100
int nagar_document_render_pages(nagar_document_t *const *documents, size_t count, uint8_t **pdf,
                                size_t *size, char *error, size_t error_size);

/* Releases the font caches Pango and fontconfig keep for the life of the
 * process, so a leak checker sees a clean exit. Call once, at exit, after
 * every document is destroyed; rendering afterwards is not allowed. */
void nagar_document_shutdown(void);

/* Whether this build can render (pangocairo and libqrencode were found). */
bool nagar_document_available(void);

#endif
