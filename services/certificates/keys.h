/*
 * keys.h — the keys certificates are sealed and verified with: the signing
 * key and the older public keys (loaded at start), and certificate.keys,
 * the public route that hands them to offline verifiers with the period
 * each is valid for.
 */
#ifndef NAGAR_CERTIFICATES_KEYS_H
#define NAGAR_CERTIFICATES_KEYS_H

#include "certificates.h"

/* The signing key (NAGAR_CERTIFICATES_SEAL_KEY) and every <key id>.pub of
 * NAGAR_CERTIFICATES_PUBLIC_KEYS_DIR (default: the signing key's directory)
 * into self->sealer and self->keys. Returns 0, or -1 (logged) when the
 * signing key is missing or its .pub file holds another key. */
int cert_keys_load(certificates_t *self);

/* certificate.keys (public): ListSealKeysRequest -> ListSealKeysReply. */
int certificates_certificate_keys(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                  void *arg);

#endif
