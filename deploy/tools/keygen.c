/*
 * keygen.c — nagar-keygen: makes a principal's CURVE key pair and its entry
 * in the broker's certificate store.
 *
 *   nagar-keygen --keys DIR --principal NAME [--serve a,b] [--call c,d] [--force]
 *   nagar-keygen --keys DIR --principal NAME [--serve a,b] [--call c,d] --rights
 *
 * Writes DIR/secret/NAME.cert (the zcert secret file, with the public key
 * and metadata; mode 0600 in a 0700 directory) and DIR/public/NAME.cert
 * (public key only, metadata "principal", "serve", "call"). The broker's
 * ACL is exactly that metadata: which services the key may serve and which
 * it may call ("*" = every service except nagar.admin, which must be named).
 *
 * "--principal broker" is the broker's own pair: DIR/secret/broker.cert and
 * DIR/broker.pub, and deliberately not in public/, so the broker's key can
 * never authenticate as a peer.
 *
 * Files are written next to their final name and linked into place, so an
 * existing key is never overwritten (unless --force) and a crash never
 * leaves a half-written certificate.
 *
 * --rights keeps an existing principal's key pair and rewrites only what it
 * may serve and call, so that a change to deploy/principals.conf reaches an
 * installation made before it (deploy/keys.sh runs it for every existing key).
 * It prints a line only when the rights changed.
 */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus.h"

#define LIST_MAX_ITEMS 64

/* Checks a comma-separated list of service names; "*" is allowed where
 * allow_star says so. Returns false with the reason in error. */
static bool service_list_is_valid(const char *list, const char *option, bool allow_star,
                                  char *error, size_t error_size)
{
    char copy[NAGAR_BUS_NAME_MAX * LIST_MAX_ITEMS + LIST_MAX_ITEMS];
    if (strlen(list) >= sizeof copy) {
        snprintf(error, error_size, "%s is too long (at most %d names)", option, LIST_MAX_ITEMS);
        return false;
    }
    strcpy(copy, list);
    int count = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (++count > LIST_MAX_ITEMS) {
            snprintf(error, error_size, "%s names more than %d services", option, LIST_MAX_ITEMS);
            return false;
        }
        if (allow_star && strcmp(item, "*") == 0)
            continue;
        if (!nagar_bus_name_valid(item)) {
            snprintf(error, error_size,
                     "%s: \"%s\" is not a valid service name (lower-case letter, then up to 63 "
                     "of a-z 0-9 _ .)", option, item);
            return false;
        }
        if (!allow_star && (strncmp(item, "mmi.", 4) == 0 || strcmp(item, "nagar.admin") == 0)) {
            snprintf(error, error_size, "%s: \"%s\" is served by the broker itself", option, item);
            return false;
        }
    }
    if (strchr(list, ',') && (list[0] == ',' || list[strlen(list) - 1] == ',' || strstr(list, ",,"))) {
        snprintf(error, error_size, "%s: empty name in \"%s\"", option, list);
        return false;
    }
    return true;
}

static int make_directory(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0)
        return 0;
    if (errno != EEXIST) {
        fprintf(stderr, "nagar-keygen: cannot create directory \"%s\": %s\n", path,
                strerror(errno));
        return -1;
    }
    struct stat info;
    if (stat(path, &info) != 0 || !S_ISDIR(info.st_mode)) {
        fprintf(stderr, "nagar-keygen: \"%s\" exists and is not a directory\n", path);
        return -1;
    }
    return 0;
}

/* Moves the temporary file into place: link() refuses to replace an
 * existing file, rename() (with --force) replaces it atomically. */
static int install_file(const char *temporary, const char *final_path, bool force)
{
    int rc = force ? rename(temporary, final_path) : link(temporary, final_path);
    int saved = errno;
    if (!force || rc != 0)
        unlink(temporary);
    if (rc != 0) {
        if (saved == EEXIST)
            fprintf(stderr, "nagar-keygen: \"%s\" already exists; refusing to overwrite a key "
                            "(use --force to replace it, which invalidates the old key)\n",
                    final_path);
        else
            fprintf(stderr, "nagar-keygen: cannot write \"%s\": %s\n", final_path,
                    strerror(saved));
        return -1;
    }
    return 0;
}

static int save_certificate(zcert_t *cert, const char *final_path, bool secret, bool force)
{
    char temporary[PATH_MAX];
    if (snprintf(temporary, sizeof temporary, "%s.tmp.%d", final_path, (int) getpid())
        >= (int) sizeof temporary) {
        fprintf(stderr, "nagar-keygen: path \"%s\" is too long\n", final_path);
        return -1;
    }
    unlink(temporary);
    int rc = secret ? zcert_save_secret(cert, temporary) : zcert_save_public(cert, temporary);
    if (rc != 0) {
        fprintf(stderr, "nagar-keygen: cannot write \"%s\": %s\n", temporary, strerror(errno));
        unlink(temporary);
        return -1;
    }
    if (chmod(temporary, secret ? 0600 : 0644) != 0) {
        fprintf(stderr, "nagar-keygen: cannot set the mode of \"%s\": %s\n", temporary,
                strerror(errno));
        unlink(temporary);
        return -1;
    }
    return install_file(temporary, final_path, force);
}

static const char *meta_or_empty(zcert_t *cert, const char *name)
{
    const char *value = zcert_meta(cert, name);
    return value ? value : "";
}

/* --rights: the existing key pair, with serve and call set anew. */
static int update_rights(const char *principal, const char *secret_path,
                         const char *public_path, const char *serve, const char *call)
{
    zcert_t *existing = zcert_load(secret_path);
    /* zcert_set_meta never replaces a value: the same pair in a fresh certificate. */
    zcert_t *cert = existing ? zcert_new_from(zcert_public_key(existing),
                                              zcert_secret_key(existing)) : NULL;
    zcert_destroy(&existing);
    if (!cert) {
        fprintf(stderr, "nagar-keygen: no key for \"%s\" at \"%s\" to update; make one "
                        "without --rights\n", principal, secret_path);
        return 1;
    }
    zcert_t *published = zcert_load(public_path);
    bool same_key = published
                    && strcmp(zcert_public_txt(published), zcert_public_txt(cert)) == 0;
    bool same_rights = same_key && strcmp(meta_or_empty(published, "serve"), serve) == 0
                       && strcmp(meta_or_empty(published, "call"), call) == 0;
    int rc = 0;
    if (!same_rights) {
        const char *old_serve = published ? meta_or_empty(published, "serve") : "";
        const char *old_call = published ? meta_or_empty(published, "call") : "";
        zcert_set_meta(cert, "principal", "%s", principal);
        zcert_set_meta(cert, "serve", "%s", serve);
        zcert_set_meta(cert, "call", "%s", call);
        umask(077);
        rc = save_certificate(cert, secret_path, true, true);
        if (rc == 0)
            rc = save_certificate(cert, public_path, false, true);
        if (rc == 0)
            printf("%s rights: serve \"%s\" -> \"%s\", call \"%s\" -> \"%s\"%s\n", principal,
                   old_serve, serve, old_call, call,
                   published && !same_key ? " (its store entry had another key)" : "");
    }
    zcert_destroy(&published);
    zcert_destroy(&cert);
    return rc == 0 ? 0 : 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nagar-keygen --keys DIR --principal NAME [--serve svc1,svc2] "
            "[--call svcA,svcB] [--force | --rights]\n"
            "  writes DIR/secret/NAME.cert (secret, 0600) and DIR/public/NAME.cert (the\n"
            "  broker's store entry: which services NAME may serve and call; \"*\" in --call\n"
            "  means every service except nagar.admin). --principal broker writes\n"
            "  DIR/secret/broker.cert and DIR/broker.pub. --rights keeps NAME's existing key\n"
            "  and sets only what it may serve and call.\n");
}

int main(int argc, char **argv)
{
    const char *keys_dir = NULL, *principal = NULL, *serve = "", *call = "";
    bool force = false, rights = false;
    static const struct option options[] = {
        {"keys", required_argument, NULL, 'k'},  {"principal", required_argument, NULL, 'p'},
        {"serve", required_argument, NULL, 's'}, {"call", required_argument, NULL, 'c'},
        {"force", no_argument, NULL, 'f'},       {"rights", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int option;
    while ((option = getopt_long(argc, argv, "k:p:s:c:fh", options, NULL)) != -1) {
        switch (option) {
        case 'k': keys_dir = optarg; break;
        case 'p': principal = optarg; break;
        case 's': serve = optarg; break;
        case 'c': call = optarg; break;
        case 'f': force = true; break;
        case 'r': rights = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || !keys_dir || !principal || (force && rights)) {
        usage(stderr);
        return 2;
    }
    if (!nagar_bus_name_valid(principal)) {
        fprintf(stderr, "nagar-keygen: \"%s\" is not a valid principal name (lower-case letter, "
                        "then up to 63 of a-z 0-9 _ .)\n", principal);
        return 2;
    }
    char error[512];
    if (!service_list_is_valid(serve, "--serve", false, error, sizeof error)
        || !service_list_is_valid(call, "--call", true, error, sizeof error)) {
        fprintf(stderr, "nagar-keygen: %s\n", error);
        return 2;
    }
    bool is_broker = strcmp(principal, "broker") == 0;
    if (is_broker && (*serve || *call)) {
        fprintf(stderr, "nagar-keygen: the broker's key serves and calls nothing; drop --serve "
                        "and --call\n");
        return 2;
    }

    char secret_dir[PATH_MAX], public_dir[PATH_MAX], secret_path[PATH_MAX], public_path[PATH_MAX];
    if (snprintf(secret_dir, sizeof secret_dir, "%s/secret", keys_dir) >= (int) sizeof secret_dir
        || snprintf(public_dir, sizeof public_dir, "%s/public", keys_dir) >= (int) sizeof public_dir
        || snprintf(secret_path, sizeof secret_path, "%s/%s.cert", secret_dir, principal)
               >= (int) sizeof secret_path
        || (is_broker ? snprintf(public_path, sizeof public_path, "%s/broker.pub", keys_dir)
                      : snprintf(public_path, sizeof public_path, "%s/%s.cert", public_dir,
                                 principal)) >= (int) sizeof public_path) {
        fprintf(stderr, "nagar-keygen: keys directory path \"%s\" is too long\n", keys_dir);
        return 1;
    }
    if (rights) {
        if (is_broker) {
            fprintf(stderr, "nagar-keygen: the broker's key has no rights to update\n");
            return 2;
        }
        zsys_init();
        return update_rights(principal, secret_path, public_path, serve, call);
    }
    if (make_directory(keys_dir, 0755) || make_directory(secret_dir, 0700)
        || make_directory(public_dir, 0755))
        return 1;
    if (chmod(secret_dir, 0700) != 0) {
        fprintf(stderr, "nagar-keygen: cannot restrict \"%s\" to its owner: %s\n", secret_dir,
                strerror(errno));
        return 1;
    }
    if (!force && (access(secret_path, F_OK) == 0 || access(public_path, F_OK) == 0)) {
        fprintf(stderr, "nagar-keygen: a key for \"%s\" already exists in \"%s\"; refusing to "
                        "overwrite it (use --force to replace it, which invalidates the old key)\n",
                principal, keys_dir);
        return 1;
    }

    zsys_init();
    umask(077); /* no window in which a secret file is readable by others */
    zcert_t *cert = zcert_new();
    if (!cert) {
        fprintf(stderr, "nagar-keygen: cannot create a key pair (libzmq built without CURVE?)\n");
        return 1;
    }
    zcert_set_meta(cert, "principal", "%s", principal);
    if (!is_broker) {
        zcert_set_meta(cert, "serve", "%s", serve);
        zcert_set_meta(cert, "call", "%s", call);
    }
    int rc = save_certificate(cert, secret_path, true, force);
    if (rc == 0)
        rc = save_certificate(cert, public_path, false, force);
    if (rc != 0)
        unlink(secret_path); /* no secret without its public half */
    else
        printf("%s %s\n", principal, zcert_public_txt(cert));
    zcert_destroy(&cert);
    return rc == 0 ? 0 : 1;
}
