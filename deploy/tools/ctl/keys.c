/*
 * keys.c — nagarctl keys rotate and keys finish: a service's CURVE key
 * replaced without a gap. The new pair is made by nagar-keygen, both keys
 * are valid at the broker while the service restarts onto the new one,
 * and only then is the old one revoked.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>

#include "ctl.h"

static int copy_file(const char *from, const char *to, mode_t mode)
{
    FILE *in = fopen(from, "rb");
    if (!in) {
        ctl_say_error("cannot read %s: %s", from, strerror(errno));
        return -1;
    }
    char temp[PATH_BYTES + 16];
    ctl_fmt(temp, sizeof temp, "%s.tmp", to);
    FILE *out = fopen(temp, "wb");
    if (!out) {
        fclose(in);
        ctl_say_error("cannot write %s: %s", temp, strerror(errno));
        return -1;
    }
    char buffer[8192];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, in)) > 0)
        fwrite(buffer, 1, n, out);
    fclose(in);
    if (fflush(out) != 0 || fsync(fileno(out)) != 0 || fclose(out) != 0 || chmod(temp, mode) != 0 ||
        rename(temp, to) != 0) {
        ctl_say_error("installing %s failed: %s", to, strerror(errno));
        unlink(temp);
        return -1;
    }
    return 0;
}

static int revoke_key(ctl_t *self, const char *public_key)
{
    nagar_bus_client_t *client = ctl_connect_bus(self, "NAGAR_BUS_CERT", "operator");
    if (!client)
        return -1;
    Nagar__Admin__RevokeRequest request = NAGAR__ADMIN__REVOKE_REQUEST__INIT;
    request.public_key = (char *) public_key;
    Nagar__Admin__AdminReply *reply = NULL;
    char message[1024] = "";
    nagar_status_code_t code = ctl_call_admin(client, "revoke", &request.base,
                                          &nagar__admin__admin_reply__descriptor,
                                          (ProtobufCMessage **) &reply, message, sizeof message);
    nagar_bus_client_destroy(&client);
    if (code != NAGAR__STATUS_CODE__OK) {
        ctl_say_error("revoking the old key failed: %s: %s", ctl_status_name(code), message);
        return -1;
    }
    protobuf_c_message_free_unpacked(&reply->base, NULL);
    return 0;
}

/* Phase 2: the service runs on the new key. Revoke the old one and make the
 * new public certificate the service's only one. */
int ctl_keys_finish(ctl_t *self, const char *service)
{
    char current[PATH_BYTES], next[PATH_BYTES];
    ctl_fmt(current, sizeof current, "%s/public/%s.cert", self->keys, service);
    ctl_fmt(next, sizeof next, "%s/public/%s.next.cert", self->keys, service);
    if (access(next, R_OK) != 0) {
        ctl_say_error("%s does not exist: no rotation of %s is in progress (start one with nagarctl "
                  "keys rotate %s)", next, service, service);
        return EXIT_ERROR;
    }
    zcert_t *old = zcert_load(current);
    if (!old) {
        ctl_say_error("cannot read the current public certificate %s", current);
        return EXIT_ERROR;
    }
    char old_key[41];
    ctl_fmt(old_key, sizeof old_key, "%s", zcert_public_txt(old));
    zcert_destroy(&old);
    if (revoke_key(self, old_key) != 0)
        return EXIT_ERROR;
    if (rename(next, current) != 0) {
        ctl_say_error("replacing %s with %s failed: %s", current, next, strerror(errno));
        return EXIT_ERROR;
    }
    printf("revoked the old key of %s (%s); %s now holds only the new one\n", service, old_key,
           current);
    return EXIT_OK;
}

static int wait_for_workers(ctl_t *self, const char *service, int seconds)
{
    nagar_bus_client_t *client = ctl_connect_bus(self, "NAGAR_BUS_CERT", "operator");
    if (!client)
        return -1;
    int64_t deadline = zclock_mono() + (int64_t) seconds * 1000;
    int rc = -1;
    while (zclock_mono() < deadline && rc != 0) {
        Nagar__Admin__StatsReply *stats = NULL;
        if (ctl_fetch_stats(client, &stats) == 0) {
            for (size_t i = 0; i < stats->n_services; i++)
                if (strcmp(stats->services[i]->name, service) == 0 && stats->services[i]->workers)
                    rc = 0;
            protobuf_c_message_free_unpacked(&stats->base, NULL);
        }
        if (rc != 0)
            zclock_sleep(200);
    }
    nagar_bus_client_destroy(&client);
    if (rc != 0)
        ctl_say_error("no worker of %s connected within %d s after the restart", service, seconds);
    return rc;
}

int ctl_keys_rotate(ctl_t *self, const char *service, const char *restart, int wait_s)
{
    char current_public[PATH_BYTES], secret[PATH_BYTES];
    ctl_fmt(current_public, sizeof current_public, "%s/public/%s.cert", self->keys, service);
    ctl_fmt(secret, sizeof secret, "%s/secret/%s.cert", self->keys, service);
    zcert_t *old = zcert_load(current_public);
    if (!old) {
        ctl_say_error("cannot read %s: is \"%s\" a principal of this installation?", current_public,
                  service);
        return EXIT_ERROR;
    }
    char serve[1024], call[1024];
    ctl_fmt(serve, sizeof serve, "%s", zcert_meta(old, "serve") ? zcert_meta(old, "serve") : "");
    ctl_fmt(call, sizeof call, "%s", zcert_meta(old, "call") ? zcert_meta(old, "call") : "");
    zcert_destroy(&old);

    /* 1. A new pair, made by nagar-keygen in a staging directory. */
    char staging[PATH_BYTES], keygen[PATH_BYTES];
    ctl_fmt(staging, sizeof staging, "%s/rotate-%s-%ld", self->keys, service, (long) time(NULL));
    ctl_fmt(keygen, sizeof keygen, "%s", ctl_setting(self, "NAGAR_KEYGEN", ""));
    if (!keygen[0])
        ctl_fmt(keygen, sizeof keygen, "%s/nagar-keygen", self->self_dir);
    if (ctl_make_dir(staging, 0700) != 0)
        return EXIT_ERROR;
    char *args[12] = {keygen, "--keys", staging, "--principal", (char *) service};
    int n = 5;
    if (serve[0]) {
        args[n++] = "--serve";
        args[n++] = serve;
    }
    if (call[0]) {
        args[n++] = "--call";
        args[n++] = call;
    }
    args[n] = NULL;
    if (ctl_run_program(self, args, 30) != 0) {
        ctl_say_error("%s could not make the new key pair", keygen);
        return EXIT_ERROR;
    }

    /* 2. Both keys are valid at the broker while the service moves over. */
    char staged[PATH_BYTES], next_public[PATH_BYTES];
    ctl_fmt(staged, sizeof staged, "%s/public/%s.cert", staging, service);
    ctl_fmt(next_public, sizeof next_public, "%s/public/%s.next.cert", self->keys, service);
    if (copy_file(staged, next_public, 0644) != 0)
        return EXIT_ERROR;
    /* 3. The new secret certificate where the service reads it. */
    ctl_fmt(staged, sizeof staged, "%s/secret/%s.cert", staging, service);
    char old_secret[PATH_BYTES + 32];
    ctl_fmt(old_secret, sizeof old_secret, "%s.old", secret);
    if (link(secret, old_secret) != 0 && errno != EEXIST)
        fprintf(stderr, "nagarctl: warning: could not keep %s: %s\n", old_secret, strerror(errno));
    if (copy_file(staged, secret, 0600) != 0)
        return EXIT_ERROR;
    unlink(staged);
    ctl_fmt(staged, sizeof staged, "%s/public/%s.cert", staging, service);
    unlink(staged);
    char sub[PATH_BYTES + 16];
    ctl_fmt(sub, sizeof sub, "%s/secret", staging);
    rmdir(sub);
    ctl_fmt(sub, sizeof sub, "%s/public", staging);
    rmdir(sub);
    rmdir(staging);
    printf("new key of %s installed: %s (the old one stays valid until it is revoked)\n", service,
           secret);
    /* The broker re-reads public/ when it changes; give it a moment. */
    zclock_sleep(1200);

    if (!restart) {
        printf("now restart every process of %s so it connects with the new key (systemctl "
               "restart 'nagar-%s@*', or stop and start it under make run), then run:\n"
               "    nagarctl keys finish %s\n", service, service, service);
        return EXIT_OK;
    }
    /* 4. The restart: the operator's command (a rolling restart keeps serving). */
    char *shell[] = {"/bin/sh", "-c", (char *) restart, NULL};
    int rc = ctl_run_program(self, shell, wait_s);
    if (rc != 0) {
        ctl_say_error("the restart command failed (%d); the old key is still valid, nothing was "
                  "revoked; finish with nagarctl keys finish %s once the service runs", rc, service);
        return EXIT_ERROR;
    }
    if (wait_for_workers(self, service, wait_s) != 0)
        return EXIT_ERROR;
    /* 5. Only now revoke the old key. */
    rc = ctl_keys_finish(self, service);
    if (rc == EXIT_OK)
        unlink(old_secret);
    return rc;
}

