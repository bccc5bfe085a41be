/*
 * keys.c — the keys of certificate seals (see keys.h).
 *
 * A phone app or a district office that verifies QR codes offline needs
 * each key id's public key once, and the days it was used to sign: a
 * retired key that leaks must not be able to vouch for a certificate
 * "issued" after it was retired. The days come from the register itself
 * (the first and the last certificate signed with the key, through the
 * index on (key_id, issued_at)), so nothing has to be declared by hand and
 * nothing can disagree with what was actually issued.
 */
#include "keys.h"

#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"

int cert_keys_load(certificates_t *self)
{
    char error[512];
    const char *key_path = nagar_config_get(self->config, "NAGAR_CERTIFICATES_SEAL_KEY", NULL);
    if (!key_path || !key_path[0]) {
        nagar_log_error("certificates.config_invalid",
                        "NAGAR_CERTIFICATES_SEAL_KEY is not set; create a key pair with "
                        "nagar-certificates keygen DIR KEY_ID and point it at DIR/KEY_ID.key");
        return -1;
    }
    self->sealer = nagar_sealer_new(key_path, error, sizeof error);
    if (!self->sealer) {
        nagar_log_error("certificates.config_invalid", "%s", error);
        return -1;
    }
    snprintf(self->keys[0].key_id, sizeof self->keys[0].key_id, "%s",
             nagar_sealer_key_id(self->sealer));
    nagar_sealer_public_key(self->sealer, self->keys[0].public_key);
    self->key_count = 1;
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", key_path);
    const char *dir = nagar_config_get(self->config, "NAGAR_CERTIFICATES_PUBLIC_KEYS_DIR",
                                       dirname(copy));
    DIR *handle = opendir(dir);
    if (!handle) {
        nagar_log_warn("certificates.public_keys_unreadable",
                       "cannot read public keys directory %s; only key %s verifies", dir,
                       self->keys[0].key_id);
        return 0;
    }
    struct dirent *entry;
    while ((entry = readdir(handle)) != NULL && self->key_count < CERT_KEYS_MAX) {
        size_t length = strlen(entry->d_name);
        if (length < 5 || strcmp(entry->d_name + length - 4, ".pub") != 0)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        cert_public_key_t key;
        if (nagar_seal_load_public_key(path, key.key_id, key.public_key, error, sizeof error) !=
            0) {
            nagar_log_warn("certificates.public_key_skipped", "%s", error);
            continue;
        }
        if (strcmp(key.key_id, self->keys[0].key_id) == 0) {
            if (memcmp(key.public_key, self->keys[0].public_key, 32) != 0) {
                nagar_log_error("certificates.config_invalid",
                                "%s does not hold the public half of the signing key %s", path,
                                key_path);
                closedir(handle);
                return -1;
            }
            continue;
        }
        self->keys[self->key_count++] = key;
    }
    closedir(handle);
    return 0;
}

/* The days (IST) of the first and the last certificate signed with key_id;
 * "" and "" when none was. Returns 0 or -1 on a database error. */
static int key_usage(certificates_t *self, const char *key_id, char first[16], char last[16])
{
    const char *values[] = {key_id};
    PGresult *result = nagar_service_query(
        self->db, "seal_key_usage",
        "SELECT coalesce(to_char((SELECT min(issued_at) FROM certificates.certificate "
        "WHERE key_id = $1) AT TIME ZONE 'Asia/Kolkata', 'YYYY-MM-DD'), ''), "
        "coalesce(to_char((SELECT max(issued_at) FROM certificates.certificate "
        "WHERE key_id = $1) AT TIME ZONE 'Asia/Kolkata', 'YYYY-MM-DD'), '')",
        1, values);
    if (!result)
        return -1;
    snprintf(first, 16, "%s", PQgetvalue(result, 0, 0));
    snprintf(last, 16, "%s", PQgetvalue(result, 0, 1));
    PQclear(result);
    return 0;
}

int certificates_certificate_keys(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                  void *arg)
{
    (void) request;
    certificates_t *self = arg;
    Nagar__Certificates__SealKey keys[CERT_KEYS_MAX];
    Nagar__Certificates__SealKey *listed[CERT_KEYS_MAX];
    char hex[CERT_KEYS_MAX][65], from[CERT_KEYS_MAX][16], until[CERT_KEYS_MAX][16];
    size_t count = 0;
    for (int i = 0; i < self->key_count; i++) {
        bool signing = i == 0;
        if (key_usage(self, self->keys[i].key_id, from[count], until[count]) != 0)
            return nagar_service_fail(self->db, CERT_SERVICE, call, -1, NULL);
        if (!from[count][0]) {
            /* An older key that signed nothing vouches for nothing. */
            if (!signing)
                continue;
            nagar_date_format(nagar_date_today_ist(), from[count]);
        }
        if (signing)
            until[count][0] = '\0';
        sodium_bin2hex(hex[count], sizeof hex[count], self->keys[i].public_key, 32);
        Nagar__Certificates__SealKey *key = &keys[count];
        nagar__certificates__seal_key__init(key);
        key->key_id = self->keys[i].key_id;
        key->algorithm = "Ed25519";
        key->public_key = hex[count];
        key->valid_from = from[count];
        key->valid_until = until[count];
        key->signing = signing;
        listed[count] = key;
        count++;
    }
    Nagar__Certificates__ListSealKeysReply reply = NAGAR__CERTIFICATES__LIST_SEAL_KEYS_REPLY__INIT;
    reply.n_keys = count;
    reply.keys = listed;
    reply.payload_format = "NC1.<keyId>.<base64url(nagar.certificates.Seal)>.<base64url(Ed25519 "
                           "signature of everything before the last '.')>";
    return nagar_worker_call_reply(call, &reply.base);
}
